"""What every chapter's quiz shares: the two kinds of question, and the hash that hides their answers.

A right answer is stored as ``digest(chapter, number, normalised_answer)``: the SHA-256 of a fixed
salt, the chapter, the question number and the answer in a normal form. The normal form of a
multiple-choice answer is its lower-case letter (``"b"``). A numeric answer with a tolerance cannot
be hashed as it is, so a numeric question states a number of decimals, and the normal form is the
number rounded to that many decimals (``"0.69"``, ``"138240"``): a learner's value passes when it
rounds to the same text, that is, when it lies within half a unit of the last decimal of the right
answer (the authors choose answers that are not close to a rounding boundary).

The hash keeps the answers out of plain sight for a learner who reads ftlib; it is no secret, since
anyone can hash the few letters a question offers. A quiz is for learning, not for grading.
The number and the chapter are part of the salt, so two questions whose answer is ``"b"`` store
different hashes.

Taught in chapters 1 to 12 (one quiz each); asked in chapters/quizzes.ipynb.
"""

from __future__ import annotations

import hashlib
import math
import numbers
import string
from dataclasses import dataclass
from typing import Any

__all__ = [
    "SALT",
    "Choice",
    "Numeric",
    "answer_hash",
    "digest",
    "letters",
    "normalise_choice",
    "normalise_number",
]

SALT = "ftlib-quiz-1"


@dataclass(frozen=True)
class Choice:
    """A multiple-choice question: 2 to 5 choices, shown with the letters a, b, c, ... in order."""

    text: str
    choices: tuple[str, ...]
    answer_hash: str  # digest(chapter, number, letter of the right choice)
    hint: str  # the section to re-read; never the answer


@dataclass(frozen=True)
class Numeric:
    """A question whose answer is a number, compared after rounding to ``decimals`` decimals."""

    text: str
    unit: str  # what the number counts ("nats", "parameters", "GB"); "" for a plain number or share
    decimals: int  # 0 for a whole number
    answer_hash: (
        str  # digest(chapter, number, the answer rounded to `decimals` decimals)
    )
    hint: str  # the section to re-read; never the answer


def letters(n: int) -> str:
    """The letters of ``n`` choices: ``letters(4) == "abcd"``."""
    return string.ascii_lowercase[:n]


def digest(chapter: int, number: int, normalised: str) -> str:
    """The stored form of an answer: SHA-256 of the salt, the chapter, the question number and the normal form."""
    return hashlib.sha256(
        f"{SALT}:{chapter}:{number}:{normalised}".encode()
    ).hexdigest()


def normalise_choice(answer: Any, n_choices: int) -> str:
    """The lower-case letter of a multiple-choice answer (``" B "``, ``"(b)"`` and ``"b."`` give ``"b"``).

    Raises:
        TypeError: with a message for the learner, when ``answer`` is not a string.
        ValueError: with a message for the learner, when ``answer`` is not one of the letters.
    """
    allowed = letters(n_choices)
    expected = (
        f'one of the letters {", ".join(allowed)} as a string, such as "{allowed[0]}"'
    )
    if not isinstance(answer, str):
        raise TypeError(
            f"expected {expected}; got {answer!r}, of type {type(answer).__name__}"
        )
    letter = answer.strip().strip("().").strip().lower()
    if len(letter) != 1 or letter not in allowed:
        raise ValueError(f"expected {expected}; got {answer!r}")
    return letter


def normalise_number(answer: Any, decimals: int) -> str:
    """A numeric answer rounded to ``decimals`` decimals, as text (``0.6931`` gives ``"0.69"`` for 2 decimals).

    Accepts an int or a float (also NumPy's, or a one-number tensor) and a string such as ``"0.69"`` or
    ``"138,240"``.

    Raises:
        TypeError: with a message for the learner, when ``answer`` is neither a number nor a string.
        ValueError: with a message for the learner, when ``answer`` is a string that is not a number, or not finite.
    """
    value = answer
    if hasattr(value, "item") and not isinstance(value, str):
        try:
            value = value.item()  # a NumPy scalar or a one-number tensor
        except (TypeError, ValueError, RuntimeError):
            value = answer  # an array of several numbers: refused below
    if isinstance(value, str):
        try:
            value = float(value.strip().replace(",", "").replace("_", ""))
        except ValueError:
            raise ValueError(f"expected a number; got the string {answer!r}") from None
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(
            f"expected a number; got {answer!r}, of type {type(answer).__name__}"
        )
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"expected a finite number; got {answer!r}")
    text = f"{value:.{decimals}f}"
    return (
        "0" + text[2:] if text.startswith("-0") and float(text) == 0 else text
    )  # "-0.00" is "0.00"


def answer_hash(
    chapter: int, number: int, question: Choice | Numeric, answer: Any
) -> str:
    """The ``answer_hash`` to store for ``answer`` to question ``number`` of ``chapter``'s quiz (for authors).

    Example: ``answer_hash(13, 2, QUESTIONS[1], "c")``, pasted into ``ftlib/quizzes/ch13.py``.
    """
    if isinstance(question, Choice):
        return digest(chapter, number, normalise_choice(answer, len(question.choices)))
    return digest(chapter, number, normalise_number(answer, question.decimals))
