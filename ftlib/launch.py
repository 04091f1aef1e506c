"""Run the book's training script, ``scripts/train_sft.py``, in one process or under ``accelerate launch``.

A notebook cannot be several processes, so chapter 12 starts the script as a command, exactly
as a reader would in a terminal, and reads back what each process wrote (``rank<r>.json``).

Taught in chapter 12, sections 12.6-12.8.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

__all__ = ["CONFIGS", "ROOT", "SCRIPT", "LaunchError", "read_ranks", "run_script", "script_command"]

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "train_sft.py"
CONFIGS = ROOT / "scripts" / "accelerate"


class LaunchError(RuntimeError):
    """The training command failed; the message holds the end of its output."""


def script_command(out: str | Path, args: Sequence[str] = (), config: str | None = None, port: int | None = None) -> list[str]:
    """The command line: ``python scripts/train_sft.py ...`` or ``accelerate launch --config_file ... scripts/train_sft.py ...``.

    Args:
        config: a file name in ``scripts/accelerate/`` (``"ddp.yaml"``, ``"fsdp.yaml"``); None runs one process.
        port: the rendezvous port of the processes (``--main_process_port``); None keeps accelerate's default.
    """
    tail = [str(SCRIPT), "--out", str(out), *map(str, args)]
    if config is None:
        return [sys.executable, *tail]
    path = CONFIGS / config
    if not path.is_file():
        raise FileNotFoundError(f"no accelerate config {path}; the book's configs are {sorted(p.name for p in CONFIGS.glob('*.yaml'))}")
    launcher = [sys.executable, "-m", "accelerate.commands.launch", "--config_file", str(path)]
    if port is not None:
        launcher += ["--main_process_port", str(port)]
    return launcher + tail


def read_ranks(out: str | Path) -> list[dict]:
    """The ``rank<r>.json`` records a run wrote into ``out``, in rank order."""
    records = [json.loads(p.read_text()) for p in Path(out).glob("rank*.json")]
    if not records:
        raise FileNotFoundError(f"{out}: no rank<r>.json; did the run finish?")
    return sorted(records, key=lambda r: r["rank"])


def run_script(
    out: str | Path,
    args: Sequence[str] = (),
    config: str | None = None,
    port: int | None = None,
    timeout: float = 600,
    env: dict[str, str] | None = None,
) -> tuple[list[dict], str]:
    """Run the script (see :func:`script_command`) and return ``(records by rank, combined output)``.

    Raises:
        LaunchError: when the command exits with an error, with the end of its output.
        subprocess.TimeoutExpired: after ``timeout`` seconds (the processes are killed).
    """
    cmd = script_command(out, args, config, port)
    environment = dict(os.environ, PYTHONWARNINGS="ignore", **(env or {}))
    done = subprocess.run(cmd, cwd=ROOT, env=environment, capture_output=True, text=True, timeout=timeout)
    output = done.stdout + done.stderr
    if done.returncode != 0:
        raise LaunchError(f"exit status {done.returncode}:\n{output[-3000:]}")
    return read_ranks(out), output
