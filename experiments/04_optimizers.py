"""Chapter 4's sweep: optimizers, schedules, warm-up and learning rates for full fine-tuning, over seeds.

Every run is chapter 4's full fine-tuning job (section 4.3: the dates task, 10 steps of 4 examples on
the cpu profile, AdamW at lr 1e-4, cosine schedule with 2 warm-up steps, gradients clipped to norm 1)
with exactly one thing changed:

- ``reference``: nothing changed (seed 0 is the run of section 4.3);
- ``constant schedule``: the rate stays at its peak after the warm-up (the schedule alone changes);
- ``no warm-up``: cosine from the first step (the warm-up alone changes);
- ``SGD``: SGD with momentum 0.9 instead of AdamW, at lr 0.01, 0.03 or 0.1 (its rate must be far larger);
- ``AdamW``: AdamW at lr 3e-5 or 3e-4, on either side of the reference's 1e-4.

The seed sets the batch order (the model always starts from the same pretrained weights), so runs with
the same seed see the same batches and can be compared seed by seed (paired). Recorded per run: the
validation loss on the 50 validation dates after the last step, the training loss, learning rate and
time of every step, and for the reference runs the exact match of every validation item (greedy
decoding), which chapter 6 pairs with its LoRA runs, and the median share of the weight update's energy
held by its top r directions (chapter 5, section 5.4).

Writes ``experiments/results/04_optimizers.json``. About 15 minutes on 2 CPU cores (cpu profile):
``FTLIB_PROFILE=cpu python experiments/04_optimizers.py``.
"""

from __future__ import annotations

import argparse
import gc
import statistics
import time

from tqdm import tqdm

from ftlib.data import data_dir, load_jsonl, tokenize_sft
from ftlib.evaluate import generate, match_scores
from ftlib.models import load_model
from ftlib.profile import setup
from ftlib.records import save_results
from ftlib.train import full_ft_settings, train, validation_loss

# name -> (what changes against the reference settings, whether it runs on every seed or on the short list)
CONFIGS: dict[str, tuple[dict, str]] = {
    "reference": ({}, "main"),
    "constant schedule": ({"schedule": "constant"}, "main"),
    "no warm-up": ({"warmup_steps": 0}, "main"),
    "SGD, lr 0.03": ({"optimizer": "sgd", "lr": 0.03}, "main"),
    "SGD, lr 0.01": ({"optimizer": "sgd", "lr": 0.01}, "sweep"),
    "SGD, lr 0.1": ({"optimizer": "sgd", "lr": 0.1}, "sweep"),
    "AdamW, lr 3e-5": ({"lr": 3e-5}, "sweep"),
    "AdamW, lr 3e-4": ({"lr": 3e-4}, "sweep"),
}


ENERGY_RANKS = (1, 2, 4, 8, 16, 32, 64)


def median_energy(model, base: dict) -> dict[str, float]:
    """Median over the linear layers of the blocks of E(r), the share of the update's energy in its top r directions.

    Chapter 5, section 5.4 measures this for seed 0; the sweep records it for every seed of the reference.
    """
    import torch

    energies = []
    for name, p in model.named_parameters():
        if name in base:
            s2 = torch.linalg.svdvals((p.detach() - base[name]).double()) ** 2
            energy = s2.cumsum(0) / s2.sum()
            energies.append(energy[[min(r, len(energy)) - 1 for r in ENERGY_RANKS]])
    medians = torch.stack(energies).median(dim=0).values
    return {str(r): float(m) for r, m in zip(ENERGY_RANKS, medians)}


def one_run(profile, name: str, seed: int, data: dict) -> dict:
    """Chapter 4's job with the change ``CONFIGS[name]``, under ``seed``; the record of the run."""
    changes, _ = CONFIGS[name]
    model, tokenizer = load_model(profile)
    model.requires_grad_(True)
    base = {n: p.detach().clone() for n, p in model.named_parameters() if p.ndim == 2 and ".layers." in n}
    settings = dict(full_ft_settings(profile), **changes)
    history = train(model, data["train"], tokenizer.pad_token_id, seed=seed, progress=False, **settings)
    record = {
        "config": name,
        "changes": changes,
        "seed": seed,
        "val_loss": validation_loss(model, data["val"], tokenizer.pad_token_id),
        "train_loss": history.loss,
        "lr": history.lr,
        "step_seconds": statistics.median(history.seconds[1:]),
    }
    if name == "reference":
        outputs = generate(model, tokenizer, data["prompts"], max_new_tokens=16, batch_size=25)
        record["scores"] = match_scores(outputs, data["refs"])
        record["exact_match"] = sum(record["scores"]) / len(record["scores"])
        record["median_energy"] = median_energy(model, base)
    del model, base
    gc.collect()
    return record


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="*", choices=list(CONFIGS), help="run these configurations only")
    args = parser.parse_args(argv)
    started = time.time()
    profile = setup()
    seeds = {"main": profile.pick(gpu=[0, 1, 2, 3, 4], cpu=[0, 1, 2, 3, 4], smoke=[0, 1]),
             "sweep": profile.pick(gpu=[0, 1, 2], cpu=[0, 1, 2], smoke=[0])}  # fmt: skip
    model, tokenizer = load_model(profile)
    val_records = load_jsonl(data_dir() / "dates" / "validation.jsonl")
    data = {
        "train": [tokenize_sft(r, tokenizer) for r in load_jsonl(data_dir() / "dates" / "train.jsonl")],
        "val": [tokenize_sft(r, tokenizer) for r in val_records],
        "prompts": [r["prompt"] for r in val_records],
        "refs": [r["answer"] for r in val_records],
    }
    val_loss_before = validation_loss(model, data["val"], tokenizer.pad_token_id)
    del model
    jobs = [(name, seed) for name, (_, group) in CONFIGS.items() if not args.only or name in args.only
            for seed in seeds[group]]  # fmt: skip
    runs = [one_run(profile, name, seed, data) for name, seed in tqdm(jobs, desc="04 sweep")]
    results = {
        "settings": full_ft_settings(profile),
        "seeds": seeds,
        "val_loss_before": val_loss_before,
        "configs": {name: changes for name, (changes, _) in CONFIGS.items()},
        "runs": runs,
    }
    path = save_results("04_optimizers.json", results, profile.name, started)
    for name in CONFIGS:
        losses = [r["val_loss"] for r in runs if r["config"] == name]
        if losses:
            print(f"{name:20s} validation loss {statistics.mean(losses):.4f} (seeds: {', '.join(f'{x:.4f}' for x in losses)})")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
