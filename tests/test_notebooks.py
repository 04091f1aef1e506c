"""Notebook hygiene: every committed notebook ran top to bottom without errors, and follows the conventions."""

import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
CHAPTERS = sorted(p for p in (ROOT / "chapters").glob("[0-9][0-9]_*.ipynb"))
NOTEBOOKS = sorted(p for p in (ROOT / "chapters").rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts)


def code_cells(path):
    return [c for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code"]


def test_there_are_chapters():
    assert CHAPTERS, "no chapter notebooks found"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_executed_top_to_bottom_without_errors(path):
    cells = [c for c in code_cells(path) if c.source.strip()]
    counts = [c.execution_count for c in cells]
    assert counts == list(range(1, len(cells) + 1)), f"{path.name}: run it top to bottom (make execute)"
    for i, cell in enumerate(cells):
        errors = [o for o in cell.outputs if o.output_type == "error"]
        assert not errors, f"{path.name} code cell {i}: {errors[0].ename}: {errors[0].evalue}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_banner_shows_the_cpu_profile(path):
    """Committed outputs come from the cpu profile with the real model, never from smoke."""
    text = "".join(o.get("text", "") for c in code_cells(path)[:3] for o in c.outputs)
    assert "profile      : cpu" in text


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.name)
def test_every_chapter_has_objectives_exercises_and_solutions(path):
    md = "\n".join(c.source for c in nbformat.read(path, as_version=4).cells if c.cell_type == "markdown")
    assert "Learning objectives" in md and "## Exercises" in md and "## Summary" in md
    assert (ROOT / "chapters" / "solutions" / f"{path.stem}_solutions.ipynb").is_file()


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_colab_setup_cell_uses_the_configured_repository(path):
    url = yaml.safe_load((ROOT / "_config.yml").read_text())["repository"]["url"]
    setup = next(c.source for c in code_cells(path) if "google.colab" in c.source)
    assert re.search(r'REPO = "([^"]+)"', setup).group(1) == url


CODE_WIDTH = 88  # characters; the book's code column fits this ([tool.ruff] line-length in pyproject.toml)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_code_fits_the_column(path):
    """Code lines longer than the column scroll sideways in the book: `ruff format chapters`, then shorten the rest."""
    long = [
        f"code cell {i}: {len(line)} characters"
        for i, cell in enumerate(code_cells(path))
        for line in cell.source.splitlines()
        if len(line) > CODE_WIDTH
    ]
    assert not long, f"{path.name}: lines wider than {CODE_WIDTH}: {long}"


def test_notebooks_are_formatted():
    ruff = shutil.which("ruff") or str(Path(sys.executable).parent / "ruff")
    if not Path(ruff).exists():
        pytest.skip("ruff is not installed (it comes with the [test] extra)")
    done = subprocess.run([ruff, "format", "--check", "chapters"], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, f"run `ruff format chapters`:\n{done.stdout}{done.stderr}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_no_test_plumbing_in_code(path):
    """nbval's markers are cell tags (nbval-check-output, nbval-skip), not comments the reader sees."""
    bad = [i for i, c in enumerate(code_cells(path)) if "NBVAL_" in c.source]
    assert not bad, f"{path.name}: code cells {bad} carry an NBVAL comment; use the cell tag instead"
