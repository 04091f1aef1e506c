"""Chapter 13's sweep: DPO after SFT against more SFT, on chapter 7's dates adapter, 3 seeds.

Both runs start from chapter 7's dates adapter (the SFT model) and train it further for the same
steps, batches, learning rate and schedule: SFT on the chosen answers alone, or DPO on pairs of
the chosen answer and a near miss (``ftlib.dpo.near_miss_date``: month and day swapped, or the
day moved by one). The reference of DPO is the adapter as it starts. Each run is scored on the
100 test dates: greedy exact match (teacher-forced, ``ftlib.answer_eval``), and the summed
log-probabilities of the chosen and the rejected answer of every test pair.

    13_dpo.json   per seed and kind: the training losses (and DPO's margins), the test exact match per
                  item, and the change of every test pair's chosen and rejected log-probability

Usage: FTLIB_PROFILE=cpu python experiments/13_outlook.py
Chapter 13 loads the file, plots and glues it, and re-runs the first steps of one DPO run live.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ftlib.answer_eval import answer_scores  # noqa: E402
from ftlib.data import data_dir, load_jsonl  # noqa: E402
from ftlib.dpo import pair_logps, preference_pairs, train_dpo  # noqa: E402
from ftlib.lora_runs import chapter7_adapters  # noqa: E402
from ftlib.models import load_model  # noqa: E402
from ftlib.profile import get_profile, seed_everything  # noqa: E402
from ftlib.records import save_results  # noqa: E402

SEEDS = (0, 1, 2)
KINDS = ("sft", "dpo")


def dpo_settings(P) -> dict:
    """Steps, batch, learning rate, beta and the number of training pairs, shared by both kinds."""
    return {
        "num_steps": P.pick(gpu=40, cpu=10, smoke=2),
        "batch_size": 4,
        "lr": 2e-4,
        "schedule": "cosine",
        "beta": 0.1,
        "n_train_pairs": P.pick(
            gpu=400, cpu=64, smoke=8
        ),  # the reference log-probabilities are computed once for each
    }


def pairs_and_tokenizer(P):
    """The tokenizer, the training pairs and the test pairs (chosen: the answer; rejected: a near miss)."""
    tokenizer = load_model(P)[1]
    n = dpo_settings(P)["n_train_pairs"]
    train = preference_pairs(
        load_jsonl(data_dir() / "dates" / "train.jsonl")[:n], tokenizer
    )
    test = preference_pairs(load_jsonl(data_dir() / "dates" / "test.jsonl"), tokenizer)
    return tokenizer, train, test


def sft_model(P):
    """Chapter 7's dates adapter on a fresh base model, trainable: the start (and DPO's reference)."""
    from peft import PeftModel

    folder = chapter7_adapters(P)["dates"]
    return PeftModel.from_pretrained(load_model(P)[0], str(folder), is_trainable=True)


def train_kind(
    P,
    kind: str,
    seed: int,
    train_pairs,
    ref_logps,
    pad_token_id: int,
    stop_after=None,
    progress=False,
):
    """Train a fresh start model with ``kind`` ("sft" or "dpo"); returns (model, list of step losses)."""
    s = dpo_settings(P)
    seed_everything(seed)
    model = sft_model(P)
    if kind == "dpo":
        h = train_dpo(model, train_pairs, ref_logps, pad_token_id, s["num_steps"], s["batch_size"], s["lr"],
                      s["beta"], seed, s["schedule"], stop_after=stop_after, progress=progress)  # fmt: skip
        return model, h
    if kind != "sft":
        raise ValueError(f"unknown kind {kind!r}; choose from {KINDS}")
    from ftlib.train import train

    h = train(model, [p["chosen"] for p in train_pairs], pad_token_id, s["num_steps"], s["batch_size"], s["lr"],
              seed, "SFT", schedule=s["schedule"], max_grad_norm=1.0, stop_after=stop_after, progress=progress)  # fmt: skip
    return model, h


def score(model, test_pairs, tokenizer) -> dict:
    """Test exact match per item, and the chosen and rejected log-probability of every test pair."""
    s = answer_scores(
        model,
        [p["chosen"] for p in test_pairs],
        tokenizer.pad_token_id,
        tokenizer.eos_token_id,
    )
    chosen, rejected = pair_logps(model, test_pairs, tokenizer.pad_token_id)
    return {
        "exact": [int(x) for x in s.exact],
        "chosen": chosen.tolist(),
        "rejected": rejected.tolist(),
    }


def part_dpo(P) -> dict:
    tokenizer, train_pairs, test_pairs = pairs_and_tokenizer(P)
    start = sft_model(P)
    ref_logps = pair_logps(start, train_pairs, tokenizer.pad_token_id)
    results = {
        "settings": dpo_settings(P),
        "start": score(start, test_pairs, tokenizer),
        "runs": [],
    }
    del start
    for seed in SEEDS:
        for kind in KINDS:
            t0 = time.perf_counter()
            model, h = train_kind(
                P,
                kind,
                seed,
                train_pairs,
                ref_logps,
                tokenizer.pad_token_id,
                progress=True,
            )
            run = {
                "kind": kind,
                "seed": seed,
                "loss": h.loss,
                "seconds": time.perf_counter() - t0,
            }
            if kind == "dpo":
                run["margin"], run["accuracy"] = h.margin, h.accuracy
            run.update(score(model, test_pairs, tokenizer))
            results["runs"].append(run)
            print(
                f"{kind} seed {seed}: exact {sum(run['exact'])}/{len(run['exact'])}",
                flush=True,
            )
            del model
    return results


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.parse_args(argv)
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    P = get_profile()
    started = time.time()
    torch.manual_seed(0)
    path = save_results("13_dpo.json", part_dpo(P), P.name, started)
    print(f"dpo: {path} ({time.time() - started:.0f} s)", flush=True)


if __name__ == "__main__":
    main()
