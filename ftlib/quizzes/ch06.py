"""The quiz of chapter 6, LoRA from scratch: ``show_quiz(6)`` shows it, ``check_quiz(6, answers)`` checks it.

The right answers are stored hashed (ftlib/quizzes/_common.py); instructors find them in
chapters/solutions/quizzes_solutions.ipynb.

Taught in chapter 6; asked in chapters/quizzes.ipynb.
"""

from __future__ import annotations

from ftlib.quizzes._common import Choice, Numeric

__all__ = ["QUESTIONS"]

QUESTIONS: list[Choice | Numeric] = [
    Choice(
        text="A LoRA layer starts with A random and B = 0. Which matrices change at the first training step?",
        choices=(
            "Only A: B's gradient is zero while B = 0.",
            "Only B: A's gradient is zero while B = 0.",
            "Both A and B.",
            "Neither: with B = 0 the output does not depend on either.",
        ),
        answer_hash="7b2f5a5b379b3898e6eaacc0680475faee970da4b1bf5c8503bb62106adc8c2e",
        hint="Re-read section 6.1, why B starts at zero and not A.",
    ),
    Numeric(
        text="`lora_alpha = 16` and `r = 32`, with `use_rslora=True`. What is the scaling that multiplies BAx?",
        unit="",
        decimals=2,
        answer_hash="5e7f0f7b28768a88b611447750250dbfe12ffea2c9be905d938e8e1da8fcac24",
        hint="Re-read section 6.5, the scalings α/r and α/√r.",
    ),
    Choice(
        text="Where does LoRA save training memory, compared with full fine-tuning?",
        choices=(
            "In the activations: frozen layers save nothing for the backward pass.",
            "In the weights: the frozen weights are not kept in memory.",
            (
                "In the gradients and optimizer state of the frozen weights; the activations stay, since the "
                "gradient must travel back through the frozen layers to reach the lower adapters."
            ),
            "Nowhere: LoRA saves only disk space.",
        ),
        answer_hash="6fe6a042ca78f82e625de33539301a1abc1b15eb6866bf771815e8d7a09d20e1",
        hint="Re-read section 6.4, where LoRA's saving is and where it is not.",
    ),
    Choice(
        text="A LoRA adapter is merged into W. What does a forward pass then cost, against the base model?",
        choices=(
            "Less, because the update is low rank.",
            "Exactly the base model's computation: the same shapes and the same matrix products.",
            "More, because of the two small extra products per layer.",
            "It depends on the rank r.",
        ),
        answer_hash="1e634c71f3ddf2b90402e0373c25b4cedbd764140d4daa66e468038e2f1dbb04",
        hint="Re-read section 6.6, merging and what inference costs.",
    ),
    Choice(
        text="How does section 6.5 say to compare the scalings α/r and α/√r fairly?",
        choices=(
            "Run both with the same α and one seed, and keep the better one.",
            "Use α/√r, since it has the larger scaling at every rank.",
            "Compare them at r = 1, where they differ most.",
            (
                "Match the two at one rank (there they are the same run), change only the rank, repeat over "
                "seeds, and retune the learning rate when the scaling changes."
            ),
        ),
        answer_hash="e7aecab06a308e77da6655c420defda68bee24e48d8e9a39bb067c2a03d07797",
        hint="Re-read section 6.5, the trap in comparing the two rules.",
    ),
]
