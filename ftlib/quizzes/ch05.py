"""The quiz of chapter 5, low-rank math: ``show_quiz(5)`` shows it, ``check_quiz(5, answers)`` checks it.

The right answers are stored hashed (ftlib/quizzes/_common.py); instructors find them in
chapters/solutions/quizzes_solutions.ipynb.

Taught in chapter 5; asked in chapters/quizzes.ipynb.
"""

from __future__ import annotations

from ftlib.quizzes._common import Choice, Numeric

__all__ = ["QUESTIONS"]

QUESTIONS: list[Choice | Numeric] = [
    Numeric(
        text=(
            "A rank-8 update BA of `gate_proj`, a 1536 × 576 matrix: how many parameters do B and A hold "
            "together?"
        ),
        unit="parameters",
        decimals=0,
        answer_hash="29e1fafeff9382dbd7cf71aace45164faa1ffc6fe7b5da4ca3d906616c8b95e9",
        hint="Re-read section 5.3, what a rank-r update costs in parameters.",
    ),
    Numeric(
        text=(
            "A matrix has the singular values 5, 3, 2 and 1. What is the Frobenius-norm error of its best "
            "rank-1 approximation?"
        ),
        unit="",
        decimals=2,
        answer_hash="fe137ae7e38db82f3a721bf4bdb2aa7a9199dd478341b1325d300f52fdfcfd18",
        hint="Re-read section 5.2, the Eckart–Young theorem and its error formula.",
    ),
    Choice(
        text="What does LoRA assume about a pretrained weight matrix W and its fine-tuning?",
        choices=(
            "That W is low rank, so that it can be replaced by the product BA.",
            (
                "That W is frozen and stays full rank; the update ΔW = BA that fine-tuning needs can be written "
                "with few directions."
            ),
            "That all singular values of W are equal.",
            "That W is decomposed once into B and A, which are then fine-tuned instead of W.",
        ),
        answer_hash="66a04b756cc425efd2707adb7ddf330d4ce04c856931d6e85aa64c4a11c58e9e",
        hint="Re-read the chapter's introduction and section 5.4.",
    ),
    Choice(
        text=(
            "Which formula gives the energy E(r) that the top r directions of a matrix with singular values "
            "`σ_i` hold?"
        ),
        choices=(
            "`Σ_{i ≤ r} σ_i / Σ_i σ_i`",
            "`σ_r / σ_1`",
            "`r / min(d, k)`",
            "`Σ_{i ≤ r} σ_i² / Σ_i σ_i²`",
        ),
        answer_hash="0e78441cabe0ceb266dd8ee927e081a6f7c4e33cba9a4033087b72fbbca2d517",
        hint="Re-read sections 5.1 and 5.4: the Frobenius norm and the energy of the top directions.",
    ),
    Choice(
        text=(
            "Cut to rank 4, the update's exact match differs from the untruncated update's by an amount whose "
            "paired 95 % interval contains zero. What may you conclude?"
        ),
        choices=(
            (
                "No difference we can detect with these test items; a loss as large as the interval's lower end "
                "is still possible."
            ),
            "Truncating to rank 4 loses nothing.",
            "Rank 4 is better than the untruncated update.",
            "The evaluation is broken, since truncation must lose something.",
        ),
        answer_hash="d04345492d605ed514ecfa49b3ee8c0f006db1f31e885902dcd98e689a6905ef",
        hint='Re-read section 5.5, the paragraph on what "no difference we can detect" means.',
    ),
]
