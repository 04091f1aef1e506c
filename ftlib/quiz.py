"""Short quizzes, five questions per chapter: ``show_quiz(7)`` shows them, ``check_quiz(7, answers)`` checks them.

``answers`` maps a question's number to the learner's answer: a letter for a multiple-choice question
(``{1: "b"}``), a number for a numeric one (``{3: 0.69}``, compared after rounding to the decimals the
question states). ``check_quiz`` prints PASSED or NOT YET for each question, with a hint that names the
section to re-read, and how many are right. Like ``ftlib.exercises.check`` it never raises on a learner's
answer, whatever its type: it says what it expected instead. The questions live in
``ftlib/quizzes/chNN.py``, one small module per chapter, with the right answers stored as salted hashes
(``ftlib/quizzes/_common.py`` says how), so that reading ftlib does not show them.

Taught in chapters 1 to 12 (one quiz each); asked in chapters/quizzes.ipynb.
"""

from __future__ import annotations

import importlib
import numbers
import pkgutil
from typing import Any

from ftlib.quizzes._common import (
    Choice,
    Numeric,
    digest,
    letters,
    normalise_choice,
    normalise_number,
)

__all__ = ["check_quiz", "quiz_chapters", "quiz_text", "show_quiz"]

Question = Choice | Numeric


def _bank() -> dict[int, list[Question]]:
    """Every chapter's questions, from the modules ``ftlib/quizzes/chNN.py``."""
    import ftlib.quizzes

    found = {}
    for info in pkgutil.iter_modules(ftlib.quizzes.__path__):
        if info.name.startswith("ch") and info.name[2:].isdigit():
            found[int(info.name[2:])] = importlib.import_module(
                f"ftlib.quizzes.{info.name}"
            ).QUESTIONS
    return dict(sorted(found.items()))


def quiz_chapters() -> list[int]:
    """The chapters that have a quiz, in order."""
    return list(_bank())


def _questions(chapter: int) -> list[Question]:
    bank = _bank()
    if not isinstance(chapter, int) or isinstance(chapter, bool) or chapter not in bank:
        raise KeyError(
            f"no quiz for chapter {chapter!r}; quizzes exist for chapters {', '.join(map(str, bank))}"
        )
    return bank[chapter]


def _how_to_answer(question: Numeric) -> str:
    unit = f" ({question.unit})" if question.unit else ""
    if question.decimals == 0:
        return f"Answer with a whole number{unit}."
    places = "1 decimal" if question.decimals == 1 else f"{question.decimals} decimals"
    return f"Answer with a number{unit}, rounded to {places}."


def quiz_text(chapter: int, markdown: bool = True) -> str:
    """The questions of ``chapter``'s quiz, numbered, with lettered choices, as Markdown or as plain text.

    Raises:
        KeyError: for a chapter that has no quiz.
    """
    blocks = []
    for number, question in enumerate(_questions(chapter), start=1):
        if isinstance(question, Choice):
            pairs = zip(letters(len(question.choices)), question.choices)
            form = "- **{}.** {}" if markdown else "   {}. {}"
            body = "\n".join(form.format(letter, choice) for letter, choice in pairs)
        else:
            body = (
                f"*{_how_to_answer(question)}*"
                if markdown
                else f"   {_how_to_answer(question)}"
            )
        if markdown:
            blocks.append(f"**{number}.** {question.text}\n\n{body}")
        else:
            blocks.append(f"{number}. {question.text}\n{body}")
    return "\n\n".join(blocks)


def show_quiz(chapter: int) -> None:
    """Show ``chapter``'s quiz: as Markdown in a notebook, as plain text elsewhere.

    Raises:
        KeyError: for a chapter that has no quiz.
    """
    plain = quiz_text(chapter, markdown=False)
    try:
        from IPython import get_ipython
        from IPython.display import Markdown, display
    except ImportError:  # plain Python without IPython
        print(plain)
        return
    if get_ipython() is None:
        print(plain)
    else:
        display(Markdown(quiz_text(chapter, markdown=True)))


def _verdict(
    chapter: int, number: int, question: Question, answer: Any
) -> tuple[bool, str]:
    """(right, what to print) for one answer; never raises on the answer."""
    if answer is None:
        return False, "not answered"
    try:
        if isinstance(question, Choice):
            normal = normalise_choice(answer, len(question.choices))
        else:
            normal = normalise_number(answer, question.decimals)
    except (TypeError, ValueError) as exc:
        return False, f"NOT YET: {exc}"
    except Exception as exc:  # noqa: BLE001 - whatever the answer does, the learner gets a message, not a traceback
        return (
            False,
            f"NOT YET: the check could not use {answer!r} ({type(exc).__name__}: {exc})",
        )
    if digest(chapter, number, normal) == question.answer_hash:
        return True, "PASSED"
    return False, f"NOT YET. Hint: {question.hint}"


def _by_number(answers: dict, n_questions: int) -> tuple[dict[int, Any], list[str]]:
    """The answers keyed by question number (an int, or a string of digits), and notes on keys left out."""
    by_number, notes = {}, []
    for key, answer in answers.items():
        number = None
        if isinstance(key, numbers.Integral) and not isinstance(key, bool):
            number = int(key)
        elif isinstance(key, str) and key.strip().isdigit():
            number = int(key.strip())
        if number is None or not 1 <= number <= n_questions:
            notes.append(
                f"{key!r} is not a question of this quiz (they are numbered 1 to {n_questions}): ignored"
            )
        elif number in by_number:
            notes.append(
                f"question {number} is answered twice: the check uses the first answer"
            )
        else:
            by_number[number] = answer
    return by_number, notes


def check_quiz(chapter: int, answers: dict[int, str | float]) -> int:
    """Check the answers to ``chapter``'s quiz, print a verdict per question and the count, return the count.

    Args:
        chapter: the chapter number.
        answers: question number -> answer: a letter (``"b"``) for a multiple-choice question, a number for
            a numeric one. ``None`` or a missing number counts as not answered.

    Returns:
        How many answers are right.

    Raises:
        KeyError: for a chapter that has no quiz (a typo in the notebook, not a wrong answer).
    """
    questions = _questions(chapter)
    if not isinstance(answers, dict):
        print(
            f"expected a dict of answers such as {{1: 'b', 2: 0.5}}, got {type(answers).__name__}: "
            "nothing checked"
        )
        answers = {}
    by_number, notes = _by_number(answers, len(questions))
    for note in notes:
        print(note)
    right = 0
    for number, question in enumerate(questions, start=1):
        passed, message = _verdict(chapter, number, question, by_number.get(number))
        right += passed
        print(f"Question {number}: {message}")
    print(f"{right} of {len(questions)} right")
    return right
