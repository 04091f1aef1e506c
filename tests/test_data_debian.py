"""The Debian topic-classification set of chapter 9: no leakage between splits, balanced classes, clean text.

The committed files are checked as they are. Rebuilding them needs the exact Debian package
index they came from (pinned by SHA-256); on a machine without it, that one test skips and says why.
"""

from __future__ import annotations

import importlib.util
import json
from itertools import combinations
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FOLDER = ROOT / "data" / "debian_sections"
spec = importlib.util.spec_from_file_location("data_build", ROOT / "data" / "build.py")
build = importlib.util.module_from_spec(spec)
spec.loader.exec_module(build)


def read(split: str) -> list[dict]:
    return [json.loads(line) for line in (FOLDER / f"{split}.jsonl").read_text(encoding="utf-8").splitlines()]


@pytest.fixture(scope="module")
def splits() -> dict[str, list[dict]]:
    return {split: read(split) for split in build.DEBIAN_SPLITS}


def test_records_have_the_fields_and_a_known_label(splits):
    for split, records in splits.items():
        for r in records:
            assert list(r) == ["id", "text", "label", "source"], (split, r)
            assert r["label"] in build.DEBIAN_CLASSES, (split, r)
            assert r["text"].strip() == r["text"] and len(r["text"].split()) >= 1, (split, r)


def test_class_balance(splits):
    expected = {**build.DEBIAN_PER_CLASS, "test_small": build.DEBIAN_SMALL_PER_CLASS}
    for split, records in splits.items():
        counts = {label: sum(r["label"] == label for r in records) for label in build.DEBIAN_CLASSES}
        assert counts == {label: expected[split] for label in build.DEBIAN_CLASSES}, split
    assert len(splits["test_small"]) == 95


def test_no_source_package_in_two_splits(splits):
    """Binary packages of one source describe each other; the unit of the split is the source."""
    seen: dict[str, str] = {}
    for split in ("train", "validation", "test"):
        for r in splits[split]:
            assert r["source"] not in seen, f"source {r['source']} in {seen.get(r['source'])} and {split}"
            seen[r["source"]] = split
    ids = [r["id"] for split in ("train", "validation", "test") for r in splits[split]]
    assert len(ids) == len(set(ids))


def test_the_small_test_set_is_part_of_the_test_set(splits):
    test = {r["id"]: r for r in splits["test"]}
    assert all(test.get(r["id"]) == r for r in splits["test_small"])
    assert len({r["id"] for r in splits["test_small"]}) == 95


def test_no_near_duplicates_anywhere(splits):
    """No two descriptions reduce to the same key, nor share most of their words (within or across splits)."""
    records = [r for split in ("train", "validation", "test") for r in splits[split]]
    keys = [build.description_key(r["text"]) for r in records]
    assert len(keys) == len(set(keys))
    words = [set(k.split()) for k in keys]
    index: dict[str, list[int]] = {}
    for i, w in enumerate(words):
        for token in w:
            index.setdefault(token, []).append(i)
    close = []
    for members in index.values():
        if len(members) > 200:  # words such as "for" or "game": pairs sharing only these are not close
            continue
        for i, j in combinations(members, 2):
            if len(words[i] & words[j]) / len(words[i] | words[j]) >= build.DEBIAN_NEAR_DUPLICATE:
                close.append((records[i]["text"], records[j]["text"]))
    assert not close, close[:5]


def test_no_placeholder_text_and_no_label_field(splits):
    for records in splits.values():
        for r in records:
            assert not build.DEBIAN_PLACEHOLDER.search(r["text"]), r
            assert "::" not in r["text"], r  # Debian's Tag field ("game::strategy") is never read


def test_source_record_matches_the_files(splits):
    info = json.loads((FOLDER / "source.json").read_text())
    assert info["index_sha256"] == build.DEBIAN_INDEX_SHA256
    assert info["classes"] == list(build.DEBIAN_CLASSES)
    for split, records in splits.items():
        assert sum(info["sizes"][split].values()) == len(records)
    assert all(count >= 0 for count in info["removed"].values())


def test_parse_and_filters_on_a_small_index():
    index = "\n\n".join([
        "Package: quake\nSource: quake-src\nSection: games\nDescription: first-person shooter\nTag: game::fps",
        "Package: quake-data\nSource: quake-src\nSection: games\nDescription: first-person shooter (data files)",
        "Package: quake2\nSection: games\nDescription: a first-person shooter",
        "Package: gimp\nSection: graphics\nDescription: GNU Image Manipulation Program\n long text\n .",
        "Package: gimp-doc\nSource: gimp\nSection: graphics\nDescription: documentation for GIMP",
        "Package: foo\nSection: games\nDescription: transitional dummy package",
        "Package: bar\nSection: libs\nDescription: a library",
        "Package: baz\nSection: sound\nDescription: First-person shooter!",
    ])
    records, removed = build.debian_candidates(build.parse_deb822(index))
    assert [(r["id"], r["label"], r["source"]) for r in records] == [("gimp", "graphics", "gimp")]
    assert removed["binary packages in other sections"] == 1
    assert removed["placeholder description"] == 3  # data files, documentation, transitional dummy
    assert removed["duplicate with a different label"] == 3  # quake, quake2 (games) and baz (sound) are one text
    assert "Tag" not in json.dumps(records)


def test_committed_files_match_a_fresh_build(tmp_path):
    try:
        path = build.debian_index_path()
    except FileNotFoundError as exc:
        pytest.skip(f"the Debian package index is not on this machine ({exc})")
    text = build.read_debian_index(path)
    if build.hashlib.sha256(text.encode("utf-8")).hexdigest() != build.DEBIAN_INDEX_SHA256:
        pytest.skip(f"{path} is not the pinned index of {build.DEBIAN_RELEASE} (another point release)")
    build.main(["--debian-sections", "--out", str(tmp_path), "--packages", str(path)])
    for name in [*(f"{split}.jsonl" for split in build.DEBIAN_SPLITS), "source.json"]:
        assert (tmp_path / "debian_sections" / name).read_bytes() == (FOLDER / name).read_bytes(), name
