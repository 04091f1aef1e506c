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


def test_refresh_glance_rewrites_the_box_from_the_new_records(tmp_path):
    import json

    (tmp_path / "tools").mkdir()
    (tmp_path / "tools" / "timings.json").write_text(json.dumps({
        "chapters/04_x.ipynb": {"seconds": 177.4, "peak_rss_gib": 4.81, "profile": "cpu"},
    }))
    prefix = "application/papermill.record/"
    cell = nbformat.v4.new_code_cell('P = setup()\nat_a_glance("04_x");')
    glued = nbformat.v4.new_output("display_data", data={prefix + "text/plain": "'9 min 0 s'"})
    glued.metadata = {"scrapbook": {"name": "glance_cpu_time", "mime_prefix": prefix}}
    cell.outputs = [
        nbformat.v4.new_output("stream", name="stdout", text="profile      : cpu\n"),
        glued,
        nbformat.v4.new_output("stream", name="stdout", text="measured on the reference machine (...): 9 min 0 s\n"),
    ]
    path = tmp_path / "04_x.ipynb"
    nbformat.write(nbformat.v4.new_notebook(cells=[cell]), path)
    assert tool.refresh_glance(path, root=tmp_path)
    outputs = nbformat.read(path, as_version=4).cells[0].outputs
    assert outputs[0].text == "profile      : cpu\n"
    assert outputs[1].data == {prefix + "text/plain": "'2 min 57 s'"}
    assert "2 min 57 s, peak memory 4.8 GiB" in outputs[2].text and "9 min" not in outputs[2].text
    other = tmp_path / "other.ipynb"
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("1 + 1")]), other)
    assert not tool.refresh_glance(other, root=tmp_path)
