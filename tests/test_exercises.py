import re

import pytest

from ftlib.exercises import check, exercises


def test_known_exercises():
    assert exercises() == ["1.1", "1.2", "1.3", "2.1", "2.2", "2.3", "3.1", "3.2", "3.3"]
    with pytest.raises(KeyError, match="no check for exercise '9.9'"):
        check("9.9", None)


def test_1_1(capsys):
    assert check("1.1", 460_800)
    assert not check("1.1", 30 * 8 * (1152 + 1152))  # treats v_proj like q_proj
    assert not check("1.1", None) and not check("1.1", True)
    out = capsys.readouterr().out
    assert "PASSED exercise 1.1" in out and "Hint" in out


def lenient(prediction, reference):
    found = re.search(r"\d{4}-\d{2}-\d{2}", prediction)
    return bool(found) and found.group() == reference


def test_1_2(capsys):
    assert check("1.2", lenient)
    assert not check("1.2", lambda p, r: p.strip() == r)
    assert not check("1.2", lambda p, r: 1 / 0)  # a crash is reported, not raised
    assert not check("1.2", "not a function")
    assert "ZeroDivisionError" in capsys.readouterr().out


def test_1_3():
    def shots(examples):
        return [f"{e['prompt'].splitlines()[-1]}\nAnswer: {e['answer']}" for e in examples]

    def good(examples, query):
        return "\n\n".join([*shots(examples), query["prompt"].splitlines()[-1]])

    def query_first(examples, query):
        return "\n\n".join([query["prompt"].splitlines()[-1], *shots(examples)])

    assert check("1.3", good)
    assert not check("1.3", lambda examples, query: query["prompt"])  # zero-shot
    assert not check("1.3", lambda examples, query: good(examples, query) + " " + query["answer"])  # leaks
    assert not check("1.3", query_first)


def test_2_1(capsys):
    assert check("2.1", 0.41703)
    assert not check("2.1", -0.41703)
    assert "wrong sign" in capsys.readouterr().out
    assert not check("2.1", 2.0) and not check("2.1", "0.417")


def test_2_2(capsys):
    import torch

    def sequence_mean(nll, mask):
        return (nll.sum(1) / mask.sum(1)).mean()

    assert check("2.2", sequence_mean)
    assert not check("2.2", lambda nll, mask: nll.sum() / mask.sum())
    assert "token mean" in capsys.readouterr().out
    assert not check("2.2", lambda nll, mask: torch.zeros(3))
    assert not check("2.2", lambda nll, mask: 1 / 0)


def test_2_3():
    assert check("2.3", 49152) and check("2.3", 49152.2)
    assert not check("2.3", 10.8) and not check("2.3", None)


def test_3_1():
    def padding_waste_sorted(lengths, batch_size):
        lengths = sorted(lengths)
        groups = [lengths[i : i + batch_size] for i in range(0, len(lengths), batch_size)]
        return 1 - sum(lengths) / sum(max(g) * len(g) for g in groups)

    assert check("3.1", padding_waste_sorted)
    assert not check("3.1", lambda lengths, batch_size: 0.0)


def test_3_2():
    def leaked_ids(train, test):
        seen = {" ".join(r["prompt"].lower().split()) for r in train}
        return {r["id"] for r in test if " ".join(r["prompt"].lower().split()) in seen}

    assert check("3.2", leaked_ids)
    assert not check("3.2", lambda train, test: {r["id"] for r in test if r in train})


def test_3_3():
    import json

    def parse_booking(text):
        try:
            value = json.loads(text)
        except json.JSONDecodeError:
            return None
        keys = {"name", "party_size", "date", "time", "seating"}
        return value if isinstance(value, dict) and set(value) == keys else None

    assert check("3.3", parse_booking)
    assert not check("3.3", json.loads)  # raises on bad input
