"""The instructor guide quotes each chapter's learning objectives from its notebook ({chapter-objectives}, book/_ext)."""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "book" / "_ext"))

import book_numbers  # noqa: E402

CHAPTERS = sorted((ROOT / "chapters").glob("[0-9][0-9]_*.ipynb"))


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.name)
def test_every_chapter_states_objectives_the_guide_can_quote(path):
    _, items = book_numbers.objectives(path)
    assert items[0].startswith("- ") and all(line.startswith(("- ", "  ")) for line in items)
    number = int(path.name[:2])
    assert book_numbers.chapter_notebook(number) == path
    assert f"```{{chapter-objectives}} {number}\n```" in (ROOT / "book" / "instructor_guide.md").read_text()


def test_the_list_ends_where_the_cell_goes_on(tmp_path):
    source = ("# 9. A chapter\n\nIntro.\n\n**Learning objectives.** After this chapter you can\n\n"
              "- do one thing;\n- do another thing that takes\n  two lines.\n\nMore text.\n")  # fmt: skip
    path = tmp_path / "09_x.ipynb"
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell(source)]), path)
    assert book_numbers.objectives(path) == (
        "After this chapter you can", ["- do one thing;", "- do another thing that takes", "  two lines."]
    )
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# 9. No objectives")]), path)
    with pytest.raises(ValueError, match="Learning objectives"):
        book_numbers.objectives(path)


def test_references_are_rewritten_for_the_page_that_quotes_them():
    notebook = ROOT / "chapters" / "08_peft_family.ipynb"
    text = "- claims of {doc}`../book/claims`, {doc}`chapter 7 <07_lora_with_peft>`, {glue:text}`acc:.0%`, {glue:text}`../x.ipynb::y`"
    assert book_numbers.relocate(text, notebook, "book/instructor_guide") == (
        "- claims of {doc}`/book/claims`, {doc}`chapter 7 </chapters/07_lora_with_peft>`, "
        "{glue:text}`../chapters/08_peft_family.ipynb::acc:.0%`, {glue:text}`../x.ipynb::y`"
    )
