"""ftlib.launch: the command lines it builds, and the errors it reports (no process is started here)."""

import sys

import pytest

from ftlib.launch import SCRIPT, read_ranks, script_command


def test_one_process_command():
    cmd = script_command("runs/x", ["--steps", 2])
    assert cmd == [sys.executable, str(SCRIPT), "--out", "runs/x", "--steps", "2"]


def test_accelerate_command_names_the_config_and_port():
    cmd = script_command("runs/x", config="ddp.yaml", port=29600)
    assert cmd[1:3] == ["-m", "accelerate.commands.launch"]
    assert cmd[cmd.index("--config_file") + 1].endswith("scripts/accelerate/ddp.yaml")
    assert cmd[cmd.index("--main_process_port") + 1] == "29600"
    assert cmd[-3:] == [str(SCRIPT), "--out", "runs/x"]


def test_unknown_config_and_missing_records(tmp_path):
    with pytest.raises(FileNotFoundError, match="ddp.yaml"):
        script_command("runs/x", config="nope.yaml")
    with pytest.raises(FileNotFoundError, match="rank"):
        read_ranks(tmp_path)
