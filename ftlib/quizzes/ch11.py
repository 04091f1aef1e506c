"""The quiz of chapter 11, quantization and QLoRA: ``show_quiz(11)`` shows it, ``check_quiz(11, answers)`` checks it.

The right answers are stored hashed (ftlib/quizzes/_common.py); instructors find them in
chapters/solutions/quizzes_solutions.ipynb.

Taught in chapter 11; asked in chapters/quizzes.ipynb.
"""

from __future__ import annotations

from ftlib.quizzes._common import Choice, Numeric

__all__ = ["QUESTIONS"]

QUESTIONS: list[Choice | Numeric] = [
    Numeric(
        text=(
            "NF4 with blocks of 64 weights and double quantization: 4 bits per weight, an 8-bit scale per "
            "block, and one 32-bit scale per 256 block scales. How many bits does one weight take, scales "
            "included?"
        ),
        unit="bits",
        decimals=3,
        answer_hash="835b51a76074b0f7ecd9f192823d590be7c814c2e7f9b1d47421bb84779d99ea",
        hint="Re-read section 11.3, the paragraph on double quantization.",
    ),
    Numeric(
        text=(
            "Symmetric absmax quantization to int4 (largest code 7) of the block [0.66, −0.26, 0.05, −1.4]. "
            "What value does 0.66 come back as after dequantization?"
        ),
        unit="",
        decimals=2,
        answer_hash="4e67278314571124d4c8fa28f49fbd0f2e6520df2ec6e51e37620e854f43dcb0",
        hint="Re-read section 11.2: the scale, the rounding and the dequantization.",
    ),
    Choice(
        text="Why does absmax quantization use one scale per block of weights rather than one per tensor?",
        choices=(
            "Per-block scales need less storage than one scale per tensor.",
            (
                "One outlier sets a per-tensor scale so large that many small weights round to zero; a block's "
                "scale confines the outlier's effect to its own block."
            ),
            "Blocks make the matrix product faster.",
            "A tensor's scale cannot be stored in 32 bits.",
        ),
        answer_hash="c7cd24299a920795bee367cef5bfa31e1ae9f188e18a3803405d742171e13f8f",
        hint="Re-read section 11.2, absmax quantization, in blocks, and the outliers.",
    ),
    Choice(
        text="Where are NF4's 16 levels placed?",
        choices=(
            "Evenly spaced between −1 and 1.",
            "At powers of two, like the exponents of a float.",
            "At levels learned from the model's weights.",
            "At quantiles of the standard normal distribution, with an exact zero, scaled into [−1, 1].",
        ),
        answer_hash="887fcc44611ec63e7600d870a0400b979bd09c2000c8b4484071be23acfb5dec",
        hint="Re-read section 11.3, NF4 from scratch.",
    ),
    Choice(
        text=(
            "A LoRA adapter trained on an NF4 base is merged into it and the sum is quantized to NF4 again. "
            "What happens to the update?"
        ),
        choices=(
            (
                "Little of it survives: each weight's share of the update is far smaller than the gap between two "
                "NF4 levels, so rounding sends most weights back to where they were."
            ),
            "It survives: the update is added before the rounding.",
            "It doubles, because the scale is recomputed.",
            "NF4 refuses the merge.",
        ),
        answer_hash="95067b06e829bdcfc0a23e8d3bd3af04c28d8fa5998d22f0672a8c62e43ee2a4",
        hint="Re-read section 11.5, merging into a 4-bit base.",
    ),
]
