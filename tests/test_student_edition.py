"""The student edition keeps the exercises and loses every output and every solution."""

import importlib.util
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("student_edition", ROOT / "tools" / "student_edition.py")
tool = importlib.util.module_from_spec(spec)
spec.loader.exec_module(tool)


def solution_lines(chapter: Path) -> set[str]:
    """Distinctive code lines of a chapter's solutions notebook: those the chapter itself does not hold."""
    solutions = ROOT / "chapters" / "solutions" / f"{chapter.stem}_solutions.ipynb"
    chapter_text = "\n".join(c.source for c in nbformat.read(chapter, as_version=4).cells)
    lines = {
        line.strip()
        for cell in nbformat.read(solutions, as_version=4).cells
        if cell.cell_type == "code"
        for line in cell.source.splitlines()
    }
    return {line for line in lines if len(line) > 20 and line not in chapter_text}


def test_student_edition(tmp_path):
    assert tool.main([str(tmp_path)]) == 0
    written = sorted((tmp_path / "chapters").glob("*.ipynb"))
    chapters = sorted((ROOT / "chapters").glob("[0-9][0-9]_*.ipynb"))
    quizzes = ROOT / "chapters" / "quizzes.ipynb"
    assert [p.name for p in written] == sorted([p.name for p in chapters] + [quizzes.name])  # no solutions
    for chapter in [*chapters, quizzes]:
        nb = nbformat.read(tmp_path / "chapters" / chapter.name, as_version=4)
        code = [c for c in nb.cells if c.cell_type == "code"]
        assert all(not c.outputs and c.execution_count is None for c in code)
        text = "\n".join(c.source for c in nb.cells)
        if chapter == quizzes:  # the questions and their checks stay
            assert "show_quiz(" in text and "check_quiz(" in text
        else:  # exercises and their checks stay
            assert "## Exercises" in text and 'check("' in text
        leaked = [line for line in solution_lines(chapter) if line in text]
        assert not leaked, f"solution text in the student edition of {chapter.name}: {leaked[:3]}"


def test_cells_tagged_solution_are_dropped():
    nb = nbformat.v4.new_notebook(
        cells=[
            nbformat.v4.new_markdown_cell("**Exercise 9.1** Do it."),
            nbformat.v4.new_code_cell("answer = 42", metadata={"tags": ["solution"]}),
            nbformat.v4.new_code_cell("check('9.1', answer)", execution_count=3),
        ]
    )
    nb.cells[2].outputs = [nbformat.v4.new_output("stream", text="PASSED")]
    student = tool.student_notebook(nb)
    assert [c.source for c in student.cells] == ["**Exercise 9.1** Do it.", "check('9.1', answer)"]
    assert student.cells[1].outputs == [] and student.cells[1].execution_count is None
    assert len(nb.cells) == 3  # the original is untouched
