"""Chapter 10's sweep: what instruction tuning teaches, what it costs the model elsewhere, and how decoding scores.

Three parts; each writes its own results file with provenance (ftlib.records):

  base        the untuned model on the task splits (greedy exact match per item), the probe's
              literary quotations (loss per text) and the general questions (greedy answers)
                                                                        -> 10_base.json
  decoding    LoRA r=8 (seed 0) and the base model answering the test split greedily, and the
              tuned model sampling 3 answers per item at temperatures 0.7 and 1.0
                                                                        -> 10_decoding.json
  forgetting  full fine-tuning, LoRA r=8, LoRA r=64 and full fine-tuning with a fifth general
              text (ftlib.instruct.FORGETTING_METHODS), 3 seeds each: task splits and probe
                                                                        -> 10_forgetting.json

    FTLIB_PROFILE=cpu python experiments/10_instruction_tuning.py                   # all (about 60 min on 2 cores)
    FTLIB_PROFILE=cpu python experiments/10_instruction_tuning.py --part decoding   # one part

Every finished run is kept in ``artifacts/ch10_sweep_runs.jsonl`` (``ftlib.records.RunCache``),
so an interrupted sweep resumes where it stopped; ``--fresh`` starts over.
"""

from __future__ import annotations

import argparse
import json
import time

from ftlib.answer_eval import answer_scores
from ftlib.checkpoints import artifacts_dir
from ftlib.data import tokenize_sft
from ftlib.evaluate import generate
from ftlib.instruct import (
    EVAL_SPLITS,
    FORGETTING_METHODS,
    forgetting_budget,
    forgetting_run,
    load_general,
    load_instructions,
    question_scores,
    text_examples,
    text_losses,
)
from ftlib.models import load_model
from ftlib.profile import get_profile, seed_everything
from ftlib.records import RunCache, save_results

PARTS = ("base", "decoding", "forgetting")
CACHE: RunCache | None = None  # set by main()
TEMPERATURES = (0.7, 1.0)
SAMPLES = 3  # sampled answers per item and temperature
MAX_NEW_TOKENS = 48  # the longest answer (a booking as JSON) has 40 tokens with its end of turn


def cached(P, what: dict, compute):
    """The run ``what`` describes (with the profile), from the resume cache or by calling ``compute()``."""
    key = json.dumps({"profile": P.name, **what}, sort_keys=True)
    return CACHE.get(key, compute) if CACHE is not None else compute()


def seeds(P) -> list[int]:
    return list(range(P.pick(gpu=5, cpu=3, smoke=2)))


def part_base(P) -> dict:
    seed_everything(0)
    model, tokenizer = load_model(P)
    record = {}
    for split in EVAL_SPLITS:
        s = answer_scores(model, [tokenize_sft(r, tokenizer) for r in load_instructions(split)],
                          tokenizer.pad_token_id, tokenizer.eos_token_id)  # fmt: skip
        record[split] = {"loss": s.loss, "exact_match": s.exact_match, "exact": [int(x) for x in s.exact],
                         "example_loss": [round(x, 5) for x in s.example_loss()]}  # fmt: skip
    losses = text_losses(model, text_examples([r["text"] for r in load_general("probe_text")], tokenizer),
                         tokenizer.pad_token_id)  # fmt: skip
    record["probe_text"] = {"loss": sum(losses) / len(losses), "example_loss": [round(x, 5) for x in losses]}
    record["questions"] = question_scores(model, tokenizer)
    return record


def answers_of(model, tokenizer, prompts: list[str]) -> dict:
    """Greedy answers, then SAMPLES sampled answers at each temperature (seeded: sample k uses seed k)."""
    out = {"greedy": generate(model, tokenizer, prompts, max_new_tokens=MAX_NEW_TOKENS, progress=True)}
    for t in TEMPERATURES:
        out[f"T={t}"] = [generate(model, tokenizer, prompts, max_new_tokens=MAX_NEW_TOKENS, temperature=t,
                                  seed=k, progress=True) for k in range(SAMPLES)]  # fmt: skip
    return out


def part_decoding(P) -> dict:
    test = load_instructions("test")
    prompts = [r["prompt"] for r in test]
    model, tokenizer = load_model(P)
    base = generate(model, tokenizer, prompts, max_new_tokens=MAX_NEW_TOKENS, progress=True)
    del model
    settings = FORGETTING_METHODS["LoRA r=8"]
    record, model, tokenizer = forgetting_run(P, settings["method"], forgetting_budget(P, settings["lr"]), seed=0,
                                              progress=True, keep_model=True)  # fmt: skip
    return {"method": "LoRA r=8", "seed": 0, "ids": [r["id"] for r in test], "base_greedy": base,
            "tuned_test_exact_match": record["test"]["exact_match"], **answers_of(model, tokenizer, prompts)}  # fmt: skip


def part_forgetting(P) -> dict:
    runs = []
    for name, settings in FORGETTING_METHODS.items():
        for seed in seeds(P):
            budget = forgetting_budget(P, settings["lr"])
            what = {"part": "forgetting", "method": settings["method"], "budget": budget.__dict__,
                    "mix_share": settings["mix_share"], "seed": seed}  # fmt: skip
            record = cached(P, what, lambda: forgetting_run(P, settings["method"], budget, seed,
                                                            settings["mix_share"], progress=True))  # fmt: skip
            runs.append({"name": name, **record})
            print(f"{name} seed {seed}: test EM {record['test']['exact_match']:.3f}, "
                  f"phrasing {record['test_phrasing']['exact_match']:.3f}, task {record['test_task']['exact_match']:.3f}, "
                  f"probe loss {record['probe_text']['loss']:.3f}, questions {sum(record['questions']['correct'])}",
                  flush=True)  # fmt: skip
    return {"runs": runs}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", choices=PARTS, action="append", help="run only this part (repeatable)")
    parser.add_argument("--fresh", action="store_true", help="forget the finished runs of an earlier sweep")
    args = parser.parse_args(argv)
    P = get_profile()
    global CACHE
    CACHE = RunCache(artifacts_dir() / f"ch10_sweep_runs_{P.name}.jsonl", fresh=args.fresh)
    for part in args.part or PARTS:
        started = time.time()
        print(f"== part {part} ({P.name} profile)", flush=True)
        results = {"base": lambda: part_base(P), "decoding": lambda: part_decoding(P),
                   "forgetting": lambda: part_forgetting(P)}[part]()  # fmt: skip
        results["settings"] = {name: {**s, "budget": forgetting_budget(P, s["lr"]).__dict__}
                               for name, s in FORGETTING_METHODS.items()}  # fmt: skip
        name = f"10_{part}.json" if P.name == "cpu" else f"10_{part}_{P.name}.json"
        path = save_results(name, results, P.name, started)
        print(f"wrote {path} ({time.time() - started:.0f} s)", flush=True)


if __name__ == "__main__":
    main()
