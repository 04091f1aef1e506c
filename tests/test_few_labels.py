"""ftlib.few_labels: chapter 9's recipes run end to end on the smoke profile and refuse bad settings."""

from __future__ import annotations

import pytest
import torch

from ftlib.few_labels import (
    LABELS,
    curve_points,
    load_debian,
    num_steps,
    pack_predictions,
    run_encoder,
    run_linear_probe,
    run_prompting,
    run_smollm,
    unpack_predictions,
)
from ftlib.models import load_model
from ftlib.profile import get_profile

SMOKE = get_profile("smoke")


@pytest.fixture(scope="module")
def data():
    return load_debian()


def tiny(records, n):
    return [r for label in LABELS for r in [x for x in records if x["label"] == label][:n]]


def test_num_steps():
    assert num_steps(25, 16, 5, 40, 160) == 40
    assert num_steps(500, 16, 5, 40, 160) == 157
    assert num_steps(1000, 16, 5, 40, 160) == 160
    with pytest.raises(ValueError):
        num_steps(0, 16, 5, 40, 160)


def test_curve_points_orders_by_budget_and_draw():
    runs = [{"approach": "a", "n_per_class": 20, "draw": 1, "accuracy": 0.8, "macro_f1": 0.7},
            {"approach": "a", "n_per_class": 5, "draw": 0, "accuracy": 0.5, "macro_f1": 0.4},
            {"approach": "a", "n_per_class": 20, "draw": 0, "accuracy": 0.6, "macro_f1": 0.5},
            {"approach": "b", "n_per_class": 5, "draw": 0, "accuracy": 0.9, "macro_f1": 0.9}]
    assert curve_points(runs, "a") == {5: [0.5], 20: [0.6, 0.8]}
    assert list(curve_points(runs, "a")) == [5, 20]
    assert curve_points(runs, "a", "macro_f1") == {5: [0.4], 20: [0.5, 0.7]}
    with pytest.raises(ValueError, match="no run"):
        curve_points(runs, "c")
    with pytest.raises(ValueError, match="twice"):
        curve_points(runs + runs[:1], "a")


def test_pack_predictions():
    assert pack_predictions([0, 4, 2]) == "042" and unpack_predictions("042") == [0, 4, 2]
    with pytest.raises(ValueError, match="0 to 9"):
        pack_predictions([10])


def test_the_data(data):
    assert {k: len(v) for k, v in data.items()} == {"train": 1200, "validation": 100, "test": 500, "test_small": 95}


def test_linear_probe():
    gen = torch.Generator().manual_seed(0)
    centres = torch.randn(5, 8, generator=gen) * 3
    y = [i % 5 for i in range(50)]
    X = centres[y] + torch.randn(50, 8, generator=gen)
    run = run_linear_probe(X[:40], y[:40], X[40:], y[40:])
    assert run["accuracy"] == 1.0 and run["macro_f1"] == 1.0 and len(run["predictions"]) == 10


def test_runs_on_the_smoke_profile(data):
    train, test = tiny(data["train"], 2), tiny(data["test"], 2)
    for method in ("full", "lora"):
        run = run_encoder(method, train, test, SMOKE, seed=0, steps=2)
        assert run["steps"] == 2 and len(run["predictions"]) == len(test) and 0 <= run["accuracy"] <= 1
    run = run_smollm(train, test, SMOKE, seed=0, head="frozen")
    assert run["steps"] == 30 and len(run["predictions"]) == len(test)
    model, tokenizer = load_model(SMOKE)
    zero = run_prompting(model, tokenizer, [], test)
    assert zero == {**run_prompting(model, tokenizer, [], test), "seconds": zero["seconds"]}
    assert len(run_prompting(model, tokenizer, train[:5], test)["predictions"]) == len(test)
    with pytest.raises(ValueError, match="method"):
        run_encoder("adapter", train, test, SMOKE, seed=0)
    with pytest.raises(ValueError, match="head"):
        run_smollm(train, test, SMOKE, seed=0, head="random")
