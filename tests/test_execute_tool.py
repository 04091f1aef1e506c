import importlib.util
from pathlib import Path

import nbformat

spec = importlib.util.spec_from_file_location("execute_notebooks", Path(__file__).parents[1] / "tools" / "execute_notebooks.py")
tool = importlib.util.module_from_spec(spec)
spec.loader.exec_module(tool)


def test_terminal_text_keeps_what_a_terminal_shows():
    assert tool.terminal_text("a\r 10%\r100%\ndone\n") == "100%\ndone\n"


def test_clean_streams_merges_consecutive_streams():
    cell = nbformat.v4.new_code_cell("x")
    cell.outputs = [
        nbformat.v4.new_output("stream", name="stderr", text="bar 1%\r"),
        nbformat.v4.new_output("stream", name="stderr", text="bar 100%\n"),
        nbformat.v4.new_output("stream", name="stdout", text="result\n"),
    ]
    nb = nbformat.v4.new_notebook(cells=[cell])
    tool.clean_streams(nb)
    assert [(o.name, o.text) for o in nb.cells[0].outputs] == [("stderr", "bar 100%\n"), ("stdout", "result\n")]


def test_clean_streams_drops_streams_of_white_space_only():
    cell = nbformat.v4.new_code_cell("x")
    cell.outputs = [
        nbformat.v4.new_output("stream", name="stderr", text="bar 100%\n"),
        nbformat.v4.new_output("stream", name="stdout", text="result\n"),
        nbformat.v4.new_output("stream", name="stderr", text="\n"),
    ]
    nb = nbformat.v4.new_notebook(cells=[cell])
    tool.clean_streams(nb)
    assert [(o.name, o.text) for o in nb.cells[0].outputs] == [("stderr", "bar 100%\n"), ("stdout", "result\n")]
