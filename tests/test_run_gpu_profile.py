"""tools/run_gpu_profile.py on tiny synthetic notebooks: the soft-assert transform, the results file, failures.

The notebooks load no model; each runs in a real kernel (a few seconds each).
"""

import ast
import difflib
import importlib.util
import json
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location(
    "run_gpu_profile", ROOT / "tools" / "run_gpu_profile.py"
)
rgp = importlib.util.module_from_spec(spec)
spec.loader.exec_module(rgp)


def run_source(source: str, cell: int = 3) -> tuple[list, str]:
    """Execute a softened cell here; returns (the recorded skips, what it printed)."""
    import builtins
    import contextlib
    import io

    skipped = []

    def hook(index, text):
        skipped.append((index, text))
        print("assert skipped (random weights): " + text)

    setattr(builtins, rgp.HOOK, hook)
    printed = io.StringIO()
    try:
        with contextlib.redirect_stdout(printed):
            exec(compile(rgp.soften_asserts(source, cell), "<cell>", "exec"), {})  # noqa: S102
    finally:
        delattr(builtins, rgp.HOOK)
    return skipped, printed.getvalue()


def test_a_failing_assert_becomes_a_printed_skip():
    skipped, printed = run_source("x = 1\nassert x == 2, f'x is {x}'\ny = 3")
    assert skipped == [(3, "assert x == 2, f'x is {x}'")]
    assert printed == "assert skipped (random weights): assert x == 2, f'x is {x}'\n"


def test_a_passing_assert_stays_silent():
    assert run_source("assert 1 + 1 == 2") == ([], "")


def test_asserts_in_functions_loops_and_classes_are_softened_too():
    source = (
        "def check(v):\n    assert v > 0\n    return v\n"
        "for i in range(-1, 2):\n    assert i != 5\n    check(i)\n"
        "class C:\n    def m(self):\n        assert False, 'in a method'\n"
        "C().m()\n"
        "with open(__import__('os').devnull):\n    assert (\n        1 >\n        2\n    )\n"
    )
    skipped, _ = run_source(source)
    assert [text for _, text in skipped] == [
        "assert v > 0",
        "assert v > 0",
        "assert False, 'in a method'",
        "assert ( 1 > 2 )",  # a multi-line assert, printed on one line
    ]


def test_code_without_asserts_is_unchanged():
    source = "import math  # a comment\n\nx = [math.pi]  # stays\nx;"
    assert rgp.soften_asserts(source, 0) is source
    soft = rgp.soften_asserts("x = 1\nassert x\nx;", 0)
    assert soft.endswith("x;") and not any(
        isinstance(n, ast.Assert) for n in ast.walk(ast.parse(soft))
    )
    tree = ast.parse(rgp.soften_asserts("a = 1  # keep\nassert a\nb = a + 1", 0))
    assert [type(node).__name__ for node in tree.body] == ["Assign", "If", "Assign"]


def test_ipython_magics_are_understood():
    soft = rgp.soften_asserts("%time y = 2\nassert y == 2", 0)
    assert "get_ipython().run_line_magic('time'" in soft and rgp.HOOK in soft


def notebook(path: Path, cells: list[tuple[str, list[str]]]) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("# a title")]
    for source, tags in cells:
        cell = nbformat.v4.new_code_cell(source)
        if tags:
            cell.metadata["tags"] = tags
        nb.cells.append(cell)
    nbformat.write(nb, path)
    return path


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    """Three small notebooks run by the runner under the smoke profile with FTLIB_MODEL_DIR=random."""
    folder = tmp_path_factory.mktemp("nbs")
    good = notebook(
        folder / "01_good.ipynb",
        [
            ("x = 41 + 1", []),
            ("assert x == 0, 'needs real weights'\nprint('after')", [rgp.TAG]),
            ("assert x == 42", []),
        ],
    )
    bad = notebook(
        folder / "02_bad.ipynb",
        [("x = 1", []), ("assert x == 0, 'untagged'", []), ("print('never')", [])],
    )
    crash = notebook(folder / "03_crash.ipynb", [("1 / 0", [])])
    out = folder / "results.json"
    rgp.run(
        [good, bad, crash],
        out,
        profile="smoke",
        model_dir="random",
        discover=False,
        timeout=120,
    )
    return json.loads(out.read_text()), good, bad, crash


def test_results_file_shape(results):
    data, good, *_ = results
    assert set(data) == {
        str(p) for p in results[1:]
    }  # outside the repository: absolute paths
    record = data[str(good)]
    for key in (
        "seconds",
        "peak_gpu_gib",
        "passed",
        "error",
        "skipped_asserts",
        "profile",
        "model_dir",
    ):
        assert key in record
    assert {"device", "versions", "date", "failed_cell"} <= set(record)
    assert (
        record["passed"] is True and record["error"] is None and record["seconds"] > 0
    )
    assert record["profile"] == "smoke" and record["model_dir"] == "random"
    assert record["peak_gpu_gib"] is None  # no CUDA here
    assert record["skipped_asserts"] == [
        {"cell": 2, "source": "assert x == 0, 'needs real weights'"}
    ]
    assert "torch" in record["versions"] and "nbclient" in record["versions"]


def test_an_untagged_failing_cell_fails_the_notebook(results):
    data, _, bad, crash = results
    record = data[str(bad)]
    assert (
        record["passed"] is False and record["failed_cell"] == 2
    )  # cell 0 is markdown
    assert record["error"].startswith("AssertionError: untagged")
    assert (
        data[str(crash)]["failed_cell"] == 1
        and "ZeroDivisionError" in data[str(crash)]["error"]
    )


def test_real_weights_tag_is_honoured_only_with_random_weights(tmp_path):
    path = notebook(tmp_path / "01_x.ipynb", [("assert False, 'tagged'", [rgp.TAG])])
    out = tmp_path / "r.json"
    rgp.run([path], out, profile="smoke", model_dir="", discover=False, timeout=60)
    record = json.loads(out.read_text())[str(path)]
    assert record["passed"] is False and record["model_dir"] == "none"


def test_discovery_lists_failing_asserts_and_tagging_touches_only_metadata(tmp_path):
    path = notebook(
        tmp_path / "01_x.ipynb",
        [
            ("x = 1", []),
            ("assert x == 1\nassert x == 2", []),
            ("1 / 0", []),  # discovery goes on after an error
            ("for i in range(2):\n    assert i < 0", []),
        ],
    )
    raw = tmp_path / "runs.json"
    summary = rgp.discovery_summary(
        rgp.run(
            [path], raw, profile="smoke", model_dir="random", discover=True, timeout=60
        )
    )
    entry = summary[str(path)]
    assert entry["cells"] == [2, 4] and not entry["passed"]
    assert entry["errors"] == [
        {"cell": 3, "error": "ZeroDivisionError: division by zero"}
    ]
    assert [a["source"] for a in entry["asserts"]] == [
        "assert x == 2",
        "assert i < 0",
        "assert i < 0",
    ]
    before = path.read_text()
    rgp.tag_cells({path.name: entry}, root=tmp_path)
    after = nbformat.read(path, as_version=4)
    assert [c.metadata.get("tags", []) for c in after.cells[1:]] == [
        [],
        [rgp.TAG],
        [],
        [rgp.TAG],
    ]
    diff = difflib.ndiff(before.splitlines(), path.read_text().splitlines())
    removed = [line[2:].strip() for line in diff if line.startswith("- ")]
    assert (
        removed == ['"metadata": {},'] * 2
    )  # {} opened up to hold the tag; nothing else differs
    untagged = json.loads(path.read_text())
    for cell in untagged["cells"]:
        cell["metadata"].pop("tags", None)
    assert untagged == json.loads(before)
    assert rgp.tag_cells({path.name: entry}, root=tmp_path) == {
        path.name: []
    }  # idempotent


def test_a_spent_budget_starts_no_further_notebook(tmp_path, capsys):
    path = notebook(tmp_path / "01_x.ipynb", [("x = 1", [])])
    out = tmp_path / "r.json"
    assert (
        rgp.run(
            [path],
            out,
            profile="smoke",
            model_dir="random",
            discover=False,
            timeout=60,
            budget=0,
        )
        == {}
    )
    assert "not run: " + str(path) in capsys.readouterr().out and not out.exists()


def test_tagging_refuses_a_stale_discovery(tmp_path):
    path = notebook(tmp_path / "01_x.ipynb", [("y = 2", [])])
    entry = {"cells": [1], "asserts": [{"cell": 1, "source": "assert y == 3"}]}
    with pytest.raises(ValueError, match="stale"):
        rgp.tag_cells({path.name: entry}, root=tmp_path)
