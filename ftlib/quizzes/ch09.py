"""The quiz of chapter 9, text classification with few labels: ``show_quiz(9)`` shows it, ``check_quiz(9, answers)`` checks it.

The right answers are stored hashed (ftlib/quizzes/_common.py); instructors find them in
chapters/solutions/quizzes_solutions.ipynb.

Taught in chapter 9; asked in chapters/quizzes.ipynb.
"""

from __future__ import annotations

from ftlib.quizzes._common import Choice, Numeric

__all__ = ["QUESTIONS"]

QUESTIONS: list[Choice | Numeric] = [
    Numeric(
        text=(
            "Label scoring: a label is two tokens, followed by the end-of-turn token. The model gives these "
            "three tokens the log-probabilities −0.4, −0.1 and −0.2. What score does section 9.3 give the "
            "label?"
        ),
        unit="",
        decimals=2,
        answer_hash="6a86b8c1c41abd2d110eb95c48dd6a82dc85b1eef35a58152f6cd3e35aeb6b21",
        hint="Re-read section 9.3, how a label is scored.",
    ),
    Choice(
        text="A classifier scores 90 % on a test set of 95 items. What can that show?",
        choices=(
            "That it is better than a classifier measured at 85 % on the same 95 items.",
            "That its true accuracy is 90 %, within a point.",
            (
                "Little: the Wilson interval of 86 right out of 95 cannot separate it from a classifier five "
                "points worse, and it says nothing about another draw of the training examples."
            ),
            "Nothing at all: accuracy is meaningless below a thousand items.",
        ),
        answer_hash="6ff5c66ad8d1d211cc1c5c383e963a54d5fa5fa9df79d55bc553153d3b8155e3",
        hint="Re-read section 9.2, what a test set of 95 items can tell you.",
    ),
    Choice(
        text=(
            "SmolLM2 gets a new classification head and LoRA adapters, with `LoraConfig` given neither "
            '`task_type="SEQ_CLS"` nor `modules_to_save`. What trains?'
        ),
        choices=(
            "The adapters and the head.",
            "Only the adapters: the head stays at its random start.",
            "Only the head.",
            "Nothing: `peft` refuses the configuration.",
        ),
        answer_hash="25c55cb244f84f6d217f3495491bca752438bd4a376db8aeab558fb735e7c248",
        hint="Re-read section 9.5, a head that must learn.",
    ),
    Choice(
        text="What does contextual calibration do to zero-shot label scores?",
        choices=(
            (
                'It subtracts the score of each label on a content-free input such as "N/A": `log p(y | x) − log '
                "p(y | N/A)`."
            ),
            "It divides every score by the number of tokens of its label.",
            "It adds solved examples to the prompt.",
            "It raises the temperature until every label is equally likely.",
        ),
        answer_hash="5f25cdef807e6e66bebc6c4cf70fca9343dbce017144e4642aa47e41f9b41885",
        hint="Re-read section 9.3, prompting: score the labels, do not parse the answer.",
    ),
    Choice(
        text='"Text data can be augmented by rotating, scaling and cropping it." What holds?',
        choices=(
            "True: these operations work on any input.",
            "True for short texts only.",
            "Rotation works for text, scaling and cropping do not.",
            (
                "These are image operations with no meaning for text; text augmentations (word dropout, "
                "paraphrase) exist, and whether one helps must be measured on the task, against the same draws "
                "without it."
            ),
        ),
        answer_hash="a000d28c62b7260567f6ce83fba52fdcf969b901247a87e22fcfe434feae7b75",
        hint="Re-read section 9.9, augmentation: what applies to text, measured.",
    ),
]
