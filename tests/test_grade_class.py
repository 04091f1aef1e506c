"""tools/grade_class.py: a class's notebooks graded from the lines that ftlib.exercises.check prints.

Synthetic notebooks built with nbformat; no model is loaded. One test executes a tiny notebook
with nbclient (exercise 2.3's check is pure Python), which takes a few seconds for the kernel.
"""

from __future__ import annotations

import csv
import importlib.util
import sys
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from ftlib.exercises import exercises

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("grade_class", ROOT / "tools" / "grade_class.py")
grade_class = importlib.util.module_from_spec(spec)
sys.modules["grade_class"] = grade_class  # its dataclass looks the module up while it is created
spec.loader.exec_module(grade_class)


def chapter_2() -> list[str]:
    return [e for e in exercises() if e.startswith("2.")]


def printed(*texts: str):
    """A code cell as a saved notebook holds it after printing ``texts``."""
    cell = new_code_cell("check(...)")
    cell.outputs = [new_output("stream", name="stdout", text=t) for t in texts]
    return cell


def write(path: Path, cells, heading: str = "# 2. The SFT loss") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(new_notebook(cells=[new_markdown_cell(heading), *cells]), path)
    return path


@pytest.fixture
def submissions(tmp_path):
    """Three students: one who passed 2.1 (after a first wrong try), one who handed in nothing run, one with an error."""
    write(tmp_path / "ada" / "chapters" / "02_sft_loss.ipynb", [
        printed("NOT YET exercise 2.1: right size, wrong sign: the loss is the NEGATIVE log-probability\n"),
        printed("PASSED exercise 2.1: 0.4170 nats\n"),
        printed("training: 100%|##########| 20/20\r\nNOT YET exercise 2.3: 7 is not it. Hint: perplexity is exp(loss).\n"),
    ])  # fmt: skip
    write(tmp_path / "bob" / "02_sft_loss.ipynb", [new_code_cell("check('2.1', None)")])
    error = new_code_cell("check('2.2', sequence_mean)")
    error.outputs = [new_output("error", ename="NameError", evalue="name 'sequence_mean' is not defined", traceback=[])]
    write(tmp_path / "cy" / "my homework.ipynb", [printed("PASSED exercise 2.1: 0.4170 nats\n"), error])
    (tmp_path / "cy" / ".ipynb_checkpoints").mkdir()
    write(tmp_path / "cy" / ".ipynb_checkpoints" / "my homework-checkpoint.ipynb", [printed("PASSED exercise 2.2: ok\n")])
    return tmp_path


def test_check_lines_are_read_as_check_prints_them(capsys):
    from ftlib.exercises import check

    check("2.3", 1.0)
    check("2.1", -0.417)
    text = capsys.readouterr().out
    found = grade_class.verdicts(text)
    assert found["2.3"][0] == grade_class.NOT_YET and found["2.3"][1].startswith("1.0 is not it")
    assert found["2.1"] == (grade_class.NOT_YET, "right size, wrong sign: the loss is the NEGATIVE log-probability, so it is never below 0")


def test_every_exercise_of_the_chapter_gets_a_row(submissions):
    rows = grade_class.grade_class(submissions)
    by = {(r.student, r.exercise): r for r in rows}
    assert {r.student for r in rows} == {"ada", "bob", "cy"}
    for student in ("ada", "bob", "cy"):
        assert [r.exercise for r in rows if r.student == student] == chapter_2()
    assert by["ada", "2.1"].result == "passed" and by["ada", "2.1"].message == "0.4170 nats"  # a later PASSED wins
    assert by["ada", "2.1"].notebook == "chapters/02_sft_loss.ipynb"
    assert by["ada", "2.3"].result == "not yet" and "Hint" in by["ada", "2.3"].message  # after a tqdm bar's \r
    assert by["ada", "2.2"].result == "not run"
    assert all(by["bob", e].result == "not run" for e in chapter_2())
    # no chapter number in the file name: the first heading says chapter 2; the checkpoint copy is ignored
    assert by["cy", "2.1"].result == "passed" and by["cy", "2.2"].result == "not run"
    assert "NameError" in by["cy", "2.2"].message and "cell 3" in by["cy", "2.2"].message


def test_assigned_chapters_without_a_notebook_count_as_not_run(submissions):
    rows = grade_class.grade_class(submissions, chapters=grade_class.parse_chapters("1-2"))
    ada_1 = [r for r in rows if r.student == "ada" and r.exercise.startswith("1.")]
    assert [r.exercise for r in ada_1] == [e for e in exercises() if e.startswith("1.")]
    assert all(r.result == "not run" and "chapter 1" in r.message and r.notebook == "" for r in ada_1)
    assert grade_class.parse_chapters("1-3, 6") == [1, 2, 3, 6]


def quiz_cell(chapter: int, printed_text: str | None):
    """A quizzes-notebook cell that calls check_quiz, with what it printed (None: not run)."""
    cell = new_code_cell(f"answers_{chapter} = {{1: 'b'}}\ncheck_quiz({chapter}, answers_{chapter});")
    cell.outputs = [] if printed_text is None else [new_output("stream", name="stdout", text=printed_text)]
    return cell


def test_quiz_totals_are_read_from_the_cells_that_check_them(tmp_path, capsys):
    from ftlib.quiz import check_quiz, quiz_chapters

    check_quiz(1, {1: "a", 2: None})  # what a learner's cell prints, whatever the answers' worth
    real = capsys.readouterr().out
    right = int(real.splitlines()[-1].split()[0])
    write(tmp_path / "ada" / "quizzes.ipynb", [
        quiz_cell(1, real),
        quiz_cell(2, "Question 1: PASSED\nQuestion 2: NOT YET. Hint: section 2.3\n3 of 5 right\n"),
        quiz_cell(2, "Question 1: PASSED\n5 of 5 right\n"),  # a second try: the best total counts
        quiz_cell(3, None),  # never run
    ], heading="# Quizzes")  # fmt: skip
    rows = grade_class.grade_class(tmp_path, chapters=[1, 4])
    quizzes = {r.exercise: (r.result, r.message) for r in rows if r.exercise.startswith("quiz ")}
    assert quizzes["quiz 1"] == ("passed" if right == 5 else "not yet", f"{right} of 5 right")
    assert quizzes["quiz 2"] == ("passed", "5 of 5 right")
    assert quizzes["quiz 3"][0] == "not run"
    if 4 in quiz_chapters():  # an assigned chapter whose quiz no notebook checks
        assert quizzes["quiz 4"] == ("not run", "no notebook checks quiz 4")
    line = next(x for x in grade_class.summary(rows).splitlines() if x.startswith("ada"))
    assert f"{right + 5} / 10" in line and line.split()[-1] == str(1 + (4 in quiz_chapters()))


def test_a_broken_notebook_is_recorded_not_fatal(tmp_path):
    (tmp_path / "dan").mkdir()
    (tmp_path / "dan" / "02_sft_loss.ipynb").write_text("{ not json")
    rows = grade_class.grade_class(tmp_path)
    assert [r.exercise for r in rows] == chapter_2()
    assert all(r.result == "not run" and "could not read" in r.message for r in rows)


def test_csv_and_summary(submissions, tmp_path, capsys):
    out = tmp_path / "grades.csv"
    assert grade_class.main([str(submissions), "--csv", str(out)]) == 0
    with out.open() as f:
        table = list(csv.DictReader(f))
    assert list(table[0]) == ["student", "notebook", "exercise", "result", "message"]
    assert len(table) == 3 * len(chapter_2())
    assert {r["result"] for r in table} <= {"passed", "not yet", "not run"}
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:2] == ["student", "passed"]
    ada = next(line for line in lines if line.startswith("ada"))
    assert ada.split()[1:4] == ["1", "/", str(len(chapter_2()))]


def test_execute_runs_the_notebook_and_records_errors(tmp_path):
    """--execute: a fresh kernel runs a notebook that calls check on exercise 2.3 (pure Python), then a broken cell."""
    path = write(tmp_path / "eve" / "02_sft_loss.ipynb", [
        new_code_cell(f"import sys\nsys.path.insert(0, {str(ROOT)!r})\nfrom ftlib.exercises import check"),
        new_code_cell("import math\ncheck('2.3', 49152)"),
        new_code_cell("1 / 0"),
        new_code_cell("check('2.1', -0.417)"),  # runs although the cell before raised
    ])  # fmt: skip
    before = path.read_text()
    rows = {r.exercise: r for r in grade_class.grade_class(tmp_path, run=True, cell_timeout=60)}
    assert path.read_text() == before  # the student's file is not changed
    assert rows["2.3"].result == "passed", rows["2.3"].message
    assert rows["2.1"].result == "not yet"
    assert rows["2.2"].result == "not run" and "ZeroDivisionError" in rows["2.2"].message
