"""Tests for the ``requests`` dataset of data/build.py (booking extraction).

The records are read back with a small parser written here, independently of
the generator, so every field of every answer is shown to be recoverable from
the request text alone.
"""

from __future__ import annotations

import datetime as dt
import importlib.util
import json
import re
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[1]
BUILD_PY = ROOT / "data" / "build.py"
KEYS = ["name", "party_size", "date", "time", "seating"]
SIZES = {"train": 600, "validation": 60, "test": 120}


def load_build() -> ModuleType:
    """Import data/build.py from its path (data/ is not a package)."""
    spec = importlib.util.spec_from_file_location("data_build_requests", BUILD_PY)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


build = load_build()

# ---------------------------------------------------------------------------
# An independent reader for the request texts
# ---------------------------------------------------------------------------

NUMBERS = {w: i for i, w in enumerate(
    "zero one two three four five six seven eight nine ten eleven twelve".split())}
MONTHS = ["January", "February", "March", "April", "May", "June", "July",
          "August", "September", "October", "November", "December"]
WEEKDAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
MONTH = "(" + "|".join(MONTHS) + ")"
WEEKDAY = "(?:(" + "|".join(WEEKDAYS) + "),? )?"
SUFFIX = "(?:st|nd|rd|th)?"


def number(word: str) -> int:
    return int(word) if word.isdigit() else NUMBERS[word.lower()]


def read_party(text: str) -> int:
    """Every mention of the party size must agree; return it."""
    found = [1] * len(re.findall(r"\bjust me\b", text))
    for pattern in (r"\btable for (\w+)", r"\bparty of (\w+)", r"\b(\w+) (?:people|person)\b",
                    r"\bthere will be (\w+) of us\b", r"\bgroup of (\w+)", r"\bwe'll be (\w+)"):
        found += [number(w) for w in re.findall(pattern, text, flags=re.IGNORECASE)]
    assert found and len(set(found)) == 1, (text, found)
    return found[0]


def read_date(text: str) -> str:
    """Exactly one date; the weekday and year, when written, must be right."""
    patterns = [
        WEEKDAY + r"the (\d{1,2})" + SUFFIX + " of " + MONTH + r"(?:,? (\d{4}))?",  # day first
        WEEKDAY + r"(\d{1,2})" + SUFFIX + " " + MONTH + r"(?:,? (\d{4}))?",
        WEEKDAY + MONTH + r" (\d{1,2})" + SUFFIX + r"\b(?:,? (\d{4}))?",  # month first
    ]
    found = []
    for k, pattern in enumerate(patterns):
        for m in re.finditer(pattern, text):
            weekday, a, b, year = m.groups()
            day, month = (int(a), b) if k < 2 else (int(b), a)
            date = dt.date(int(year or 2027), MONTHS.index(month) + 1, day)
            if weekday is not None:
                assert WEEKDAYS[date.weekday()] == weekday, text
            found.append(date)
    assert len(found) == 1, (text, found)
    assert found[0].year == 2027
    return found[0].isoformat()


def read_time(text: str) -> str:
    """Exactly one time of day, as 24-hour HH:MM."""
    found = []
    for m in re.finditer(r"\b(\d{1,2}):(\d{2})\b(?!\s?[ap]m)", text):
        found.append((int(m[1]), int(m[2])))
    for m in re.finditer(r"\b(\d{1,2})(?::(\d{2}))?\s?(am|pm)\b", text):
        hour = int(m[1]) % 12 + (12 if m[3] == "pm" else 0)
        found.append((hour, int(m[2] or 0)))
    for _ in re.finditer(r"\b(?:12 )?noon\b", text):
        found.append((12, 0))
    words = r"\b(?:(half past) )?(\w+)(?: o'clock)? in the (morning|afternoon|evening)"
    for m in re.finditer(words, text):
        hour = NUMBERS[m[2]] % 12 + (0 if m[3] == "morning" else 12)
        found.append((hour, 30 if m[1] else 0))
    assert len(found) == 1, (text, found)
    return "{:02d}:{:02d}".format(*found[0])


def read_seating(text: str) -> str | None:
    found = set()
    if re.search(r"\b(inside|indoors?)\b", text, flags=re.IGNORECASE):
        found.add("indoor")
    if re.search(r"\b(outside|outdoors?)\b", text, flags=re.IGNORECASE):
        found.add("outdoor")
    if re.search(r"\bbar\b", text, flags=re.IGNORECASE):
        found.add("bar")
    assert len(found) <= 1, (text, found)
    return found.pop() if found else None


def read_name(text: str) -> str:
    """The one name from the fixed list, written as a capitalised word."""
    found = [n for n in build.NAMES if re.search(rf"\b{n}\b", text)]
    assert len(found) == 1, (text, found)
    return found[0]


def read_request(text: str) -> dict:
    return {"name": read_name(text), "party_size": read_party(text),
            "date": read_date(text), "time": read_time(text), "seating": read_seating(text)}


def request_text(prompt: str) -> str:
    instruction, line = prompt.split("\n")
    assert instruction == build.REQUESTS_INSTRUCTION
    assert line.startswith("Request: ")
    return line.removeprefix("Request: ")


# ---------------------------------------------------------------------------
# Tests
# ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def requests() -> dict[str, list[dict[str, str]]]:
    return build.build_dataset("requests")


def all_records(requests):
    return [r for split in build.SPLITS for r in requests[split]]


def test_building_twice_gives_identical_records(requests) -> None:
    assert build.build_dataset("requests") == requests
    assert requests == build.build_requests(build.dataset_rng("requests"))
    assert requests != build.build_dataset("requests", seed=build.SEED + 1)


def test_committed_files_match_the_builder(requests) -> None:
    for split in build.SPLITS:
        committed = (ROOT / "data" / "requests" / f"{split}.jsonl").read_bytes()
        assert committed == build.to_jsonl(requests[split]).encode("utf-8"), split


def test_sizes_and_ids(requests) -> None:
    assert {split: len(records) for split, records in requests.items()} == SIZES
    for split in build.SPLITS:
        assert [r["id"] for r in requests[split]] == [
            f"requests-{split}-{i:04d}" for i in range(SIZES[split])]


def test_record_format(requests) -> None:
    for r in all_records(requests):
        assert list(r) == ["id", "prompt", "answer", "template"]
        assert all(isinstance(v, str) for v in r.values())
        assert r["template"] in build.REQUEST_TEMPLATES
    text = (ROOT / "data" / "requests" / "train.jsonl").read_text(encoding="utf-8")
    assert text.endswith("\n") and len(text.splitlines()) == 600


def test_answers_are_canonical_json_with_the_right_types(requests) -> None:
    times = {f"{h:02d}:{m:02d}" for h in range(11, 23) for m in (0, 30)} - {"11:00", "22:30"}
    assert len(times) == 22
    for r in all_records(requests):
        answer = json.loads(r["answer"])
        assert list(answer) == KEYS, r["answer"]
        assert json.dumps(answer, ensure_ascii=False, separators=(", ", ": ")) == r["answer"]
        assert isinstance(answer["name"], str) and answer["name"] in build.NAMES
        assert type(answer["party_size"]) is int and 1 <= answer["party_size"] <= 12
        date = dt.date.fromisoformat(answer["date"])
        assert date.year == 2027 and date.isoformat() == answer["date"]
        assert answer["time"] in times
        assert answer["seating"] in ("indoor", "outdoor", "bar", None)


def test_no_leakage_across_splits(requests) -> None:
    seen_text: dict[str, str] = {}
    seen_key: dict[tuple, str] = {}
    for split in build.SPLITS:
        for r in requests[split]:
            a = json.loads(r["answer"])
            text, key = request_text(r["prompt"]), (a["name"], a["date"], a["time"])
            assert text not in seen_text, (text, split, seen_text.get(text))
            assert key not in seen_key, (key, split, seen_key.get(key))
            seen_text[text], seen_key[key] = split, split


def test_every_field_is_recoverable_from_the_text(requests) -> None:
    for r in all_records(requests):
        assert read_request(request_text(r["prompt"])) == json.loads(r["answer"]), r["prompt"]


def test_simple_field_checks(requests) -> None:
    """Weaker, very direct checks: the name, party size and time are written out."""
    for r in all_records(requests):
        text, a = request_text(r["prompt"]), json.loads(r["answer"])
        assert re.search(rf"\b{a['name']}\b", text)
        n = a["party_size"]
        assert (re.search(rf"\b({n}|{list(NUMBERS)[n]})\b", text, flags=re.IGNORECASE)
                or (n == 1 and "just me" in text)), text
        h, m = (int(x) for x in a["time"].split(":"))
        h12, suffix = (h - 1) % 12 + 1, "am" if h < 12 else "pm"
        clock, word = (f"{h12}:30", f"half past {list(NUMBERS)[h12]}") if m else (
            f"{h12}", f"{list(NUMBERS)[h12]} o'clock")
        written = [a["time"], clock + suffix, f"{clock} {suffix}", word]
        if (h, m) == (12, 0):
            written.append("noon")
        assert any(w in text for w in written), (text, written)


def test_weekdays_are_real_and_years_are_2027(requests) -> None:
    checked = 0
    for r in all_records(requests):
        text, a = request_text(r["prompt"]), json.loads(r["answer"])
        date = dt.date.fromisoformat(a["date"])
        for weekday in WEEKDAYS:
            if weekday in text:
                assert weekday == WEEKDAYS[date.weekday()], text
                checked += 1
        assert all(year == "2027" for year in re.findall(r"\b\d{4}\b", text)), text
    assert checked > 100


def test_all_templates_appear_in_train_evenly(requests) -> None:
    assert len(build.REQUEST_TEMPLATES) >= 10
    counts = {t: 0 for t in build.REQUEST_TEMPLATES}
    for r in requests["train"]:
        counts[r["template"]] += 1
    assert set(counts.values()) == {600 // len(build.REQUEST_TEMPLATES)}
    for split in ("validation", "test"):
        assert {r["template"] for r in requests[split]} == set(build.REQUEST_TEMPLATES)


def test_every_form_and_value_is_used(requests) -> None:
    answers = [json.loads(r["answer"]) for r in requests["train"]]
    assert {a["party_size"] for a in answers} == set(range(1, 13))
    assert {a["seating"] for a in answers} == {"indoor", "outdoor", "bar", None}
    texts = [request_text(r["prompt"]) for r in requests["train"]]
    assert any("just me" in t for t in texts)
    assert any("noon" in t for t in texts) and any("half past" in t for t in texts)
    assert any(re.search(r"\b(1[3-9]|2[0-2]):[03]0\b", t) for t in texts)


def test_names_are_sixty_distinct_non_words() -> None:
    assert len(build.NAMES) == len(set(build.NAMES)) == 60
    for name in build.NAMES:
        assert name not in MONTHS and name not in WEEKDAYS and name.isalpha()


def test_form_examples() -> None:
    date = dt.date(2027, 3, 3)
    assert {k: f(date) for k, f in build.REQUEST_DATE_FORMS.items()} == {
        "month_ordinal": "March 3rd",
        "day_month": "3 March",
        "the_ordinal_of": "the 3rd of March",
        "weekday_full": "Wednesday 3 March 2027",
        "weekday_ordinal": "Wednesday, March 3rd",
        "month_day_year": "March 3, 2027",
    }
    cases = {(19, 30): ("7:30pm", "7:30 pm", "19:30", "half past seven in the evening"),
             (12, 0): ("12 noon", "12 noon", "12:00", "noon"),
             (11, 30): ("11:30am", "11:30 am", "11:30", "half past eleven in the morning"),
             (12, 30): ("12:30pm", "12:30 pm", "12:30", "half past twelve in the afternoon"),
             (22, 0): ("10pm", "10 pm", "22:00", "ten o'clock in the evening")}
    for (h, m), expected in cases.items():
        assert tuple(f(h, m) for f in build.REQUEST_TIME_FORMS.values()) == expected
        for text in expected:
            assert read_time(f"at {text}.") == f"{h:02d}:{m:02d}"
    assert build.TIMES[0] == (11, 30) and build.TIMES[-1] == (22, 0) and len(build.TIMES) == 22


def test_reader_on_the_brief_example() -> None:
    text = ("Hi, this is Priya, could I get a table for four on 3 March at 7:30 pm, "
            "outside if possible?")
    assert read_request(text) == {"name": "Priya", "party_size": 4, "date": "2027-03-03",
                                  "time": "19:30", "seating": "outdoor"}
