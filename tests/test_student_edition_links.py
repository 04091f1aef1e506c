"""The student edition ships no solutions notebook, so it keeps no link to one (tools/student_edition.py)."""

import importlib.util
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("student_edition", ROOT / "tools" / "student_edition.py")
tool = importlib.util.module_from_spec(spec)
spec.loader.exec_module(tool)


def test_links_to_the_solutions_keep_their_text():
    nb = nbformat.v4.new_notebook(
        cells=[
            nbformat.v4.new_markdown_cell(
                "## Exercises\n\nWorked answers are in [the solutions](solutions/09_x_solutions.ipynb). "
                "See [exercise 9.2](solutions/09_x_solutions.ipynb#exercise-9-2) and [chapter 8](08_y.ipynb)."
            )
        ]
    )
    text = tool.student_notebook(nb).cells[0].source
    assert "_solutions.ipynb" not in text
    assert "Worked answers are in the solutions (not in the student edition" in text
    assert "exercise 9.2 (not in the student edition" in text
    assert "[chapter 8](08_y.ipynb)" in text  # other links stay


def test_no_chapter_of_the_edition_links_a_solutions_notebook(tmp_path):
    assert tool.main([str(tmp_path)]) == 0
    for path in sorted((tmp_path / "chapters").glob("*.ipynb")):
        cells = nbformat.read(path, as_version=4).cells
        text = "\n".join(c.source for c in cells if c.cell_type == "markdown")
        links = tool.SOLUTIONS_LINK.findall(text)
        assert not links, f"{path.name} links a solutions notebook the edition does not ship: {links}"
