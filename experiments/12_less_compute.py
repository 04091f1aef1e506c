"""Chapter 12's sweeps: mixed precision, gradient checkpointing, torch.compile, distillation, pruning.

Each part writes one file into experiments/results/ with its provenance:

    12_precision.json      fp32 against bf16 autocast, full fine-tuning and LoRA, 3 seeds
    12_checkpointing.json  peak memory and step time with and without checkpointing, two lengths
    12_compile.json        torch.compile: compile time and step time against eager
    12_distill.json        a student with its middle 30 % of layers dropped, trained on labels, by distillation
                           and both, 3 seeds
    12_prune.json          magnitude (unstructured) and MLP-channel (structured, scored by weights or by
                           activations) pruning at several sparsities, with recovery

Usage: FTLIB_PROFILE=cpu python experiments/12_less_compute.py [--parts precision,distill,...]
Chapter 12 loads the files, plots and glues them, and re-runs one configuration of each live.
"""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
import time
from pathlib import Path

import torch
from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ftlib.data import collate, data_dir, load_jsonl, pack, tokenize_sft  # noqa: E402
from ftlib.evaluate import generate, match_scores  # noqa: E402
from ftlib.models import count_parameters, load_model  # noqa: E402
from ftlib.profile import get_profile, seed_everything  # noqa: E402
from ftlib.records import save_results  # noqa: E402
from ftlib.train import chapter4_checkpoint, full_ft_settings, validation_loss  # noqa: E402

ALL_LINEAR = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
PARTS = ("precision", "checkpointing", "compile", "distill", "prune")
SEEDS = (0, 1, 2)


def task(P):
    """The dates task of chapters 1, 4 and 6: tokenizer, training and validation examples, prompts and answers."""
    tokenizer = load_model(P)[1]
    train_ex = [tokenize_sft(r, tokenizer) for r in load_jsonl(data_dir() / "dates" / "train.jsonl")]
    val_records = load_jsonl(data_dir() / "dates" / "validation.jsonl")
    val_ex = [tokenize_sft(r, tokenizer) for r in val_records]
    return tokenizer, train_ex, val_ex, [r["prompt"] for r in val_records], [r["answer"] for r in val_records]


def fresh(P, method: str, seed: int):
    """A freshly loaded model, every weight trainable ("full") or with LoRA r=8 on every linear layer."""
    from ftlib.lora import add_lora

    model = load_model(P)[0]
    if method == "full":
        model.requires_grad_(True)
    else:
        torch.manual_seed(seed)  # LoRA's A is random
        add_lora(model, ALL_LINEAR, r=8, lora_alpha=16)
    return model


def settings(P, method: str) -> dict:
    """Chapter 4's schedule and budget; LoRA at chapter 6's learning rate."""
    s = full_ft_settings(P)
    if method == "lora":
        s["lr"] = 2e-3
    return s


def score(model, tokenizer, val_ex, prompts, refs) -> dict:
    outputs = generate(model, tokenizer, prompts, max_new_tokens=16, batch_size=25)
    scores = match_scores(outputs, refs)
    return {"val_loss": validation_loss(model, val_ex, tokenizer.pad_token_id), "em": sum(scores) / len(scores),
            "em_items": scores}


def part_precision(P) -> dict:
    """fp32 against bf16 autocast on the same job, 3 seeds (the seed sets the batch order and LoRA's init)."""
    from ftlib.efficiency import train_variant

    tokenizer, train_ex, val_ex, _, _ = task(P)
    runs = []
    for method in ("full", "lora"):
        for seed in tqdm(SEEDS, desc=f"precision, {method}"):
            for bf16 in (False, True):
                gc.collect()
                model = fresh(P, method, seed)
                history, peak = train_variant(model, train_ex, tokenizer.pad_token_id, bf16=bf16, seed=seed,
                                              **settings(P, method))
                runs.append({"method": method, "precision": "bf16" if bf16 else "fp32", "seed": seed,
                             "loss": history.loss, "seconds": history.seconds, "peak_increase": peak,
                             "val_loss": validation_loss(model, val_ex, tokenizer.pad_token_id)})
                del model
    return {"settings": {m: settings(P, m) for m in ("full", "lora")}, "runs": runs}


def part_checkpointing(P) -> dict:
    """Peak memory and step time with and without gradient checkpointing, at two sequence lengths (packed blocks)."""
    from ftlib.efficiency import train_variant

    tokenizer, train_ex, _, _, _ = task(P)
    lengths = P.pick(gpu=[256, 2048], cpu=[128, 1024], smoke=[32, 128])
    batch_size, steps = P.pick(gpu=8, cpu=2, smoke=2), P.pick(gpu=5, cpu=3, smoke=2)
    runs = []
    for method in ("full", "lora"):
        for length in lengths:
            blocks = [b for b in pack(train_ex, length) if len(b["input_ids"]) == length]
            for repeat in range(2):
                for checkpointing in (False, True):
                    gc.collect()
                    model = fresh(P, method, 0)
                    history, peak = train_variant(model, blocks, tokenizer.pad_token_id, checkpointing=checkpointing,
                                                  num_steps=steps, batch_size=batch_size, lr=1e-5)
                    runs.append({"method": method, "seq_len": length, "batch_size": batch_size,
                                 "checkpointing": checkpointing, "repeat": repeat, "loss": history.loss,
                                 "seconds": history.seconds, "peak_increase": peak})
                    print(f"{method} L={length} ckpt={checkpointing}: {peak / 2**30:.2f} GiB, "
                          f"{statistics.median(history.seconds[1:]):.2f} s/step", flush=True)
                    del model
    return {"lengths": lengths, "batch_size": batch_size, "steps": steps, "runs": runs}


def part_compile(P) -> dict:
    """torch.compile on full fine-tuning: the first steps (compilation) and the steady steps, against eager.

    Every batch is padded to one length, so that the compiled graph is reused (a new shape recompiles).
    """
    from ftlib.efficiency import train_variant

    tokenizer, train_ex, _, _, _ = task(P)
    width = max(len(e["input_ids"]) for e in train_ex)
    pad = tokenizer.pad_token_id
    padded = [{"input_ids": e["input_ids"] + [pad] * (width - len(e["input_ids"])),
               "attention_mask": e["attention_mask"] + [0] * (width - len(e["input_ids"])),
               "labels": e["labels"] + [-100] * (width - len(e["labels"]))} for e in train_ex]
    import os
    import tempfile

    os.environ["TORCHINDUCTOR_CACHE_DIR"] = tempfile.mkdtemp()  # a cold cache: the first compile pays in full
    steps = P.pick(gpu=20, cpu=8, smoke=4)
    runs = []
    for compiled in (False, True):
        torch._dynamo.reset()
        gc.collect()
        model = fresh(P, "full", 0)
        start = time.perf_counter()
        history, peak = train_variant(model, padded, pad, compile=compiled, num_steps=steps, batch_size=4, lr=1e-5)
        runs.append({"compiled": compiled, "loss": history.loss, "seconds": history.seconds, "peak_increase": peak,
                     "wall": time.perf_counter() - start})
        print(f"compiled={compiled}: steps {[round(s, 2) for s in history.seconds]}", flush=True)
        del model
    return {"seq_len": width, "batch_size": 4, "steps": steps, "runs": runs}


def student_layers(n_layers: int) -> list[int]:
    """The student's layers: all but a contiguous block of 30 % in the middle (21 of SmolLM2-135M's 30).

    A first sweep kept every other layer (15 of 30, as DistilBERT did): that student starts at a
    validation loss of 12.5 and 40 steps did not teach it the task in any of the three ways
    (exact match 0.00 to 0.08). ``layer_choices`` records what each choice costs before training.
    """
    drop = max(1, round(0.3 * n_layers)) if n_layers > 1 else 0
    start = round(0.4 * n_layers)
    return [i for i in range(n_layers) if not start <= i < start + drop]


def layer_choices(n_layers: int) -> dict[str, list[int]]:
    """Ways to drop layers, compared by the untrained student's validation loss."""
    half = n_layers // 2
    return {
        "every other layer": list(range(0, n_layers, 2))[:-1] + [n_layers - 1],
        "first and last, half": list(range(half - half // 2)) + list(range(n_layers - half // 2, n_layers)),
        "middle 30 % dropped": student_layers(n_layers),
    }


DISTILL = dict(num_steps=40, batch_size=4, lr=3e-4, temperature=2.0)  # cpu profile; chapter 12 section 12.4
WAYS = {"labels": 0.0, "distillation": 1.0, "both": 0.5}  # alpha of ftlib.distill.distill_loss


def distill_settings(P) -> dict:
    return dict(DISTILL, num_steps=P.pick(gpu=200, cpu=DISTILL["num_steps"], smoke=3))


def load_teacher(P):
    """Chapter 4's fully fine-tuned model (rebuilt by ftlib.train.chapter4_checkpoint when missing)."""
    from safetensors.torch import load_file

    teacher = load_model(P)[0]
    teacher.load_state_dict(load_file(chapter4_checkpoint(P)), strict=False)
    return teacher.eval()


def part_distill(P) -> dict:
    from ftlib.distill import drop_layers, train_student
    from ftlib.efficiency import forward_seconds

    tokenizer, train_ex, val_ex, prompts, refs = task(P)
    teacher = load_teacher(P)
    base = load_model(P)[0]
    keep = student_layers(base.config.num_hidden_layers)
    probe = {k: v for k, v in collate(val_ex[:16], tokenizer.pad_token_id).items()}
    config = distill_settings(P)
    runs = []
    for way, alpha in WAYS.items():
        for seed in tqdm(SEEDS, desc=f"student, {way}"):
            seed_everything(seed)
            student = drop_layers(base, keep)
            history = train_student(student, teacher, train_ex, tokenizer.pad_token_id, alpha=alpha, seed=seed,
                                    progress=False, **config)
            runs.append({"way": way, "alpha": alpha, "seed": seed, "loss": history.loss, "seconds": history.seconds,
                         **score(student, tokenizer, val_ex, prompts, refs)})
            del student
            gc.collect()
    untrained = drop_layers(base, keep)
    choices = {name: {"keep": layers, "val_loss": validation_loss(drop_layers(base, layers), val_ex, tokenizer.pad_token_id)}
               for name, layers in layer_choices(base.config.num_hidden_layers).items()}
    return {
        "settings": config, "keep": keep, "runs": runs, "layer_choices": choices,
        "teacher": score(teacher, tokenizer, val_ex, prompts, refs),
        "student_untrained": score(untrained, tokenizer, val_ex, prompts, refs),
        "params": {"teacher": count_parameters(teacher).total, "student": count_parameters(untrained).total},
        "forward_seconds": {"teacher": forward_seconds(teacher, probe), "student": forward_seconds(untrained, probe)},
    }


PRUNE_AMOUNTS = [0.0, 0.05, 0.1, 0.2, 0.3, 0.5]
RECOVER_AMOUNTS = [0.1, 0.3, 0.5]


PRUNE_KINDS = ("unstructured", "structured-weight", "structured-activation")


def calibration(P, teacher, train_ex, pad_token_id):
    """Activation norms of the teacher's MLP channels over 64 training examples (chapter 12, section 12.5)."""
    from ftlib.prune import mlp_activation_norms

    batches = [collate(train_ex[i:i + 16], pad_token_id) for i in range(0, 64, 16)]
    return mlp_activation_norms(teacher, batches)


def pruned(P, teacher, kind: str, amount: float, norms=None):
    """The fine-tuned model of chapter 4 with ``amount`` of its weights (unstructured) or MLP channels removed.

    Structured pruning ranks the channels by their weights ("structured-weight") or by the
    activation norms ``norms`` times the down_proj column ("structured-activation").
    """
    from ftlib.prune import magnitude_prune_, prune_mlp_channels

    if kind == "structured-weight":
        return prune_mlp_channels(teacher, amount)
    if kind == "structured-activation":
        return prune_mlp_channels(teacher, amount, norms)
    model = load_teacher(P)
    magnitude_prune_(model, amount)
    return model


def part_prune(P) -> dict:
    """Pruning the fine-tuned model: the metric and the forward time against the amount, then a short recovery.

    Recovery is chapter 4's full fine-tuning run (same settings and batches) on the pruned model;
    for unstructured pruning the zeros are kept (``ftlib.prune.keep_zeros_``).
    """
    from ftlib.efficiency import interleaved_seconds
    from ftlib.prune import keep_zeros_, sparsity
    from ftlib.train import train

    tokenizer, train_ex, val_ex, prompts, refs = task(P)
    teacher = load_teacher(P)
    norms = calibration(P, teacher, train_ex, tokenizer.pad_token_id)
    probe = {k: v for k, v in collate(val_ex[:16], tokenizer.pad_token_id).items() if k != "labels"}
    runs, speed = [], {}
    for amount in tqdm(PRUNE_AMOUNTS, desc="pruning"):
        for kind in PRUNE_KINDS:
            model = pruned(P, teacher, kind, amount, norms)
            runs.append({"kind": kind, "amount": amount, "recovered": False, "sparsity": sparsity(model),
                         "params": count_parameters(model).total, **score(model, tokenizer, val_ex, prompts, refs)})
            speed[f"{kind} {amount}"] = model
        # forward passes of the dense, unstructured and structured models timed in turn (paired)
        speed["dense"] = teacher
        fns = {name: (lambda m=m: m(**probe, use_cache=False)) for name, m in speed.items()}
        with torch.no_grad():
            times = interleaved_seconds(fns, rounds=5)
        for r in runs[-len(PRUNE_KINDS):]:
            r["forward_seconds"] = times[f"{r['kind']} {amount}"]
            r["dense_forward_seconds"] = times["dense"]
        speed.clear()
        gc.collect()
    for amount in tqdm(RECOVER_AMOUNTS, desc="pruning, then recovery"):
        for kind in PRUNE_KINDS:
            model = pruned(P, teacher, kind, amount, norms).requires_grad_(True)
            if kind == "unstructured":
                keep_zeros_(model)
            history = train(model, train_ex, tokenizer.pad_token_id, progress=False, **full_ft_settings(P))
            runs.append({"kind": kind, "amount": amount, "recovered": True, "sparsity": sparsity(model),
                         "params": count_parameters(model).total, "loss": history.loss,
                         **score(model, tokenizer, val_ex, prompts, refs)})
            del model
            gc.collect()
    return {"amounts": PRUNE_AMOUNTS, "recover_amounts": RECOVER_AMOUNTS, "recovery": full_ft_settings(P),
            "kinds": list(PRUNE_KINDS), "calibration_examples": 64,
            "runs": runs, "probe_shape": list(probe["input_ids"].shape),
            "teacher": score(teacher, tokenizer, val_ex, prompts, refs)}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--parts", default=",".join(PARTS), help=f"comma-separated, from {PARTS}")
    args = parser.parse_args(argv)
    parts = [p.strip() for p in args.parts.split(",") if p.strip()]
    unknown = set(parts) - set(PARTS)
    if unknown:
        parser.error(f"unknown parts {sorted(unknown)}; choose from {PARTS}")
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # a bar per model load says nothing
    P = get_profile()
    for part in parts:
        started = time.time()
        seed_everything(0)
        results = globals()[f"part_{part}"](P)
        path = save_results(f"12_{part}.json", results, P.name, started)
        print(f"{part}: {path} ({time.time() - started:.0f} s)", flush=True)


if __name__ == "__main__":
    main()
