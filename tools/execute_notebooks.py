"""Run notebooks top to bottom and write their outputs back (what `make execute` calls).

Usage: python tools/execute_notebooks.py [NOTEBOOK ...]   (default: every chapter and solution)

Each notebook runs in its own folder with a fresh kernel under the profile in
$FTLIB_PROFILE (the Makefile sets cpu). The wall time of each is printed and kept
in tools/timings.json with the peak resident memory of its kernel; the README, the instructor
guide and each chapter's "at a glance" box read them from there. A notebook's box is filled while it
runs, before its own time is known: after each run, the box of the chapter concerned (the notebook
itself, or the chapter of a solutions notebook) is refreshed from the new records, with the values
``ftlib.glance.at_a_glance`` would glue and print if it ran now.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import re
import resource
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
TIMINGS = ROOT / "tools" / "timings.json"


def terminal_text(text: str) -> str:
    """What a terminal shows for ``text``: after a carriage return, a line is overwritten.

    tqdm redraws its bar with ``\\r``; without this the saved output holds every redraw.
    """
    return "\n".join(line.rsplit("\r", 1)[-1] for line in text.split("\n"))


def clean_streams(nb) -> None:
    """Merge consecutive stream outputs of a cell and keep only what a terminal would show.

    A stream left with white space only (the newline tqdm prints when a bar closes) is dropped:
    the book would show it as an empty box.
    """
    for cell in nb.cells:
        merged = []
        for out in cell.get("outputs", []):
            if out.output_type == "stream" and merged and merged[-1].output_type == "stream" and merged[-1].name == out.name:
                merged[-1].text += out.text
            else:
                merged.append(out)
        for out in merged:
            if out.output_type == "stream":
                out.text = terminal_text(out.text)
        merged = [o for o in merged if o.output_type != "stream" or o.text.strip()]
        if "outputs" in cell:
            cell.outputs = merged


def execute(path: Path, timeout: int = 1800) -> float:
    """Execute one notebook in place; returns its wall time in seconds."""
    nb = nbformat.read(path, as_version=4)
    start = time.perf_counter()
    NotebookClient(nb, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}).execute()
    seconds = time.perf_counter() - start
    clean_streams(nb)
    nbformat.write(nb, path)
    return seconds


def _execute_in_child(path: str, queue) -> None:
    seconds = execute(Path(path))
    # The kernel was this process's only child: its peak resident memory is the notebook's.
    peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    queue.put((seconds, peak_kib * 1024))


def execute_measured(path: Path) -> tuple[float, int]:
    """Execute one notebook in a fresh process; returns (seconds, peak resident bytes of its kernel)."""
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    child = ctx.Process(target=_execute_in_child, args=(str(path), queue))
    child.start()
    child.join()
    if child.exitcode != 0:
        raise RuntimeError(f"executing {path} failed (exit code {child.exitcode}); see the error above")
    return queue.get()


def main(argv: list[str]) -> int:
    paths = [Path(p).resolve() for p in argv] or sorted(ROOT.glob("chapters/**/*.ipynb"))
    paths = [p for p in paths if ".ipynb_checkpoints" not in p.parts]
    profile = os.environ.get("FTLIB_PROFILE", "auto")
    for path in paths:
        name = str(path.relative_to(ROOT))
        print(f"executing {name} (profile {profile}) ...", flush=True)
        seconds, peak = execute_measured(path)
        print(f"  done in {seconds:.0f} s, peak memory {peak / 2**30:.1f} GiB", flush=True)
        record_timing(name, {"seconds": round(seconds, 1), "peak_rss_gib": round(peak / 2**30, 2), "profile": profile})
        chapter = ROOT / "chapters" / path.name.replace("_solutions.ipynb", ".ipynb")
        if chapter.is_file() and refresh_glance(chapter):
            print(f"  refreshed the at-a-glance box of {chapter.relative_to(ROOT)}", flush=True)
    return 0


def refresh_glance(path: Path, root: Path = ROOT) -> bool:
    """Rewrite the outputs of ``path``'s ``at_a_glance(...)`` cell from the current records.

    Returns:
        Whether the notebook has such a cell (and was rewritten).
    """
    from ftlib.glance import glance_line, glance_values

    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        call = re.search(r"at_a_glance\(\s*[\"']([^\"']+)[\"']", cell.source) if cell.cell_type == "code" else None
        if call is None:
            continue
        values = glance_values(call.group(1), root)
        for out in cell.get("outputs", []):
            name = out.get("metadata", {}).get("scrapbook", {}).get("name")
            if out.output_type == "display_data" and name in values:
                prefix = out["metadata"]["scrapbook"].get("mime_prefix", "")
                out["data"] = {prefix + "text/plain": repr(values[name])}
            elif out.output_type == "stream" and "measured on the reference machine" in out.text:
                lines = out.text.splitlines(keepends=True)
                out.text = "".join(
                    glance_line(values) + "\n" if "measured on the reference machine" in line else line
                    for line in lines
                )
        nbformat.write(nb, path)
        return True
    return False


def record_timing(name: str, entry: dict) -> None:
    """Write one notebook's timing into tools/timings.json, re-reading it first (another run may have written)."""
    timings = json.loads(TIMINGS.read_text()) if TIMINGS.is_file() else {}
    timings[name] = entry
    TIMINGS.write_text(json.dumps(dict(sorted(timings.items())), indent=2) + "\n")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
