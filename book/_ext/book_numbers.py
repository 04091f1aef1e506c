"""Sphinx extension: back-matter numbers pasted from generated files, never typed.

The chapters paste their results with myst-nb's ``{glue:text}``. The back matter quotes
results that no notebook computes: the benchmarks of ``bench/`` and the measured run time of
each notebook. Two helpers read them from the files that the measuring scripts write:

- the role ``{bench}`NAME:EXPR:FORMAT` `` pastes a number of ``bench/results/NAME.json`` (or of
  ``bench/results/h200_profile.txt``). EXPR names a field: ``environment.matmul_n``, or
  ``METHOD.LOOP.FIELD`` for a job (``full.ftlib.seconds_per_step``), with the derived fields
  ``share`` (of the matmul peak), ``peak_gib``, ``step_min``, ``step_max`` and, for the
  environment, ``peak_gflops``; in the profile ``METHOD.LOOP.DTYPE.FIELD`` with ``wall_s``,
  ``busy_s``, ``busy_share``, ``kernels_per_step``. Two fields joined by `` - `` or `` / ``
  give their difference or ratio. FORMAT is a Python format spec (``.2f``, ``.0%``, ``,.0f``).
- the directive ``{chapter-table}`` renders the table of chapters with their measured CPU time,
  peak memory and solutions time (``tools/readme_table.py``, the same table as the README).
"""

from __future__ import annotations

import functools
import importlib.util
import json
import re
from pathlib import Path

from docutils import nodes
from docutils.statemachine import StringList
from sphinx.util.docutils import SphinxDirective

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "bench" / "results"
PROFILE_LINE = re.compile(
    r"^=== (\w+) / (\w+) / (\w+) .*?: wall ([\d.]+) s for (\d+) steps .*?kernels busy ([\d.]+) s = \d+%; (\d+) kernels per step",
    re.M,
)


def _source(name: str, root: Path) -> Path:
    return root / "bench" / "results" / (f"{name}.txt" if name.endswith("_profile") else f"{name}.json")


@functools.lru_cache(maxsize=None)
def fields(name: str, root: Path = ROOT) -> dict[str, float]:
    """Every number of one results file, flattened to dotted keys, with the derived fields."""
    path = _source(name, root)
    if not path.is_file():
        raise ValueError(f"no results file {path.relative_to(root)}")
    out: dict[str, float] = {}
    if path.suffix == ".txt":
        for method, loop, dtype, wall, steps, busy, kernels in PROFILE_LINE.findall(path.read_text()):
            key = f"{method}.{loop}.{dtype}"
            out[f"{key}.wall_s"], out[f"{key}.busy_s"] = float(wall), float(busy)
            out[f"{key}.busy_share"] = float(busy) / float(wall)
            out[f"{key}.kernels_per_step"] = float(kernels)
        return out
    data = json.loads(path.read_text())
    env = data["environment"]
    out.update({f"environment.{k}": v for k, v in env.items() if isinstance(v, (int, float))})
    out["environment.peak_gflops"] = env["matmul_peak_flops"] / 1e9
    for job in data["jobs"]:
        key = f"{job['method']}.{job['loop']}"
        out.update({f"{key}.{k}": v for k, v in job.items() if isinstance(v, (int, float))})
        out[f"{key}.share"] = job["achieved_flops"] / env["matmul_peak_flops"]
        out[f"{key}.peak_gib"] = job["peak_memory_bytes"] / 2**30
        if "step_seconds_range" in job:
            out[f"{key}.step_min"], out[f"{key}.step_max"] = job["step_seconds_range"]
    return out


def bench_value(text: str, root: Path = ROOT) -> str:
    """The formatted number for the role's text ``NAME:EXPR[:FORMAT]``.

    Raises:
        ValueError: for a missing file or field, or text that is not of that form.
    """
    parts = text.split(":")
    if len(parts) not in (2, 3):
        raise ValueError(f"expected NAME:EXPR or NAME:EXPR:FORMAT, got {text!r}")
    name, expr = parts[0].strip(), parts[1].strip()
    spec = parts[2].strip() if len(parts) == 3 else ""
    known = fields(name, root)
    terms = re.split(r"\s+([-/])\s+", expr)

    def get(key: str) -> float:
        if key not in known:
            raise ValueError(f"{name}: no field {key!r}; known: {', '.join(sorted(known))}")
        return known[key]

    value = get(terms[0])
    for op, key in zip(terms[1::2], terms[2::2]):
        value = value - get(key) if op == "-" else value / get(key)
    return format(value, spec)


def bench_role(name, rawtext, text, lineno, inliner, options=None, content=None):
    env = inliner.document.settings.env
    try:
        value = bench_value(text)
    except (ValueError, KeyError) as error:
        message = inliner.reporter.error(f"{{bench}}`{text}`: {error}", line=lineno)
        return [inliner.problematic(rawtext, rawtext, message)], [message]
    env.note_dependency(str(_source(text.split(":")[0].strip(), ROOT)))
    return [nodes.Text(value)], []


def _readme_table():
    spec = importlib.util.spec_from_file_location("readme_table", ROOT / "tools" / "readme_table.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class ChapterTable(SphinxDirective):
    """The chapters with their measured CPU time, peak memory and solutions time."""

    has_content = False

    def run(self):
        table = _readme_table()
        self.env.note_dependency(str(ROOT / "tools" / "timings.json"))
        self.env.note_dependency(str(ROOT / "_toc.yml"))
        container = nodes.container(classes=["chapter-table"])
        lines = table.markdown_table(table.chapter_rows(ROOT)).splitlines()
        self.state.nested_parse(StringList(lines, source="tools/timings.json"), self.content_offset, container)
        return [container]


def _forget_cached(app, env, docnames):
    fields.cache_clear()  # a results file may have changed since the last build in this process


def setup(app):
    app.add_role("bench", bench_role)
    app.add_directive("chapter-table", ChapterTable)
    app.connect("env-before-read-docs", _forget_cached)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
