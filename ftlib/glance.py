"""The "at a glance" box of a chapter: its measured run time and memory, read from the records.

``make execute`` writes each notebook's wall time and peak memory into ``tools/timings.json``;
the GPU run of the gpu profile (``tools/run_gpu_profile.py``) writes ``bench/results/gpu_profile.json``. A chapter calls
``at_a_glance("04_full_finetuning")`` in a cell, which glues those numbers for the box at the top
of the chapter, so that the box is never typed by hand.

Taught in chapter 1 (the box every chapter opens with).
"""

from __future__ import annotations

import json
from pathlib import Path

from ftlib.glue import glue

__all__ = ["at_a_glance", "format_seconds", "glance_line", "glance_values"]

ROOT = Path(__file__).resolve().parents[1]
NOT_MEASURED = "not yet measured"


def format_seconds(seconds: float) -> str:
    """``"2 min 57 s"``, ``"45 s"``: a duration as a reader reads it.

    Raises:
        ValueError: for a negative or non-finite duration.
    """
    if not seconds >= 0 or seconds == float("inf"):
        raise ValueError(f"a duration must be a finite number of seconds >= 0, got {seconds}")
    total = round(seconds)
    minutes, secs = divmod(total, 60)
    return f"{minutes} min {secs} s" if minutes else f"{secs} s"


def _read(path: Path) -> dict:
    return json.loads(path.read_text()) if path.is_file() else {}


def glance_values(chapter: str, root: Path | None = None) -> dict[str, str]:
    """The measured CPU time, peak memory and GPU time of ``chapters/<chapter>.ipynb`` and its solutions.

    Keys: ``glance_cpu_time``, ``glance_cpu_ram``, ``glance_solutions_time``, ``glance_gpu_time``
    (each a string; "not yet measured" where no record exists).
    """
    root = root or ROOT
    timings = _read(root / "tools" / "timings.json")
    gpu = {  # a GPU run that failed has no time to show
        path: record
        for path, record in _read(root / "bench" / "results" / "gpu_profile.json").items()
        if isinstance(record, dict) and record.get("passed")
    }
    name = f"chapters/{chapter}.ipynb"
    solutions = f"chapters/solutions/{chapter}_solutions.ipynb"
    cpu = timings.get(name, {})
    return {
        "glance_cpu_time": format_seconds(cpu["seconds"]) if "seconds" in cpu else NOT_MEASURED,
        "glance_cpu_ram": f"{cpu['peak_rss_gib']:.1f} GiB" if "peak_rss_gib" in cpu else NOT_MEASURED,
        "glance_solutions_time": (
            format_seconds(timings[solutions]["seconds"]) if "seconds" in timings.get(solutions, {}) else NOT_MEASURED
        ),
        "glance_gpu_time": format_seconds(gpu[name]["seconds"]) if "seconds" in gpu.get(name, {}) else NOT_MEASURED,
    }


def glance_line(values: dict[str, str]) -> str:
    """The line ``at_a_glance`` prints under the box's values."""
    return (
        f"measured on the reference machine (2 CPU cores, cpu profile): {values['glance_cpu_time']}, "
        f"peak memory {values['glance_cpu_ram']}; solutions {values['glance_solutions_time']}; "
        f"GPU (gpu profile): {values['glance_gpu_time']}"
    )


def at_a_glance(chapter: str, root: Path | None = None) -> dict[str, str]:
    """Glue and print the values of ``glance_values`` for the box at the top of a chapter.

    Returns:
        The same values, by key.
    """
    values = glance_values(chapter, root)
    for key, value in values.items():
        glue(key, value)
    print(glance_line(values))
    return values
