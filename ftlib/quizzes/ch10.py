"""The quiz of chapter 10, instruction tuning, evaluation and forgetting: ``show_quiz(10)`` shows it, ``check_quiz(10, answers)`` checks it.

The right answers are stored hashed (ftlib/quizzes/_common.py); instructors find them in
chapters/solutions/quizzes_solutions.ipynb.

Taught in chapter 10; asked in chapters/quizzes.ipynb.
"""

from __future__ import annotations

from ftlib.quizzes._common import Choice, Numeric

__all__ = ["QUESTIONS"]

QUESTIONS: list[Choice | Numeric] = [
    Numeric(
        text=(
            'Token F1 as SQuAD computes it: what is the score of the prediction "The capital is Paris." '
            'against the reference "Paris"?'
        ),
        unit="",
        decimals=2,
        answer_hash="fa5f7e5a45cbe4fc8cababe848c18e454f8691a2300cb84d00fdc5f5aaced359",
        hint="Re-read section 10.3: the normalisation, then P, R and F1.",
    ),
    Choice(
        text="Why does BLEU give a right one-word answer a score of 0?",
        choices=(
            "Its brevity penalty is 0 for one word.",
            (
                "It is a geometric mean of the 1- to 4-gram precisions, and a one-word answer has no 2-, 3- or "
                "4-grams to match."
            ),
            "It lower-cases the answer but not the reference.",
            "It ignores answers shorter than four characters.",
        ),
        answer_hash="85761a570a916db8d1e6865a13528619a8ebd99a8d8e14b9cb84dd956d0798ee",
        hint="Re-read sections 10.3 and 10.4: the BLEU formula and where each metric scores wrongly.",
    ),
    Choice(
        text="What does a lower perplexity of a model on an answer tell you?",
        choices=(
            (
                "That the answer is more likely under the model: a fluent falsehood can have a lower perplexity "
                "than the truth."
            ),
            "That the answer is more likely to be true.",
            "That the model will answer more questions right.",
            "That the answer is shorter.",
        ),
        answer_hash="41a3d7e11fc2537880fc60967341469208159a23d90f039057dd34c60ced7397",
        hint="Re-read section 10.4, where each metric scores wrongly.",
    ),
    Choice(
        text="What does the `test_phrasing` split hold, and why?",
        choices=(
            "A task type the model never trains on, to test generalisation to new tasks.",
            "Random paraphrases of the training items, to enlarge the test set.",
            (
                "The items of `test` in a phrasing of the instruction never used in training, so that the "
                "comparison with `test` is paired and only the wording differs."
            ),
            "The training items, to measure memorisation.",
        ),
        answer_hash="f1ad8569d0d3253c9b8f8dd708277108bd2822d1573a8cb867c2c0022f641fa3",
        hint="Re-read section 10.1, an instruction set with held-out wordings and a held-out task.",
    ),
    Choice(
        text=(
            "Mixing general text into the tuning set lowered the loss on the text probe below the base "
            "model's. Why is that not evidence that the mix prevents forgetting?"
        ),
        choices=(
            "Because a loss below the base model's is impossible, so it must be a bug.",
            "Because mixing lowers every loss by construction.",
            "Because the probe's texts were trained on.",
            (
                "Because the mixed-in text resembles the probe's texts: the probe is close to the mitigation, so "
                "look at a probe the mix does not resemble, such as the general questions."
            ),
        ),
        answer_hash="820e3455e8c7f39fc359c69832588db9d8d9981c7360eafb60e72d24a1bccbd5",
        hint="Re-read section 10.8, a mitigation: mix general text into the tuning set.",
    ),
]
