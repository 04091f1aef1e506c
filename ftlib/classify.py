"""Text classification with few labels: labelled records, draws per class, metrics, training.

Chapter 9 asks how many labelled examples a classifier needs. Every approach it compares
goes through the same few functions, so that the comparison changes one thing at a time:

- ``load_labelled`` / ``check_records``: records ``{"text", "label"}`` whose label is in the
  label set and whose text is not empty (clear errors otherwise);
- ``draw_per_class``: the labelled subset of a learning-curve point, ``n`` examples of
  every class, drawn with a seed (another seed, another draw);
- ``accuracy``, ``macro_f1``, ``confusion_matrix``;
- ``fit_linear_head``: logistic regression on frozen embeddings;
- ``train_classifier`` / ``predict``: a short AdamW loop for any model that maps a batch of
  token ids to one logit per class (a fine-tuned encoder, LoRA, SmolLM2 with a head).

Taught in chapter 9, sections 9.1 to 9.8 and 9.10.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch import nn

__all__ = [
    "accuracy",
    "check_records",
    "confusion_matrix",
    "draw_per_class",
    "fit_linear_head",
    "label_ids",
    "load_labelled",
    "macro_f1",
    "predict",
    "train_classifier",
]


def check_records(records: Sequence[dict], labels: Sequence[str], where: str = "records") -> None:
    """Check that every record has a non-empty ``text`` and a ``label`` from ``labels``.

    Raises:
        ValueError: naming the first bad record (its position, 1-based, and its id).
    """
    allowed = set(labels)
    if len(allowed) < 2 or len(allowed) != len(labels):
        raise ValueError(f"the label set must hold at least 2 distinct labels, got {list(labels)}")
    for number, record in enumerate(records, start=1):
        name = f"{where}, record {number} ({record.get('id', 'no id')})" if isinstance(record, dict) else where
        if not isinstance(record, dict):
            raise ValueError(f"{where}, record {number}: expected a dict, got {type(record).__name__}")
        text = record.get("text")
        if not isinstance(text, str) or not text.strip():
            raise ValueError(f"{name}: the text is empty or missing; a classifier needs something to read")
        if record.get("label") not in allowed:
            raise ValueError(f"{name}: label {record.get('label')!r} is not in the label set {sorted(allowed)}")


def load_labelled(path: str | Path, labels: Sequence[str]) -> list[dict]:
    """Read a JSONL file of ``{"text", "label", ...}`` records and check them against ``labels``.

    Raises:
        FileNotFoundError, ValueError: as ``ftlib.data.load_jsonl``, and for a label outside the set.
    """
    from ftlib.data import load_jsonl

    records = load_jsonl(path, fields=("text", "label"))
    check_records(records, labels, where=str(path))
    return records


def label_ids(records: Sequence[dict], labels: Sequence[str]) -> list[int]:
    """The index of each record's label in ``labels``."""
    index = {label: i for i, label in enumerate(labels)}
    check_records(records, labels)
    return [index[r["label"]] for r in records]


def draw_per_class(records: Sequence[dict], n_per_class: int, labels: Sequence[str], seed: int) -> list[dict]:
    """Draw ``n_per_class`` records of every label, without replacement; the same seed gives the same draw.

    The draw for each class uses its own generator (seeded with ``seed`` and the label), so the
    examples of one class do not change when another class's pool changes.

    Raises:
        ValueError: when a class has fewer than ``n_per_class`` records (none at all included).
    """
    if isinstance(n_per_class, bool) or not isinstance(n_per_class, int) or n_per_class < 1:
        raise ValueError(f"n_per_class must be an integer >= 1, got {n_per_class!r}")
    check_records(records, labels)
    drawn = []
    for label in labels:
        pool = [r for r in records if r["label"] == label]
        if len(pool) < n_per_class:
            raise ValueError(f"class {label!r} has {len(pool)} records, fewer than the {n_per_class} per class asked")
        drawn += random.Random(f"{seed}-{label}").sample(pool, n_per_class)
    random.Random(seed).shuffle(drawn)
    return drawn


def _as_ids(values: Sequence[int], name: str) -> np.ndarray:
    array = np.asarray(values)
    if array.ndim != 1 or array.size == 0 or not np.issubdtype(array.dtype, np.integer):
        raise ValueError(f"{name} must be a non-empty 1-D sequence of class indices")
    return array


def accuracy(predictions: Sequence[int], references: Sequence[int]) -> float:
    """The share of predictions equal to the reference class."""
    p, r = _as_ids(predictions, "predictions"), _as_ids(references, "references")
    if p.size != r.size:
        raise ValueError(f"{p.size} predictions for {r.size} references")
    return float((p == r).mean())


def confusion_matrix(predictions: Sequence[int], references: Sequence[int], num_classes: int) -> np.ndarray:
    """Counts ``C[true, predicted]``: row i holds where the items of class i went."""
    p, r = _as_ids(predictions, "predictions"), _as_ids(references, "references")
    if p.size != r.size:
        raise ValueError(f"{p.size} predictions for {r.size} references")
    if min(p.min(), r.min()) < 0 or max(p.max(), r.max()) >= num_classes:
        raise ValueError(f"class indices must lie in [0, {num_classes})")
    matrix = np.zeros((num_classes, num_classes), dtype=int)
    np.add.at(matrix, (r, p), 1)
    return matrix


def macro_f1(predictions: Sequence[int], references: Sequence[int], num_classes: int) -> float:
    """The unweighted mean over classes of F1 = 2PR / (P + R); a class never predicted nor present scores 0."""
    matrix = confusion_matrix(predictions, references, num_classes)
    tp = np.diag(matrix).astype(float)
    denominator = matrix.sum(0) + matrix.sum(1)  # predicted + true: 2TP + FP + FN
    f1 = np.divide(2 * tp, denominator, out=np.zeros_like(tp), where=denominator > 0)
    return float(f1.mean())


def _check_coverage(y: Sequence[int], num_classes: int) -> None:
    missing = sorted(set(range(num_classes)) - {int(v) for v in y})
    if missing:
        raise ValueError(
            f"classes {missing} have no training examples in this draw: the model could never learn to "
            "predict them. Draw per class (draw_per_class) or leave those classes out of the label set."
        )


def fit_linear_head(X: torch.Tensor, y: Sequence[int], num_classes: int, C: float = 1.0,
                    max_iter: int = 200) -> nn.Linear:
    """Multinomial logistic regression on fixed features, as scikit-learn's ``LogisticRegression(C=C)``.

    Minimises ``C * sum_i CE(W x_i + b, y_i) + ||W||^2 / 2`` (the bias is not penalised) with
    L-BFGS on the full batch. ``C`` is the inverse regularisation strength: the objective sums
    the losses, so the penalty weighs more when there are few examples.

    Raises:
        ValueError: for mismatched sizes, C <= 0, or a class with no example.
    """
    X = torch.as_tensor(X, dtype=torch.float64)
    y_t = torch.as_tensor(list(y), dtype=torch.long)
    if X.ndim != 2 or X.shape[0] != y_t.numel() or X.shape[0] == 0:
        raise ValueError(f"X must be (n, d) with one label per row, got {tuple(X.shape)} and {y_t.numel()} labels")
    if not C > 0:
        raise ValueError(f"C must be > 0, got {C}")
    _check_coverage(y_t.tolist(), num_classes)
    W = torch.zeros(num_classes, X.shape[1], dtype=torch.float64, requires_grad=True)
    b = torch.zeros(num_classes, dtype=torch.float64, requires_grad=True)
    optimizer = torch.optim.LBFGS([W, b], lr=1, max_iter=max_iter, tolerance_grad=1e-9, tolerance_change=1e-12,
                                  history_size=20, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        optimizer.zero_grad()
        loss = C * nn.functional.cross_entropy(X @ W.T + b, y_t, reduction="sum") + 0.5 * (W * W).sum()
        loss.backward()
        return loss

    optimizer.step(closure)
    head = nn.Linear(X.shape[1], num_classes)
    with torch.no_grad():
        head.weight.copy_(W.detach().float())
        head.bias.copy_(b.detach().float())
    return head


def _logits(model: nn.Module, batch: dict) -> torch.Tensor:
    out = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"])
    return getattr(out, "logits", out)  # a transformers output object, or a plain tensor


def train_classifier(model: nn.Module, tokenizer, texts: Sequence[str], y: Sequence[int], num_classes: int,
                     num_steps: int, lr: float, batch_size: int = 16, weight_decay: float = 0.01,
                     warmup: float = 0.1, seed: int = 0, max_length: int = 64, progress: bool = True,
                     desc: str = "training") -> list[float]:
    """Train the trainable parameters of ``model`` with cross-entropy, AdamW and a linear schedule.

    Batches go through the examples in a seeded random order, epoch after epoch. The model is
    left in eval mode.

    Returns:
        The training loss of each step.

    Raises:
        ValueError: for mismatched sizes, a class with no example, or no trainable parameter.
    """
    from tqdm.auto import tqdm

    from ftlib.train import lr_at

    texts, y = list(texts), [int(v) for v in y]
    if not texts or len(texts) != len(y):
        raise ValueError(f"need one label per text, got {len(texts)} texts and {len(y)} labels")
    _check_coverage(y, num_classes)
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise ValueError("the model has no trainable parameter")
    optimizer = torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
    device = next(model.parameters()).device
    gen = torch.Generator().manual_seed(seed)
    order: list[int] = []
    losses = []
    model.train()
    for step in (bar := tqdm(range(num_steps), desc=desc, disable=not progress)):
        if len(order) < batch_size:  # refill with the next epoch's random order
            order += torch.randperm(len(texts), generator=gen).tolist()
        idx, order = order[:batch_size], order[batch_size:]
        batch = tokenizer([texts[i] for i in idx], padding=True, truncation=True, max_length=max_length,
                          return_tensors="pt").to(device)
        for group in optimizer.param_groups:
            group["lr"] = lr_at(step, lr, num_steps, "linear", warmup_steps=round(warmup * num_steps))
        loss = nn.functional.cross_entropy(_logits(model, batch), torch.tensor([y[i] for i in idx], device=device))
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        losses.append(loss.item())
        bar.set_postfix(loss=f"{losses[-1]:.3f}")
    model.eval()
    return losses


@torch.no_grad()
def predict(model: nn.Module, tokenizer, texts: Sequence[str], batch_size: int = 64,
            max_length: int = 64) -> torch.Tensor:
    """The logits of every text, shape (len(texts), num_classes), on the CPU; the model in eval mode."""
    texts = list(texts)
    if not texts:
        raise ValueError("predict needs at least one text")
    model.eval()
    device = next(model.parameters()).device
    chunks = []
    for start in range(0, len(texts), batch_size):
        batch = tokenizer(texts[start : start + batch_size], padding=True, truncation=True, max_length=max_length,
                          return_tensors="pt").to(device)
        chunks.append(_logits(model, batch).float().cpu())
    return torch.cat(chunks)
