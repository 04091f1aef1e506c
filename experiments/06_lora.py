"""Chapter 6's sweep: LoRA from scratch over seeds, its learning rate, and alpha/r against rsLoRA's alpha/sqrt(r).

Every run is chapter 6's LoRA job (section 6.3: ``ftlib.lora.add_lora`` with r=8 and alpha=16 on every
linear layer, chapter 4's budget of 10 steps of 4 dates on the cpu profile, cosine schedule with 2
warm-up steps, clipping at 1, lr 2e-3) with one thing changed:

- ``LoRA r=8``: nothing changed; every seed is scored by exact match per validation item too, to be
  paired with chapter 4's full fine-tuning runs of the same seeds (``04_optimizers.json``);
- ``lr 1e-3`` and ``lr 4e-3``: the learning rate, on either side of 2e-3;
- the scaling. Both rules are set to give the *same* scaling at r=8 (2.0: alpha=16 for alpha/r,
  alpha=16/sqrt(8) for alpha/sqrt(r)), so that at r=8 they are the same run and the same effective
  step size; at r=2 and r=32 they differ only in how the scaling follows the rank;
- ``rsLoRA alpha=16, r=8``: alpha/sqrt(r) with the same alpha as alpha/r (scaling 5.7 instead of 2):
  what one gets by switching ``use_rslora`` on without retuning anything.

Seeds: ``LoRA r=8`` runs on 5 seeds (the "main" list), every other configuration on the first 3
("sweep"), to keep the sweep within about a quarter of an hour on 2 cores.

The seed sets LoRA's initialisation of A and the batch order. Recorded per run: the validation loss on
the 50 validation dates after the last step, the training loss of every step, the median step time.

Writes ``experiments/results/06_lora.json``. About 15 minutes on 2 CPU cores (26 runs) (cpu profile):
``FTLIB_PROFILE=cpu python experiments/06_lora.py``.
"""

from __future__ import annotations

import argparse
import gc
import math
import statistics
import time

from tqdm import tqdm

from ftlib.data import data_dir, load_jsonl, tokenize_sft
from ftlib.evaluate import generate, match_scores
from ftlib.lora import add_lora
from ftlib.models import load_model
from ftlib.profile import seed_everything, setup
from ftlib.records import save_results
from ftlib.train import full_ft_settings, train, validation_loss

ALL_LINEAR = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
LR = 2e-3
MATCHED_RS_ALPHA = 16 / math.sqrt(8)  # alpha/sqrt(r) equals 16/r at r = 8


def configs(profile) -> dict[str, tuple[dict, str]]:
    """name -> (the LoRA job's parameters, which list of seeds it runs on)."""
    ranks = profile.pick(gpu=[2, 32], cpu=[2, 32], smoke=[2])
    out = {"LoRA r=8": ({"r": 8, "lora_alpha": 16, "use_rslora": False, "lr": LR}, "main")}
    for lr in (1e-3, 4e-3):
        out[f"lr {lr:g}"] = ({"r": 8, "lora_alpha": 16, "use_rslora": False, "lr": lr}, "sweep")
    for r in ranks:
        out[f"alpha/r, r={r}"] = ({"r": r, "lora_alpha": 16, "use_rslora": False, "lr": LR}, "sweep")
        out[f"alpha/sqrt(r) matched, r={r}"] = (
            {"r": r, "lora_alpha": MATCHED_RS_ALPHA, "use_rslora": True, "lr": LR}, "sweep")
    # rsLoRA switched on without retuning alpha, at the chapter's rank (scaling 16/sqrt(8) = 5.7 instead of 2)
    out["rsLoRA alpha=16, r=8"] = ({"r": 8, "lora_alpha": 16, "use_rslora": True, "lr": LR}, "sweep")
    return out


def one_run(profile, name: str, job: dict, seed: int, data: dict, score: bool) -> dict:
    """Chapter 6's LoRA job with ``job``'s rank, alpha, scaling rule and lr, under ``seed``."""
    model, tokenizer = load_model(profile)
    seed_everything(seed)  # LoRA's A matrices are drawn from this seed
    add_lora(model, ALL_LINEAR, r=job["r"], lora_alpha=job["lora_alpha"], use_rslora=job["use_rslora"])
    settings = dict(full_ft_settings(profile), lr=job["lr"])
    history = train(model, data["train"], tokenizer.pad_token_id, seed=seed, progress=False, **settings)
    scaling = job["lora_alpha"] / (math.sqrt(job["r"]) if job["use_rslora"] else job["r"])
    record = {
        "config": name,
        **job,
        "scaling": scaling,
        "seed": seed,
        "val_loss": validation_loss(model, data["val"], tokenizer.pad_token_id),
        "train_loss": history.loss,
        "step_seconds": statistics.median(history.seconds[1:]),
    }
    if score:
        outputs = generate(model, tokenizer, data["prompts"], max_new_tokens=16, batch_size=25)
        record["scores"] = match_scores(outputs, data["refs"])
        record["exact_match"] = sum(record["scores"]) / len(record["scores"])
    del model
    gc.collect()
    return record


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="*", help="run the configurations with these names only")
    args = parser.parse_args(argv)
    started = time.time()
    profile = setup()
    seeds = {"main": profile.pick(gpu=[0, 1, 2, 3, 4], cpu=[0, 1, 2, 3, 4], smoke=[0, 1]),
             "sweep": profile.pick(gpu=[0, 1, 2], cpu=[0, 1, 2], smoke=[0])}  # fmt: skip
    _, tokenizer = load_model(profile)
    val_records = load_jsonl(data_dir() / "dates" / "validation.jsonl")
    data = {
        "train": [tokenize_sft(r, tokenizer) for r in load_jsonl(data_dir() / "dates" / "train.jsonl")],
        "val": [tokenize_sft(r, tokenizer) for r in val_records],
        "prompts": [r["prompt"] for r in val_records],
        "refs": [r["answer"] for r in val_records],
    }
    table = configs(profile)
    jobs = [(name, job, seed) for name, (job, group) in table.items() if not args.only or name in args.only
            for seed in seeds[group]]  # fmt: skip
    runs = [one_run(profile, name, job, seed, data, score=name == "LoRA r=8")
            for name, job, seed in tqdm(jobs, desc="06 sweep")]  # fmt: skip
    results = {
        "settings": dict(full_ft_settings(profile), lr=LR, target_modules=ALL_LINEAR),
        "seeds": seeds,
        "configs": {name: job for name, (job, _) in table.items()},
        "runs": runs,
    }
    path = save_results("06_lora.json", results, profile.name, started)
    for name in table:
        losses = [r["val_loss"] for r in runs if r["config"] == name]
        if losses:
            print(f"{name:32s} validation loss {statistics.mean(losses):.4f} ({', '.join(f'{x:.4f}' for x in losses)})")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
