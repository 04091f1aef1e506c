"""Run every chapter notebook under one profile (default gpu) and record time, GPU memory and pass/fail.

What a lent GPU machine runs (``bench/gpu_profile_run.sh``). The converted model is 0.5 GB and cannot
travel to that machine (64 MiB per call), so by default the model is ``FTLIB_MODEL_DIR=random``:
SmolLM2-135M's architecture with seeded random weights. Every cell then runs, but an assert that needs
trained weights ("the tuned model answers 40 of 50") cannot hold. Such cells carry the cell tag
``real-weights``; with random weights this script rewrites their ``assert`` statements (an ``ast``
transform) into soft checks that print ``assert skipped (random weights): <the assert's source>``
and record it, instead of failing. Every other cell runs unchanged, and any error in it fails the
notebook, with the index of the failing cell (in the notebook's list of cells, markdown included)
and the error.

``--discover`` applies the soft transform to every cell, goes on after errors, and lists the cells
whose asserts fail: that is how the ``real-weights`` tags were found. Discovery runs on the CPU (``--profile cpu``,
``FTLIB_MODEL_DIR=random``, where ``ftlib.models`` honours the variable too), which is a proxy for the
gpu profile: chapters pick other step counts on gpu (``P.pick``) and skip or branch on CUDA, so a cell
may hold on one and fail on the other. ``--tag FILE`` then adds the tag to the cells a discovery
result lists, editing only the cells' metadata (outputs stay as they are).

Each notebook runs in a fresh kernel (nbclient), one after another; the results file is rewritten
after each, so a run that is stopped keeps what it finished. Per notebook it records the wall time
(kernel start included, as ``tools/execute_notebooks.py`` measures) and the peak GPU memory: PyTorch's
``torch.cuda.max_memory_allocated()`` read inside the kernel by a cell appended after the last one,
i.e. the most memory the kernel's tensors held at once. It leaves out the CUDA context and the
caching allocator's reserve (``peak_gpu_reserved_gib`` gives the reserve's peak) and any child
process a notebook starts (chapter 12's multi-process runs). nvidia-smi polling would see all of that
but mixes in every process on the card and samples too coarsely to catch a short peak.

    python tools/run_gpu_profile.py                          # gpu profile, random weights
    python tools/run_gpu_profile.py chapters/07_lora_with_peft.ipynb --out /tmp/r.json
    FTLIB_MODEL_DIR=random python tools/run_gpu_profile.py --discover --profile cpu --no-solutions
    python tools/run_gpu_profile.py --tag bench/results/gpu_profile_discovery.json

The results file maps each notebook's path (``chapters/NN_x.ipynb``) to ``seconds``,
``peak_gpu_gib``, ``passed``, ``error``, ``failed_cell``, ``skipped_asserts``, ``profile``,
``model_dir``, ``device``, ``versions`` and ``date``.
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TAG = "real-weights"
HOOK = "__ftlib_soft_assert__"  # ends in __: not name-mangled inside a class body
RESULT_MARK = "FTLIB-RUN-RESULT "
DEFAULT_OUT = ROOT / "bench" / "results" / "gpu_profile.json"

# Run before the notebook's first cell: the soft-assert hook, in builtins so that functions see it too.
PROLOGUE = f"""\
import builtins as _b
_b.__ftlib_skipped__ = []
def {HOOK}(cell, source):
    import builtins
    builtins.__ftlib_skipped__.append({{"cell": cell, "source": source}})
    print("assert skipped (random weights): " + source, flush=True)
_b.{HOOK} = {HOOK}
del _b, {HOOK}
"""

# Run after the last cell (or after the failing one): what the kernel measured.
EPILOGUE = f"""\
import builtins as _b, json as _j, sys as _s
_t = _s.modules.get("torch")
_r = {{"skipped": getattr(_b, "__ftlib_skipped__", []), "peak": None, "reserved": None}}
if _t is not None and _t.cuda.is_available() and _t.cuda.is_initialized():
    _n = range(_t.cuda.device_count())
    _r["peak"] = max(_t.cuda.max_memory_allocated(d) for d in _n)
    _r["reserved"] = max(_t.cuda.max_memory_reserved(d) for d in _n)
print({RESULT_MARK!r} + _j.dumps(_r))
"""


class SoftAsserts(ast.NodeTransformer):
    """Turn ``assert test, msg`` into ``if not (test): __ftlib_soft_assert__(cell, "<source>")``.

    Asserts anywhere in the cell are rewritten: at top level, in loops, in functions. The message
    is not evaluated (it may need what failed). Nothing else changes.
    """

    def __init__(self, source: str, cell: int):
        self.source, self.cell = source, cell

    def visit_Assert(self, node: ast.Assert) -> ast.If:
        text = ast.get_source_segment(self.source, node) or ast.unparse(node)
        text = " ".join(
            line.strip() for line in text.splitlines()
        )  # one line, as printed
        call = ast.Call(
            ast.Name(HOOK, ast.Load()),
            [ast.Constant(self.cell), ast.Constant(text)],
            [],
        )
        new = ast.If(ast.UnaryOp(ast.Not(), node.test), [ast.Expr(call)], [])
        return ast.copy_location(new, node)


def _python_source(source: str) -> str:
    """The cell as plain Python: IPython's magics (``%time``, ``!pip``) translated, as the kernel does."""
    try:
        ast.parse(source)
        return source
    except SyntaxError:
        from IPython.core.inputtransformer2 import TransformerManager

        return TransformerManager().transform_cell(source)


def soften_asserts(source: str, cell: int) -> str:
    """The cell's source with every ``assert`` made soft (``SoftAsserts``); unchanged if it has none.

    The rewritten cell is unparsed from the tree, so comments and layout go; a trailing ``;``
    (which hides the last value) is kept.
    """
    python = _python_source(source)
    tree = ast.parse(python)
    if not any(isinstance(node, ast.Assert) for node in ast.walk(tree)):
        return source
    tree = ast.fix_missing_locations(SoftAsserts(python, cell).visit(tree))
    out = ast.unparse(tree)
    return out + ";" if source.rstrip().endswith(";") else out


def default_notebooks(solutions: bool = True) -> list[Path]:
    """Every chapter notebook, then (if asked) every solutions notebook, in order."""
    paths = sorted(ROOT.glob("chapters/[0-9][0-9]_*.ipynb"))
    if solutions:
        paths += sorted(ROOT.glob("chapters/solutions/[0-9][0-9]_*_solutions.ipynb"))
    return paths


def model_dir_mode(value: str) -> str:
    """How the results name ``FTLIB_MODEL_DIR``: ``random``, ``folder`` or ``none`` (the profile's own model)."""
    return "none" if not value else "random" if value == "random" else "folder"


def environment(profile: str, model_dir: str) -> dict:
    """Device name, library versions, date: recorded with every notebook."""
    import importlib.metadata as md

    versions = {"python": platform.python_version()}
    for name in (
        "torch",
        "transformers",
        "peft",
        "accelerate",
        "trl",
        "bitsandbytes",
        "nbclient",
    ):
        try:
            versions[name] = md.version(name)
        except md.PackageNotFoundError:
            versions[name] = None
    try:
        import torch

        versions["torch"] = torch.__version__  # with its local tag (+cu130, +cpu)
        device = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    except ImportError:
        device = None
    device = (
        device
        or f"cpu ({platform.processor() or platform.machine()}, {os.cpu_count()} cores)"
    )
    return {
        "profile": profile,
        "model_dir": model_dir_mode(model_dir),
        "device": device,
        "versions": versions,
        "date": time.strftime("%Y-%m-%d %H:%M"),
    }


def prepare(nb, *, soften_all: bool, soften_tagged: bool) -> list[int]:
    """Rewrite cells in place (``soften_all``: every cell; ``soften_tagged``: the tagged ones); returns their indices."""
    changed = []
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        if soften_all or (soften_tagged and TAG in cell.metadata.get("tags", [])):
            new = soften_asserts(cell.source, index)
            if new != cell.source:
                cell.source = new
                changed.append(index)
    return changed


def run_notebook(
    path: Path,
    *,
    discover: bool,
    soft_tagged: bool,
    timeout: int,
    save: Path | None = None,
) -> dict:
    """Execute one notebook in a fresh kernel; returns its record (without the environment).

    It stops at the first error, except with ``discover``, which goes on to reach every assert and
    lists every error (a cell after a failed one may fail for want of its results).
    """
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import (
        CellExecutionError,
        CellTimeoutError,
        DeadKernelError,
    )

    nb = nbformat.read(path, as_version=4)
    n = len(nb.cells)
    prepare(nb, soften_all=discover, soften_tagged=soft_tagged)
    nb.cells = [
        nbformat.v4.new_code_cell(PROLOGUE),
        *nb.cells,
        nbformat.v4.new_code_cell(EPILOGUE),
    ]
    client = NotebookClient(
        nb,
        timeout=timeout,
        kernel_name="python3",
        resources={"metadata": {"path": str(path.parent)}},
    )
    record = {
        "seconds": None,
        "peak_gpu_gib": None,
        "passed": False,
        "error": None,
        "failed_cell": None,
    }
    measured = {}
    start = time.perf_counter()
    client.reset_execution_trackers()
    try:
        with client.setup_kernel():
            client.execute_cell(nb.cells[0], 0)
            errors = []
            for index in range(1, n + 1):
                try:
                    client.execute_cell(nb.cells[index], index)
                except CellExecutionError as error:
                    errors.append(
                        {"cell": index - 1, "error": f"{error.ename}: {error.evalue}"}
                    )
                    if len(errors) == 1:
                        record["failed_cell"], record["error"] = (
                            index - 1,
                            errors[0]["error"],
                        )
                        record["traceback"] = _plain(str(error))[-4000:]
                    if not discover:
                        break
            record["passed"] = not errors
            if discover:
                record["errors"] = (
                    errors  # discovery goes on after an error, to reach every assert
                )
            record["seconds"] = round(time.perf_counter() - start, 1)
            client.execute_cell(nb.cells[-1], n + 1)
            measured = _result_line(nb.cells[-1])
    except (
        DeadKernelError,
        CellTimeoutError,
    ) as error:  # out of memory, a crash, a hang: the kernel is gone
        record["seconds"] = round(time.perf_counter() - start, 1)
        record["error"] = f"{type(error).__name__}: {error}"[:2000]
        record["failed_cell"] = _last_started(nb)
    except Exception as error:  # noqa: BLE001  a kernel that does not start, a timeout: the notebook failed, the run goes on
        record["seconds"] = round(time.perf_counter() - start, 1)
        record["error"] = f"{type(error).__name__}: {error}"[:2000]
    if (
        save is not None and not record["passed"]
    ):  # with its outputs up to the failing cell
        save.mkdir(parents=True, exist_ok=True)
        nbformat.write(nb, save / path.name)
    gib = 2**30
    record["peak_gpu_gib"] = (
        round(measured["peak"] / gib, 3) if measured.get("peak") is not None else None
    )
    record["peak_gpu_reserved_gib"] = (
        round(measured["reserved"] / gib, 3)
        if measured.get("reserved") is not None
        else None
    )
    record["skipped_asserts"] = measured.get("skipped", [])
    return record


def _plain(text: str) -> str:
    """A traceback without its terminal colours."""
    import re

    return re.sub(r"\x1b\[[0-9;]*m", "", text)


def _result_line(cell) -> dict:
    for out in cell.get("outputs", []):
        for line in out.get("text", "").splitlines():
            if line.startswith(RESULT_MARK):
                return json.loads(line[len(RESULT_MARK) :])
    return {}


def _last_started(nb) -> int | None:
    """The original index of the last cell that began to run (``nb.cells`` starts with the prologue)."""
    started = [
        i
        for i, c in enumerate(nb.cells)
        if c.cell_type == "code" and c.get("execution_count")
    ]
    return started[-1] - 1 if started and started[-1] >= 1 else None


def relative(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(ROOT))
    except ValueError:
        return str(path)


def run(
    paths: list[Path],
    out: Path,
    *,
    profile: str,
    model_dir: str,
    discover: bool,
    timeout: int,
    save: Path | None = None,
    budget: float | None = None,
    artifacts: Path | None = None,
) -> dict:
    """Run the notebooks one by one under ``profile``; rewrite ``out`` after each; return this run's records.

    ``budget``: start no notebook after this many seconds (those left are listed, not recorded).
    ``artifacts``: ``$FTLIB_ARTIFACTS`` for the kernels, where chapters keep checkpoints for later
    chapters; by default a new temporary folder, so that a run with random weights never replaces
    the checkpoints of the working tree's ``artifacts/``.
    """
    import tempfile

    started = time.perf_counter()
    os.environ["FTLIB_PROFILE"] = profile
    os.environ["FTLIB_ARTIFACTS"] = str(
        artifacts or tempfile.mkdtemp(prefix="ftlib-artifacts-")
    )
    if model_dir:
        os.environ["FTLIB_MODEL_DIR"] = model_dir
    else:
        os.environ.pop("FTLIB_MODEL_DIR", None)
    # The kernels import ftlib from this tree, installed or not; no progress bars in the logs.
    os.environ["PYTHONPATH"] = os.pathsep.join(
        filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])
    )
    os.environ.setdefault("TQDM_DISABLE", "1")
    env = environment(profile, model_dir)
    results = json.loads(out.read_text()) if out.is_file() else {}  # earlier runs stay
    done = {}
    soft_tagged = model_dir == "random"
    print(
        f"{len(paths)} notebooks, profile {profile}, FTLIB_MODEL_DIR={model_dir or '(unset)'}, "
        f"{'discovery (every assert soft)' if discover else 'real-weights asserts soft' if soft_tagged else 'asserts as they are'}, "
        f"on {env['device']}",
        flush=True,
    )
    for i, path in enumerate(paths, 1):
        name = relative(path)
        if budget is not None and time.perf_counter() - started > budget:
            left = ", ".join(relative(p) for p in paths[i - 1 :])
            print(f"budget of {budget:.0f} s spent; not run: {left}", flush=True)
            break
        print(f"[{i}/{len(paths)}] {name} ...", flush=True)
        record = run_notebook(
            path, discover=discover, soft_tagged=soft_tagged, timeout=timeout, save=save
        )
        record.update(env, date=time.strftime("%Y-%m-%d %H:%M"))
        results[name] = done[name] = record
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(results, indent=2) + "\n")
        peak = (
            "-"
            if record["peak_gpu_gib"] is None
            else f"{record['peak_gpu_gib']:.2f} GiB"
        )
        verdict = (
            "passed"
            if record["passed"]
            else f"FAILED at cell {record['failed_cell']}: {record['error']}"
        )
        skipped = (
            f", {len(record['skipped_asserts'])} asserts skipped"
            if record["skipped_asserts"]
            else ""
        )
        print(
            f"    {record['seconds']} s, peak GPU {peak}{skipped}, {verdict}",
            flush=True,
        )
    return done


def discovery_summary(results: dict) -> dict:
    """Per notebook: the cells whose asserts failed (to tag), and errors that a tag cannot fix."""
    summary = {}
    for name, record in results.items():
        cells = sorted({s["cell"] for s in record["skipped_asserts"]})
        summary[name] = {
            "cells": cells,
            "asserts": record["skipped_asserts"],
            "passed": record["passed"],
            "error": record["error"],
            "failed_cell": record["failed_cell"],
            "errors": record.get("errors", []),
            "seconds": record["seconds"],
            "profile": record["profile"],
            "model_dir": record["model_dir"],
            "device": record["device"],
            "versions": record["versions"],
            "date": record["date"],
        }
    return summary


def tag_cells(discovery: dict, root: Path = ROOT) -> dict[str, list[int]]:
    """Add the ``real-weights`` tag to the cells a discovery lists; only metadata changes.

    The file is written as nbformat writes it (sorted keys, indent 1, a final newline), so that a
    notebook written by nbformat changes in its tags' lines alone.

    Returns:
        Per notebook, the cells newly tagged.
    """
    added = {}
    for name, entry in discovery.items():
        path = root / name
        nb = json.loads(path.read_text(encoding="utf-8"))
        new = []
        for index in entry["cells"]:
            cell = nb["cells"][index]
            source = " ".join("".join(cell["source"]).split())
            wanted = [a["source"] for a in entry["asserts"] if a["cell"] == index]
            if cell["cell_type"] != "code" or not all(
                " ".join(a.split()) in source for a in wanted
            ):
                raise ValueError(
                    f"{name}: cell {index} no longer holds {wanted}; the discovery is stale"
                )
            tags = cell["metadata"].setdefault("tags", [])
            if TAG not in tags:
                tags.append(TAG)
                new.append(index)
        if new:
            path.write_text(
                json.dumps(nb, sort_keys=True, indent=1, ensure_ascii=False) + "\n",
                encoding="utf-8",
            )
        added[name] = new
    return added


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "notebooks",
        nargs="*",
        type=Path,
        help="default: every chapter and solutions notebook",
    )
    parser.add_argument("--profile", default="gpu", choices=["gpu", "cpu", "smoke"])
    parser.add_argument(
        "--model-dir",
        default=os.environ.get("FTLIB_MODEL_DIR", "random"),
        help="FTLIB_MODEL_DIR for the kernels: 'random' (default), a model folder, or '' for none",
    )
    parser.add_argument(
        "--discover",
        action="store_true",
        help="soften every assert; write the discovery file",
    )
    parser.add_argument(
        "--no-solutions", action="store_true", help="chapter notebooks only"
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help=f"results file (default {relative(DEFAULT_OUT)}, or gpu_profile_discovery.json with --discover)",
    )
    parser.add_argument(
        "--save-failed",
        type=Path,
        default=None,
        help="write each notebook that failed, executed up to its failing cell, here",
    )
    parser.add_argument("--timeout", type=int, default=1200, help="seconds per cell")
    parser.add_argument(
        "--budget",
        type=float,
        default=None,
        help="start no notebook after this many seconds",
    )
    parser.add_argument(
        "--artifacts",
        type=Path,
        default=None,
        help="FTLIB_ARTIFACTS for the kernels (default: a new temporary folder)",
    )
    parser.add_argument(
        "--tag",
        type=Path,
        default=None,
        metavar="DISCOVERY_JSON",
        help="tag the cells listed in a discovery file with real-weights, then stop",
    )
    args = parser.parse_args(argv)

    if args.tag:
        added = tag_cells(json.loads(args.tag.read_text())["notebooks"])
        for name, cells in added.items():
            print(
                f"{name}: tagged cells {cells}"
                if cells
                else f"{name}: nothing new to tag"
            )
        return 0
    paths = [p.resolve() for p in args.notebooks] or default_notebooks(
        solutions=not args.no_solutions
    )
    if args.discover:
        out = args.out or DEFAULT_OUT.with_name("gpu_profile_discovery.json")
        raw = out.with_suffix(".runs.json")
        results = run(
            paths,
            raw,
            profile=args.profile,
            model_dir=args.model_dir,
            discover=True,
            timeout=args.timeout,
            save=args.save_failed,
            budget=args.budget,
            artifacts=args.artifacts,
        )
        summary = discovery_summary(results)
        doc = {
            "what": "cells whose asserts failed with random weights (every assert made soft); "
            f"tag them {TAG!r} with `python tools/run_gpu_profile.py --tag {relative(out)}`",
            "command": " ".join(
                [
                    "python",
                    "tools/run_gpu_profile.py",
                    *(argv if argv is not None else sys.argv[1:]),
                ]
            ),
            "notebooks": summary,
        }
        out.write_text(json.dumps(doc, indent=2) + "\n")
        raw.unlink()
        for name, entry in summary.items():
            extra = (
                ""
                if entry["passed"]
                else f"; ERROR at cell {entry['failed_cell']}: {entry['error']}"
            )
            print(f"{name}: cells to tag {entry['cells']}{extra}")
        return 0
    results = run(
        paths,
        args.out or DEFAULT_OUT,
        profile=args.profile,
        model_dir=args.model_dir,
        discover=False,
        timeout=args.timeout,
        save=args.save_failed,
        budget=args.budget,
        artifacts=args.artifacts,
    )
    names = [name for name in map(relative, paths) if name in results]
    failed = [name for name in names if not results[name]["passed"]]
    print(
        f"{len(names) - len(failed)} of {len(names)} notebooks run passed"
        + (f"; failed: {', '.join(failed)}" if failed else "")
        + (f"; {len(paths) - len(names)} not run" if len(names) < len(paths) else "")
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
