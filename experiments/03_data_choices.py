"""Chapter 3's data choices, repeated over seeds: what the labels hold, and stop-word removal.

Two sweeps, each too long for the chapter's few minutes of CPU:

- ``labels`` (sections 3.6 and 3.7): LoRA on the dates task with the prompt masked (the default),
  with a loss on every token (no mask), and without the end-of-turn token; the same short budget,
  several seeds; exact match on the validation split and the share of answers that give the
  right date and then keep going. Writes ``experiments/results/03_labels.json``.
- ``stop_words`` (section 3.8): the bag-of-words preprocessing that some guides recommend
  (lower-case, drop stop words, stem), applied to what the model reads, the prompts, in training
  and at test time; the references stay verbatim, so the model must still write ``"seating"``
  and ``"Jonas"``. Both arms train on the booking requests at a short budget and at one where the
  untouched baseline has learned the task, several seeds; scored field by field on the whole
  validation split. Writes ``experiments/results/03_stop_words.json``.

Each file holds, for every run, the per-item scores and the generated answers, so the chapter can
form paired comparisons. Chapter 3 loads them, shows the seed spread and the intervals, and
re-runs configurations live, asserting that the live result lies inside the recorded range.

Run: ``python experiments/03_data_choices.py [--part labels|stop_words|all]`` (on 2 CPU cores,
``cpu`` profile: about 6 minutes for the labels, 46 minutes for the stop words).
"""

from __future__ import annotations

import argparse
import time

from peft import LoraConfig, get_peft_model
from tqdm import tqdm

from ftlib.data import data_dir, load_jsonl, strip_stop_words, tokenize_sft
from ftlib.evaluate import field_scores, generate, match_scores
from ftlib.models import load_model
from ftlib.profile import get_profile, seed_everything
from ftlib.records import save_results
from ftlib.train import train

LABEL_ARMS = {  # name -> tokenize_sft options
    "masked": {},
    "unmasked": {"mask_prompt": False},
    "no_end_of_turn": {"end_of_turn": False},
}
STOP_WORD_ARMS = ("original", "preprocessed")


def label_settings(profile) -> dict:
    """Sections 3.6 and 3.7: the same function fixes the chapter's live runs."""
    return dict(
        num_steps=profile.pick(gpu=12, cpu=4, smoke=1),
        batch_size=8,
        max_new_tokens=16,
        seeds=profile.pick(gpu=[0, 1, 2, 3, 4], cpu=[0, 1, 2, 3, 4], smoke=[0, 1]),
    )


def stop_word_settings(profile) -> dict:
    """Section 3.8: the same function fixes the chapter's live run."""
    return dict(
        budgets=profile.pick(gpu=[12, 60], cpu=[8, 32], smoke=[1, 2]),
        batch_size=8,
        max_new_tokens=56,
        seeds=profile.pick(gpu=[0, 1, 2], cpu=[0, 1, 2], smoke=[0, 1]),
    )


def fine_tune(profile, tokenizer, records, seed, num_steps, batch_size, **tokenize_options):
    """A fresh base model with LoRA (r=8, alpha 16, all linear layers), trained as chapter 3 trains it."""
    model, _ = load_model(profile)
    seed_everything(seed)  # the LoRA A matrices are drawn from the global generator
    model = get_peft_model(model, LoraConfig(r=8, lora_alpha=16, target_modules="all-linear"))
    examples = [tokenize_sft(r, tokenizer, **tokenize_options) for r in records]
    train(model, examples, tokenizer.pad_token_id, num_steps=num_steps, batch_size=batch_size, seed=seed,
          progress=False)
    return model


def runs_on(answers: list[str], references: list[str]) -> list[int]:
    """1 where the answer starts with the reference but keeps going after it, else 0."""
    return [int(a.startswith(r) and a != r) for a, r in zip(answers, references)]


def prompts_for(arm: str, records: list[dict]) -> list[dict]:
    """The records as the arm's model reads them: prompts preprocessed or not, answers always verbatim."""
    if arm not in STOP_WORD_ARMS:
        raise ValueError(f"unknown arm {arm!r}; choose one of {STOP_WORD_ARMS}")
    if arm == "original":
        return records
    return [dict(r, prompt=strip_stop_words(r["prompt"])) for r in records]


def sweep_labels(profile, tokenizer) -> dict:
    cfg = label_settings(profile)
    train_records = load_jsonl(data_dir() / "dates" / "train.jsonl")
    eval_records = load_jsonl(data_dir() / "dates" / "validation.jsonl")
    prompts, refs = [r["prompt"] for r in eval_records], [r["answer"] for r in eval_records]
    runs = []
    jobs = [(arm, seed) for seed in cfg["seeds"] for arm in LABEL_ARMS]
    for arm, seed in tqdm(jobs, desc="labels: runs"):
        start = time.time()
        model = fine_tune(profile, tokenizer, train_records, seed, cfg["num_steps"], cfg["batch_size"],
                          **LABEL_ARMS[arm])
        answers = generate(model, tokenizer, prompts, max_new_tokens=cfg["max_new_tokens"], batch_size=25)
        runs.append({"arm": arm, "seed": seed, "exact": match_scores(answers, refs),
                     "runs_on": runs_on(answers, refs), "answers": answers,
                     "seconds": round(time.time() - start, 1)})
        tqdm.write(f"{arm:15s} seed {seed}: exact match {sum(runs[-1]['exact']) / len(refs):.2f}, "
                   f"keeps going {sum(runs[-1]['runs_on']) / len(refs):.2f} ({runs[-1]['seconds']:.0f} s)")
    return {"settings": cfg, "arms": LABEL_ARMS, "eval_ids": [r["id"] for r in eval_records], "runs": runs}


def sweep_stop_words(profile, tokenizer, long_budget: int | None = None) -> dict:
    cfg = stop_word_settings(profile)
    if long_budget:
        cfg["budgets"] = [cfg["budgets"][0], long_budget]
    train_records = load_jsonl(data_dir() / "requests" / "train.jsonl")
    eval_records = load_jsonl(data_dir() / "requests" / "validation.jsonl")
    refs = [r["answer"] for r in eval_records]
    runs = []
    jobs = [(arm, seed, steps) for steps in cfg["budgets"] for seed in cfg["seeds"] for arm in STOP_WORD_ARMS]
    for arm, seed, steps in tqdm(jobs, desc="stop words: runs"):
        start = time.time()
        model = fine_tune(profile, tokenizer, prompts_for(arm, train_records), seed, steps, cfg["batch_size"])
        shown = [r["prompt"] for r in prompts_for(arm, eval_records)]
        answers = generate(model, tokenizer, shown, max_new_tokens=cfg["max_new_tokens"], batch_size=30)
        runs.append({"arm": arm, "seed": seed, "steps": steps, "scores": field_scores(answers, refs),
                     "answers": answers, "seconds": round(time.time() - start, 1)})
        share = sum(s["all_fields"] for s in runs[-1]["scores"]) / len(refs)
        tqdm.write(f"{arm:12s} seed {seed} {steps:3d} steps: all fields {share:.2f} ({runs[-1]['seconds']:.0f} s)")
    return {"settings": cfg, "eval_ids": [r["id"] for r in eval_records], "runs": runs}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", choices=["labels", "stop_words", "all"], default="all")
    parser.add_argument("--profile", default=None, help="ftlib profile (default: $FTLIB_PROFILE or automatic)")
    parser.add_argument("--long-budget", type=int, default=None, help="steps of the longer stop-word runs")
    args = parser.parse_args(argv)
    profile = get_profile(args.profile)
    _, tokenizer = load_model(profile)
    sweeps = [("labels", lambda: sweep_labels(profile, tokenizer), "03_labels.json"),
              ("stop_words", lambda: sweep_stop_words(profile, tokenizer, args.long_budget), "03_stop_words.json")]
    for part, sweep, name in sweeps:
        if args.part in (part, "all"):
            started = time.time()
            path = save_results(name, sweep(), profile.name, started)
            print(f"wrote {path}")


if __name__ == "__main__":
    main()
