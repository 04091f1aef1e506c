"""A pytest plugin for `make nbval`: at the end, a table of how long each notebook took to execute.

Loaded with ``-p nbval_timings`` (tools/ on PYTHONPATH). nbval runs each code cell as a test item;
this adds up their durations per notebook, prints the table and writes _build/nbval_timings.json.
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

_seconds: dict[str, float] = defaultdict(float)


def pytest_runtest_logreport(report):
    _seconds[report.location[0]] += report.duration  # setup, call and teardown of every cell


def pytest_terminal_summary(terminalreporter):
    if not _seconds:
        return
    tr = terminalreporter
    tr.section("notebook execution times (cpu profile, this machine)")
    for name, seconds in sorted(_seconds.items()):
        tr.write_line(f"{seconds:7.1f} s  {name}")
    tr.write_line(f"{sum(_seconds.values()):7.1f} s  in all ({sum(_seconds.values()) / 60:.1f} min)")
    out = Path("_build") / "nbval_timings.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps({k: round(v, 1) for k, v in sorted(_seconds.items())}, indent=2) + "\n")


if __name__ == "__main__":  # `make test` repeats the table at its very end
    saved = Path("_build") / "nbval_timings.json"
    if saved.is_file():
        times = json.loads(saved.read_text())
        print("Notebook execution times in this run (nbval, cpu profile):")
        for name, seconds in times.items():
            print(f"{seconds:7.1f} s  {name}")
        print(f"{sum(times.values()):7.1f} s  in all ({sum(times.values()) / 60:.1f} min)")
