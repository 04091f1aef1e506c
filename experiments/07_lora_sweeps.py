"""Chapter 7's recorded sweeps, on the booking-requests task (data/requests).

Four sweeps, each changing one thing away from the chapter's reference run (LoRA r=8, alpha=16,
every linear layer, 10 steps of 4 examples, AdamW at 2e-3 with a cosine decay, on the cpu profile):

- targets:  which layers LoRA adapts (q and v, attention, MLP, all linear) at a matched number of
            trainable parameters (ranks from ftlib.lora_budget.matched_ranks), 3 seeds;
- rank:     r from 1 to 64 under alpha/r and under rsLoRA's alpha/sqrt(r), the two matched at r=8, 3 seeds;
- lr:       a learning-rate sweep for LoRA (6 rates) and for full fine-tuning (chapter 4's loop, 8 rates), 3 seeds;
- variants: plain LoRA, rsLoRA, DoRA, LoRA+, PiSSA and OLoRA initialisations, 3 seeds.

Each run is ftlib.lora_runs.run: a fresh model, the same batches for the same seed, the validation
loss and greedy exact match (ftlib.answer_eval) on the first validation examples, and for targets and
variants the same on the whole test split. Results go to experiments/results/07_<sweep>.json with
their provenance (ftlib.records.save_results).

    FTLIB_PROFILE=cpu flock /tmp/ftlib-heavy.lock .venv/bin/python experiments/07_lora_sweeps.py [sweep ...]

Runs shared between sweeps (the reference run appears in all four) are made once. Finished runs are
kept in artifacts/ch07_sweep_runs.jsonl, so an interrupted sweep resumes where it stopped; --fresh
starts over. The gpu profile runs more steps, seeds, ranks and evaluation examples (P.pick below).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import time

from tqdm import tqdm

from ftlib.lora_budget import TARGET_GROUPS, matched_ranks
from ftlib.lora_runs import REFERENCE_LORA, reference_budget, run, task_examples
from ftlib.models import load_model
from ftlib.profile import setup
from ftlib.records import RunCache, save_results
from ftlib.train import artifacts_dir

SWEEPS = ("targets", "rank", "lr", "variants")


def plan(P, model) -> dict[str, list[dict]]:
    """Every run of every sweep: a label, the method, the budget, the seed and the evaluation sets."""
    budget = reference_budget(P)
    seeds = P.pick(gpu=[0, 1, 2, 3, 4], cpu=[0, 1, 2], smoke=[0, 1])
    lr_seeds = P.pick(gpu=[0, 1, 2], cpu=[0, 1, 2], smoke=[0])
    ref = dict(REFERENCE_LORA)

    def runs(label, method, evals, seed_list=seeds, lr=None, **extra):
        b = dataclasses.replace(budget, lr=lr) if lr else budget
        return [dict(label=label, method=method, budget=b, seed=s, evals=evals, **extra) for s in seed_list]

    both, val = ["val", "test"], ["val"]
    out: dict[str, list[dict]] = {s: [] for s in SWEEPS}
    matched = matched_ranks(model, TARGET_GROUPS, "all linear", ref["r"])
    for label, targets in TARGET_GROUPS.items():
        method = {**ref, "target_modules": list(targets), "r": matched[label]["r"]}
        out["targets"] += runs(label, method, both, off_by=matched[label]["off_by"])
    for r in P.pick(gpu=[1, 2, 4, 8, 16, 32, 64, 128], cpu=[1, 4, 8, 16, 64], smoke=[1, 8]):
        out["rank"] += runs("alpha/r", {**ref, "r": r}, val, r=r)
        # rsLoRA with alpha chosen so that both scalings are equal at the reference rank: at r=8 the two
        # runs are the same computation, so the reference run stands for both.
        rs_alpha = ref["lora_alpha"] * math.sqrt(ref["r"]) / ref["r"]
        rs = ref if r == ref["r"] else {**ref, "r": r, "lora_alpha": rs_alpha, "use_rslora": True}
        out["rank"] += runs("alpha/sqrt(r)", rs, val, r=r)
    for lr in P.pick(gpu=[5e-4, 1e-3, 2e-3, 4e-3, 8e-3, 1.6e-2], cpu=[5e-4, 1e-3, 2e-3, 4e-3, 8e-3, 1.6e-2],
                     smoke=[2e-3]):  # fmt: skip
        out["lr"] += runs("LoRA", ref, val, lr_seeds, lr=lr)
    # full fine-tuning's grid reaches two steps lower than first planned: on the cpu profile its best rate
    # sat at 2.5e-5, the grid's edge, so the grid was extended until the best rate lay inside it
    full_grid = [6.25e-6, 1.25e-5, 2.5e-5, 5e-5, 1e-4, 2e-4, 4e-4, 8e-4]
    for lr in P.pick(gpu=full_grid, cpu=full_grid, smoke=[1e-4]):
        out["lr"] += runs("full fine-tuning", {"kind": "full"}, val, lr_seeds, lr=lr)
    variants = {
        "LoRA": ref,
        "rsLoRA": {**ref, "use_rslora": True},
        "DoRA": {**ref, "use_dora": True},
        "LoRA+": {**ref, "loraplus_lr_ratio": 16},
        "PiSSA": {**ref, "init_lora_weights": "pissa"},
        "OLoRA": {**ref, "init_lora_weights": "olora"},
    }
    for label, method in variants.items():
        out["variants"] += runs(label, method, both)
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sweeps", nargs="*", help=f"any of {', '.join(SWEEPS)} (default: all)")
    parser.add_argument("--fresh", action="store_true", help="forget the runs kept from an earlier, interrupted call")
    args = parser.parse_args(argv)
    unknown = set(args.sweeps) - set(SWEEPS)
    if unknown:
        parser.error(f"unknown sweeps {sorted(unknown)}; choose from {SWEEPS}")
    P = setup()
    model, tokenizer = load_model(P)
    todo = plan(P, model)
    del model
    n_val, n_test = P.pick(gpu=60, cpu=40, smoke=4), P.pick(gpu=120, cpu=120, smoke=4)
    data = {
        "train": task_examples(tokenizer, "requests", "train"),
        "val": task_examples(tokenizer, "requests", "validation", n_val),
        "test": task_examples(tokenizer, "requests", "test", n_test),
    }
    cache = RunCache(artifacts_dir() / "ch07_sweep_runs.jsonl", fresh=args.fresh)
    for sweep in args.sweeps or SWEEPS:
        started = time.time()
        records = []
        for cfg in tqdm(todo[sweep], desc=f"sweep {sweep}"):
            evals = {name: data[name] for name in cfg["evals"]}
            key = json.dumps({"profile": P.name, "method": cfg["method"], "budget": dataclasses.asdict(cfg["budget"]),
                              "seed": cfg["seed"], "evals": {k: len(v) for k, v in evals.items()}},
                             sort_keys=True)  # fmt: skip

            def compute(cfg=cfg, evals=evals) -> dict:
                t0 = time.perf_counter()
                record = run(P, cfg["method"], cfg["budget"], cfg["seed"], data["train"], evals)
                record["seconds"] = round(time.perf_counter() - t0, 1)
                return record

            extra = {k: v for k, v in cfg.items() if k not in ("method", "budget", "seed", "evals")}
            records.append({**extra, **cache.get(key, compute)})
        results = {
            "sweep": sweep,
            "task": "requests",
            "eval_sizes": {name: len(data[name]) for name in ("val", "test")},
            "seconds_to_rerun": round(sum(r["seconds"] for r in records), 1),
            "runs": records,
        }
        path = save_results(f"07_{sweep}.json", results, P.name, started)
        print(f"{sweep}: {len(records)} runs, {results['seconds_to_rerun'] / 60:.1f} min of runs -> {path}")


if __name__ == "__main__":
    main()
