"""The prose keeps the book's promise: every result it states is pasted from the cell that computed it.

A result typed into markdown by hand drifts the day the cell is re-run. So a markdown cell of a
chapter or a solution, and the back matter that quotes chapter results, may state a result-like
number (a decimal, a percentage, a figure with a unit such as 1.4 s or 2.7 GiB, a ratio such as 1.5x)
only through ``{glue:text}`` (``ftlib.glue``). Numbers that are definitions, not results (a
learning rate in the text, AdamW's betas), are written as code (`lr=2e-3`) or listed, with a
reason, in ``tests/prose_allowlist.yml``.

The same lint fails on double-escaped LaTeX inside math (``\\\\Delta`` renders as an error) and on
stray empty stream outputs (a blank stderr box in the book).
"""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted(p for p in (ROOT / "chapters").rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts)
BACK_MATTER = sorted((ROOT / "book").glob("*.md"))
ALLOW = yaml.safe_load((ROOT / "tests" / "prose_allowlist.yml").read_text()) or {}

UNITS = r"(?:s|ms|µs|us|min|h|GiB|GB|MiB|MB|KiB|kB|KB|B|tokens/s|tok/s|GFLOP/s|TFLOP/s|FLOP/s|it/s|nats|bits)"
RESULT = re.compile(
    rf"""(?<![\w.\-/])(?:
        \d[\d,]*\.\d+(?:\s?(?:%|{UNITS}\b|x\b|×))?  # a decimal, perhaps with a unit
      | \d[\d,]*\s?(?:%|{UNITS}\b|×)                # a whole number with a percent sign or a unit
      | \d[\d,]*x\b                                 # a ratio such as 10x
    )(?![\w.]*\d)""",
    re.VERBOSE,
)
# Words after which a number is a name, not a result: "section 4.5", "Figure 2.1", "Python 3.11".
NAMING = re.compile(
    r"(?:\b|(?<=§))(?:section|sections|§|chapter|chapters|exercise|exercises|figure|figures|fig\.|table|tables|equation|eq\.|"
    r"solution|solutions|part|python|torch|transformers|peft|version|v|quiz|question)"
    r"\s*(?:\d+(?:\.\d+)*\s*(?:,|and|or|to|-|–)\s*)*$",
    re.IGNORECASE,
)
GLUE_ROLE = re.compile(r"\{glue(?::\w+)?\}`[^`]*`")
OTHER_ROLES = re.compile(r"\{(?:numref|ref|doc|download|cite|cite:p|cite:t|term|eq)\}`[^`]*`")


def strip_code(md: str) -> str:
    """Markdown without fenced blocks, inline code, glue and cross-reference roles, link targets and headings."""
    md = re.sub(r"^(```|~~~|:::).*?^\1", "", md, flags=re.S | re.M)
    md = GLUE_ROLE.sub("GLUED", md)
    md = OTHER_ROLES.sub("REF", md)
    md = re.sub(r"`[^`\n]*`", "CODE", md)
    md = re.sub(r"\]\([^)]*\)", "]", md)  # link targets
    md = re.sub(r"<[^>]+>", "", md)  # html tags and comments
    md = re.sub(r"^#+ .*$", "", md, flags=re.M)  # headings carry section numbers
    return md


def result_numbers(md: str) -> list[str]:
    """The result-like numbers of a markdown text that are neither glued nor names."""
    text = strip_code(md)
    found = []
    for m in RESULT.finditer(text):
        before = text[max(0, m.start() - 40) : m.start()]
        if NAMING.search(before) and not m.group().rstrip().endswith(("%", "s", "B", "x", "×")):
            continue  # "section 4.5", "Python 3.11"
        if re.fullmatch(r"\d+\.\d+\.\d+", m.group()) or re.fullmatch(r"\d+(?:\.\d+)?B", m.group()):
            continue  # a version such as 2.13.0, a model size such as 7B
        found.append(m.group().strip())
    return found


def allowed(path: Path) -> set[str]:
    key = str(path.relative_to(ROOT))
    return {str(k) for k in (ALLOW.get(key) or {})} | {str(k) for k in (ALLOW.get("everywhere") or {})}


def markdown_of(path: Path) -> list[tuple[int, str]]:
    if path.suffix == ".ipynb":
        cells = nbformat.read(path, as_version=4).cells
        return [(i, c.source) for i, c in enumerate(cells) if c.cell_type == "markdown"]
    return [(0, path.read_text())]


@pytest.mark.parametrize("path", NOTEBOOKS + BACK_MATTER, ids=lambda p: str(p.relative_to(ROOT)))
def test_results_in_prose_are_glued(path):
    ok = allowed(path)
    bad = [
        f"cell {i}: {n!r}" if path.suffix == ".ipynb" else repr(n)
        for i, md in markdown_of(path)
        for n in result_numbers(md)
        if n not in ok
    ]
    assert not bad, (
        f"{path.relative_to(ROOT)}: numbers typed into the prose; glue them from the cell that computed them "
        f"(ftlib.glue + {{glue:text}}), write settings as code, or list a definition in tests/prose_allowlist.yml: {bad}"
    )


def test_the_allowlist_names_real_files():
    for key in ALLOW:
        assert key == "everywhere" or (ROOT / key).is_file(), f"prose_allowlist.yml names a missing file: {key}"


MATH = re.compile(r"\$\$.*?\$\$|\$[^$\n]+\$|\\begin\{(\w+\*?)\}.*?\\end\{\1\}", re.S)


@pytest.mark.parametrize("path", NOTEBOOKS + BACK_MATTER, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_double_escaped_latex(path):
    """``\\\\Delta`` inside math is a line break followed by letters: MathJax shows an error or plain text."""
    bad = []
    for i, md in markdown_of(path):
        prose = re.sub(r"^(```|~~~).*?^\1", "", md, flags=re.S | re.M)
        prose = re.sub(r"`[^`\n]*`", "", prose)
        for m in MATH.finditer(prose):
            bad += [f"cell {i}: {x}" for x in re.findall(r"\\\\[A-Za-z]+", m.group())]
    assert not bad, f"{path.relative_to(ROOT)}: double backslashes in math: {bad}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_stray_empty_outputs(path):
    """An output stream that holds only white space shows as an empty box in the book."""
    cells = nbformat.read(path, as_version=4).cells
    bad = [
        f"cell {i} ({o.name})"
        for i, c in enumerate(cells)
        if c.cell_type == "code"
        for o in c.outputs
        if o.output_type == "stream" and not o.text.strip()
    ]
    assert not bad, f"{path.name}: empty stream outputs (a tqdm bar's last newline?): {bad}"


@pytest.mark.parametrize(
    "md, expected",
    [
        ("Exact match went from 0.16 to 0.91.", ["0.16", "0.91"]),
        ("Section 3.8 shows it; the run took 3.8 s.", ["3.8 s"]),
        ("It took 65 s, used 2.72 GiB and ran at 42 % of peak, 1.5x faster.", ["65 s", "2.72 GiB", "42 %", "1.5x"]),
        ("Exact match {glue:text}`em:.2f` after {glue:text}`secs:.0f` s.", []),
        ("See section 4.5, exercise 1.2, Figure 2.1 and Python 3.11 with torch 2.13.0.", []),
        ("Exercises 1.1, 1.2 and 1.3; sections 4.5 to 4.6; a 7B model.", []),
        ("Set `lr=2e-3` and `0.5` in code; [a link](https://x.org/v1.2) is not prose.", []),
        ("## 6.3 Merging\nNo numbers here.", []),
        ("$$\\mathcal{L} = 0.632$$", ["0.632"]),
        ("r = 8 and 400 records, batch 4 x 84.", []),
    ],
)
def test_the_lint_itself(md, expected):
    assert result_numbers(md) == expected


CROSS_GLUE = re.compile(r"\{glue(?::\w+)?\}`([^`]*::[^`]*)`")


@pytest.mark.parametrize("path", NOTEBOOKS + BACK_MATTER, ids=lambda p: str(p.relative_to(ROOT)))
def test_glue_from_another_document_names_a_format(path):
    """myst-nb splits ``path::key:format`` at the last colon: without a format, the key's own ``::`` is cut
    (``path:`` becomes the key) and the build fails. Give every such role a format (``:d``, ``:s``, ``:.2f``)."""
    bad = [
        f"cell {i}: {role}" if path.suffix == ".ipynb" else role
        for i, md in markdown_of(path)
        for role in CROSS_GLUE.findall(md)
        if ":" not in role.split("::", 1)[1]
    ]
    assert not bad, f"{path.relative_to(ROOT)}: cross-document glue without a format: {bad}"
