"""The book's Sphinx extensions (book/_ext/), without building the book: figure numbers and pasted numbers."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "book" / "_ext"))

import book_numbers  # noqa: E402
import book_site  # noqa: E402


def test_figures_are_numbered_per_chapter():
    sphinx_numbers = {  # what Sphinx assigns without a numbered toctree: one count through the book
        "chapters/04_full_finetuning": {"figure": {"fig-a": (3,), "fig-b": (4,)}, "table": {"t": (1,)}},
        "chapters/05_low_rank_math": {"figure": {"fig-c": (6,), "fig-d": (5,)}},
        "chapters/solutions/05_low_rank_math_solutions": {"figure": {"fig-e": (7,)}},
        "book/benchmarks": {"figure": {"fig-f": (8,)}},
    }
    assert book_site.renumber(sphinx_numbers) == {
        "chapters/04_full_finetuning": {"figure": {"fig-a": (4, 1), "fig-b": (4, 2)}, "table": {"t": (4, 1)}},
        "chapters/05_low_rank_math": {"figure": {"fig-d": (5, 1), "fig-c": (5, 2)}},  # document order kept
        "chapters/solutions/05_low_rank_math_solutions": {"figure": {"fig-e": ("S5", 1)}},
        "book/benchmarks": {"figure": {"fig-f": (1,)}},
    }


@pytest.mark.parametrize(
    "doc, prefix",
    [("chapters/07_lora_with_peft", (7,)), ("chapters/solutions/12_x_solutions", ("S12",)), ("book/claims", ())],
)
def test_figure_prefix(doc, prefix):
    assert book_site.figure_prefix(doc) == prefix


def test_mermaid_alt_becomes_the_diagram_description():
    front = "---\nconfig:\n  theme: neutral\n---\n"  # sphinxcontrib-mermaid prepends front matter
    code = front + "flowchart LR\n    A --> B"
    assert book_site.with_alt_text(code, "Two boxes,\n joined") == (
        front + "flowchart LR\n    accDescr: Two boxes, joined\n    A --> B"
    )
    assert book_site.with_alt_text("%%{init: {}}%%\ngraph TD\nA-->B", "x").splitlines()[2] == "    accDescr: x"
    own = "graph TD\n    accDescr: its own\n    A-->B"
    assert book_site.with_alt_text(own, "x") == own
    assert book_site.with_alt_text(code, "  ") == code


def test_repo_links_point_at_existing_files():
    repo = "https://github.com/ftlib-book/fine-tuning-hands-on"
    assert book_site.repo_url("data/README.md", repo, "main") == f"{repo}/blob/main/data/README.md"
    assert book_site.repo_url("bench/", repo + "/", "dev") == f"{repo}/tree/dev/bench"
    for bad in ["data/READ_ME.md", "../etc/passwd", ""]:
        with pytest.raises(ValueError):
            book_site.repo_url(bad, repo, "main")


@pytest.fixture
def results(tmp_path):
    out = tmp_path / "bench" / "results"
    out.mkdir(parents=True)
    (out / "dev.json").write_text(json.dumps({
        "environment": {"matmul_peak_flops": 200e9, "matmul_n": 2048, "device": "cpu"},
        "jobs": [
            {"method": "full", "loop": "ftlib", "seconds_per_step": 4.5, "step_seconds_range": [4.4, 4.9],
             "achieved_flops": 120e9, "peak_memory_bytes": 3 * 2**30},
            {"method": "full", "loop": "Trainer", "seconds_per_step": 5.0, "achieved_flops": 100e9,
             "peak_memory_bytes": 2.5 * 2**30},
        ],
    }))
    (out / "dev_profile.txt").write_text(
        "noise\n=== full / ftlib / float32 (trainable dtypes ['float32']): wall 4.00 s for 8 steps (profiler on), "
        "kernels busy 0.50 s = 12%; 4740 kernels per step\n"
    )
    book_numbers.fields.cache_clear()
    yield tmp_path
    book_numbers.fields.cache_clear()


@pytest.mark.parametrize(
    "text, shown",
    [
        ("dev:full.ftlib.seconds_per_step:.2f", "4.50"),
        ("dev:full.ftlib.share:.0%", "60%"),
        ("dev:full.ftlib.peak_gib - full.Trainer.peak_gib:.1f", "0.5"),
        ("dev:full.Trainer.seconds_per_step / full.ftlib.seconds_per_step:.3f", "1.111"),
        ("dev:full.ftlib.step_max:.1f", "4.9"),
        ("dev:environment.peak_gflops:,.0f", "200"),
        ("dev_profile:full.ftlib.float32.busy_share:.1%", "12.5%"),
        ("dev_profile:full.ftlib.float32.kernels_per_step:,.0f", "4,740"),
    ],
)
def test_bench_values_come_from_the_results(results, text, shown):
    assert book_numbers.bench_value(text, root=results) == shown


@pytest.mark.parametrize(
    "text, error",
    [
        ("dev:full.ftlib.speed:.2f", "no field 'full.ftlib.speed'"),
        ("missing:full.ftlib.share", "no results file"),
        ("dev", "expected NAME:EXPR"),
    ],
)
def test_bench_values_fail_loudly(results, text, error):
    with pytest.raises(ValueError, match=error):
        book_numbers.bench_value(text, root=results)


def test_every_bench_role_of_the_book_resolves():
    """The build turns a bad role into an error; this finds it without a build."""
    import re

    texts = [m for path in (ROOT / "book").glob("*.md") for m in re.findall(r"(?<!`)\{bench\}`([^`]*)`", path.read_text())]
    for text in texts:
        book_numbers.bench_value(text)
