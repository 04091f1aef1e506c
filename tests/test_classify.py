"""ftlib.classify: records and their errors, draws per class, metrics, the linear head, the training loop."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from ftlib.classify import (
    accuracy,
    check_records,
    confusion_matrix,
    draw_per_class,
    fit_linear_head,
    label_ids,
    load_labelled,
    macro_f1,
    predict,
    train_classifier,
)

LABELS = ("games", "net", "sound")


def pool(n: int = 6) -> list[dict]:
    return [{"id": f"{label}-{i}", "text": f"{label} text {i}", "label": label} for label in LABELS for i in range(n)]


def test_a_label_outside_the_set_is_an_error_naming_the_record():
    records = pool(2) + [{"id": "x", "text": "a video player", "label": "video"}]
    with pytest.raises(ValueError, match=r"record 7 \(x\): label 'video' is not in the label set"):
        check_records(records, LABELS)


def test_an_empty_text_is_an_error():
    with pytest.raises(ValueError, match="text is empty"):
        check_records([{"id": "e", "text": "   ", "label": "net"}], LABELS)
    with pytest.raises(ValueError, match="at least 2 distinct labels"):
        check_records(pool(1), ("net", "net"))


def test_load_labelled_names_the_file(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in [*pool(1), {"text": "x", "label": "mail"}]) + "\n")
    with pytest.raises(ValueError, match=rf"{path.name}, record 4.*'mail'"):
        load_labelled(path, LABELS)
    path.write_text(json.dumps({"text": "", "label": "net"}) + "\n")
    with pytest.raises(ValueError, match="line 1: field 'text' is empty"):
        load_labelled(path, LABELS)


def test_draws_are_per_class_and_repeatable():
    records = pool(10)
    a, b, c = (draw_per_class(records, 4, LABELS, seed) for seed in (0, 0, 1))
    assert a == b and a != c
    assert sorted(r["label"] for r in a) == sorted(LABELS * 4)
    assert len({r["id"] for r in a}) == 12
    # A class's draw does not depend on the other classes' pools.
    fewer = [r for r in records if r["label"] != "games" or r["id"] in {"games-0", "games-1", "games-2", "games-3"}]
    assert {r["id"] for r in draw_per_class(fewer, 4, LABELS, 0) if r["label"] == "net"} == {
        r["id"] for r in a if r["label"] == "net"}


def test_a_class_without_enough_examples_is_an_error():
    records = [r for r in pool(5) if r["label"] != "sound"]
    with pytest.raises(ValueError, match="class 'sound' has 0 records, fewer than the 2 per class"):
        draw_per_class(records, 2, LABELS, 0)
    with pytest.raises(ValueError, match="class 'games' has 5 records"):
        draw_per_class(pool(5), 6, LABELS, 0)
    with pytest.raises(ValueError, match="n_per_class"):
        draw_per_class(pool(5), 0, LABELS, 0)


def test_metrics_by_hand():
    y = [0, 0, 0, 1, 1, 2]
    p = [0, 1, 0, 1, 2, 2]
    assert accuracy(p, y) == pytest.approx(4 / 6)
    assert confusion_matrix(p, y, 3).tolist() == [[2, 1, 0], [0, 1, 1], [0, 0, 1]]
    # F1 per class: 2TP / (2TP + FP + FN): class 0: 4/5, class 1: 2/4, class 2: 2/3
    assert macro_f1(p, y, 3) == pytest.approx((4 / 5 + 2 / 4 + 2 / 3) / 3)
    assert macro_f1([0, 0], [0, 0], 3) == pytest.approx(1 / 3)  # absent classes score 0
    with pytest.raises(ValueError, match="predictions for"):
        accuracy([0], [0, 1])
    with pytest.raises(ValueError, match="lie in"):
        confusion_matrix([3], [0], 3)
    with pytest.raises(ValueError, match="non-empty"):
        accuracy([], [])


def test_label_ids():
    assert label_ids(pool(1), LABELS) == [0, 1, 2]


def test_linear_head_minimises_scikit_learns_objective():
    """The optimum agrees with SciPy's L-BFGS on the same objective (scikit-learn's, C=1)."""
    from scipy.optimize import minimize

    gen = torch.Generator().manual_seed(0)
    X = torch.randn(30, 4, generator=gen, dtype=torch.float64)
    y = (X[:, 0] > 0).long() + (X[:, 1] > 0.5).long()
    head = fit_linear_head(X, y.tolist(), 3, C=1.0)

    def objective(theta):
        W, b = theta[:12].reshape(3, 4), theta[12:]
        logits = X.numpy() @ W.T + b
        logits = logits - logits.max(1, keepdims=True)
        nll = -(logits[np.arange(30), y.numpy()] - np.log(np.exp(logits).sum(1))).sum()
        return nll + 0.5 * (W**2).sum()

    ref = minimize(objective, np.zeros(15), method="L-BFGS-B", options={"gtol": 1e-10, "maxiter": 1000}).x
    ours = np.concatenate([head.weight.detach().double().numpy().ravel(), head.bias.detach().double().numpy()])
    assert objective(ours) == pytest.approx(objective(ref), abs=1e-5)
    np.testing.assert_allclose(ours, ref, atol=2e-3)


def test_linear_head_errors():
    X = torch.randn(4, 3)
    with pytest.raises(ValueError, match=r"classes \[2\] have no training examples"):
        fit_linear_head(X, [0, 1, 0, 1], 3)
    with pytest.raises(ValueError, match="one label per row"):
        fit_linear_head(X, [0, 1], 2)
    with pytest.raises(ValueError, match="C must be"):
        fit_linear_head(X, [0, 1, 0, 1], 2, C=0)


class BagOfWords(torch.nn.Module):
    """A tiny model for the loop: the mean embedding of the tokens, then a linear layer."""

    def __init__(self, vocab: int, classes: int) -> None:
        super().__init__()
        self.emb = torch.nn.EmbeddingBag(vocab, 8, mode="sum")
        self.head = torch.nn.Linear(8, classes)

    def forward(self, input_ids, attention_mask):
        return self.head(self.emb(input_ids, per_sample_weights=attention_mask.float()))


class CharTokenizer:
    """Letters as tokens, padded with 0: enough for the loop's interface."""

    def __call__(self, texts, padding=True, truncation=True, max_length=64, return_tensors="pt"):
        ids = [[ord(c) % 100 + 1 for c in t][:max_length] for t in texts]
        width = max(len(i) for i in ids)
        input_ids = torch.tensor([i + [0] * (width - len(i)) for i in ids])

        class Batch(dict):
            def to(self, device):
                return self

        return Batch(input_ids=input_ids, attention_mask=(input_ids > 0).long())


def test_train_classifier_learns_and_is_repeatable():
    texts = ["aaa", "aab", "aba", "zzz", "zzy", "zyz"] * 2
    y = [0, 0, 0, 1, 1, 1] * 2

    def run():
        torch.manual_seed(0)
        model = BagOfWords(101, 2)
        losses = train_classifier(model, CharTokenizer(), texts, y, 2, num_steps=40, lr=0.05, batch_size=4,
                                  progress=False)
        return model, losses

    (model, losses), (_, again) = run(), run()
    assert losses == again
    assert np.mean(losses[-5:]) < np.mean(losses[:5]) / 3
    logits = predict(model, CharTokenizer(), ["aaa", "zzz"])
    assert logits.shape == (2, 2) and logits.argmax(1).tolist() == [0, 1]
    assert not model.training


def test_train_classifier_errors():
    model = BagOfWords(101, 3)
    with pytest.raises(ValueError, match=r"classes \[2\] have no training examples"):
        train_classifier(model, CharTokenizer(), ["a", "b"], [0, 1], 3, num_steps=1, lr=0.1, progress=False)
    with pytest.raises(ValueError, match="one label per text"):
        train_classifier(model, CharTokenizer(), ["a", "b"], [0], 3, num_steps=1, lr=0.1, progress=False)
    model.requires_grad_(False)
    with pytest.raises(ValueError, match="no trainable parameter"):
        train_classifier(model, CharTokenizer(), ["a", "b", "c"], [0, 1, 2], 3, num_steps=1, lr=0.1, progress=False)
