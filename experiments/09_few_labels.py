"""Chapter 9's sweeps: how many labels a classifier needs, approach by approach, with draws.

Five parts; each writes its own results file with provenance (ftlib.records):

  tuning        the learning rate of each trained approach, chosen on the validation split
                (5 and 20 per class, draw 0) from the grid ftlib.few_labels.TUNING  -> 09_tuning.json
  prompting     SmolLM2 scoring the labels, zero-shot and few-shot (1 and 5 solved
                examples per class as earlier chat turns, 3 draws)     -> 09_prompting.json
  encoder       all-MiniLM-L6-v2 at 6 budgets x 3 draws: logistic regression on frozen
                embeddings, full fine-tuning, LoRA                      -> 09_encoder.json
  smollm        SmolLM2 + LoRA with a classification head, at 3 budgets x 3 draws, and
                with the head left frozen at 5 per class                 -> 09_smollm.json
  augmentation  word dropout, word rotation and SmolLM2's paraphrases at 5 and 10 per class,
                paired with the same draws unaugmented                   -> 09_augmentation.json
  steps         the encoder fine-tuned in full at the largest budget with twice the steps of
                the encoder part: was the step cap what held it back?     -> 09_steps.json
  head          SmolLM2 + LoRA with the head trained and frozen at the first budget, on more
                draws than the smollm part (which has draws 0 to 2)     -> 09_head.json
  calibration   zero-shot label scores of every test item, and of a content-free input ("N/A"),
                for contextual calibration (Zhao et al. 2021)           -> 09_calibration.json

Every run is scored on the 500-item test split; its predictions are kept, so that the chapter
can compute intervals, paired differences and confusion matrices from the record.

    FTLIB_PROFILE=cpu python experiments/09_few_labels.py                 # all parts (about 70 min on 2 cores)
    FTLIB_PROFILE=cpu python experiments/09_few_labels.py --part encoder  # one part

Every finished run is kept in ``artifacts/ch09_sweep_runs.jsonl`` (``ftlib.records.RunCache``),
so an interrupted sweep resumes where it stopped; ``--fresh`` starts over.
"""

from __future__ import annotations

import argparse
import json
import random
import time

from tqdm.auto import tqdm

from ftlib.augment import augment_records, paraphrase_prompts
from ftlib.checkpoints import artifacts_dir
from ftlib.classify import draw_per_class, label_ids
from ftlib.encoder import embed, load_encoder
from ftlib.evaluate import generate
from ftlib.few_labels import (
    LABELS,
    SETTINGS,
    load_debian,
    pack_predictions,
    run_encoder,
    run_linear_probe,
    run_prompting,
    run_smollm,
)
from ftlib.models import load_model
from ftlib.profile import get_profile
from ftlib.records import RunCache, save_results

PARTS = ("tuning", "prompting", "encoder", "smollm", "augmentation", "steps", "head", "calibration")
CACHE: RunCache | None = None  # set by main()


def cached(P, what: dict, compute):
    """The run ``what`` describes (with the profile), from the resume cache or by calling ``compute()``."""
    key = json.dumps({"profile": P.name, **what}, sort_keys=True)
    return CACHE.get(key, compute) if CACHE is not None else compute()


def plan(profile) -> dict:
    """Budgets (labelled examples per class) and draws, by profile."""
    return {
        "budgets": profile.pick(gpu=[5, 10, 20, 50, 100, 200], cpu=[5, 10, 20, 50, 100, 200], smoke=[2, 4]),
        "draws": profile.pick(gpu=5, cpu=3, smoke=2),
        "shots": profile.pick(gpu=[1, 2, 5], cpu=[1, 5], smoke=[1]),
        "smollm_budgets": profile.pick(gpu=[5, 20, 50, 100, 200], cpu=[5, 20, 100], smoke=[2]),
        "aug_budgets": profile.pick(gpu=[5, 10], cpu=[5, 10], smoke=[2]),  # the probe; fine-tuning at the first
        "aug_draws_probe": profile.pick(gpu=20, cpu=10, smoke=2),
        "aug_draws_full": profile.pick(gpu=8, cpu=4, smoke=2),
        "aug_copies": 4,  # word dropout and rotation: 4 new texts per text; paraphrase: 1
        "tuning_budgets": profile.pick(gpu=[5, 20], cpu=[5, 20], smoke=[2]),
        "head_draws": profile.pick(gpu=10, cpu=8, smoke=3),  # in all, with the smollm part's
    }


def part_tuning(P, data, cfg) -> dict:
    """Validation accuracy of each learning rate in TUNING; the choice maximises the mean over the budgets."""
    from ftlib.few_labels import TUNING

    budgets = cfg["tuning_budgets"]
    runs = []
    jobs = [(method, lr, n) for method, grid in TUNING.items() for lr in grid for n in budgets]
    for method, lr, n in tqdm(jobs, desc="tuning on validation"):
        drawn = draw_per_class(data["train"], n, LABELS, seed=0)
        what = {"part": "tuning", "method": method, "lr": lr, "n": n,
                "settings": {k: v for k, v in SETTINGS[method].items() if k != "lr"}}
        if method == "smollm":
            result = cached(P, what, lambda: run_smollm(drawn, data["validation"], P, seed=0, lr=lr))
        else:
            result = cached(P, what, lambda: run_encoder(method, drawn, data["validation"], P, seed=0, lr=lr))
        runs.append({"method": method, "lr": lr, "n_per_class": n, **result})
        print(f"{method} lr={lr:g} {n}/class: validation accuracy {result['accuracy']:.3f}", flush=True)
    chosen = {}
    for method, grid in TUNING.items():
        mean = {lr: sum(r["accuracy"] for r in runs if r["method"] == method and r["lr"] == lr) / len(budgets)
                for lr in grid}
        chosen[method] = max(grid, key=lambda lr: (mean[lr], -lr))  # ties: the smaller rate
    return {"runs": runs, "chosen": chosen}


def part_prompting(P, data, cfg) -> list[dict]:
    model, tokenizer = load_model(P)
    runs = [{"approach": "zero-shot", "n_per_class": 0, "draw": 0,
             **run_prompting(model, tokenizer, [], data["test"], progress=True)}]
    for shots in cfg["shots"]:
        for draw in range(cfg["draws"]):
            examples = draw_per_class(data["train"], shots, LABELS, seed=draw)
            what = {"part": "prompting", "shots": shots, "draw": draw}
            runs.append({"approach": "few-shot", "n_per_class": shots, "draw": draw,
                         **cached(P, what, lambda: run_prompting(model, tokenizer, examples, data["test"],
                                                                 progress=True))})
            print(f"few-shot {shots}/class draw {draw}: accuracy {runs[-1]['accuracy']:.3f}", flush=True)
    return runs


def part_encoder(P, data, cfg) -> list[dict]:
    encoder, tokenizer = load_encoder(P)
    train, test = data["train"], data["test"]
    X = embed(encoder, tokenizer, [r["text"] for r in train + test])
    index = {r["id"]: i for i, r in enumerate(train)}
    train_X, test_X, test_y = X[: len(train)], X[len(train) :], label_ids(test, LABELS)
    runs = []
    jobs = [(n, d) for n in cfg["budgets"] for d in range(cfg["draws"])]
    for n, draw in tqdm(jobs, desc="encoder budgets x draws"):
        drawn = draw_per_class(train, n, LABELS, seed=draw)
        rows = [index[r["id"]] for r in drawn]
        base = {"n_per_class": n, "draw": draw}
        runs.append({"approach": "frozen encoder + logistic regression", **base,
                     **run_linear_probe(train_X[rows], label_ids(drawn, LABELS), test_X, test_y)})
        for method, name in [("full", "encoder, full fine-tuning"), ("lora", "encoder, LoRA")]:
            what = {"part": "encoder", "method": method, **base, "settings": SETTINGS[method]}
            runs.append({"approach": name, **base,
                         **cached(P, what, lambda: run_encoder(method, drawn, test, P, seed=draw))})
        print(f"{n}/class draw {draw}: " + ", ".join(f"{r['approach']} {r['accuracy']:.3f}" for r in runs[-3:]),
              flush=True)
    return runs


def part_smollm(P, data, cfg) -> list[dict]:
    runs = []
    jobs = [(n, d, "trained") for n in cfg["smollm_budgets"] for d in range(cfg["draws"])]
    jobs += [(cfg["smollm_budgets"][0], d, "frozen") for d in range(cfg["draws"])]
    for n, draw, head in tqdm(jobs, desc="SmolLM2 budgets x draws"):
        drawn = draw_per_class(data["train"], n, LABELS, seed=draw)
        what = {"part": "smollm", "n": n, "draw": draw, "head": head, "settings": SETTINGS["smollm"]}
        result = cached(P, what, lambda: run_smollm(drawn, data["test"], P, seed=draw, head=head))
        name = "SmolLM2 + LoRA, head trained" if head == "trained" else "SmolLM2 + LoRA, head frozen"
        runs.append({"approach": name, "n_per_class": n, "draw": draw, **result})
        print(f"{name} {n}/class draw {draw}: accuracy {result['accuracy']:.3f}", flush=True)
    return runs


def part_steps(P, data, cfg) -> list[dict]:
    """Full fine-tuning at the largest budget, the same draws and seeds, with twice the steps."""
    from ftlib.few_labels import num_steps

    n, s = cfg["budgets"][-1], SETTINGS["full"]
    steps = 2 * num_steps(n * len(LABELS), s["batch_size"], s["epochs"], s["lo"], s["hi"])
    runs = []
    for draw in tqdm(range(cfg["draws"]), desc=f"full fine-tuning, {steps} steps"):
        drawn = draw_per_class(data["train"], n, LABELS, seed=draw)
        what = {"part": "steps", "n": n, "draw": draw, "steps": steps, "settings": s}
        result = cached(P, what, lambda: run_encoder("full", drawn, data["test"], P, seed=draw, steps=steps))
        runs.append({"approach": "encoder, full fine-tuning, twice the steps", "n_per_class": n, "draw": draw,
                     **result})
        print(f"{steps} steps, {n}/class draw {draw}: accuracy {result['accuracy']:.3f}", flush=True)
    return runs


def part_head(P, data, cfg) -> list[dict]:
    """The head trained and frozen at the first SmolLM2 budget, draws after the smollm part's."""
    n, runs = cfg["smollm_budgets"][0], []
    jobs = [(d, head) for d in range(cfg["draws"], cfg["head_draws"]) for head in ("trained", "frozen")]
    for draw, head in tqdm(jobs, desc="SmolLM2 head trained or frozen"):
        drawn = draw_per_class(data["train"], n, LABELS, seed=draw)
        what = {"part": "smollm", "n": n, "draw": draw, "head": head, "settings": SETTINGS["smollm"]}
        result = cached(P, what, lambda: run_smollm(drawn, data["test"], P, seed=draw, head=head))
        runs.append({"approach": f"SmolLM2 + LoRA, head {head}", "n_per_class": n, "draw": draw, **result})
        print(f"head {head} {n}/class draw {draw}: accuracy {result['accuracy']:.3f}", flush=True)
    return runs


def part_calibration(P, data, cfg) -> dict:
    """Zero-shot log-probabilities of the labels for every test item and for the content-free input."""
    from ftlib.data import chat_prompt
    from ftlib.few_labels import INSTRUCTION
    from ftlib.llm_classify import classification_messages, label_logprobs

    model, tokenizer = load_model(P)
    texts = [r["text"] for r in data["test"]] + [CONTENT_FREE]
    prompts = [chat_prompt(classification_messages(t, LABELS, INSTRUCTION), tokenizer) for t in texts]
    scores = label_logprobs(model, tokenizer, prompts, LABELS, progress=True)
    rows = [[round(float(x), 4) for x in row] for row in scores]
    return {"content_free": CONTENT_FREE, "test_scores": rows[:-1], "content_free_scores": rows[-1]}


CONTENT_FREE = "N/A"


def paraphrases(P, records: list[dict]) -> dict[str, str]:
    """SmolLM2's greedy rewording of each text (one per text), by record id."""
    model, tokenizer = load_model(P)
    answers = generate(model, tokenizer, paraphrase_prompts(records), max_new_tokens=32, batch_size=16,
                       progress=True)
    return {r["id"]: a.splitlines()[0].strip() if a.strip() else "" for r, a in zip(records, answers)}


def part_augmentation(P, data, cfg) -> dict:
    """Each draw trained as it is and with augmented copies added: same draw, same seed, same steps.

    Fine-tuning keeps the number of steps of the unaugmented run, so that augmentation adds
    variety, not training. Logistic regression sums its loss over the examples, so more examples
    weaken its fixed penalty: the control "none, C x5" gives the unaugmented draw that weaker
    penalty alone.
    """
    from ftlib.few_labels import num_steps

    train, test = data["train"], data["test"]
    draws = max(cfg["aug_draws_probe"], cfg["aug_draws_full"])
    drawn = {(n, d): draw_per_class(train, n, LABELS, seed=d) for n in cfg["aug_budgets"] for d in range(draws)}
    needed = {r["id"]: r for records in drawn.values() for r in records}
    reworded = paraphrases(P, list(needed.values()))
    encoder, tokenizer = load_encoder(P)
    test_X, test_y = embed(encoder, tokenizer, [r["text"] for r in test]), label_ids(test, LABELS)

    def augmented(records: list[dict], how: str, seed: int) -> list[dict]:
        if how.startswith("none"):
            return []
        if how == "paraphrase":
            return [{"id": r["id"] + "+paraphrase", "text": reworded[r["id"]], "label": r["label"],
                     "augmented": how, "from": r["id"]}
                    for r in records if reworded[r["id"]] and reworded[r["id"]] != r["text"]]
        return augment_records(records, how, cfg["aug_copies"], seed=seed)

    jobs = [("probe", n, d, how) for n in cfg["aug_budgets"] for d in range(cfg["aug_draws_probe"])
            for how in ["none", "none, C x5", "word_dropout", "rotate_words", "paraphrase"]]
    jobs += [("full", cfg["aug_budgets"][0], d, how) for d in range(cfg["aug_draws_full"])
             for how in ["none", "word_dropout", "rotate_words", "paraphrase"]]
    runs = []
    for kind, n, d, how in tqdm(jobs, desc="augmentation runs"):
        records = drawn[(n, d)] + augmented(drawn[(n, d)], how, seed=d)
        random.Random(d).shuffle(records)
        if kind == "probe":
            X = embed(encoder, tokenizer, [r["text"] for r in records])
            C = 1.0 + cfg["aug_copies"] if how == "none, C x5" else 1.0
            result = run_linear_probe(X, label_ids(records, LABELS), test_X, test_y, C=C)
            model = "frozen encoder + logistic regression"
        else:
            s = SETTINGS["full"]
            steps = num_steps(len(drawn[(n, d)]), s["batch_size"], s["epochs"], s["lo"], s["hi"])
            what = {"part": "augmentation", "how": how, "n": n, "draw": d, "settings": s}
            result = cached(P, what, lambda: run_encoder("full", records, test, P, seed=d, steps=steps))
            model = "encoder, full fine-tuning"
        result = {k: v for k, v in result.items() if k != "predictions"}
        runs.append({"model": model, "augmentation": how, "n_per_class": n, "draw": d, "train_size": len(records),
                     **result})
    examples = [{"text": r["text"], "paraphrase": reworded[r["id"]], "label": r["label"]}
                for r in drawn[(cfg["aug_budgets"][0], 0)]]
    return {"runs": runs, "paraphrase_examples": examples}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", choices=PARTS, action="append", help="run only this part (repeatable)")
    parser.add_argument("--fresh", action="store_true", help="forget the finished runs of an earlier sweep")
    args = parser.parse_args(argv)
    P = get_profile()
    global CACHE
    CACHE = RunCache(artifacts_dir() / "ch09_sweep_runs.jsonl", fresh=args.fresh)
    data, cfg = load_debian(), plan(P)
    for part in args.part or PARTS:
        started = time.time()
        print(f"== part {part} ({P.name} profile)", flush=True)
        results = {"plan": cfg, "labels": list(LABELS), **{
            "tuning": lambda: part_tuning(P, data, cfg),
            "prompting": lambda: {"runs": part_prompting(P, data, cfg)},
            "encoder": lambda: {"runs": part_encoder(P, data, cfg)},
            "smollm": lambda: {"runs": part_smollm(P, data, cfg)},
            "augmentation": lambda: part_augmentation(P, data, cfg),
            "steps": lambda: {"runs": part_steps(P, data, cfg)},
            "head": lambda: {"runs": part_head(P, data, cfg)},
            "calibration": lambda: part_calibration(P, data, cfg),
        }[part]()}
        for run in results.get("runs", []):
            if "predictions" in run:
                run["predictions"] = pack_predictions(run["predictions"])
        path = save_results(f"09_{part}.json", results, P.name, started)
        print(f"wrote {path} ({time.time() - started:.0f} s)", flush=True)


if __name__ == "__main__":
    main()
