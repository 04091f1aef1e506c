"""The README's chapter table is generated (tools/readme_table.py), never typed: it must be up to date."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("readme_table", ROOT / "tools" / "readme_table.py")
readme_table = importlib.util.module_from_spec(spec)
spec.loader.exec_module(readme_table)


def test_readme_chapter_table_is_up_to_date():
    readme = (ROOT / "README.md").read_text()
    expected = readme_table.update(readme, readme_table.markdown_table(readme_table.chapter_rows(ROOT)))
    assert readme == expected, "README.md's chapter table is out of date: run `python tools/readme_table.py`"


def test_every_planned_chapter_has_a_row():
    rows = readme_table.chapter_rows(ROOT)
    assert [r["number"] for r in rows] == [str(n) for n in range(1, 14)]


@pytest.fixture
def book(tmp_path):
    """A two-chapter book: chapter 1 measured (with its solutions), chapter 2 written but not yet run."""
    (tmp_path / "_toc.yml").write_text(
        "format: jb-book\nroot: book/intro\nparts:\n  - caption: Part I\n    chapters:\n"
        "      - file: chapters/01_first\n      - file: chapters/02_second\n"
        "  - caption: Back matter\n    chapters:\n      - file: chapters/solutions/01_first_solutions\n"
    )
    (tmp_path / "chapters").mkdir()
    for name, title in [("01_first", "# 1. A first chapter"), ("02_second", "# 2. The second one")]:
        nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell(f"{title}\n\nText.")])
        nbformat.write(nb, tmp_path / "chapters" / f"{name}.ipynb")
    (tmp_path / "tools").mkdir()
    (tmp_path / "tools" / "timings.json").write_text(json.dumps({
        "chapters/01_first.ipynb": {"seconds": 177.4, "peak_rss_gib": 4.81, "profile": "cpu"},
        "chapters/solutions/01_first_solutions.ipynb": {"seconds": 5.7, "profile": "cpu"},
    }))
    return tmp_path


def test_rows_come_from_the_records(book):
    rows = readme_table.chapter_rows(book)
    assert rows[0] == {
        "number": "1", "title": "A first chapter", "notebook": "`chapters/01_first.ipynb`",
        "cpu": "2 min 57 s", "ram": "4.8 GiB", "solutions": "6 s",
    }
    assert rows[1]["title"] == "The second one" and rows[1]["cpu"] == readme_table.NOT_RECORDED
    assert rows[2]["notebook"] == "planned" and rows[2]["title"] == readme_table.PLANNED[3]
    assert len(rows) == len(readme_table.PLANNED)


def test_a_hand_edited_or_stale_table_is_caught(book):
    table = readme_table.markdown_table(readme_table.chapter_rows(book))
    readme = f"# Book\n\n{readme_table.START}\n{table}\n{readme_table.END}\n\nAfter.\n"
    assert readme_table.update(readme, table) == readme
    typed = readme.replace("2 min 57 s", "2 min 50 s")  # someone typed a time
    assert readme_table.update(typed, table) != typed
    timings = json.loads((book / "tools" / "timings.json").read_text())
    timings["chapters/01_first.ipynb"]["seconds"] = 190.0  # `make execute` measured again
    (book / "tools" / "timings.json").write_text(json.dumps(timings))
    fresh = readme_table.markdown_table(readme_table.chapter_rows(book))
    assert readme_table.update(readme, fresh) != readme and "3 min 10 s" in fresh


def test_markers_are_required():
    with pytest.raises(ValueError, match="marker"):
        readme_table.update("# A README without markers\n", "| table |")


def test_gpu_columns_come_from_the_gpu_profile_or_say_not_yet_measured(book):
    rows = readme_table.chapter_rows(book, gpu=True)
    assert rows[0]["gpu"] == readme_table.NOT_MEASURED and rows[2]["gpu"] == ""  # no file yet; a planned chapter
    (book / "bench" / "results").mkdir(parents=True)
    (book / readme_table.GPU_PROFILE).write_text(json.dumps({
        "chapters/01_first.ipynb": {"seconds": 61.0, "peak_gpu_gib": 2.34, "passed": True},
        "chapters/02_second.ipynb": {"seconds": 12.0, "peak_gpu_gib": 1.0, "passed": False},
    }))
    rows = readme_table.chapter_rows(book, gpu=True)
    assert (rows[0]["gpu"], rows[0]["gpu_mem"]) == ("1 min 1 s", "2.3 GiB")
    assert rows[1]["gpu"] == "failed after 12 s"
    table = readme_table.markdown_table(rows, gpu=True)
    assert table.splitlines()[0].endswith("| GPU time | peak GPU memory |") and "| 1 min 1 s | 2.3 GiB |" in table
    # the README's table keeps its six columns
    assert "GPU" not in readme_table.markdown_table(readme_table.chapter_rows(book))
