"""The quiz of chapter 12, less compute, more machines: ``show_quiz(12)`` shows it, ``check_quiz(12, answers)`` checks it.

The right answers are stored hashed (ftlib/quizzes/_common.py); instructors find them in
chapters/solutions/quizzes_solutions.ipynb.

Taught in chapter 12; asked in chapters/quizzes.ipynb.
"""

from __future__ import annotations

from ftlib.quizzes._common import Choice, Numeric

__all__ = ["QUESTIONS"]

QUESTIONS: list[Choice | Numeric] = [
    Choice(
        text="Why does fp16 mixed-precision training need a gradient scaler, and bf16 not?",
        choices=(
            "fp16 has fewer mantissa bits than bf16.",
            (
                "fp16's range is far narrower: many small gradient values underflow to zero, and scaling the loss "
                "lifts them into range; bf16 has fp32's range."
            ),
            "bf16 stores the gradients in fp32.",
            "The scaler makes fp16 as fast as bf16.",
        ),
        answer_hash="59aa26b5c39778ef0307a10b6d385a0dc2cd69eb6d021c6c4cee821e7224b448",
        hint="Re-read section 12.1, mixed precision and the gradient scaler.",
    ),
    Numeric(
        text=(
            "Full fine-tuning in bf16 mixed precision with AdamW takes 2 bytes of weights, 2 of gradients and "
            "12 of optimizer state per parameter. Under ZeRO stage 2 on 8 GPUs, how much does each GPU hold "
            "for a model of 8 billion parameters, before activations? Count 1 GB as 10^9 bytes."
        ),
        unit="GB",
        decimals=0,
        answer_hash="e47510c79fc2128867b3926fbde4c7e3088920c3155c6e57c8b7d21d71311cba",
        hint="Re-read section 12.8: what each ZeRO stage shards.",
    ),
    Choice(
        text="Why does the distillation loss multiply the KL divergence by T²?",
        choices=(
            "To keep it positive.",
            "Because the KL divergence is measured in bits.",
            (
                "Because at a large temperature T the gradient with respect to the student's logits shrinks like "
                "1/T², and T² keeps its size comparable with the SFT loss."
            ),
            "To make the teacher's distribution sharper.",
        ),
        answer_hash="c72d5be5837e63dc228adbc28f640f8a5426963e3b49a1ee6b18aed2ea0049bf",
        hint="Re-read section 12.4, distillation: the loss and the temperature.",
    ),
    Choice(
        text=(
            "Half of every weight matrix is set to zero by magnitude pruning; the matrices keep their shape. "
            "What happens to the speed of a dense forward pass?"
        ),
        choices=(
            (
                "Nothing changes: a dense product multiplies zeros like any other number. Removing whole channels "
                "shrinks the matrices and can make it faster."
            ),
            "It roughly doubles.",
            "It halves, because zeros are slower to multiply.",
            "It doubles only in bf16.",
        ),
        answer_hash="2a5b0bd4f35b1c64fa779189a4e26d81d54c09dfaf416d41e417b22c48f26ccc",
        hint="Re-read section 12.5, unstructured zeros and whole channels.",
    ),
    Choice(
        text=(
            "Two DDP processes, one micro-batch each, must reproduce one process that accumulates two "
            "micro-batches. How is each micro-batch's summed loss normalised?"
        ),
        choices=(
            "By its own number of answer tokens.",
            "By the number of processes only.",
            "Not at all: DDP sums the gradients.",
            (
                "By the answer tokens of the whole step on all processes, times the number of processes, since "
                "DDP averages the gradients."
            ),
        ),
        answer_hash="34be2c2691a28f66f50621de24dfe75bd9715bdbb9bad9b300eee621fe0ad671",
        hint="Re-read section 12.6, data parallelism with DDP.",
    ),
]
