"""Build the small synthetic datasets used in the book.

Run ``python data/build.py`` (from anywhere) to (re)write every dataset as
JSON Lines files: ``<out>/<name>/<split>.jsonl``, one record per line.

The output is fully deterministic.  A single fixed ``SEED`` is combined with
each dataset's name, so every dataset gets its own random generator and adding
a new dataset never changes the records of the existing ones.

To add a dataset, write a builder ``build_<name>(rng) -> {"train": [...],
"validation": [...], "test": [...]}`` and register it in ``DATASETS``.

Datasets
--------
``dates``
    Date normalisation (chapter 1): rewrite a date written in one of several
    English surface forms ("March 3rd, 2021", "the 3rd of March 2021", ...) as
    ISO 8601 ``YYYY-MM-DD``.  Every date appears at most once in the whole
    dataset, so the splits share no example and no date.

Importing this module has no side effects; only ``main()`` writes files.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
from pathlib import Path
from typing import Callable

__all__ = [
    "SEED",
    "SPLITS",
    "DATASETS",
    "MONTHS",
    "WEEKDAYS",
    "DATE_MIN",
    "DATE_MAX",
    "DATES_SIZES",
    "DATES_INSTRUCTION",
    "FORMS",
    "ordinal",
    "dataset_rng",
    "sample_dates",
    "dates_prompt",
    "build_dates",
    "build_dataset",
    "to_jsonl",
    "write_dataset",
    "main",
]

Record = dict[str, str]
Splits = dict[str, list[Record]]

SEED = 20261128
SPLITS = ("train", "validation", "test")

# ---------------------------------------------------------------------------
# Shared helpers
# ---------------------------------------------------------------------------


def dataset_rng(name: str, seed: int = SEED) -> random.Random:
    """Return the random generator for dataset ``name`` (seeded by name)."""
    return random.Random(f"{seed}-{name}")


def to_jsonl(records: list[Record]) -> str:
    """Serialise records as JSON Lines: one object per line, trailing newline."""
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records)


# ---------------------------------------------------------------------------
# The "dates" dataset
# ---------------------------------------------------------------------------

# English names, written out so the output never depends on the system locale.
MONTHS = (
    "January", "February", "March", "April", "May", "June",
    "July", "August", "September", "October", "November", "December",
)
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")

DATE_MIN = dt.date(1950, 1, 1)
DATE_MAX = dt.date(2049, 12, 31)
DATES_SIZES = {"train": 400, "validation": 50, "test": 100}
DATES_INSTRUCTION = (
    "Rewrite this date in ISO 8601 format (YYYY-MM-DD). Reply with the date only."
)


def ordinal(n: int) -> str:
    """Return ``n`` with its English ordinal suffix: 1st, 2nd, 3rd, 4th, 11th, 21st."""
    if 11 <= n % 100 <= 13:
        suffix = "th"
    else:
        suffix = {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def _abbr(d: dt.date) -> str:
    """Three-letter month abbreviation: 'Mar'."""
    return MONTHS[d.month - 1][:3]


def _abbr_dot(d: dt.date) -> str:
    """Abbreviation with a full stop, except 'May', which is not shortened."""
    return "May" if d.month == 5 else _abbr(d) + "."


# Each surface form turns a date into text.  None of them is an all-numeric
# day/month form such as "03/04/2021", so every form is unambiguous.
FORMS: dict[str, Callable[[dt.date], str]] = {
    "month_ordinal": lambda d: f"{MONTHS[d.month - 1]} {ordinal(d.day)}, {d.year}",
    "day_month": lambda d: f"{d.day} {MONTHS[d.month - 1]} {d.year}",
    "abbr_month": lambda d: f"{_abbr(d)} {d.day}, {d.year}",
    "the_ordinal_of": lambda d: f"the {ordinal(d.day)} of {MONTHS[d.month - 1]} {d.year}",
    "weekday": lambda d: (
        f"{WEEKDAYS[d.weekday()]}, {MONTHS[d.month - 1]} {d.day}, {d.year}"
    ),
    "year_first": lambda d: f"{d.year}, {MONTHS[d.month - 1]} {d.day}",
    "ordinal_abbr": lambda d: f"{ordinal(d.day)} {_abbr_dot(d)} {d.year}",
    "no_comma": lambda d: f"{MONTHS[d.month - 1]} {d.day} {d.year}",
}


def sample_dates(rng: random.Random, n: int) -> list[dt.date]:
    """Draw ``n`` distinct dates uniformly between DATE_MIN and DATE_MAX."""
    span = (DATE_MAX - DATE_MIN).days + 1
    return [DATE_MIN + dt.timedelta(days=k) for k in rng.sample(range(span), n)]


def dates_prompt(text: str) -> str:
    """Build the prompt: the instruction, then the date on its own line."""
    return f"{DATES_INSTRUCTION}\nDate: {text}"


def build_dates(rng: random.Random) -> Splits:
    """Build the date-normalisation splits (no date is used twice)."""
    total = sum(DATES_SIZES.values())
    dates = iter(sample_dates(rng, total))
    names = list(FORMS)
    splits: Splits = {}
    for split in SPLITS:
        size = DATES_SIZES[split]
        # Cycle through the forms, then shuffle: every form gets an equal share.
        forms = [names[i % len(names)] for i in range(size)]
        rng.shuffle(forms)
        records = []
        for i, form in enumerate(forms):
            date = next(dates)
            records.append({
                "id": f"dates-{split}-{i:04d}",
                "prompt": dates_prompt(FORMS[form](date)),
                "answer": date.isoformat(),
                "form": form,
            })
        splits[split] = records
    return splits


# ---------------------------------------------------------------------------
# Registry and command line
# ---------------------------------------------------------------------------

DATASETS: dict[str, Callable[[random.Random], Splits]] = {
    "dates": build_dates,
}


def build_dataset(name: str, seed: int = SEED) -> Splits:
    """Build dataset ``name`` with its own deterministic generator."""
    return DATASETS[name](dataset_rng(name, seed))


def write_dataset(name: str, splits: Splits, out: Path) -> list[Path]:
    """Write ``out/<name>/<split>.jsonl`` for each split; return the paths."""
    folder = out / name
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for split in SPLITS:
        path = folder / f"{split}.jsonl"
        with path.open("w", encoding="utf-8", newline="\n") as f:
            f.write(to_jsonl(splits[split]))
        print(f"{path}: {len(splits[split])} records")
        paths.append(path)
    return paths


def main(argv: list[str] | None = None) -> None:
    """Build every dataset in DATASETS and write it under ``--out``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--out",
        type=Path,
        default=Path(__file__).resolve().parent,
        help="output folder (default: the folder that holds build.py)",
    )
    args = parser.parse_args(argv)
    for name in DATASETS:
        write_dataset(name, build_dataset(name), args.out)


if __name__ == "__main__":
    main()
