"""ftlib.glance reads the measured timings; nothing is typed by hand."""

import json

import pytest

from ftlib.glance import NOT_MEASURED, at_a_glance, format_seconds


@pytest.mark.parametrize("seconds, text", [(0, "0 s"), (44.6, "45 s"), (60, "1 min 0 s"), (177.4, "2 min 57 s")])
def test_format_seconds(seconds, text):
    assert format_seconds(seconds) == text


@pytest.mark.parametrize("bad", [-1, float("nan"), float("inf")])
def test_format_seconds_rejects_nonsense(bad):
    with pytest.raises(ValueError):
        format_seconds(bad)


def test_at_a_glance_reads_the_records(tmp_path, capsys):
    (tmp_path / "tools").mkdir()
    (tmp_path / "tools" / "timings.json").write_text(json.dumps({
        "chapters/04_x.ipynb": {"seconds": 177.4, "peak_rss_gib": 4.81, "profile": "cpu"},
        "chapters/solutions/04_x_solutions.ipynb": {"seconds": 5.7, "profile": "cpu"},
    }))
    got = at_a_glance("04_x", root=tmp_path)
    assert got == {"glance_cpu_time": "2 min 57 s", "glance_cpu_ram": "4.8 GiB",
                   "glance_solutions_time": "6 s", "glance_gpu_time": NOT_MEASURED}
    assert "2 min 57 s" in capsys.readouterr().out
    (tmp_path / "bench" / "results").mkdir(parents=True)
    gpu_record = tmp_path / "bench" / "results" / "gpu_profile.json"
    gpu_record.write_text(json.dumps({"chapters/04_x.ipynb": {"seconds": 31.0, "passed": False}}))
    assert at_a_glance("04_x", root=tmp_path)["glance_gpu_time"] == NOT_MEASURED  # a failed run shows no time
    gpu_record.write_text(json.dumps({"chapters/04_x.ipynb": {"seconds": 31.0, "passed": True}}))
    assert at_a_glance("04_x", root=tmp_path)["glance_gpu_time"] == "31 s"
    assert at_a_glance("99_missing", root=tmp_path)["glance_cpu_time"] == NOT_MEASURED
