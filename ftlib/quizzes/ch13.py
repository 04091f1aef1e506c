"""The quiz of chapter 13, outlook: ``show_quiz(13)`` shows it, ``check_quiz(13, answers)`` checks it.

The right answers are stored hashed (ftlib/quizzes/_common.py); instructors find them in
chapters/solutions/quizzes_solutions.ipynb.

Taught in chapter 13; asked in chapters/quizzes.ipynb.
"""

from __future__ import annotations

from ftlib.quizzes._common import Choice, Numeric

__all__ = ["QUESTIONS"]

QUESTIONS: list[Choice | Numeric] = [
    Numeric(
        text=(
            "A DPO run starts with the policy equal to its reference model. What is the DPO loss of any "
            "preference pair at that moment (natural logarithm)?"
        ),
        unit="nats",
        decimals=3,
        answer_hash="3f01928528212e37088bdedca44b49bf31c0073eecf8766443f8cb11132dde30",
        hint="Re-read section 13.1, the three consequences of the formula.",
    ),
    Choice(
        text="What does the frozen reference model do in DPO?",
        choices=(
            "It generates the rejected answers of the preference pairs.",
            (
                "Rewards are measured against it: each answer's log-probability counts relative to the "
                "reference's, which keeps the model close to it."
            ),
            "It is a reward model, trained on the pairs before DPO starts.",
            "It is updated with the model at every step, as a moving average.",
        ),
        answer_hash="dbce7d6ef21b2d5b06ba4478cbd24cda9524b3d580256df170e53586bd8cbbbc",
        hint="Re-read section 13.1: the implicit reward, and why the reference log-probabilities are computed once.",
    ),
    Choice(
        text=(
            "During DPO, the summed log-probabilities of a pair's chosen and rejected answers both fall by 2 "
            "nats, while the reference's stay as they are. What happens to that pair's DPO loss?"
        ),
        choices=(
            "It rises: the chosen answer became less likely.",
            "It falls: the rejected answer became less likely.",
            "It does not change.",
            "It returns to log 2.",
        ),
        answer_hash="3442d788d13083d92dfe06908ead0d91415468a3e2b0d4eab7a317985cbbe86f",
        hint="Re-read section 13.1 (the loss sees only a difference) and exercise 13.1.",
    ),
    Choice(
        text=(
            "Which `combination_type` of peft's `add_weighted_adapter` gives exactly the task-arithmetic sum "
            "λ1·s1·B1A1 + λ2·s2·B2A2 of two LoRA adapters?"
        ),
        choices=('"linear"', '"cat"', '"svd" at the adapters\' rank', '"ties"'),
        answer_hash="57fc1ccfd87707e3a8c73283a2182aa61e0faf6c62e5ad62bebd7b909559e41f",
        hint="Re-read section 13.4: the relative error of each combination type against the sum.",
    ),
    Numeric(
        text=(
            "A base model takes 0.5 GB and each task's LoRA adapter 5 MB (1 GB = 1000 MB). How many GB do one "
            "base model and 100 adapters take, served unmerged?"
        ),
        unit="GB",
        decimals=1,
        answer_hash="4fa41a4edcf355cbc0f547891b275a9ff4e26c02d0e746ebbdd3b183b50ac45d",
        hint="Re-read section 13.3, the memory of one base model with many adapters.",
    ),
]
