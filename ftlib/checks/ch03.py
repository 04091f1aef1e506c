"""Checks for the exercises of chapter 3, Data and chat templates: ``check("3.1", answer)`` runs them.

Taught in chapter 3, section Exercises.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ftlib.checks._common import Result, run_cases

__all__ = ["CHECKS"]


def _check_3_1(fn: Any) -> Result:
    cases = [
        (([5, 5, 5, 5], 2), 0.0),
        (([1, 3, 3, 1], 2), 0.0),  # sorted: [1, 1] and [3, 3]
        (([1, 4, 2, 3], 2), 1 - 10 / 12),  # sorted groups [1, 2] -> 4, [3, 4] -> 8
        (([2, 7, 4], 4), 1 - 13 / 21),
    ]
    return run_cases(fn, "padding_waste_sorted", cases, "sort first, then pad each group of batch_size to its longest")


def _check_3_2(fn: Any) -> Result:
    train = [{"id": "a", "prompt": "Table for  two"}, {"id": "b", "prompt": "Lunch at noon"}]
    test = [{"id": "x", "prompt": "table for two"}, {"id": "y", "prompt": "Lunch at one"}, {"id": "z", "prompt": "LUNCH AT\nNOON "}]
    cases = [((train, test), {"x", "z"}), ((train, []), set()), (([], test), set())]
    return run_cases(fn, "leaked_ids", cases, "compare ' '.join(prompt.lower().split()) of test against a set built from train")


def _check_3_3(fn: Any) -> Result:
    good = '{"name": "Mei", "party_size": 7, "date": "2027-02-04", "time": "22:00", "seating": null}'
    parsed = {"name": "Mei", "party_size": 7, "date": "2027-02-04", "time": "22:00", "seating": None}
    cases = [
        ((good,), parsed),
        ((good[:-1],), None),  # cut off
        (('{"name": "Mei"}',), None),  # keys missing
        ((good.replace("}", ', "extra": 1}'),), None),  # a key too many
        (("[1, 2]",), None),
        (("Sure! Mei, 7 people.",), None),
    ]
    return run_cases(fn, "parse_booking", cases, "json.loads inside try/except, then check isinstance(dict) and the set of keys")


CHECKS: dict[str, Callable[[Any], Result]] = {
    "3.1": _check_3_1,
    "3.2": _check_3_2,
    "3.3": _check_3_3,
}
