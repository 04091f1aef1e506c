"""Grade a class's notebooks from the lines that ``ftlib.exercises.check`` prints.

Usage: python tools/grade_class.py SUBMISSIONS [--execute] [--cell-timeout S] [--chapters 1-4,6] [--csv FILE]

SUBMISSIONS holds one folder per student with that student's notebooks (``chapters/NN_*.ipynb``
as handed out by ``make student``, or any ``.ipynb``, at any depth; ``.ipynb_checkpoints`` is
skipped). For every notebook the script collects the verdict lines of the autograded checks,

    PASSED exercise 1.2: <message>        NOT YET exercise 1.2: <message>

(the format of ``ftlib.exercises.check``), and the quizzes' totals: a code cell that calls
``check_quiz(N, answers)`` (``ftlib.quiz``, asked in ``chapters/quizzes.ipynb``) prints a line per
question and then ``k of 5 right``, which is quiz N's score. By default it reads the outputs saved in the notebooks: students hand in
executed notebooks. With ``--execute`` it first runs each notebook again with nbclient, in its
own folder, in a fresh kernel, on a copy (the student's file is not changed); a cell that raises
is recorded and the next cells still run, a cell over ``--cell-timeout`` stops that notebook.

A notebook's chapter is the number in its file name (``03_data...ipynb``), else the number of its
first heading (``# 3. Data ...``). Every exercise of that chapter with a check
(``ftlib.exercises.exercises()``) gets one row: ``passed``, ``not yet``, or ``not run`` when the
notebook holds no verdict line for it (the cell was not run, or the notebook stopped before it).
When a check was run several times, a PASSED line anywhere counts. ``--chapters`` names the
chapters assigned: a student without a notebook of an assigned chapter gets ``not run`` for each
of its exercises, and for its quiz when no notebook holds that quiz's total.

Output: a CSV (default ``grades.csv``) with the columns student, notebook, exercise, result,
message, and a summary per student on stdout (exercises passed of those checked, and quiz answers
right). Quiz rows use the exercise column for ``quiz N``; their result is ``passed`` when every
answer is right, ``not yet`` otherwise (the message is ``k of n right``), or ``not run`` when the
notebook calls ``check_quiz(N, ...)`` but shows no total for it. A quiz run several times keeps
its best total.

Taught in the instructor guide, section "Grading a class with tools/grade_class.py".
"""

from __future__ import annotations

import argparse
import copy
import csv
import re
import sys
from dataclasses import dataclass
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as `python tools/grade_class.py` from anywhere
    sys.path.insert(0, str(ROOT))

from ftlib.exercises import exercises

__all__ = ["Row", "grade_class", "grade_notebook", "notebook_chapter", "quiz_scores", "verdicts"]

PASSED, NOT_YET, NOT_RUN = "passed", "not yet", "not run"
CHECK_LINE = re.compile(r"^(PASSED|NOT YET) exercise (\d+\.\d+): ?(.*)$", re.M)  # ftlib.exercises.check
QUIZ_CALL = re.compile(r"\bcheck_quiz\(\s*(\d+)")  # ftlib.quiz.check_quiz(chapter, answers) in a cell's source
QUIZ_TOTAL = re.compile(r"^(\d+) of (\d+) right$", re.M)  # the last line check_quiz prints
FILE_CHAPTER = re.compile(r"^(\d{1,2})_")
HEADING_CHAPTER = re.compile(r"^#\s+(\d{1,2})\.?\s", re.M)
COLUMNS = ["student", "notebook", "exercise", "result", "message"]


@dataclass
class Row:
    """One line of the CSV: one exercise (or quiz) of one notebook of one student."""

    student: str
    notebook: str
    exercise: str
    result: str
    message: str


def exercise_key(number: str) -> tuple:
    """Sort key for "1.10" after "1.9", and quizzes after exercises."""
    if number.startswith("quiz "):
        return (1, *(int(x) if x.isdigit() else 0 for x in number[5:].split(".")))
    return (0, *(int(x) for x in number.split(".")))


def output_text(nb) -> str:
    """Everything a notebook's code cells printed or displayed as text, in cell order."""
    parts = []
    for cell in nb.cells:
        for out in cell.get("outputs", []) if cell.cell_type == "code" else []:
            if out.get("output_type") == "stream":
                parts.append(out.get("text", ""))
            elif "data" in out:
                parts.append(out["data"].get("text/plain", ""))
    # tqdm redraws with a carriage return; a terminal shows only what follows the last one.
    return "\n".join(line.rsplit("\r", 1)[-1] for line in "\n".join(parts).split("\n"))


def errors(nb) -> list[str]:
    """The errors a notebook's outputs show, as "ErrorName: value (cell N)"."""
    found = []
    for index, cell in enumerate(nb.cells):
        for out in cell.get("outputs", []) if cell.cell_type == "code" else []:
            if out.get("output_type") == "error":
                found.append(f"{out.get('ename', 'Error')}: {out.get('evalue', '')} (cell {index + 1})".strip())
    return found


def verdicts(text: str) -> dict[str, tuple[str, str]]:
    """Exercise number -> (result, message) from check lines; a PASSED line wins over NOT YET lines."""
    found: dict[str, tuple[str, str]] = {}
    for word, number, message in CHECK_LINE.findall(text):
        result = PASSED if word == "PASSED" else NOT_YET
        if number not in found or (result == PASSED and found[number][0] != PASSED):
            found[number] = (result, message.strip())
    return found


def quiz_scores(nb) -> dict[int, tuple[int, int] | None]:
    """Chapter -> (right, out of) of every quiz a notebook checks, None when its cell shows no total.

    A cell's ``check_quiz(N, ...)`` calls are paired in order with the "k of n right" lines of its
    outputs; the best total of a quiz checked in several cells counts.
    """
    found: dict[int, tuple[int, int] | None] = {}
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        calls = [int(n) for n in QUIZ_CALL.findall(cell.source)]
        totals = QUIZ_TOTAL.findall(output_text(nbformat.v4.new_notebook(cells=[cell])))
        for i, chapter in enumerate(calls):
            score = (int(totals[i][0]), int(totals[i][1])) if i < len(totals) else None
            if found.get(chapter) is None or (score is not None and score[0] > found[chapter][0]):
                found[chapter] = score
    return found


def quiz_chapters() -> list[int]:
    """The chapters that have a quiz in ftlib.quiz ([] where this checkout has no quizzes)."""
    try:
        from ftlib.quiz import quiz_chapters as chapters
    except ImportError:
        return []
    return chapters()


def notebook_chapter(path: Path, nb) -> int | None:
    """The chapter a notebook belongs to: the number of its file name, else of its first heading."""
    match = FILE_CHAPTER.match(path.name)
    if match:
        return int(match.group(1))
    for cell in nb.cells if nb is not None else []:
        if cell.cell_type == "markdown":
            match = HEADING_CHAPTER.match(cell.source.lstrip())
            return int(match.group(1)) if match else None
    return None


def chapter_exercises(chapter: int | None) -> list[str]:
    """The exercise numbers of one chapter that have an autograded check."""
    return [] if chapter is None else [e for e in exercises() if e.split(".")[0] == str(chapter)]


def execute(nb, folder: Path, cell_timeout: int, kernel: str) -> str | None:
    """Run ``nb`` in place in a fresh kernel; a message when it could not run to the end, else None."""
    from nbclient import NotebookClient

    client = NotebookClient(nb, timeout=cell_timeout, kernel_name=kernel, allow_errors=True,
                            resources={"metadata": {"path": str(folder)}})  # fmt: skip
    try:
        client.execute()
    except Exception as exc:  # a cell timeout, a dead kernel: the outputs so far still count
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        return f"execution stopped: {type(exc).__name__}: {first}"
    return None


def grade_notebook(student: str, path: Path, name: str, *, run: bool = False, cell_timeout: int = 600,
                   kernel: str = "python3") -> list[Row]:  # fmt: skip
    """The rows of one notebook: one per exercise of its chapter and per quiz line; never raises on a bad notebook."""
    problem = None
    try:
        nb = nbformat.read(path, as_version=4)
    except Exception as exc:
        nb, problem = None, f"could not read the notebook ({type(exc).__name__}: {exc})"
    if nb is not None and run:
        nb = copy.deepcopy(nb)
        problem = execute(nb, path.parent, cell_timeout, kernel)
    found = verdicts(output_text(nb) if nb is not None else "")
    shown = errors(nb) if nb is not None else []
    if problem is None and shown:
        problem = f"the notebook shows an error: {shown[0]}" + (f" and {len(shown) - 1} more" if len(shown) > 1 else "")
    missing = "no check line in the notebook's outputs" + (f"; {problem}" if problem else "")
    rows = [Row(student, name, number, *found.get(number, (NOT_RUN, missing)))
            for number in sorted(set(chapter_exercises(notebook_chapter(path, nb))) | set(found), key=exercise_key)]  # fmt: skip
    for chapter, score in sorted(quiz_scores(nb).items() if nb is not None else []):
        if score is None:
            rows.append(Row(student, name, f"quiz {chapter}", NOT_RUN, "no total line in the cell's outputs"
                            + (f"; {problem}" if problem else "")))  # fmt: skip
        else:
            right, total = score
            rows.append(Row(student, name, f"quiz {chapter}", PASSED if right == total else NOT_YET, f"{right} of {total} right"))
    if not rows and problem:  # a notebook of no known chapter that failed: say so rather than drop it
        rows.append(Row(student, name, "", NOT_RUN, problem))
    return rows


def student_notebooks(folder: Path) -> list[Path]:
    """A student's notebooks, at any depth, in name order; Jupyter's checkpoint copies left out."""
    return sorted(p for p in folder.rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts)


def grade_class(submissions: Path, *, run: bool = False, cell_timeout: int = 600, chapters: list[int] | None = None,
                kernel: str = "python3", progress=None) -> list[Row]:  # fmt: skip
    """The rows of every student folder under ``submissions``, students in name order."""
    rows: list[Row] = []
    for folder in sorted(p for p in submissions.iterdir() if p.is_dir() and not p.name.startswith(".")):
        seen: set[int] = set()
        quizzes: dict[int, Row] = {}
        for path in student_notebooks(folder):
            name = path.relative_to(folder).as_posix()
            if progress:
                progress(f"{folder.name}: {name}")
            found = grade_notebook(folder.name, path, name, run=run, cell_timeout=cell_timeout, kernel=kernel)
            for row in found:  # a quiz answered in several notebooks keeps its best row
                if row.exercise.startswith("quiz "):
                    chapter, best = int(row.exercise[5:]), quizzes.get(int(row.exercise[5:]))
                    if best is None or quiz_rank(row) > quiz_rank(best):
                        quizzes[chapter] = row
                else:
                    rows.append(row)
            seen |= {int(r.exercise.split(".")[0]) for r in found if r.exercise[:1].isdigit()}
            match = FILE_CHAPTER.match(path.name)
            if match:
                seen.add(int(match.group(1)))
        for chapter in sorted(set(chapters or []) - seen):
            rows += [Row(folder.name, "", number, NOT_RUN, f"no notebook of chapter {chapter} handed in")
                     for number in chapter_exercises(chapter)]  # fmt: skip
        for chapter in sorted(set(chapters or []) & set(quiz_chapters()) - set(quizzes)):
            quizzes[chapter] = Row(folder.name, "", f"quiz {chapter}", NOT_RUN, f"no notebook checks quiz {chapter}")
        rows += [quizzes[c] for c in sorted(quizzes)]
    return rows


def quiz_rank(row: Row) -> tuple[int, int]:
    """Orders a quiz's rows: one with a total above one without, then by answers right."""
    match = re.match(r"(\d+) of", row.message)
    return (row.result != NOT_RUN, int(match.group(1)) if match and row.result != NOT_RUN else -1)


def summary(rows: list[Row]) -> str:
    """A plain-text table: per student, exercises passed, not yet, not run, and quiz answers right."""
    table = [("student", "passed", "not yet", "not run", "quiz answers right", "quizzes not run")]
    for student in sorted({r.student for r in rows}):
        mine = [r for r in rows if r.student == student]
        ex = [r for r in mine if not r.exercise.startswith("quiz ")]
        quizzes = [r for r in mine if r.exercise.startswith("quiz ")]
        quiz = [tuple(int(x) for x in re.match(r"(\d+) of (\d+)", r.message).groups()) for r in quizzes if r.result != NOT_RUN]
        table.append((
            student,
            f"{sum(r.result == PASSED for r in ex)} / {len(ex)}",
            str(sum(r.result == NOT_YET for r in ex)),
            str(sum(r.result == NOT_RUN for r in ex)),
            f"{sum(k for k, _ in quiz)} / {sum(n for _, n in quiz)}" if quiz else "-",
            str(sum(r.result == NOT_RUN for r in quizzes)),
        ))
    widths = [max(len(row[i]) for row in table) for i in range(len(table[0]))]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in table)


def write_csv(rows: list[Row], path: Path) -> None:
    """The rows as CSV, with a header line."""
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(COLUMNS)
        writer.writerows([r.student, r.notebook, r.exercise, r.result, r.message] for r in rows)


def parse_chapters(text: str) -> list[int]:
    """ "1-3,6" -> [1, 2, 3, 6]."""
    chapters: list[int] = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        low, _, high = part.partition("-")
        chapters += range(int(low), int(high or low) + 1)
    return chapters


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("submissions", type=Path, help="a folder with one folder of notebooks per student")
    parser.add_argument("--execute", action="store_true", help="run each notebook again before reading its outputs")
    parser.add_argument("--cell-timeout", type=int, default=600, help="seconds a cell may run with --execute (default 600)")
    parser.add_argument("--kernel", default="python3", help="the Jupyter kernel for --execute (default python3)")
    parser.add_argument("--chapters", type=parse_chapters, default=None,
                        help="the chapters assigned, such as 1-3,6: a missing notebook counts as not run")  # fmt: skip
    parser.add_argument("--csv", type=Path, default=Path("grades.csv"), help="where to write the rows (default grades.csv)")
    args = parser.parse_args(argv)
    if not args.submissions.is_dir():
        parser.error(f"{args.submissions} is not a folder")
    rows = grade_class(args.submissions, run=args.execute, cell_timeout=args.cell_timeout, chapters=args.chapters,
                       kernel=args.kernel, progress=(lambda s: print(f"running {s}", file=sys.stderr)) if args.execute else None)  # fmt: skip
    write_csv(rows, args.csv)
    print(summary(rows))
    print(f"\n{len(rows)} rows written to {args.csv}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
