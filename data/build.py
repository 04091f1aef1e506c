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

``debian_sections`` (real text, built only with ``--debian-sections``)
    Topic classification (chapter 9): the one-line description a Debian
    maintainer wrote for a package, labelled with its archive Section (games,
    graphics, net, science, sound). Read from the package index that
    ``apt-get update`` fetches, pinned by its SHA-256; one record per source
    package, near-duplicates and placeholder descriptions removed.

``requests``
    Booking extraction (chapter 3 and later): turn a short free-text restaurant
    booking request ("Hi, this is Priya, could I get a table for four on 3
    March at 7:30 pm, outside if possible?") into one line of JSON with the
    keys name, party_size, date, time and seating, scored field by field.
    No two records share a request text or a (name, date, time) triple.

Importing this module has no side effects; only ``main()`` writes files.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gzip
import hashlib
import json
import lzma
import random
import re
import subprocess
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
    "REQUESTS_SIZES",
    "REQUESTS_YEAR",
    "REQUESTS_INSTRUCTION",
    "REQUEST_KEYS",
    "SEATINGS",
    "PARTY_MIN",
    "PARTY_MAX",
    "NAMES",
    "NUMBER_WORDS",
    "TIMES",
    "REQUEST_DATE_FORMS",
    "REQUEST_TIME_FORMS",
    "SEATING_SENTENCES",
    "SEATING_CLAUSES",
    "SEATING_TERSE",
    "REQUEST_TEMPLATES",
    "request_parts",
    "request_answer",
    "requests_prompt",
    "sample_booking",
    "build_requests",
    "build_dataset",
    "DEBIAN_CLASSES",
    "DEBIAN_SPLITS",
    "DEBIAN_INDEX_SHA256",
    "debian_index_path",
    "read_debian_index",
    "parse_deb822",
    "description_key",
    "debian_candidates",
    "build_debian_sections",
    "write_debian_sections",
    "to_jsonl",
    "write_dataset",
    "INSTRUCTIONS_SPLITS",
    "PHRASINGS",
    "TRAIN_TASKS",
    "HELD_OUT_TASK",
    "UNIT_FACTORS",
    "GENERAL_QUESTIONS",
    "FORTUNES_DEB_SHA256",
    "format_number",
    "unit_conversion",
    "homepage_domain",
    "debian_field_records",
    "build_instructions",
    "fortune_texts",
    "build_general",
    "write_instructions",
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
# The "requests" dataset
# ---------------------------------------------------------------------------

REQUESTS_SIZES = {"train": 600, "validation": 60, "test": 120}
REQUESTS_YEAR = 2027
REQUESTS_INSTRUCTION = (
    "Extract the booking as JSON with keys name, party_size (an integer), "
    f"date (YYYY-MM-DD; every date is in {REQUESTS_YEAR}), time (24-hour HH:MM) "
    "and seating (indoor, outdoor, bar, or null if not said). "
    "Reply with the JSON only."
)
REQUEST_KEYS = ("name", "party_size", "date", "time", "seating")
SEATINGS = ("indoor", "outdoor", "bar")
PARTY_MIN, PARTY_MAX = 1, 12

# Sixty first names from many languages.  None of them is also an English
# word, a month or a weekday ("May", "Grace", "Will" are left out on purpose),
# and none is a whole word inside another.
NAMES = (
    "Aisha", "Amara", "Amira", "Ana", "Anika", "Arjun", "Bruno", "Chen",
    "Chloe", "Clara", "Daniel", "Diego", "Elena", "Emma", "Ethan", "Eva",
    "Farah", "Fatima", "Felix", "Finn", "Freya", "Hana", "Hugo", "Ibrahim",
    "Ines", "Ingrid", "Jonas", "Julia", "Kai", "Kenji", "Kofi", "Kwame",
    "Lars", "Leila", "Liam", "Lucia", "Luca", "Malik", "Mateo", "Maya",
    "Mei", "Nadia", "Naomi", "Nina", "Noah", "Olga", "Oliver", "Omar",
    "Pablo", "Priya", "Rahul", "Ravi", "Samuel", "Santiago", "Sara", "Sofia",
    "Tariq", "Theo", "Yara", "Yusuf",
)
NUMBER_WORDS = (
    "zero", "one", "two", "three", "four", "five", "six",
    "seven", "eight", "nine", "ten", "eleven", "twelve",
)
# Bookable times: every half hour from 11:30 to 22:00, as (hour, minute).
TIMES = tuple((h, m) for h in range(11, 23) for m in (0, 30) if (11, 30) <= (h, m) <= (22, 0))


def _date_ordinal(d: dt.date) -> str:
    return f"{MONTHS[d.month - 1]} {ordinal(d.day)}"


# How a booking date is written.  The year, when given, is always 2027, and
# the weekday, when given, is the real one.
REQUEST_DATE_FORMS: dict[str, Callable[[dt.date], str]] = {
    "month_ordinal": _date_ordinal,  # March 3rd
    "day_month": lambda d: f"{d.day} {MONTHS[d.month - 1]}",  # 3 March
    "the_ordinal_of": lambda d: f"the {ordinal(d.day)} of {MONTHS[d.month - 1]}",
    "weekday_full": lambda d: (  # Wednesday 3 March 2027
        f"{WEEKDAYS[d.weekday()]} {d.day} {MONTHS[d.month - 1]} {d.year}"
    ),
    "weekday_ordinal": lambda d: f"{WEEKDAYS[d.weekday()]}, {_date_ordinal(d)}",
    "month_day_year": lambda d: f"{MONTHS[d.month - 1]} {d.day}, {d.year}",
}


def _hour12(h: int, m: int, space: str) -> str:
    """'7pm', '7:30 pm', '11:30am', '12:30pm'; 12:00 is '12 noon'."""
    if (h, m) == (12, 0):
        return "12 noon"
    minutes = f":{m:02d}" if m else ""
    suffix = "am" if h < 12 else "pm"
    return f"{(h - 1) % 12 + 1}{minutes}{space}{suffix}"


def _time_words(h: int, m: int) -> str:
    """'seven o'clock in the evening', 'half past eleven in the morning', 'noon'."""
    if (h, m) == (12, 0):
        return "noon"
    part = "morning" if h < 12 else "afternoon" if h < 18 else "evening"
    hour = NUMBER_WORDS[(h - 1) % 12 + 1]
    said = f"half past {hour}" if m else f"{hour} o'clock"
    return f"{said} in the {part}"


# How a booking time is written; each form names exactly one HH:MM.
REQUEST_TIME_FORMS: dict[str, Callable[[int, int], str]] = {
    "h12": lambda h, m: _hour12(h, m, ""),  # 7pm, 7:30pm
    "h12_space": lambda h, m: _hour12(h, m, " "),  # 7 pm, 7:30 pm
    "h24": lambda h, m: f"{h:02d}:{m:02d}",  # 19:30
    "words": _time_words,  # half past seven in the evening
}

# Seating, said as a sentence of its own ("{We}" is "We", or "I" for one
# person; "{Seats}" is "Seats", or "A seat"), as a trailing clause, or as one
# word in a terse list.
SEATING_SENTENCES = {
    "indoor": ("{We}'d like to sit inside.", "An indoor table, please.", "Indoors, please."),
    "outdoor": ("{We}'d like to sit outside.", "An outdoor table, please.", "Outside, please."),
    "bar": (
        "{We}'d like to sit at the bar.", "{Seats} at the bar, please.", "Bar seating, please."
    ),
}
SEATING_CLAUSES = {
    "indoor": (", inside if possible", ", indoors if possible"),
    "outdoor": (", outside if possible", ", outdoors if possible"),
    "bar": (", at the bar if possible", ", bar seats if possible"),
}
SEATING_TERSE = {"indoor": ", inside", "outdoor": ", outside", "bar": ", at the bar"}

# The request templates.  Each fills slots chosen by ``request_parts``:
# {name} {date} {time}; the party size as {table} "a table for four (people)",
# {people} "four people", {party_of} "a party of four", {we_are} "there will
# be four of us" / "it's just me"; {we} "we" or "I"; seating as {seat_s}
# (" Sentence." or ""), {seat_c} (", clause" or "") or {seat_t} (", word" or "").
# A capitalised slot ({Table}, {We_are}) starts a sentence.
REQUEST_TEMPLATES: dict[str, str] = {
    "hi_this_is": "Hi, this is {name}, could I get {table} on {date} at {time}{seat_c}?",
    "table_first": "{Table} on {date} at {time}, please. The name is {name}.{seat_s}",
    "can_you_book": "Can you book {people} in at {time} on {date}?{seat_s} Name: {name}.",
    "name_here": "{name} here. {We_are}, and {we}'d love a table at {time} on {date}{seat_c}.",
    "reserve_under": (
        "I'd like to reserve {table} for {date} at {time}, under the name {name}.{seat_s}"
    ),
    "terse": "Booking: {name}, {party_of_bare}, {date}, {time}{seat_t}.",
    "date_first": "On {date} at {time}, {we}'d like {table}. Booking name: {name}.{seat_s}",
    "please_reserve": (
        "Please reserve a table at {time} on {date} for {name}, {party_of}.{seat_s}"
    ),
    "room_for": "Do you have room for {people} at {time} on {date}?{seat_s} My name is {name}.",
    "third_person": "Quick request: {name} would like {table} on {date} at {time}{seat_c}.",
    "hello_im": "Hello, I'm {name} and I need {table} at {time} on {date}.{seat_s}",
    "for_date": (
        "For {date}: {we_are}, arriving at {time}.{seat_s} Please book it under {name}."
    ),
}


def _capitalise(text: str) -> str:
    return text[:1].upper() + text[1:]


def request_parts(rng: random.Random, booking: dict) -> dict[str, str]:
    """Choose a written form for every field of ``booking``; return the slots."""
    n = booking["party_size"]
    number = NUMBER_WORDS[n] if rng.random() < 0.5 else str(n)
    people = f"{number} {'person' if n == 1 else 'people'}"
    table = f"a table for {people}" if rng.random() < 0.3 else f"a table for {number}"
    if n == 1:
        we_are = "it's just me"
    else:
        we_are = rng.choice(
            (f"there will be {number} of us", f"we are a group of {number}", f"we'll be {number}")
        )
    we = "I" if n == 1 else "we"
    date = dt.date.fromisoformat(booking["date"])
    hour, minute = (int(x) for x in booking["time"].split(":"))
    date_form = rng.choice(list(REQUEST_DATE_FORMS))
    time_form = rng.choice(list(REQUEST_TIME_FORMS))
    seating = booking["seating"]
    seat_s = seat_c = seat_t = ""
    if seating is not None:
        sentence = rng.choice(SEATING_SENTENCES[seating])
        seat_s = " " + sentence.format(We=_capitalise(we), Seats="A seat" if n == 1 else "Seats")
        seat_c = rng.choice(SEATING_CLAUSES[seating])
        seat_t = SEATING_TERSE[seating]
    return {
        "name": booking["name"],
        "date": REQUEST_DATE_FORMS[date_form](date),
        "time": REQUEST_TIME_FORMS[time_form](hour, minute),
        "table": table,
        "Table": _capitalise(table),
        "people": people,
        "party_of": f"a party of {number}",
        "party_of_bare": f"party of {number}",
        "we_are": we_are,
        "We_are": _capitalise(we_are),
        "we": we,
        "seat_s": seat_s,
        "seat_c": seat_c,
        "seat_t": seat_t,
    }


def request_answer(booking: dict) -> str:
    """The canonical JSON answer: keys in REQUEST_KEYS order, one line."""
    record = {key: booking[key] for key in REQUEST_KEYS}
    return json.dumps(record, ensure_ascii=False, separators=(", ", ": "))


def requests_prompt(text: str) -> str:
    """Build the prompt: the instruction, then the request on its own line."""
    return f"{REQUESTS_INSTRUCTION}\nRequest: {text}"


def sample_booking(rng: random.Random) -> dict:
    """Draw one booking: every field uniform; seating is null two times in five."""
    day = dt.date(REQUESTS_YEAR, 1, 1) + dt.timedelta(days=rng.randrange(365))
    hour, minute = rng.choice(TIMES)
    return {
        "name": rng.choice(NAMES),
        "party_size": rng.randint(PARTY_MIN, PARTY_MAX),
        "date": day.isoformat(),
        "time": f"{hour:02d}:{minute:02d}",
        "seating": rng.choice((None, None) + SEATINGS),
    }


def build_requests(rng: random.Random) -> Splits:
    """Build the booking-extraction splits.

    No two records, in any splits, share a request text or a (name, date,
    time) triple: a draw that repeats one is thrown away and drawn again.
    """
    seen_texts: set[str] = set()
    seen_keys: set[tuple[str, str, str]] = set()
    names = list(REQUEST_TEMPLATES)
    splits: Splits = {}
    for split in SPLITS:
        size = REQUESTS_SIZES[split]
        templates = [names[i % len(names)] for i in range(size)]
        rng.shuffle(templates)
        records = []
        for i, template in enumerate(templates):
            while True:
                booking = sample_booking(rng)
                text = REQUEST_TEMPLATES[template].format(**request_parts(rng, booking))
                key = (booking["name"], booking["date"], booking["time"])
                if text not in seen_texts and key not in seen_keys:
                    break
            seen_texts.add(text)
            seen_keys.add(key)
            records.append({
                "id": f"requests-{split}-{i:04d}",
                "prompt": requests_prompt(text),
                "answer": request_answer(booking),
                "template": template,
            })
        splits[split] = records
    return splits


# ---------------------------------------------------------------------------
# The "debian_sections" dataset: real text (chapter 9)
# ---------------------------------------------------------------------------
# Unlike the datasets above, this one is not synthetic: each record is the
# one-line description a Debian maintainer wrote for a package, labelled with
# the package's archive Section. It is built from the Debian package index
# that `apt-get update` fetches, pinned by its SHA-256, and only when asked
# (`python data/build.py --debian-sections`): the committed JSONL files are
# what the book uses, so nothing is fetched at book-build or test time.

DEBIAN_NAME = "debian_sections"
DEBIAN_CLASSES = ("games", "graphics", "net", "science", "sound")
DEBIAN_RELEASE = "Debian 12.15 (bookworm), main, binary-amd64"
DEBIAN_INDEX = "deb.debian.org_debian_dists_bookworm_main_binary-amd64_Packages"
DEBIAN_INDEX_SHA256 = "515e692f2c4121c6fcec444ef100cc18f79a991910615f3a88c8b7becfc94d2f"
DEBIAN_INDEX_DATE = "Sat, 11 Jul 2026 10:16:37 UTC"  # Date of the signed InRelease file
DEBIAN_PER_CLASS = {"test": 100, "validation": 20, "train": 240}  # drawn per class, in this order
DEBIAN_SMALL_PER_CLASS = 19  # test_small: 5 x 19 = 95 items, a subset of test
DEBIAN_SPLITS = ("train", "validation", "test", "test_small")
DEBIAN_NEAR_DUPLICATE = 0.6  # word-set Jaccard similarity at or above which two descriptions are one
# Companion packages whose one-line description says what kind of file they hold, not what the
# software does: they would teach "the word 'data' means games" rather than the topic.
DEBIAN_PLACEHOLDER = re.compile(
    r"\btransitional\b|\bdummy\b|\bmeta-?package\b|\bdebug(?:ging)? symbols\b|\bdocumentation\b"
    r"|\bdocs\b|\bman(?:ual)? pages?\b|\bdata files?\b|\(data\)|\bcommon files\b|\bshared files\b"
    r"|\barch(?:itecture)?[- ]independent\b|\bdevelopment files\b|\bheader files\b|\bstatic librar",
    re.IGNORECASE,
)


def debian_index_path(lists: Path = Path("/var/lib/apt/lists")) -> Path:
    """The bookworm main amd64 ``Packages`` index that apt keeps (any compression)."""
    for suffix in ("", ".lz4", ".xz", ".gz"):
        path = lists / (DEBIAN_INDEX + suffix)
        if path.is_file():
            return path
    raise FileNotFoundError(
        f"{lists / DEBIAN_INDEX}[.lz4|.xz|.gz] not found: run `apt-get update` on Debian 12 (bookworm), "
        "or pass --packages PATH to the uncompressed index"
    )


def read_debian_index(path: Path) -> str:
    """The text of a ``Packages`` index, decompressed (lz4 through the ``lz4cat`` tool apt depends on)."""
    if path.suffix == ".lz4":
        data = subprocess.run(["lz4cat", str(path)], check=True, capture_output=True).stdout
    elif path.suffix == ".xz":
        data = lzma.decompress(path.read_bytes())
    elif path.suffix == ".gz":
        data = gzip.decompress(path.read_bytes())
    else:
        data = path.read_bytes()
    return data.decode("utf-8")


def parse_deb822(text: str) -> list[dict[str, str]]:
    """Parse stanzas of ``Field: value`` lines; continuation lines (leading space) are dropped."""
    stanzas = []
    for block in text.split("\n\n"):
        fields = {}
        for line in block.splitlines():
            if line and not line[0].isspace() and ":" in line:
                key, _, value = line.partition(":")
                fields[key] = value.strip()
        if fields:
            stanzas.append(fields)
    return stanzas


def description_key(text: str) -> str:
    """A description reduced for duplicate detection: lower case, no brackets, punctuation or numbers."""
    text = re.sub(r"\([^)]*\)", " ", text.lower())
    return " ".join(w for w in re.findall(r"[a-z0-9+]+", text) if not w.isdigit())


def _jaccard(a: set[str], b: set[str]) -> float:
    return len(a & b) / len(a | b) if a | b else 1.0


def debian_candidates(stanzas: list[dict[str, str]]) -> tuple[list[Record], dict[str, int]]:
    """One record per source package of the chosen sections, and how many were removed, by reason.

    A source package (``Source:``, else the package itself) builds several binary packages
    whose descriptions repeat each other; keeping one per source, and splitting by source,
    keeps those siblings out of each other's splits. Only ``Description`` (the one-line
    synopsis) and ``Section`` are read: ``Tag`` would leak the label (``game::...``).
    """
    removed = {"binary packages in other sections": 0, "empty description": 0,
               "placeholder description": 0, "sibling binary of a kept source": 0,
               "near-duplicate description": 0, "duplicate with a different label": 0}
    by_source: dict[str, list[dict[str, str]]] = {}
    for s in stanzas:
        if s.get("Section") not in DEBIAN_CLASSES:
            removed["binary packages in other sections"] += 1
        elif not s.get("Description", "").strip():
            removed["empty description"] += 1
        elif DEBIAN_PLACEHOLDER.search(s["Description"]):
            removed["placeholder description"] += 1
        else:
            source = s.get("Source", s["Package"]).split()[0]
            by_source.setdefault(source, []).append(s)
    records = []
    for source in sorted(by_source):
        binaries = sorted(by_source[source], key=lambda s: (s["Package"] != source, s["Package"]))
        removed["sibling binary of a kept source"] += len(binaries) - 1
        keep = binaries[0]
        records.append({"id": keep["Package"], "text": " ".join(keep["Description"].split()),
                        "label": keep["Section"], "source": source})
    # Near-duplicates across sources: the same key, or word sets with Jaccard >= the threshold.
    words = [set(description_key(r["text"]).split()) for r in records]
    groups = list(range(len(records)))  # union-find over near-duplicate pairs

    def find(i: int) -> int:
        while groups[i] != i:
            groups[i] = groups[groups[i]]
            i = groups[i]
        return i

    index: dict[str, list[int]] = {}
    for i, w in enumerate(words):
        for token in w:
            index.setdefault(token, []).append(i)
    for i, w in enumerate(words):
        candidates = {j for token in w for j in index[token] if j > i}
        for j in sorted(candidates):
            if _jaccard(w, words[j]) >= DEBIAN_NEAR_DUPLICATE:
                groups[find(j)] = find(i)
    clusters: dict[int, list[int]] = {}
    for i in range(len(records)):
        clusters.setdefault(find(i), []).append(i)
    kept = []
    for members in clusters.values():
        labels = {records[i]["label"] for i in members}
        if len(labels) > 1:
            removed["duplicate with a different label"] += len(members)
            continue
        removed["near-duplicate description"] += len(members) - 1
        kept.append(records[min(members)])  # the first source in sorted order
    kept.sort(key=lambda r: r["source"])
    return kept, removed


def build_debian_sections(index_text: str, seed: int = SEED) -> tuple[dict[str, list[Record]], dict]:
    """The splits of the Debian topic-classification set, and a record of how they were made.

    Per class, sources are shuffled and dealt out: 100 to test, 20 to validation, 240 to train
    (the smallest class, graphics, has about 250; the largest four times that: the cap keeps
    the classes balanced). ``test_small`` is 19 test items per class (95 in all), the size of
    the test set in the circulating claim that chapter 9 checks.
    """
    records, removed = debian_candidates(parse_deb822(index_text))
    rng = dataset_rng(DEBIAN_NAME, seed)
    splits: dict[str, list[Record]] = {split: [] for split in DEBIAN_SPLITS}
    for label in DEBIAN_CLASSES:
        pool = [r for r in records if r["label"] == label]
        rng.shuffle(pool)
        start = 0
        for split in ("test", "validation", "train"):
            size = DEBIAN_PER_CLASS[split]
            if len(pool) < start + size:
                raise ValueError(f"class {label!r} has {len(pool)} sources, fewer than the splits need")
            splits[split] += pool[start : start + size]
            start += size
        removed["beyond the train cap"] = removed.get("beyond the train cap", 0) + len(pool) - start
        splits["test_small"] += rng.sample(pool[: DEBIAN_PER_CLASS["test"]], DEBIAN_SMALL_PER_CLASS)
    for split in DEBIAN_SPLITS:
        rng.shuffle(splits[split])
    info = {
        "source": DEBIAN_RELEASE, "index": DEBIAN_INDEX, "index_date": DEBIAN_INDEX_DATE,
        "index_sha256": hashlib.sha256(index_text.encode("utf-8")).hexdigest(),
        "classes": list(DEBIAN_CLASSES), "removed": removed,
        "sizes": {split: {label: sum(r["label"] == label for r in splits[split]) for label in DEBIAN_CLASSES}
                  for split in DEBIAN_SPLITS},
    }
    return splits, info


def write_debian_sections(out: Path, index_path: Path | None = None) -> list[Path]:
    """Build the Debian set from apt's index and write ``out/debian_sections/*.jsonl`` and ``source.json``.

    Raises:
        FileNotFoundError: when the index is not there (run ``apt-get update`` on Debian 12).
        ValueError: when the index is not the pinned one (another point release or date): the
            records would differ from the committed files, so the build refuses to overwrite them.
    """
    index_path = index_path or debian_index_path()
    text = read_debian_index(index_path)
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
    if digest != DEBIAN_INDEX_SHA256:
        raise ValueError(
            f"{index_path}: SHA-256 {digest} is not the pinned index of {DEBIAN_RELEASE} "
            f"({DEBIAN_INDEX_SHA256}); another release or point release gives other records"
        )
    splits, info = build_debian_sections(text)
    folder = out / DEBIAN_NAME
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for split in DEBIAN_SPLITS:
        path = folder / f"{split}.jsonl"
        with path.open("w", encoding="utf-8", newline="\n") as f:
            f.write(to_jsonl(splits[split]))
        print(f"{path}: {len(splits[split])} records")
        paths.append(path)
    path = folder / "source.json"
    path.write_text(json.dumps(info, indent=1) + "\n", encoding="utf-8")
    return [*paths, path]


# ---------------------------------------------------------------------------
# The "instructions" set and the "general" probe (chapter 10)
# ---------------------------------------------------------------------------

INSTRUCTIONS_NAME = "instructions"
INSTRUCTIONS_SPLITS = ("train", "validation", "test", "test_phrasing", "test_task")
INSTRUCTIONS_PER_TASK = {"train": 150, "validation": 20, "test": 20}  # for each training task
INSTRUCTIONS_HELD_OUT_TASK_SIZE = 80  # test_task: the unit conversions, a task no split trains on
FIELDS_PER_DOMAIN = 2  # at most this many homepage questions share an answer, so no one host answers many
INSTRUCTIONS_TRAIN_PHRASINGS = 3  # the first three phrasings of each task train; the fourth is held out

# Four phrasings of each task's instruction. The input line that follows is the task's own.
PHRASINGS: dict[str, tuple[str, ...]] = {
    "dates": (
        "Rewrite this date in ISO 8601 format (YYYY-MM-DD). Reply with the date only.",
        "Convert the date below to YYYY-MM-DD. Give only the converted date.",
        "Write the following date as year-month-day with digits (YYYY-MM-DD), nothing else.",
        "What is this date in ISO 8601 notation? Answer with just YYYY-MM-DD.",
    ),
    "requests": (
        "Extract the booking as JSON with keys name, party_size (an integer), date (YYYY-MM-DD; every "
        "date is in 2027), time (24-hour HH:MM) and seating (indoor, outdoor, bar, or null if not said). "
        "Reply with the JSON only.",
        "Turn this restaurant request into one JSON object with the keys name, party_size (integer), "
        "date (YYYY-MM-DD, year 2027), time (HH:MM, 24-hour clock) and seating (indoor, outdoor, bar or "
        "null). Output only the JSON.",
        "Read the booking request and return JSON: name, party_size as an integer, date as YYYY-MM-DD "
        "(the year is 2027), time as 24-hour HH:MM, seating as indoor, outdoor, bar or null when not "
        "given. No other text.",
        "Fill in a JSON record for this reservation with fields name, party_size (a whole number), date "
        "(YYYY-MM-DD in 2027), time (HH:MM on a 24-hour clock) and seating (indoor, outdoor, bar, or "
        "null if unspecified). Respond with the JSON alone.",
    ),
    "sections": (
        "Which Debian archive section does this package belong to? Answer with one word: games, "
        "graphics, net, science or sound.",
        "Classify the Debian package by its description into one of: games, graphics, net, science, "
        "sound. Reply with the section only.",
        "Pick the section of the Debian archive for this package (games, graphics, net, science or "
        "sound). Give just the section name.",
        "Here is a Debian package description. Name its section, choosing from games, graphics, net, "
        "science and sound, and write nothing else.",
    ),
    "fields": (
        "Give the domain name of this package's homepage (the host part of the URL, without www.). "
        "Reply with the domain only.",
        "What host does the Homepage field of this Debian package point to? Leave out any www. prefix "
        "and answer with the host alone.",
        "From the package record below, extract the homepage's domain (no scheme, no path, no "
        "leading www.). Output only the domain.",
        "Read the Debian package stanza and tell me which domain its homepage is on (drop http(s)://, "
        "www. and the path). Just the domain, please.",
    ),
    "units": (
        "Convert the quantity to the unit asked for. Reply with the number and the unit only.",
        "Express this amount in the requested unit. Give only the number followed by the unit.",
        "Do the unit conversion below and answer with just the result and its unit.",
        "How much is this in the target unit? Write the number and the unit symbol, nothing else.",
    ),
}
TRAIN_TASKS = ("dates", "requests", "sections", "fields")
HELD_OUT_TASK = "units"

# Exact conversion factors between metric (and time) units: (from, to, factor), both ways.
UNIT_FACTORS = (
    ("km", "m", 1000), ("m", "cm", 100), ("cm", "mm", 10), ("m", "mm", 1000),
    ("kg", "g", 1000), ("g", "mg", 1000), ("L", "mL", 1000),
    ("h", "min", 60), ("min", "s", 60), ("day", "h", 24),
)


def format_number(x: float) -> str:
    """A number as a person writes it: no trailing zeros, no trailing point (3500, 0.25, 7.5)."""
    text = f"{x:.6f}".rstrip("0").rstrip(".")
    return text if text != "-0" else "0"


def unit_conversion(rng: random.Random) -> tuple[str, str]:
    """One conversion question and its answer, for example ``("Convert 3.5 km to m.", "3500 m")``."""
    big, small, factor = rng.choice(UNIT_FACTORS)
    if rng.random() < 0.5:  # big to small: multiply a number with at most one decimal
        value = rng.choice([rng.randint(1, 99), rng.randint(10, 999) / 10])
        source, target, result = big, small, value * factor
    else:  # small to big: a multiple of factor / 10, so the answer has at most two decimals
        value = rng.randint(1, 120) * max(1, factor // 10)
        source, target, result = small, big, value / factor
    return f"Convert {format_number(value)} {source} to {target}.", f"{format_number(result)} {target}"


def homepage_domain(url: str) -> str | None:
    """The host of a homepage URL, lower case, without ``www.`` (None when there is no host)."""
    match = re.match(r"^[a-z]+://([^/:?#]+)", url.strip(), flags=re.IGNORECASE)
    if not match:
        return None
    host = match.group(1).lower().rstrip(".")
    return host[4:] if host.startswith("www.") else host


def debian_field_records(stanzas: list[dict[str, str]]) -> list[Record]:
    """One homepage-domain question per source package: a short stanza and the domain it points to.

    The stanza keeps four fields (Package, Version, Maintainer, Homepage) so that the answer has
    distractors (the maintainer's e-mail domain, the version) but the prompt stays short.
    """
    seen: set[str] = set()
    records = []
    for s in stanzas:
        source = s.get("Source", s.get("Package", "")).split(" ")[0]
        domain = homepage_domain(s.get("Homepage", ""))
        if not source or source in seen or not domain or not s.get("Maintainer"):
            continue
        seen.add(source)
        stanza = "\n".join(f"{k}: {s[k]}" for k in ("Package", "Version", "Maintainer", "Homepage"))
        records.append({"input": stanza, "answer": domain, "source": source})
    return records


def _load_committed(out: Path, name: str, split: str) -> list[dict]:
    path = out / name / f"{split}.jsonl"
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: build {name} first")
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def instruction_inputs(out: Path, index_text: str, rng: random.Random) -> dict[str, dict[str, list[Record]]]:
    """The inputs and answers of each task, by source split: ``{task: {split: [{input, answer, source}]}}``.

    Dates, booking requests and Debian sections are the committed records of their own datasets
    (their prompt's input line, their answer), so no test item of theirs was ever a training item;
    the homepage questions are split by source package; the unit conversions are all test items.
    """
    tasks: dict[str, dict[str, list[Record]]] = {}
    for task, name in (("dates", "dates"), ("requests", "requests")):
        tasks[task] = {}
        for split in SPLITS:
            tasks[task][split] = [
                {"input": r["prompt"].split("\n", 1)[1], "answer": r["answer"], "source": r["id"]}
                for r in _load_committed(out, name, split)
            ]
    tasks["sections"] = {
        split: [{"input": f"Description: {r['text']}", "answer": r["label"], "source": r["source"]}
                for r in _load_committed(out, DEBIAN_NAME, split)]
        for split in SPLITS
    }
    fields = debian_field_records(parse_deb822(index_text))
    rng.shuffle(fields)
    per_domain: dict[str, int] = {}
    kept = []
    for record in fields:  # a few hosts (github.com) hold a third of the homepages: cap each one
        per_domain[record["answer"]] = per_domain.get(record["answer"], 0) + 1
        if per_domain[record["answer"]] <= FIELDS_PER_DOMAIN:
            kept.append(record)
    fields = kept
    sizes = INSTRUCTIONS_PER_TASK
    tasks["fields"] = {"test": fields[: sizes["test"]],
                       "validation": fields[sizes["test"] : sizes["test"] + sizes["validation"]],
                       "train": fields[sizes["test"] + sizes["validation"] : sum(sizes.values())]}
    questions = {}
    while len(questions) < INSTRUCTIONS_HELD_OUT_TASK_SIZE:
        question, answer = unit_conversion(rng)
        questions.setdefault(question, answer)
    tasks["units"] = {"test": [{"input": q, "answer": a, "source": q} for q, a in questions.items()]}
    return tasks


def build_instructions(out: Path, index_text: str, seed: int = SEED) -> dict[str, list[Record]]:
    """The multi-task instruction set of chapter 10, split so that generalisation can be measured.

    - ``train``, ``validation``, ``test``: the four training tasks, each prompt in one of the
      task's first three phrasings (drawn at random);
    - ``test_phrasing``: the *same* test items, each in the task's fourth phrasing, which no
      training prompt uses (a paired comparison: only the wording changed);
    - ``test_task``: unit conversion, a task type absent from every training split, in all four
      of its phrasings.
    """
    rng = dataset_rng(INSTRUCTIONS_NAME, seed)
    tasks = instruction_inputs(out, index_text, rng)
    splits: dict[str, list[Record]] = {split: [] for split in INSTRUCTIONS_SPLITS}
    for task in TRAIN_TASKS:
        for split in SPLITS:
            items = list(tasks[task][split])
            rng.shuffle(items)
            for i, item in enumerate(items[: INSTRUCTIONS_PER_TASK[split]]):
                k = rng.randrange(INSTRUCTIONS_TRAIN_PHRASINGS)
                record = {"id": f"{task}-{split}-{i:03d}", "task": task, "phrasing": k,
                          "prompt": f"{PHRASINGS[task][k]}\n{item['input']}", "answer": item["answer"],
                          "source": item["source"]}  # fmt: skip
                splits[split].append(record)
                if split == "test":
                    held_out = len(PHRASINGS[task]) - 1
                    splits["test_phrasing"].append({
                        **record, "phrasing": held_out, "prompt": f"{PHRASINGS[task][held_out]}\n{item['input']}"
                    })
    for i, item in enumerate(tasks[HELD_OUT_TASK]["test"]):
        k = i % len(PHRASINGS[HELD_OUT_TASK])
        splits["test_task"].append({"id": f"units-test-{i:03d}", "task": HELD_OUT_TASK, "phrasing": k,
                                    "prompt": f"{PHRASINGS[HELD_OUT_TASK][k]}\n{item['input']}",
                                    "answer": item["answer"], "source": item["source"]})  # fmt: skip
    rng.shuffle(splits["train"])
    return splits


# General English for the forgetting probe: Debian's fortunes-min package (BSD licence).
FORTUNES_PACKAGE = "fortunes-min"
FORTUNES_VERSION = "1:1.99.1-7.3"
FORTUNES_DEB_SHA256 = "9eed5b45064e41133dae0967cf3a17588ad77c014fcc7bf1527fa3ea48e44d07"
GENERAL_PROBE_SIZE = 80  # literary quotations: the probe's held-out text
GENERAL_WORDS = (8, 80)  # a text is kept when it has this many words (inclusive)

# Short general questions that no tuning task touches. Chapter 10 keeps the ones the base model
# answers exactly, greedily, before any tuning: the probe counts how many survive the tuning.
GENERAL_QUESTIONS: tuple[tuple[str, str], ...] = (
    *((f"What is the capital of {country}? Answer with one word.", city) for country, city in (
        ("France", "Paris"), ("Germany", "Berlin"), ("Italy", "Rome"), ("Spain", "Madrid"),
        ("Japan", "Tokyo"), ("Russia", "Moscow"), ("Egypt", "Cairo"), ("Greece", "Athens"),
        ("Portugal", "Lisbon"), ("Austria", "Vienna"), ("Norway", "Oslo"), ("Sweden", "Stockholm"),
        ("Ireland", "Dublin"), ("Poland", "Warsaw"), ("Canada", "Ottawa"), ("Kenya", "Nairobi"),
        ("Peru", "Lima"), ("China", "Beijing"), ("England", "London"), ("Finland", "Helsinki"),
    )),
    *((f"What is the opposite of '{word}'? Answer with one word.", opposite) for word, opposite in (
        ("hot", "cold"), ("up", "down"), ("big", "small"), ("day", "night"), ("fast", "slow"),
        ("happy", "sad"), ("open", "closed"), ("light", "dark"), ("old", "young"), ("wet", "dry"),
        ("early", "late"), ("full", "empty"), ("hard", "soft"), ("rich", "poor"), ("win", "lose"),
        ("left", "right"), ("black", "white"), ("push", "pull"), ("begin", "end"), ("true", "false"),
    )),
    *((f"What is the plural of '{word}'? Answer with one word.", plural) for word, plural in (
        ("child", "children"), ("mouse", "mice"), ("foot", "feet"), ("tooth", "teeth"), ("man", "men"),
        ("woman", "women"), ("goose", "geese"), ("person", "people"), ("box", "boxes"), ("city", "cities"),
    )),
    *((f"What is {a} plus {b}? Answer with a number.", str(a + b)) for a, b in (
        (2, 3), (4, 4), (5, 7), (10, 10), (6, 3), (9, 1), (8, 5), (12, 7), (20, 30), (15, 5),
    )),
    *((f"How many {thing}? Answer with a number.", n) for thing, n in (
        ("days are in a week", "7"), ("months are in a year", "12"), ("legs does a spider have", "8"),
        ("legs does a dog have", "4"), ("hours are in a day", "24"), ("minutes are in an hour", "60"),
        ("sides does a triangle have", "3"), ("wheels does a bicycle have", "2"),
        ("continents are there", "7"), ("days are in a leap year", "366"),
    )),
)


def fortune_texts(text: str) -> list[str]:
    """The entries of a fortune file (separated by lines holding ``%``), white space collapsed."""
    entries = [" ".join(block.split()) for block in re.split(r"(?m)^%\s*$", text)]
    lo, hi = GENERAL_WORDS
    return [e for e in entries if lo <= len(e.split()) <= hi]


def fetch_fortunes(folder: Path) -> Path:
    """Download the pinned fortunes-min package with ``apt-get download``; return the .deb's path.

    Raises:
        ValueError: when the package's SHA-256 is not the pinned one.
    """
    subprocess.run(["apt-get", "download", f"{FORTUNES_PACKAGE}={FORTUNES_VERSION}"], cwd=folder, check=True,
                   capture_output=True)  # fmt: skip
    deb = next(folder.glob(f"{FORTUNES_PACKAGE}_*.deb"))
    digest = hashlib.sha256(deb.read_bytes()).hexdigest()
    if digest != FORTUNES_DEB_SHA256:
        raise ValueError(f"{deb.name}: SHA-256 {digest} is not the pinned {FORTUNES_DEB_SHA256}")
    return deb


def build_general(deb: Path, folder: Path) -> dict[str, list[Record]]:
    """The probe's texts and questions: literary quotations (held out) and fortunes (for mixing).

    ``probe_text``: quotations from the ``literature`` file, the probe's perplexity text;
    ``mix_text``: the ``fortunes`` file's entries, which chapter 10 mixes into the tuning set to
    measure the mitigation on text the probe never scores; ``questions``: GENERAL_QUESTIONS.
    """
    subprocess.run(["dpkg-deb", "-x", str(deb), str(folder)], check=True)
    games = folder / "usr" / "share" / "games" / "fortunes"
    probe = fortune_texts((games / "literature").read_text(encoding="utf-8"))[:GENERAL_PROBE_SIZE]
    mix = fortune_texts((games / "fortunes").read_text(encoding="utf-8"))
    return {
        "probe_text": [{"id": f"literature-{i:03d}", "text": t} for i, t in enumerate(probe)],
        "mix_text": [{"id": f"fortunes-{i:03d}", "text": t} for i, t in enumerate(mix)],
        "questions": [{"id": f"question-{i:03d}", "prompt": q, "answer": a}
                      for i, (q, a) in enumerate(GENERAL_QUESTIONS)],
    }


def write_instructions(out: Path, index_path: Path | None = None) -> list[Path]:
    """Build chapter 10's ``instructions`` and ``general`` sets and write them under ``out``.

    Needs the pinned Debian index (as ``--debian-sections``), the committed dates, requests and
    debian_sections files, and ``apt-get download`` for the fortunes.
    """
    import tempfile

    index_path = index_path or debian_index_path()
    text = read_debian_index(index_path)
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
    if digest != DEBIAN_INDEX_SHA256:
        raise ValueError(f"{index_path}: SHA-256 {digest} is not the pinned index ({DEBIAN_INDEX_SHA256})")
    written = write_dataset("instructions", build_instructions(out, text), out)
    with tempfile.TemporaryDirectory() as tmp:
        general = build_general(fetch_fortunes(Path(tmp)), Path(tmp) / "x")
    return written + write_dataset("general", general, out)


# ---------------------------------------------------------------------------
# Registry and command line
# ---------------------------------------------------------------------------

DATASETS: dict[str, Callable[[random.Random], Splits]] = {
    "dates": build_dates,
    "requests": build_requests,
}


def build_dataset(name: str, seed: int = SEED) -> Splits:
    """Build dataset ``name`` with its own deterministic generator."""
    return DATASETS[name](dataset_rng(name, seed))


def write_dataset(name: str, splits: Splits, out: Path) -> list[Path]:
    """Write ``out/<name>/<split>.jsonl`` for each split in ``splits``; return the paths."""
    folder = out / name
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for split, records in splits.items():
        path = folder / f"{split}.jsonl"
        with path.open("w", encoding="utf-8", newline="\n") as f:
            f.write(to_jsonl(records))
        print(f"{path}: {len(records)} records")
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
    parser.add_argument(
        "--debian-sections",
        action="store_true",
        help="build only the real-text Debian dataset (needs apt's package index, see data/README.md)",
    )
    parser.add_argument(
        "--packages",
        type=Path,
        default=None,
        help="the Debian Packages index to read (default: the one apt keeps in /var/lib/apt/lists)",
    )
    parser.add_argument(
        "--instructions",
        action="store_true",
        help="build only chapter 10's instructions and general sets (the Debian index and apt-get download)",
    )
    args = parser.parse_args(argv)
    if args.instructions:
        write_instructions(args.out, args.packages)
        return
    if args.debian_sections:
        write_debian_sections(args.out, args.packages)
        return
    for name in DATASETS:
        write_dataset(name, build_dataset(name), args.out)


if __name__ == "__main__":
    main()
