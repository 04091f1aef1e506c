"""Chapter 9's recipes: the data, the settings and one run of each approach, shared by the chapter and its sweep.

``experiments/09_few_labels.py`` runs these functions over budgets and draws; the chapter
re-runs some of them live and checks that it gets what the sweep recorded. Keeping them in
one place means both run exactly the same code with the same settings.

Every run returns a ``dict`` with ``accuracy``, ``macro_f1``, the test ``predictions`` (class
indices, in the order of the test file), the ``steps`` trained and the ``seconds`` it took.

Taught in chapter 9, sections 9.3 to 9.6 and 9.9.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence

import torch

from ftlib.classify import accuracy, fit_linear_head, label_ids, load_labelled, macro_f1, predict, train_classifier
from ftlib.profile import Profile, seed_everything

__all__ = [
    "BLOCK_TARGETS",
    "ENCODER_TARGETS",
    "INSTRUCTION",
    "LABELS",
    "SETTINGS",
    "TUNING",
    "curve_points",
    "load_debian",
    "num_steps",
    "pack_predictions",
    "run_encoder",
    "run_linear_probe",
    "run_prompting",
    "run_smollm",
    "scores",
    "unpack_predictions",
]

LABELS = ("games", "graphics", "net", "science", "sound")  # Debian sections, as in data/build.py
INSTRUCTION = (
    "Which Debian section does this package belong to? Answer with one of: {labels}.\n"
    "Package description: {text}"
)
ENCODER_TARGETS = ["query", "key", "value", "dense"]  # every linear layer of the BERT blocks
BLOCK_TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]  # SmolLM2's blocks
# Learning rates: the best on the validation split at 5 and 20 per class (draw 0) of the grid in TUNING
# (`experiments/09_few_labels.py --part tuning` records it); the test split never chose anything.
# Steps: `epochs` passes over the labelled set, within [lo, hi].
TUNING = {"full": [3e-5, 1e-4, 3e-4], "lora": [3e-4, 1e-3, 3e-3], "smollm": [3e-4, 1e-3, 3e-3]}
SETTINGS = {
    "full": {"lr": 1e-4, "batch_size": 16, "epochs": 5, "lo": 40, "hi": 160},
    "lora": {"lr": 1e-3, "batch_size": 16, "epochs": 5, "lo": 40, "hi": 160, "r": 8, "lora_alpha": 16},
    "smollm": {"lr": 1e-3, "batch_size": 8, "epochs": 4, "lo": 30, "hi": 100, "r": 8, "lora_alpha": 16},
}


def load_debian() -> dict[str, list[dict]]:
    """The four splits of ``data/debian_sections`` (train, validation, test, test_small), checked."""
    from ftlib.data import data_dir

    folder = data_dir() / "debian_sections"
    return {split: load_labelled(folder / f"{split}.jsonl", LABELS)
            for split in ("train", "validation", "test", "test_small")}


def num_steps(n_examples: int, batch_size: int, epochs: float, lo: int, hi: int) -> int:
    """``epochs`` passes over ``n_examples`` in batches, but at least ``lo`` and at most ``hi`` steps."""
    if n_examples < 1 or batch_size < 1 or lo > hi:
        raise ValueError(f"need n_examples >= 1, batch_size >= 1 and lo <= hi (got {n_examples}, {batch_size}, {lo}, {hi})")
    return max(lo, min(hi, math.ceil(epochs * n_examples / batch_size)))


def curve_points(runs: Sequence[dict], approach: str, metric: str = "accuracy") -> dict[int, list[float]]:
    """One learning curve from a sweep's runs: labelled examples per class -> ``metric`` of each draw, by draw.

    Raises:
        ValueError: when no run has ``approach``, or a budget repeats a draw.
    """
    points: dict[int, dict[int, float]] = {}
    for r in runs:
        if r["approach"] == approach:
            draws = points.setdefault(int(r["n_per_class"]), {})
            if r["draw"] in draws:
                raise ValueError(f"{approach!r} has draw {r['draw']} twice at {r['n_per_class']} per class")
            draws[r["draw"]] = float(r[metric])
    if not points:
        raise ValueError(f"no run of approach {approach!r}")
    return {n: [draws[d] for d in sorted(draws)] for n, draws in sorted(points.items())}


def pack_predictions(predictions: Sequence[int]) -> str:
    """Class indices (0 to 9) as one string of digits, the compact form a results file keeps."""
    if any(not 0 <= int(p) <= 9 for p in predictions):
        raise ValueError("only class indices 0 to 9 pack into digits")
    return "".join(str(int(p)) for p in predictions)


def unpack_predictions(packed: str) -> list[int]:
    """The class indices of ``pack_predictions``."""
    return [int(c) for c in packed]


def scores(predictions: Sequence[int], references: Sequence[int]) -> dict:
    """Accuracy, macro-F1 and the predictions themselves, for a results record."""
    predictions = [int(p) for p in predictions]
    return {"accuracy": accuracy(predictions, references),
            "macro_f1": macro_f1(predictions, references, len(LABELS)), "predictions": predictions}


def run_linear_probe(train_X: torch.Tensor, train_y: Sequence[int], test_X: torch.Tensor,
                     test_y: Sequence[int], C: float = 1.0) -> dict:
    """Logistic regression (``C=1`` unless given) on frozen sentence embeddings; deterministic."""
    start = time.perf_counter()
    head = fit_linear_head(train_X, train_y, len(LABELS), C=C)
    with torch.no_grad():
        predictions = (test_X @ head.weight.T + head.bias).argmax(1).tolist()
    return {**scores(predictions, test_y), "steps": 0, "seconds": round(time.perf_counter() - start, 2)}


def run_encoder(method: str, train: Sequence[dict], test: Sequence[dict], profile: Profile, seed: int,
                progress: bool = False, steps: int | None = None, lr: float | None = None) -> dict:
    """Fine-tune all-MiniLM-L6-v2 with a new head: ``method`` "full" (every weight) or "lora" (LoRA + the head).

    ``steps`` and ``lr`` override what ``SETTINGS`` gives (the steps for ``len(train)`` examples).
    """
    from peft import LoraConfig, get_peft_model

    from ftlib.encoder import EncoderClassifier, load_encoder

    if method not in ("full", "lora"):
        raise ValueError(f"method must be 'full' or 'lora', got {method!r}")
    s = SETTINGS[method]
    seed_everything(seed)  # the head's random start and dropout
    encoder, tokenizer = load_encoder(profile)
    model = EncoderClassifier(encoder, len(LABELS))
    if method == "lora":
        config = LoraConfig(r=s["r"], lora_alpha=s["lora_alpha"], target_modules=ENCODER_TARGETS,
                            modules_to_save=["head"])
        model = get_peft_model(model, config)
    steps = steps or num_steps(len(train), s["batch_size"], s["epochs"], s["lo"], s["hi"])
    start = time.perf_counter()
    train_classifier(model, tokenizer, [r["text"] for r in train], label_ids(train, LABELS), len(LABELS),
                     num_steps=steps, lr=lr or s["lr"], batch_size=s["batch_size"], seed=seed, progress=progress,
                     desc=f"encoder, {method}")
    logits = predict(model, tokenizer, [r["text"] for r in test])
    return {**scores(logits.argmax(1).tolist(), label_ids(test, LABELS)), "steps": steps,
            "seconds": round(time.perf_counter() - start, 1)}


def run_smollm(train: Sequence[dict], test: Sequence[dict], profile: Profile, seed: int, head: str = "trained",
               progress: bool = False, lr: float | None = None) -> dict:
    """SmolLM2 with a classification head on the last token and LoRA on its blocks.

    ``head="trained"``: ``task_type="SEQ_CLS"``, so peft trains the new head in full
    (``modules_to_save``); ``head="frozen"``: no task type, the head stays at its random start.
    """
    from peft import LoraConfig, get_peft_model

    from ftlib.llm_classify import load_sequence_classifier

    if head not in ("trained", "frozen"):
        raise ValueError(f"head must be 'trained' or 'frozen', got {head!r}")
    s = SETTINGS["smollm"]
    seed_everything(seed)
    model, tokenizer = load_sequence_classifier(len(LABELS), profile, seed=seed)
    config = LoraConfig(r=s["r"], lora_alpha=s["lora_alpha"], target_modules=BLOCK_TARGETS,
                        task_type="SEQ_CLS" if head == "trained" else None)
    model = get_peft_model(model, config)
    steps = num_steps(len(train), s["batch_size"], s["epochs"], s["lo"], s["hi"])
    start = time.perf_counter()
    train_classifier(model, tokenizer, [r["text"] for r in train], label_ids(train, LABELS), len(LABELS),
                     num_steps=steps, lr=lr or s["lr"], batch_size=s["batch_size"], seed=seed, progress=progress,
                     desc=f"SmolLM2 + LoRA, head {head}")
    logits = predict(model, tokenizer, [r["text"] for r in test], batch_size=32)
    return {**scores(logits.argmax(1).tolist(), label_ids(test, LABELS)), "steps": steps,
            "seconds": round(time.perf_counter() - start, 1)}


def run_prompting(model, tokenizer, examples: Sequence[dict], test: Sequence[dict], progress: bool = False) -> dict:
    """Zero-shot (no ``examples``) or few-shot label scoring with SmolLM2 on ``test``."""
    from ftlib.data import chat_prompt
    from ftlib.llm_classify import classification_messages, label_logprobs

    start = time.perf_counter()
    prompts = [chat_prompt(classification_messages(r["text"], LABELS, INSTRUCTION, examples), tokenizer)
               for r in test]
    logprobs = label_logprobs(model, tokenizer, prompts, LABELS, progress=progress)
    return {**scores(logprobs.argmax(1).tolist(), label_ids(test, LABELS)), "steps": 0,
            "seconds": round(time.perf_counter() - start, 1)}
