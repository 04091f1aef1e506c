"""The chapter quizzes: well formed, answers hidden but checkable, and a check that never raises on an answer.

The right answers themselves are proved by chapters/solutions/quizzes_solutions.ipynb, which asserts
``check_quiz(N, answers) == 5`` for every chapter (nbval runs it).
"""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from ftlib import quiz
from ftlib.quiz import check_quiz, quiz_chapters, quiz_text, show_quiz
from ftlib.quizzes._common import (
    Choice,
    Numeric,
    answer_hash,
    digest,
    letters,
    normalise_choice,
    normalise_number,
)

CHAPTERS = quiz_chapters()


def right_letter(chapter: int, number: int, question: Choice) -> list[str]:
    """The letters whose hash is the stored one (exactly one, for a well-formed question)."""
    return [
        x
        for x in letters(len(question.choices))
        if digest(chapter, number, x) == question.answer_hash
    ]


def test_every_written_chapter_has_a_quiz():
    assert set(range(1, 13)) <= set(CHAPTERS)


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_five_well_formed_questions(chapter):
    questions = quiz._questions(chapter)
    assert len(questions) == 5
    texts = [q.text for q in questions]
    assert len(set(texts)) == 5, "two questions with the same text"
    assert any(isinstance(q, Numeric) for q in questions), (
        "a numeric question where natural: at least one"
    )
    for number, q in enumerate(questions, start=1):
        assert q.text.strip() and q.hint.strip()
        assert re.search(r"\bsections? \d+\.\d+", q.hint), (
            f"question {number}: the hint must name a section"
        )
        assert re.fullmatch(r"[0-9a-f]{64}", q.answer_hash), (
            f"question {number}: not a sha256 hex digest"
        )
        if isinstance(q, Choice):
            assert 2 <= len(q.choices) <= 5
            assert len({c.strip() for c in q.choices}) == len(q.choices), (
                "choices must differ"
            )
            found = right_letter(chapter, number, q)
            assert len(found) == 1, (
                f"question {number}: the stored hash matches {found}, not exactly one choice"
            )
            assert q.choices[letters(len(q.choices)).index(found[0])] not in q.hint, (
                "the hint gives the answer away"
            )
        else:
            assert isinstance(q, Numeric)
            assert isinstance(q.decimals, int) and 0 <= q.decimals <= 6
            assert isinstance(q.unit, str)
            assert not right_letter(
                chapter, number, Choice("", ("x",) * 5, q.answer_hash, "")
            ), "a letter answer"


def test_right_choices_are_spread_over_the_letters():
    """A bank whose answer is always "b" teaches a guessing rule, not the chapters."""
    found = [
        right_letter(chapter, number, q)[0]
        for chapter in CHAPTERS
        for number, q in enumerate(quiz._questions(chapter), start=1)
        if isinstance(q, Choice)
    ]
    assert len(set(found)) >= 4 and max(
        found.count(x) for x in set(found)
    ) <= 0.4 * len(found)


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_the_right_choices_count(chapter, capsys):
    questions = quiz._questions(chapter)
    answers = {
        n: right_letter(chapter, n, q)[0]
        for n, q in enumerate(questions, 1)
        if isinstance(q, Choice)
    }
    assert check_quiz(chapter, answers) == len(answers)
    out = capsys.readouterr().out
    assert out.count("PASSED") == len(answers) and f"{len(answers)} of 5 right" in out


BAD_ANSWERS = [
    None,
    {},
    {1: None, 2: None, 3: None, 4: None, 5: None},
    {1: 3, 2: [1], 3: object(), 4: float("nan"), 5: True},
    {1: "zz", 2: "", 3: "f", 4: "not a number", 5: float("inf")},
    {"1": None, 9: "a", "x": 1, True: "a"},
    [1, 2, 3],
    "abcde",
]


@pytest.mark.parametrize("chapter", CHAPTERS)
@pytest.mark.parametrize("answers", BAD_ANSWERS, ids=range(len(BAD_ANSWERS)))
def test_bad_answers_score_zero_and_never_raise(chapter, answers, capsys):
    assert check_quiz(chapter, answers) == 0
    out = capsys.readouterr().out
    assert "0 of 5 right" in out and "Traceback" not in out
    assert out.count("Question ") == 5


def test_messages_say_what_is_wrong(capsys):
    check_quiz(1, {1: 3, 2: None})
    out = capsys.readouterr().out
    assert (
        "Question 1: NOT YET: expected one of the letters" in out
        and "of type int" in out
    )
    assert "Question 2: not answered" in out and "Question 5: not answered" in out


@pytest.mark.parametrize("chapter", [0, 99, -1, "1", 1.0, None])
def test_an_unknown_chapter_raises(chapter):
    with pytest.raises(KeyError):
        check_quiz(chapter, {})
    with pytest.raises(KeyError):
        show_quiz(chapter)


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_show_quiz_shows_every_question_and_choice(chapter, capsys):
    show_quiz(chapter)  # outside IPython: plain text
    shown = capsys.readouterr().out
    markdown = quiz_text(chapter, markdown=True)
    for number, q in enumerate(quiz._questions(chapter), start=1):
        for text in (shown, markdown):
            assert q.text in text and str(number) in text
            for choice in q.choices if isinstance(q, Choice) else []:
                assert choice in text
        if isinstance(q, Numeric):
            assert "decimal" in shown or "whole number" in shown


@pytest.fixture
def toy_bank(monkeypatch):
    """A chapter 99 with one question of each kind, whose answers this test knows."""
    choice = Choice("Which?", ("one", "two", "three"), "", "section 1.1")
    share = Numeric("How much?", "nats", 2, "", "section 1.2")
    count = Numeric("How many?", "parameters", 0, "", "section 1.3")
    bank = {
        99: [
            Choice(
                choice.text,
                choice.choices,
                answer_hash(99, 1, choice, "b"),
                choice.hint,
            ),
            Numeric(
                share.text,
                share.unit,
                share.decimals,
                answer_hash(99, 2, share, 0.6931),
                share.hint,
            ),
            Numeric(
                count.text,
                count.unit,
                count.decimals,
                answer_hash(99, 3, count, 138240),
                count.hint,
            ),
        ]
    }
    monkeypatch.setattr(quiz, "_bank", lambda: bank)


@pytest.mark.parametrize(
    "answers, right",
    [
        ({1: "b", 2: 0.69, 3: 138240}, 3),
        (
            {1: " B ", 2: "0.693", 3: "138,240"},
            3,
        ),  # normal forms: case, spaces, strings, thousands separators
        (
            {1: "(b)", 2: 0.6949, 3: 138240.4},
            3,
        ),  # within half a unit of the last decimal
        ({"1": "b.", 2: 0.6851, 3: 138239.6}, 3),
        ({1: "a", 2: 0.7, 3: 138241}, 0),  # wrong, and one decimal too coarse
        ({1: "d", 2: -0.69, 3: 1382400}, 0),  # no such choice; the sign matters
        ({1: "b", 2: 0.6951}, 1),
    ],
)
def test_rounding_and_normal_forms(toy_bank, answers, right, capsys):
    assert check_quiz(99, answers) == right
    assert f"{right} of 3 right" in capsys.readouterr().out


def test_a_wrong_answer_gets_the_hint(toy_bank, capsys):
    check_quiz(99, {1: "c"})
    assert "Question 1: NOT YET. Hint: section 1.1" in capsys.readouterr().out


def test_numpy_and_torch_numbers_are_numbers():
    np = pytest.importorskip("numpy")
    torch = pytest.importorskip("torch")
    assert normalise_number(np.float32(0.6931), 2) == "0.69"
    assert normalise_number(torch.tensor(0.6931), 2) == "0.69"
    assert normalise_number(np.int64(138240), 0) == "138240"
    assert normalise_number(-0.001, 2) == "0.00"  # no negative zero
    with pytest.raises(TypeError):
        normalise_number(np.array([1.0, 2.0]), 2)
    with pytest.raises(ValueError):
        normalise_choice("e", 4)


def test_the_hash_depends_on_chapter_and_question():
    assert len({digest(1, 1, "b"), digest(1, 2, "b"), digest(2, 1, "b")}) == 3


def test_importing_the_quiz_loads_no_torch():
    """The quizzes notebook must stay light: the quiz itself imports no model library."""
    code = (
        "import sys, ftlib.quiz; ftlib.quiz.quiz_text(1); print('torch' in sys.modules)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == "False"
