"""Results of sweeps too large for a chapter, saved with where and how they were made.

A chapter has a few minutes of CPU; a sweep (rank x seeds, learning rate x method x seeds)
takes longer. Such a sweep runs as a script under ``experiments/`` and saves its results with
their *provenance*: the command, the git commit, the profile, the library versions, the
hardware, the date and how long it took. The chapter loads the file, plots it, glues its
numbers, and re-runs one configuration live to check that the recorded result still holds.

Taught in chapter 7, section 7.3 (the first chapter with a recorded sweep).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable

__all__ = ["RunCache", "load_results", "provenance", "results_dir", "save_results"]

SCHEMA = 1  # bump when the layout of a results file changes


def results_dir() -> Path:
    """``experiments/results/`` in the repository (``$FTLIB_RESULTS`` overrides it)."""
    return Path(os.environ.get("FTLIB_RESULTS") or Path(__file__).resolve().parents[1] / "experiments" / "results")


def _git_commit() -> str:
    try:
        root = Path(__file__).resolve().parents[1]
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=10)
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                               capture_output=True, text=True, timeout=10).stdout.strip()
        return out.stdout.strip() + ("+uncommitted changes" if dirty else "") if out.returncode == 0 else "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def cpu_details() -> str:
    """The CPU's model name and the instructions that decide bf16 and int8 speed, from /proc/cpuinfo (Linux).

    A bf16 step can be faster or several times slower than fp32 on a CPU, depending on whether it
    has AVX512-BF16 or AMX (chapter 12, section 12.1); a record must say which CPU it ran on.
    Returns ``""`` where /proc/cpuinfo cannot be read.
    """
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return ""
    name = next((line.split(":", 1)[1].strip() for line in text.splitlines() if line.startswith("model name")), "")
    flags = set(next((line.split(":", 1)[1].split() for line in text.splitlines() if line.startswith("flags")), []))
    wanted = [f for f in ("avx2", "avx512f", "avx512_vnni", "avx512_bf16", "amx_bf16", "amx_int8") if f in flags]
    return f"; {name}; {' '.join(wanted) or 'no AVX2'}"


def provenance(profile_name: str, started: float, command: str | None = None) -> dict[str, Any]:
    """Where, when and how a result was made.

    Args:
        profile_name: the ftlib profile the run used ("cpu", "gpu", ...).
        started: ``time.time()`` when the run began; the record keeps the elapsed seconds.
        command: the command line (default: this process's ``sys.argv``).
    """
    import peft
    import torch
    import transformers

    if torch.cuda.is_available():
        hardware = torch.cuda.get_device_name(0)
    else:
        hardware = f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} threads"
        hardware += cpu_details()
    return {
        "schema": SCHEMA,
        "command": command or " ".join([Path(sys.executable).name, *sys.argv]),
        "git_commit": _git_commit(),
        "profile": profile_name,
        "versions": {
            "python": platform.python_version(),
            "torch": torch.__version__,
            "transformers": transformers.__version__,
            "peft": peft.__version__,
        },
        "hardware": hardware,
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "seconds": round(time.time() - started, 1),
    }


def save_results(name: str, results: Any, profile_name: str, started: float, command: str | None = None) -> Path:
    """Write ``{"provenance": ..., "results": results}`` to ``results_dir()/name`` (a ``.json`` name).

    Raises:
        ValueError: for a name that is not a plain ``.json`` file name.
    """
    if not name.endswith(".json") or "/" in name or name.startswith("."):
        raise ValueError(f"results name must be a plain file name ending in .json, got {name!r}")
    path = results_dir() / name
    path.parent.mkdir(parents=True, exist_ok=True)
    record = {"provenance": provenance(profile_name, started, command), "results": results}
    path.write_text(json.dumps(record, indent=1, sort_keys=False) + "\n")
    return path


def load_results(name: str) -> tuple[dict[str, Any], Any]:
    """Read a results file written by ``save_results``: ``(provenance, results)``.

    Raises:
        FileNotFoundError: naming the script that makes the file.
        ValueError: when the file is not a results record.
    """
    path = results_dir() / name
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no recorded results; run `make experiments` (or the script in experiments/)")
    record = json.loads(path.read_text())
    if not isinstance(record, dict) or "provenance" not in record or "results" not in record:
        raise ValueError(f"{path}: not a results record (expected the keys 'provenance' and 'results')")
    return record["provenance"], record["results"]


class RunCache:
    """The finished runs of a sweep, one JSON line each, so that an interrupted sweep resumes where it stopped.

    ``get(key, compute)`` returns the record kept under ``key`` (a string, usually the JSON of the run's
    settings), or calls ``compute()``, appends its record to the file and returns it. ``fresh=True``
    forgets the file first. Used by the scripts of chapters 7 to 10 (``experiments/``).
    """

    def __init__(self, path: Path, fresh: bool = False):
        self.path = Path(path)
        if fresh:
            self.path.unlink(missing_ok=True)
        self.records: dict[str, Any] = {}
        if self.path.is_file():
            for line in self.path.read_text().splitlines():
                kept = json.loads(line)
                self.records[kept["key"]] = kept["record"]

    def __contains__(self, key: str) -> bool:
        return key in self.records

    def get(self, key: str, compute: Callable[[], Any]) -> Any:
        if key not in self.records:
            record = compute()
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a") as f:
                f.write(json.dumps({"key": key, "record": record}) + "\n")
            self.records[key] = record
        return self.records[key]
