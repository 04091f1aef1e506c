"""scripts/train_sft.py under `accelerate launch`: two CPU processes give the one-process result, and a dead process stops the job.

Every subprocess has a timeout, so this file can never hang the suite. The runs use the smoke
profile's tiny model and take a few seconds each; most of the time is Python starting up.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
from safetensors.torch import load_file

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "train_sft.py"
CONFIGS = ROOT / "scripts" / "accelerate"
ACCELERATE = [sys.executable, "-m", "accelerate.commands.launch"]
TIMEOUT = 240  # seconds for one launch; a hung job fails the test instead of the suite hanging


def env(port: int) -> dict[str, str]:
    e = dict(os.environ, FTLIB_PROFILE="smoke", OMP_NUM_THREADS="1", PYTHONWARNINGS="ignore")
    e["MASTER_PORT"] = str(port)
    return e


def one_process(out: Path, *args: str) -> subprocess.CompletedProcess:
    cmd = [sys.executable, str(SCRIPT), "--out", str(out), "--batch-size", "2", *args]
    return subprocess.run(cmd, cwd=ROOT, env=env(29510), capture_output=True, text=True, timeout=TIMEOUT)


def launch_cmd(config: str, out: Path, port: int, *args: str) -> list[str]:
    return [*ACCELERATE, "--config_file", str(CONFIGS / config), "--main_process_port", str(port),
            str(SCRIPT), "--out", str(out), "--batch-size", "2", *args]


def launch(config: str, out: Path, port: int, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(launch_cmd(config, out, port, *args), cwd=ROOT, env=env(port),
                          capture_output=True, text=True, timeout=TIMEOUT)


def ranks(out: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted(out.glob("rank*.json"))]


def max_weight_difference(a: Path, b: Path) -> float:
    wa, wb = load_file(str(a)), load_file(str(b))
    assert wa.keys() == wb.keys()
    return max((wa[k] - wb[k]).abs().max().item() for k in wa)


@pytest.fixture(scope="module")
def single(tmp_path_factory):
    """One process, gradient accumulation over 2 micro-batches: the reference."""
    out = tmp_path_factory.mktemp("single")
    done = one_process(out, "--steps", "4", "--grad-accum", "2")
    assert done.returncode == 0, done.stderr[-3000:]
    return out


def test_ddp_on_two_cpu_processes_matches_one_process_with_accumulation(single, tmp_path):
    done = launch("ddp.yaml", tmp_path, 29511, "--steps", "4", "--save-steps", "2")
    assert done.returncode == 0, done.stderr[-3000:]
    ref, got = ranks(single)[0], ranks(tmp_path)
    assert [r["world_size"] for r in got] == [2, 2]
    assert all(r["accelerate_distributed_type"] == "MULTI_CPU" for r in got)  # gloo, not a silent single process
    for r in got:  # both processes report the loss of the whole step, the single process's loss
        assert r["losses"] == pytest.approx(ref["losses"], rel=1e-6, abs=1e-6)
    assert max_weight_difference(single / "model.safetensors", tmp_path / "model.safetensors") < 1e-6


def test_fsdp_config_on_cpu_shards_and_matches(single, tmp_path):
    done = launch("fsdp.yaml", tmp_path, 29512, "--steps", "4")
    assert done.returncode == 0, done.stderr[-3000:]
    ref, got = ranks(single)[0], ranks(tmp_path)
    assert all(r["engine"].startswith("FSDP2") for r in got)
    assert sum(r["local_parameters"] for r in got) == pytest.approx(ref["local_parameters"], abs=len(got))
    assert all(r["local_parameters"] < 0.6 * ref["local_parameters"] for r in got)
    for r in got:
        assert r["losses"] == pytest.approx(ref["losses"], rel=1e-5)
    assert max_weight_difference(single / "model.safetensors", tmp_path / "model.safetensors") < 1e-5


def test_killed_process_stops_the_job_and_the_checkpoint_resumes(single, tmp_path):
    """SIGKILL one of two processes after its first checkpoint: the launcher exits with an error naming the signal."""
    run = tmp_path / "killed"
    proc = subprocess.Popen(launch_cmd("ddp.yaml", run, 29513, "--steps", "100000", "--save-steps", "2"),
                            cwd=ROOT, env=env(29513), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        marker, deadline = run / "checkpoint-2" / "step.json", time.time() + TIMEOUT
        while not marker.exists() and time.time() < deadline and proc.poll() is None:
            time.sleep(0.2)
        assert marker.exists(), "no checkpoint was written before the deadline"
        workers = [c for c in psutil.Process(proc.pid).children(recursive=True) if c.environ().get("RANK") == "1"]
        assert workers, "rank 1 not found among the launcher's children"
        os.kill(workers[0].pid, signal.SIGKILL)
        output, _ = proc.communicate(timeout=TIMEOUT)
    finally:
        if proc.poll() is None:  # never leave a job behind
            for child in psutil.Process(proc.pid).children(recursive=True):
                child.kill()
            proc.kill()
            proc.wait(timeout=30)
    assert proc.returncode != 0
    assert "SIGKILL" in output or "Signal 9" in output or "exitcode  : -9" in output, output[-3000:]
    # Every process is gone: none is left waiting for its dead partner.
    assert not [p for p in psutil.process_iter(["cmdline"]) if str(run) in " ".join(p.info["cmdline"] or [])]

    # The checkpoint written before the failure resumes to the losses of an uninterrupted run.
    resumed = tmp_path / "resumed"
    done = launch("ddp.yaml", resumed, 29514, "--steps", "4", "--resume", str(run / "checkpoint-2"))
    assert done.returncode == 0, done.stderr[-3000:]
    got = ranks(resumed)[0]
    assert got["first_step"] == 2
    assert got["losses"] == pytest.approx(ranks(single)[0]["losses"][2:], rel=1e-6, abs=1e-6)
