"""The glossary and the prose agree: every {term} link has an entry, and every entry is linked from somewhere.

A ``{term}`...` `` (or ``{term}`text <target>` ``) in the markdown of a chapter notebook or a page of
book/ must name a term of book/glossary.md's ``{glossary}`` directive: the book build would catch a
missing one too, but only after minutes and as a warning among others. The reverse direction is the
one no build catches: an entry that nothing links to is an entry a reader never reaches from the
text, so each entry is linked at least once, at its first use in the chapter that teaches it. An
entry's synonyms (several term lines over one definition) count as one entry.

Matching follows Sphinx's: the target's white space is collapsed (``XRefRole``), an exact match is
tried first and then a case-insensitive one (``StandardDomain._resolve_term_xref``, Sphinx 3.3 and
later; the first test checks that the installed Sphinx still does so).
"""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
GLOSSARY = ROOT / "book" / "glossary.md"
TERM_ROLE = re.compile(r"\{term\}`([^`]+)`")
FENCE = re.compile(r"^(```|~~~)(?!\{glossary\}).*?^\1[ \t]*$", re.S | re.M)  # code blocks, not the glossary itself


def role_target(text: str) -> str:
    """The term a role points at: ``text <target>`` gives target; white space collapsed as Sphinx does."""
    text = " ".join(text.split())
    match = re.fullmatch(r"(.*?)\s*<([^<>]+)>", text)
    return (match.group(2) if match else text).strip()


def glossary_entries(text: str) -> list[list[str]]:
    """The entries of the ``{glossary}`` directive, each a list of its term lines (synonyms share an entry)."""
    block = text.split("```{glossary}", 1)[1].split("\n```", 1)[0]
    entries: list[list[str]] = []
    after_term = False
    for line in block.splitlines()[1:]:
        if not line.strip() or line.startswith(":"):  # a blank line or an option such as :sorted:
            after_term = False
        elif not line[0].isspace():
            term = re.split(r" +: +", line.strip())[0]  # Sphinx drops a " : classifier"
            if after_term:
                entries[-1].append(term)
            else:
                entries.append([term])
            after_term = True
        else:
            after_term = False
    return entries


def sources() -> list[tuple[str, str]]:
    """(name, markdown) of every markdown cell of the notebooks in chapters/ and of every page of book/."""
    found = []
    for path in sorted((ROOT / "chapters").rglob("*.ipynb")):
        if ".ipynb_checkpoints" in path.parts:
            continue
        for index, cell in enumerate(nbformat.read(path, as_version=4).cells):
            if cell.cell_type == "markdown":
                found.append((f"{path.relative_to(ROOT)} cell {index}", cell.source))
    found += [(str(p.relative_to(ROOT)), p.read_text()) for p in sorted((ROOT / "book").glob("*.md"))]
    return found


def uses() -> list[tuple[str, str]]:
    """(where, target) of every {term} role outside code blocks."""
    return [(where, role_target(t)) for where, md in sources() for t in TERM_ROLE.findall(FENCE.sub("", md))]


def test_sphinx_resolves_terms_case_insensitively_as_a_fallback():
    from sphinx.domains.std import StandardDomain

    assert "target.lower()" in inspect.getsource(StandardDomain._resolve_term_xref), (
        "this Sphinx matches glossary terms differently: make the tests below follow it"
    )


def test_glossary_terms_are_unique():
    terms = [t.lower() for entry in glossary_entries(GLOSSARY.read_text()) for t in entry]
    assert len(terms) > 50, "the glossary directive was not parsed"
    duplicates = sorted({t for t in terms if terms.count(t) > 1})
    assert not duplicates, f"book/glossary.md defines these terms twice (Sphinx warns, the build fails): {duplicates}"


def test_every_term_link_has_a_glossary_entry():
    terms = {t.lower() for entry in glossary_entries(GLOSSARY.read_text()) for t in entry}
    missing = [f"{where}: {target!r}" for where, target in uses() if target.lower() not in terms]
    assert not missing, "{term} links to terms book/glossary.md does not define:\n" + "\n".join(missing)


def test_every_glossary_entry_is_linked_from_the_text():
    linked = {target.lower() for where, target in uses() if not where.startswith("book/glossary.md")}
    unused = [" / ".join(entry) for entry in glossary_entries(GLOSSARY.read_text())
              if not any(t.lower() in linked for t in entry)]  # fmt: skip
    assert not unused, (
        "glossary entries that no chapter or page links to with {term}; link each at its first use in the "
        "chapter that teaches it:\n" + "\n".join(unused)
    )


def test_the_parsers_follow_sphinx():
    assert role_target("low-rank\n  adaptation") == "low-rank adaptation"
    assert role_target("merge <merging (an adapter)>") == "merging (an adapter)"
    md = "```{glossary}\n:sorted:\n\nPEFT\nparameter-efficient fine-tuning\n  Text.\n\n  More text.\nLoRA : method\n  Text.\n```\n"
    assert glossary_entries(md) == [["PEFT", "parameter-efficient fine-tuning"], ["LoRA"]]
    assert TERM_ROLE.findall(FENCE.sub("", "{term}`a`\n```python\nx = '{term}`b`'\n```\n")) == ["a"]
