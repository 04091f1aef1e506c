"""Sphinx extension: back-matter numbers pasted from generated files, never typed.

The chapters paste their results with myst-nb's ``{glue:text}``. The back matter quotes
results that no notebook computes: the benchmarks of ``bench/`` and the measured run time of
each notebook. Two helpers read them from the files that the measuring scripts write:

- the role ``{bench}`NAME:EXPR:FORMAT` `` pastes a number of ``bench/results/NAME.json`` (or of
  ``bench/results/h200_profile.txt``; ``colab_install.json`` holds an environment alone, with
  ``install_seconds`` from ``tests/test_colab_install.py``). EXPR names a field: ``environment.matmul_n``, or
  ``METHOD.LOOP.FIELD`` for a job (``full.ftlib.seconds_per_step``), with the derived fields
  ``share`` (of the matmul peak), ``peak_gib``, ``step_min``, ``step_max`` and, for the
  environment, ``peak_gflops``; in the profile ``METHOD.LOOP.DTYPE.FIELD`` with ``wall_s``,
  ``busy_s``, ``busy_share``, ``kernels_per_step``. Two fields joined by `` - `` or `` / ``
  give their difference or ratio. FORMAT is a Python format spec (``.2f``, ``.0%``, ``,.0f``).
- the directive ``{chapter-table}`` renders the table of chapters with their measured CPU time,
  peak memory and solutions time (``tools/readme_table.py``, the same table as the README); with the
  flag ``:gpu:`` it adds the time and peak GPU memory of the gpu profile, read from
  ``bench/results/gpu_profile.json`` ("not yet measured" while that file is missing).

A third one quotes the chapters rather than a measurement: the directive ``{chapter-objectives} N``
renders the "**Learning objectives.**" list of chapter N's first markdown cell, so that the
instructor guide never holds a retyped copy that drifts from the chapter. ``{doc}`` and
``{glue:text}`` references in the list are rewritten to work from the page that quotes it; a
chapter without a notebook yet gets a sentence saying so.
"""

from __future__ import annotations

import functools
import importlib.util
import json
import os
import posixpath
import re
from pathlib import Path

import nbformat
from docutils import nodes
from docutils.parsers.rst import directives
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
    if "matmul_peak_flops" in env:  # a timing file; colab_install.json has an environment alone
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
    """The chapters with their measured CPU time, peak memory and solutions time (and, with ``:gpu:``, GPU time)."""

    has_content = False
    option_spec = {"gpu": directives.flag}

    def run(self):
        table = _readme_table()
        gpu = "gpu" in self.options
        self.env.note_dependency(str(ROOT / "tools" / "timings.json"))
        self.env.note_dependency(str(ROOT / "_toc.yml"))
        if gpu:  # a missing file is a dependency too: the page is rebuilt until the file appears
            self.env.note_dependency(str(ROOT / table.GPU_PROFILE))
        container = nodes.container(classes=["chapter-table"])
        lines = table.markdown_table(table.chapter_rows(ROOT, gpu=gpu), gpu=gpu).splitlines()
        self.state.nested_parse(StringList(lines, source="tools/timings.json"), self.content_offset, container)
        return [container]


OBJECTIVES = "**Learning objectives.**"
DOC_ROLE = re.compile(r"\{doc\}`([^`<]*<)?([^`<>]+)(>?)`")
GLUE_ROLE = re.compile(r"(\{glue(?::\w+)?\}`)(?![^`]*::)([^`]+`)")


def chapter_notebook(number: int, root: Path = ROOT) -> Path | None:
    """The notebook of chapter ``number`` (``chapters/NN_*.ipynb``), or None while it is not written."""
    found = sorted((root / "chapters").glob(f"{number:02d}_*.ipynb"))
    return found[0] if found else None


def objectives(path: Path) -> tuple[str, list[str]]:
    """The sentence after "**Learning objectives.**" in a notebook's first markdown cell, and the list below it.

    Raises:
        ValueError: when the first markdown cell has no such paragraph followed by a list.
    """
    cell = next(c for c in nbformat.read(path, as_version=4).cells if c.cell_type == "markdown")
    lines = cell.source.splitlines()
    start = next((i for i, line in enumerate(lines) if line.startswith(OBJECTIVES)), None)
    if start is None:
        raise ValueError(f"{path.name}: its first markdown cell has no line starting with {OBJECTIVES}")
    items: list[str] = []
    for line in lines[start + 1 :]:
        if line.startswith("- ") or (items and line.startswith("  ") and line.strip()):
            items.append(line)
        elif items or line.strip():
            break
    if not items:
        raise ValueError(f"{path.name}: no list after {OBJECTIVES}")
    return lines[start][len(OBJECTIVES) :].strip(), items


def relocate(text: str, notebook: Path, docname: str, root: Path = ROOT) -> str:
    """Markdown of a chapter's first cell, with its ``{doc}`` and ``{glue:text}`` references made to work from ``docname``."""
    here = posixpath.dirname(notebook.relative_to(root).as_posix())

    def doc(m: re.Match) -> str:
        target = m.group(2).strip()
        if not target.startswith("/"):
            target = "/" + posixpath.normpath(posixpath.join(here, target))
        return f"{{doc}}`{m.group(1) or ''}{target}{m.group(3)}`"

    relative = os.path.relpath(notebook, (root / docname).parent).replace(os.sep, "/")
    return GLUE_ROLE.sub(lambda m: f"{m.group(1)}{relative}::{m.group(2)}", DOC_ROLE.sub(doc, text))


class ChapterObjectives(SphinxDirective):
    """The learning objectives of one chapter, quoted from its notebook's first cell."""

    required_arguments = 1

    def run(self):
        number = int(self.arguments[0])
        path = chapter_notebook(number)
        if path is None:
            lines = [f"Chapter {number} is not written yet: its learning objectives will appear here, read from its notebook."]
        else:
            self.env.note_dependency(str(path))
            try:
                _, items = objectives(path)
            except ValueError as error:
                return [self.state.document.reporter.error(f"{{chapter-objectives}}: {error}", line=self.lineno)]
            doc = path.relative_to(ROOT).with_suffix("").as_posix()
            name = f"{{doc}}`chapter {number} </{doc}>`" if doc in _readme_table().toc_chapters(ROOT) else f"`{doc}.ipynb`"
            lines = [f"What {name} says a learner can do after it (its learning objectives):", ""]
            lines += relocate("\n".join(items), path, self.env.docname).splitlines()
        container = nodes.container(classes=["chapter-objectives"])
        self.state.nested_parse(StringList(lines, source=str(path or "")), self.content_offset, container)
        return [container]


def _forget_cached(app, env, docnames):
    fields.cache_clear()  # a results file may have changed since the last build in this process


def setup(app):
    app.add_role("bench", bench_role)
    app.add_directive("chapter-table", ChapterTable)
    app.add_directive("chapter-objectives", ChapterObjectives)
    app.connect("env-before-read-docs", _forget_cached)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
