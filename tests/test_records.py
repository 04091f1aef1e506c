"""ftlib.records: results saved with provenance and read back."""

import json
import time

import pytest

from ftlib.records import RunCache, load_results, provenance, save_results


def test_round_trip_with_provenance(tmp_path, monkeypatch):
    monkeypatch.setenv("FTLIB_RESULTS", str(tmp_path))
    started = time.time() - 2.0
    path = save_results("07_demo.json", {"r": [1, 2], "metric": 0.5}, "smoke", started, command="python demo.py")
    assert path == tmp_path / "07_demo.json"
    prov, results = load_results("07_demo.json")
    assert results == {"r": [1, 2], "metric": 0.5}
    assert prov["command"] == "python demo.py" and prov["profile"] == "smoke"
    assert prov["seconds"] >= 2.0 and len(prov["git_commit"]) >= 7
    assert {"python", "torch", "transformers", "peft"} <= set(prov["versions"])
    assert prov["date"].endswith("+00:00")


def test_errors_are_clear(tmp_path, monkeypatch):
    monkeypatch.setenv("FTLIB_RESULTS", str(tmp_path))
    with pytest.raises(FileNotFoundError, match="make experiments"):
        load_results("missing.json")
    (tmp_path / "bad.json").write_text(json.dumps([1, 2]))
    with pytest.raises(ValueError, match="not a results record"):
        load_results("bad.json")
    for bad in ["x.txt", "a/b.json", ".hidden.json"]:
        with pytest.raises(ValueError):
            save_results(bad, {}, "smoke", time.time())


def test_provenance_defaults_to_this_command():
    assert provenance("cpu", time.time())["command"]


def test_run_cache_resumes_and_forgets(tmp_path):
    path = tmp_path / "sub" / "runs.jsonl"
    calls = []

    def compute():
        calls.append(1)
        return {"loss": 0.5, "n": len(calls)}

    cache = RunCache(path)
    assert "a" not in cache
    assert cache.get("a", compute) == {"loss": 0.5, "n": 1}
    assert cache.get("a", compute) == {"loss": 0.5, "n": 1}  # kept, not recomputed
    assert len(calls) == 1
    again = RunCache(path)  # a new process reads the file back
    assert "a" in again and again.get("a", compute)["n"] == 1 and len(calls) == 1
    assert len(path.read_text().splitlines()) == 1
    fresh = RunCache(path, fresh=True)
    assert "a" not in fresh and not path.exists()



def test_cpu_details_name_the_cpu_and_its_bf16_instructions(monkeypatch, tmp_path):
    from ftlib import records

    fake = tmp_path / "cpuinfo"
    fake.write_text("processor\t: 0\nmodel name\t: Test CPU 9000\nflags\t\t: fpu avx2 avx512f amx_bf16 sse\n")
    real_path = records.Path
    monkeypatch.setattr(records, "Path", lambda p: fake if p == "/proc/cpuinfo" else real_path(p))
    assert records.cpu_details() == "; Test CPU 9000; avx2 avx512f amx_bf16"
    monkeypatch.setattr(records, "Path", lambda p: tmp_path / "missing" if p == "/proc/cpuinfo" else real_path(p))
    assert records.cpu_details() == ""
