"""The quiz of chapter 7, LoRA with peft, in practice: ``show_quiz(7)`` shows it, ``check_quiz(7, answers)`` checks it.

The right answers are stored hashed (ftlib/quizzes/_common.py); instructors find them in
chapters/solutions/quizzes_solutions.ipynb.

Taught in chapter 7; asked in chapters/quizzes.ipynb.
"""

from __future__ import annotations

from ftlib.quizzes._common import Choice, Numeric

__all__ = ["QUESTIONS"]

QUESTIONS: list[Choice | Numeric] = [
    Choice(
        text="Which of these lines works with the real `peft` library?",
        choices=(
            "`from peft import PEFTModel`",
            "`from peft import PeftModel`",
            "`import lowrank_adaptation`",
            "`from peft import LORA`",
        ),
        answer_hash="8f60ac3cc5bfb65f2fea3bb75943293bc1f4b86850ccb1b85189658e47c152a1",
        hint="Re-read section 7.1, the real API and the one that circulates.",
    ),
    Numeric(
        text=(
            "A SmolLM2 block has seven linear layers: `q_proj` and `o_proj` (576 → 576), `k_proj` and "
            "`v_proj` (576 → 192), and `gate_proj`, `up_proj` (576 → 1536) and `down_proj` (1536 → 576). How "
            "many trainable parameters does LoRA with r = 8 on all seven add to one block?"
        ),
        unit="parameters",
        decimals=0,
        answer_hash="14c22cddbc8b2a9e637d86e7e8cedb0cff73c67989d2fdb668b371558a839444",
        hint="Re-read section 7.3: what a rank-1 pair costs on each layer.",
    ),
    Choice(
        text=(
            '`target_modules=["q_proj", "value"]` on SmolLM2, whose value projection is named `v_proj`. What '
            "does `peft` do?"
        ),
        choices=(
            "It raises an error naming the missing layer.",
            "It guesses `v_proj` from the name.",
            "It adapts `q_proj` alone, without a word: fewer layers train than you meant.",
            "It adapts every linear layer instead.",
        ),
        answer_hash="e3c346376b25e134ec88818f76f25213be6b201f8637f299ecc8ed4c23950bbc",
        hint="Re-read section 7.8, a wrong `target_modules` name.",
    ),
    Choice(
        text="Why is LoRA's best learning rate larger than full fine-tuning's?",
        choices=(
            (
                "Because B starts at zero, only B moves at the first step, and its update is multiplied by the "
                "scaling: at the same rate, LoRA's first step lowers the loss much less than full fine-tuning's."
            ),
            "Because LoRA trains more parameters than full fine-tuning.",
            "Because LoRA does not use AdamW.",
            "Because the dropout of the LoRA path halves every step.",
        ),
        answer_hash="258e4058dc8529cb6e840ebf8c2e604634bb6d26666ad2d37bcc4b3c8554929e",
        hint="Re-read section 7.5, the paragraph on AdamW's first step.",
    ),
    Choice(
        text=(
            "Which variant starts BA at the top r singular directions of W, and freezes the residual `W − U_r "
            "Σ_r V_rᵀ`?"
        ),
        choices=(
            "rsLoRA",
            "DoRA",
            "LoRA+",
            "PiSSA",
            "OLoRA",
        ),
        answer_hash="d9aece7755cbca845705770d8c4771bb2d90843127d73875fa585c79ed07a42d",
        hint="Re-read section 7.6, the variants `peft` offers.",
    ),
]
