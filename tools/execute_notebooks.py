"""Run notebooks top to bottom and write their outputs back (what `make execute` calls).

Usage: python tools/execute_notebooks.py [NOTEBOOK ...]   (default: every chapter and solution)

Each notebook runs in its own folder with a fresh kernel under the profile in
$FTLIB_PROFILE (the Makefile sets cpu). The wall time of each is printed and kept
in tools/timings.json, which the README and the instructor guide quote.
"""

from __future__ import annotations

import json
import os
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


def main(argv: list[str]) -> int:
    paths = [Path(p).resolve() for p in argv] or sorted(ROOT.glob("chapters/**/*.ipynb"))
    paths = [p for p in paths if ".ipynb_checkpoints" not in p.parts]
    profile = os.environ.get("FTLIB_PROFILE", "auto")
    for path in paths:
        name = str(path.relative_to(ROOT))
        print(f"executing {name} (profile {profile}) ...", flush=True)
        seconds = execute(path)
        print(f"  done in {seconds:.0f} s", flush=True)
        record_timing(name, {"seconds": round(seconds, 1), "profile": profile})
    return 0


def record_timing(name: str, entry: dict) -> None:
    """Write one notebook's timing into tools/timings.json, re-reading it first (another run may have written)."""
    timings = json.loads(TIMINGS.read_text()) if TIMINGS.is_file() else {}
    timings[name] = entry
    TIMINGS.write_text(json.dumps(dict(sorted(timings.items())), indent=2) + "\n")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
