"""The quiz of chapter 3, data and chat templates: ``show_quiz(3)`` shows it, ``check_quiz(3, answers)`` checks it.

The right answers are stored hashed (ftlib/quizzes/_common.py); instructors find them in
chapters/solutions/quizzes_solutions.ipynb.

Taught in chapter 3; asked in chapters/quizzes.ipynb.
"""

from __future__ import annotations

from ftlib.quizzes._common import Choice, Numeric

__all__ = ["QUESTIONS"]

QUESTIONS: list[Choice | Numeric] = [
    Choice(
        text="A batch of prompts is padded for generation. On which side, and why?",
        choices=(
            "On the right, so that every prompt starts at position 0.",
            (
                "On the left, so that every row's last position is its own last prompt token, where the next "
                "token is produced."
            ),
            "On both sides equally, so that the attention is symmetric.",
            "It does not matter: the attention mask hides the padding either way.",
        ),
        answer_hash="3dc9b7da1b9b157bb7a2d154d41e408b279fa2f1935a0a5e412052243631b018",
        hint="Re-read section 3.3, padding side, attention masks and truncation.",
    ),
    Choice(
        text=(
            "Why does `tokenize_sft` refuse an example longer than `max_length` instead of cutting it from "
            "the right?"
        ),
        choices=(
            "Cutting would be slow on long data sets.",
            "The attention mask cannot represent a cut example.",
            "The tokenizer cannot cut inside a special token.",
            (
                "Cutting from the right removes the end of the answer, the end-of-turn token first, and teaches "
                "answers that never end."
            ),
        ),
        answer_hash="7b6ccae0b522999ffd68c89b7a848f737d1fcf809abad04be87eeb38d3a52f80",
        hint="Re-read section 3.3, the paragraph on truncation.",
    ),
    Numeric(
        text=(
            "One batch of four examples with 12, 20, 28 and 36 tokens is padded to its longest example. What "
            "share of the batch's positions is padding?"
        ),
        unit="",
        decimals=2,
        answer_hash="d04d6f323b96277ae29be46cc948f39b1bf523900f6898b36c11fc6ddbf41255",
        hint="Re-read section 3.4, padding or packing: the wasted tokens.",
    ),
    Choice(
        text=(
            "The end-of-turn token `<|im_end|>` is left out of every training answer, everything else "
            "unchanged. What does the chapter measure?"
        ),
        choices=(
            (
                "The model learns the dates but not where an answer ends: many answers run on after the right "
                "date."
            ),
            "Nothing changes: generation stops at `max_new_tokens` anyway.",
            "The model stops producing dates at all.",
            "Exact match rises, because the answers are shorter to learn.",
        ),
        answer_hash="355e4a651475c16bf829c17cb8f0960784edc86630d84628091a450cc89df445",
        hint="Re-read section 3.7, the end-of-turn token.",
    ),
    Choice(
        text="Which test of stop-word removal and stemming for fine-tuning data is fair?",
        choices=(
            "Preprocess prompts and answers alike, and score against preprocessed references.",
            "Train one run of each arm and compare their exact match.",
            (
                "Preprocess only the prompts, keep answers and references verbatim, use the same seeds, and train "
                "to a budget at which the untouched baseline has learned the task."
            ),
            "Preprocess only the answers, since they carry the loss.",
        ),
        answer_hash="12a47930928ca3d210fe1d2c33037d37201618ac950e2ee10ae5ffaf99634969",
        hint="Re-read section 3.8, stop words and stemming.",
    ),
]
