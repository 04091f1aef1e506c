"""Tests for data/build.py: determinism, committed files, no leakage, content."""

from __future__ import annotations

import datetime as dt
import hashlib
import importlib.util
import json
import re
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[1]
BUILD_PY = ROOT / "data" / "build.py"


def load_build() -> ModuleType:
    """Import data/build.py from its path (data/ is not a package)."""
    spec = importlib.util.spec_from_file_location("data_build", BUILD_PY)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


build = load_build()

# An independent reader for the surface forms, used to check the prompts.
MONTH_NUMBER = {name.lower(): i for i, name in enumerate(
    ["January", "February", "March", "April", "May", "June", "July",
     "August", "September", "October", "November", "December"], start=1)}
MONTH_NUMBER.update({name[:3]: i for name, i in list(MONTH_NUMBER.items())})
WEEKDAY_NUMBER = {name: i for i, name in enumerate(
    ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"])}


def parse_date_text(text: str) -> tuple[dt.date, int | None]:
    """Read an English date back; return the date and the weekday if written."""
    text = re.sub(r"(\d+)(st|nd|rd|th)\b", r"\1", text.lower())
    words = re.sub(r"[,.]", " ", text).split()
    words = [w for w in words if w not in ("the", "of")]
    numbers = [w for w in words if w.isdigit()]
    year = int(next(w for w in numbers if len(w) == 4))
    day = int(next(w for w in numbers if len(w) <= 2))
    month = next(MONTH_NUMBER[w] for w in words if w in MONTH_NUMBER)
    weekday = next((WEEKDAY_NUMBER[w] for w in words if w in WEEKDAY_NUMBER), None)
    assert len(words) == 3 + (weekday is not None), words
    return dt.date(year, month, day), weekday


def date_text(prompt: str) -> str:
    """The date as written in the prompt (the text after 'Date: ')."""
    instruction, line = prompt.split("\n")
    assert instruction == build.DATES_INSTRUCTION
    assert line.startswith("Date: ")
    return line.removeprefix("Date: ")


@pytest.fixture(scope="module")
def dates() -> dict[str, list[dict[str, str]]]:
    return build.build_dataset("dates")


def test_building_twice_gives_identical_records() -> None:
    for name in build.DATASETS:
        assert build.build_dataset(name) == build.build_dataset(name)


def test_each_dataset_has_its_own_seed(dates) -> None:
    assert dates == build.build_dates(build.dataset_rng("dates"))
    assert dates != build.build_dataset("dates", seed=build.SEED + 1)


def test_committed_files_match_the_builder(tmp_path: Path, capsys) -> None:
    assert {"dates", "requests"} <= set(build.DATASETS)
    build.main(["--out", str(tmp_path)])
    for name in build.DATASETS:
        for split in build.SPLITS:
            committed = ROOT / "data" / name / f"{split}.jsonl"
            rebuilt = tmp_path / name / f"{split}.jsonl"
            assert committed.read_bytes() == rebuilt.read_bytes(), committed
    assert capsys.readouterr().out.count(" records\n") == 3 * len(build.DATASETS)


# SHA-256 of the committed dates files, pinned when the second dataset
# (requests) was added: adding a dataset must leave these bytes alone.
DATES_SHA256 = {
    "train": "12db9627a0607a94d37ed791d0231defcd62ff8afdb40d980b28c01d515cfff5",
    "validation": "67c759dda018447f9c4ced2fa8d60fc62f90701f40627f211454911ca7e150c9",
    "test": "8fd952df78bef118c5621da32d5cd110acf799dec98bd95e0faa883e4a538d3e",
}


def test_adding_datasets_leaves_dates_unchanged(dates) -> None:
    for split in build.SPLITS:
        committed = (ROOT / "data" / "dates" / f"{split}.jsonl").read_bytes()
        assert hashlib.sha256(committed).hexdigest() == DATES_SHA256[split], split
        assert build.to_jsonl(dates[split]).encode("utf-8") == committed, split
    # Building the other datasets first does not disturb the dates generator.
    for name in build.DATASETS:
        build.build_dataset(name)
    assert build.build_dataset("dates") == dates


def test_jsonl_format(dates) -> None:
    text = (ROOT / "data" / "dates" / "train.jsonl").read_text(encoding="utf-8")
    assert text.endswith("\n")
    for line in text.splitlines():
        assert list(json.loads(line)) == ["id", "prompt", "answer", "form"]


def test_sizes(dates) -> None:
    assert {split: len(records) for split, records in dates.items()} == {
        "train": 400, "validation": 50, "test": 100}


def test_splits_share_no_id_prompt_or_answer(dates) -> None:
    for field in ("id", "prompt", "answer"):
        seen: set[str] = set()
        for split in build.SPLITS:
            values = [r[field] for r in dates[split]]
            assert len(set(values)) == len(values), (field, split)
            assert not seen & set(values), (field, split)
            seen |= set(values)


def test_answers_are_iso_dates_in_range(dates) -> None:
    for records in dates.values():
        for r in records:
            date = dt.date.fromisoformat(r["answer"])
            assert date.isoformat() == r["answer"]
            assert build.DATE_MIN <= date <= build.DATE_MAX


def test_every_prompt_contains_its_date(dates) -> None:
    for records in dates.values():
        for r in records:
            text = date_text(r["prompt"])
            assert text == build.FORMS[r["form"]](dt.date.fromisoformat(r["answer"]))
            assert parse_date_text(text)[0].isoformat() == r["answer"], text
            assert not re.search(r"\d+/\d+", text)  # never "03/04/2021"


def test_ordinal_1_to_31() -> None:
    expected = (
        "1st 2nd 3rd 4th 5th 6th 7th 8th 9th 10th "
        "11th 12th 13th 14th 15th 16th 17th 18th 19th 20th "
        "21st 22nd 23rd 24th 25th 26th 27th 28th 29th 30th 31st"
    ).split()
    assert [build.ordinal(n) for n in range(1, 32)] == expected
    assert [build.ordinal(n) for n in (101, 111, 112, 113, 122)] == [
        "101st", "111th", "112th", "113th", "122nd"]


def test_weekday_form_is_correct(dates) -> None:
    assert build.FORMS["weekday"](dt.date(2021, 3, 3)) == "Wednesday, March 3, 2021"
    checked = 0
    for records in dates.values():
        for r in records:
            if r["form"] == "weekday":
                text = date_text(r["prompt"])
                parsed = dt.datetime.strptime(text, "%A, %B %d, %Y").date()
                assert parsed.isoformat() == r["answer"]
                date, weekday = parse_date_text(text)
                assert weekday == date.weekday()
                checked += 1
    assert checked > 0


def test_all_forms_appear_in_train_evenly(dates) -> None:
    counts = {form: 0 for form in build.FORMS}
    for r in dates["train"]:
        counts[r["form"]] += 1
    assert len(counts) >= 7
    assert set(counts.values()) == {400 // len(build.FORMS)}


def test_form_examples() -> None:
    date = dt.date(2021, 3, 3)
    assert {name: form(date) for name, form in build.FORMS.items()} == {
        "month_ordinal": "March 3rd, 2021",
        "day_month": "3 March 2021",
        "abbr_month": "Mar 3, 2021",
        "the_ordinal_of": "the 3rd of March 2021",
        "weekday": "Wednesday, March 3, 2021",
        "year_first": "2021, March 3",
        "ordinal_abbr": "3rd Mar. 2021",
        "no_comma": "March 3 2021",
    }
    assert build.FORMS["ordinal_abbr"](dt.date(2021, 5, 22)) == "22nd May 2021"
