"""Chapter 8's recorded sweep: the PEFT family side by side on the booking-requests task (data/requests).

Every method trains under chapter 7's reference budget (10 steps of 4 examples, AdamW, cosine decay,
clipping at 1, on the cpu profile) from a fresh SmolLM2, each at its own learning rate:

- lr:    a small learning-rate grid per method, one seed, scored on the validation requests; when
         the best rate lies at an edge of its grid, the grid grows one step past it (at most twice).
         LoRA and full fine-tuning take the best rates of chapter 7's sweep (07_lr.json, 2 seeds).
- final: every method at its best rate under 3 seeds, scored on the whole test split, with the
         validation loss on 16 requests every 2 steps (``ftlib.lora_runs.run``'s ``curve``) for the
         time each method takes to reach a target.

Methods: prompt tuning, prefix tuning, P-tuning, IA3, LoHa, LayerNorm tuning (peft), bottleneck
adapters (``ftlib.adapters``), LoRA (chapter 7's reference run) and full fine-tuning. Results go to
experiments/results/08_<stage>.json with their provenance (``ftlib.records.save_results``).

    FTLIB_PROFILE=cpu flock /tmp/ftlib-heavy.lock .venv/bin/python experiments/08_peft_family.py [stage ...]

Finished runs are kept in artifacts/ch08_sweep_runs.jsonl, so an interrupted sweep resumes where it
stopped; --fresh starts over.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import statistics
import time

from tqdm import tqdm

from ftlib.lora_runs import REFERENCE_LORA, reference_budget, run, task_examples
from ftlib.models import load_model
from ftlib.profile import setup
from ftlib.records import RunCache, load_results, save_results
from ftlib.sweep_summary import best_lr
from ftlib.train import artifacts_dir

STAGES = ("lr", "final")
N_VIRTUAL = 20  # virtual tokens of prompt, prefix and P-tuning (peft's examples use 20 to 30)

# method label -> (method, learning-rate grid of the lr stage)
METHODS: dict[str, tuple[dict, list[float]]] = {
    "prompt tuning": (
        {"kind": "peft", "config": "PromptTuningConfig", "num_virtual_tokens": N_VIRTUAL},
        [1e-2, 3e-2, 1e-1, 3e-1],
    ),
    "prefix tuning": (
        {"kind": "peft", "config": "PrefixTuningConfig", "num_virtual_tokens": N_VIRTUAL},
        [3e-4, 3e-3, 3e-2],
    ),
    "P-tuning": (
        {"kind": "peft", "config": "PromptEncoderConfig", "num_virtual_tokens": N_VIRTUAL, "encoder_hidden_size": 128},
        [1e-3, 1e-2, 1e-1],
    ),
    "IA3": ({"kind": "peft", "config": "IA3Config"}, [3e-3, 1e-2, 3e-2, 1e-1]),
    "LoHa": (
        {"kind": "peft", "config": "LoHaConfig", "r": 4, "alpha": 8, "target_modules": REFERENCE_LORA["target_modules"]},
        [5e-4, 2e-3, 8e-3],
    ),
    "LayerNorm tuning": ({"kind": "peft", "config": "LNTuningConfig"}, [1e-3, 1e-2, 1e-1]),
    "bottleneck adapter": ({"kind": "adapter", "bottleneck": 32}, [5e-4, 2e-3, 8e-3]),
    "LoRA": (dict(REFERENCE_LORA), []),  # rates from chapter 7's sweep
    "full fine-tuning": ({"kind": "full"}, []),
}
FROM_CHAPTER7 = {"LoRA": "LoRA", "full fine-tuning": "full fine-tuning"}  # label here -> label in 07_lr.json
MAX_EXTENSIONS = 2


def chapter7_rates() -> dict[str, float]:
    """The best grid rates of chapter 7's learning-rate sweep (validation loss, mean over its seeds)."""
    _, rec = load_results("07_lr.json")
    return {here: best_lr([r for r in rec["runs"] if r["label"] == there])["lr"] for here, there in FROM_CHAPTER7.items()}


def key_of(profile, cfg: dict, evals: dict[str, int], curve: int | None) -> str:
    return json.dumps({"profile": profile.name, "method": cfg["method"], "budget": dataclasses.asdict(cfg["budget"]),
                       "seed": cfg["seed"], "evals": evals, "curve": curve}, sort_keys=True)  # fmt: skip


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("stages", nargs="*", help=f"any of {', '.join(STAGES)} (default: both, in order)")
    parser.add_argument("--fresh", action="store_true", help="forget the runs kept from an earlier, interrupted call")
    args = parser.parse_args(argv)
    unknown = set(args.stages) - set(STAGES)
    if unknown:
        parser.error(f"unknown stages {sorted(unknown)}; choose from {STAGES}")
    P = setup()
    _, tokenizer = load_model(P)
    budget = reference_budget(P)
    n_val, n_test, n_curve = P.pick(gpu=60, cpu=40, smoke=4), P.pick(gpu=120, cpu=120, smoke=4), P.pick(gpu=32, cpu=16, smoke=4)
    seeds = P.pick(gpu=[0, 1, 2, 3, 4], cpu=[0, 1, 2], smoke=[0, 1])
    every = P.pick(gpu=6, cpu=2, smoke=1)
    data = {
        "train": task_examples(tokenizer, "requests", "train"),
        "val": task_examples(tokenizer, "requests", "validation", n_val),
        "test": task_examples(tokenizer, "requests", "test", n_test),
    }
    curve_examples = task_examples(tokenizer, "requests", "validation")[-n_curve:]  # apart from the lr stage's
    cache = RunCache(artifacts_dir() / "ch08_sweep_runs.jsonl", fresh=args.fresh)

    def one(label: str, method: dict, lr: float, seed: int, evals: list[str], curve: bool) -> dict:
        cfg = {"method": method, "budget": dataclasses.replace(budget, lr=lr), "seed": seed}
        key = key_of(P, cfg, {name: len(data[name]) for name in evals}, every if curve else None)

        def compute() -> dict:
            t0 = time.perf_counter()
            record = run(P, method, cfg["budget"], seed, data["train"], {name: data[name] for name in evals},
                         curve=(curve_examples, every) if curve else None)  # fmt: skip
            record["seconds"] = round(time.perf_counter() - t0, 1)
            return record

        return {"label": label, **cache.get(key, compute)}

    def lr_stage() -> dict[str, list[dict]]:
        out = {}
        for label, (method, grid) in tqdm([m for m in METHODS.items() if m[1][1]], desc="lr stage"):
            grid = list(grid)
            runs = {lr: one(label, method, lr, seeds[0], ["val"], False) for lr in grid}
            for _ in range(MAX_EXTENSIONS):
                best = min(runs, key=lambda lr: runs[lr]["val"]["loss"])
                if best not in (grid[0], grid[-1]) or not math.isfinite(runs[best]["val"]["loss"]):
                    break
                step = grid[1] / grid[0] if best == grid[0] else grid[-1] / grid[-2]
                new = float(f"{(best / step if best == grid[0] else best * step):.3g}")
                grid = sorted([*grid, new])
                runs[new] = one(label, method, new, seeds[0], ["val"], False)
            out[label] = [runs[lr] for lr in sorted(runs)]
        return out

    started = time.time()
    sweep = lr_stage() if "lr" in (args.stages or STAGES) or "final" in (args.stages or STAGES) else {}
    if "lr" in (args.stages or STAGES):
        runs = [r for rs in sweep.values() for r in rs]
        results = {"stage": "lr", "task": "requests", "eval_sizes": {"val": n_val},
                   "seconds_to_rerun": round(sum(r["seconds"] for r in runs), 1), "runs": runs}  # fmt: skip
        path = save_results("08_lr.json", results, P.name, started)
        print(f"lr: {len(runs)} runs, {results['seconds_to_rerun'] / 60:.1f} min of runs -> {path}")
    if "final" in (args.stages or STAGES):
        started = time.time()
        rates = {label: min(rs, key=lambda r: r["val"]["loss"])["budget"]["lr"] for label, rs in sweep.items()}
        rates.update(chapter7_rates())
        runs = []
        todo = [(label, seed) for label in METHODS for seed in seeds]
        for label, seed in tqdm(todo, desc="final stage"):
            runs.append(one(label, METHODS[label][0], rates[label], seed, ["test"], True))
        results = {"stage": "final", "task": "requests", "rates": rates,
                   "eval_sizes": {"test": n_test, "curve": n_curve}, "curve_every": every,
                   "seconds_to_rerun": round(sum(r["seconds"] for r in runs), 1), "runs": runs}  # fmt: skip
        path = save_results("08_final.json", results, P.name, started)
        print(f"final: {len(runs)} runs, {results['seconds_to_rerun'] / 60:.1f} min of runs -> {path}")
        medians = {label: statistics.median(r["test"]["exact_match"] for r in runs if r["label"] == label)
                   for label in METHODS}  # fmt: skip
        print("median test exact match: " + ", ".join(f"{k} {v:.3f}" for k, v in medians.items()))


if __name__ == "__main__":
    main()
