"""Write the student edition: chapter notebooks without outputs and without solutions.

Usage: python tools/student_edition.py [OUT]   (default: _build/student; `make student`)

- Only chapter notebooks (chapters/NN_*.ipynb) and the quizzes (chapters/quizzes.ipynb) are copied;
  the solutions notebooks, the quizzes' answers included, are not.
- Every output and execution count is removed, so students run the cells themselves.
- A cell tagged ``solution`` (cell metadata ``tags``) is dropped: a chapter may hold a worked
  solution for instructors. Exercises and their ``check(...)`` cells are kept.
- A chapter's link to its solutions notebook (``[the solutions](solutions/NN_..._solutions.ipynb)``,
  a page link in the book) would point at a file the edition does not hold: its text stays, the
  link goes, and a note says where the solutions are.
"""

from __future__ import annotations

import re
import shutil
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
SOLUTION_TAG = "solution"
SOLUTIONS_LINK = re.compile(r"\[([^\]]+)\]\((?:\./)?solutions/[^)\s]+_solutions\.ipynb(?:#[^)\s]*)?\)")
NO_SOLUTIONS = "{} (not in the student edition: ask your instructor)"
QUIZZES = "quizzes.ipynb"  # five questions per chapter (ftlib.quiz); their answers stay in solutions/

README = """# Student edition

The chapter notebooks of *Fine-tuning LLMs, hands-on*, without outputs and without solutions.
Run them inside the book's repository (they import `ftlib` and read `data/`), or on Colab,
where the first cell installs what they need. `check("1.2", your_answer)` grades a code exercise;
`chapters/quizzes.ipynb` holds five short questions per chapter, checked by `check_quiz`.
"""


def student_notebook(nb):
    """A copy of ``nb`` with solution cells and links to the solutions dropped, and every output cleared."""
    nb = nbformat.from_dict(nb)
    nb.cells = [c for c in nb.cells if SOLUTION_TAG not in c.get("metadata", {}).get("tags", [])]
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            cell.source = SOLUTIONS_LINK.sub(lambda m: NO_SOLUTIONS.format(m.group(1)), cell.source)
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
            cell.metadata.pop("execution", None)
    return nb


def notebooks(root: Path = ROOT) -> list[Path]:
    """The notebooks the edition holds: the chapters in order, then the quizzes."""
    return sorted((root / "chapters").glob("[0-9][0-9]_*.ipynb")) + [root / "chapters" / QUIZZES]


def main(argv: list[str]) -> int:
    out = Path(argv[0]) if argv else ROOT / "_build" / "student"
    if out.exists():
        shutil.rmtree(out)
    (out / "chapters").mkdir(parents=True)
    (out / "README.md").write_text(README)
    for path in notebooks():
        nb = student_notebook(nbformat.read(path, as_version=4))
        nbformat.write(nb, out / "chapters" / path.name)
        print(f"{out / 'chapters' / path.name}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
