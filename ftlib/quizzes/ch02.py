"""The quiz of chapter 2, the SFT loss: ``show_quiz(2)`` shows it, ``check_quiz(2, answers)`` checks it.

The right answers are stored hashed (ftlib/quizzes/_common.py); instructors find them in
chapters/solutions/quizzes_solutions.ipynb.

Taught in chapter 2; asked in chapters/quizzes.ipynb.
"""

from __future__ import annotations

from ftlib.quizzes._common import Choice, Numeric

__all__ = ["QUESTIONS"]

QUESTIONS: list[Choice | Numeric] = [
    Numeric(
        text=(
            "A batch has three answer tokens. The model gives the right token the probabilities 0.5, 0.25 and "
            "1.0. What is the SFT loss, the mean over the answer tokens?"
        ),
        unit="nats",
        decimals=2,
        answer_hash="d5a72e61974c3f09c3b701ca4bac61f3a4657efa4b0bb16fb5e44c2212c512c2",
        hint="Re-read section 2.2: the loss formula, its sign and its logarithm.",
    ),
    Choice(
        text=(
            "For one position with logits z and target token y, what is the gradient of the cross-entropy "
            "loss with respect to the logit `z_k`, with `p = softmax(z)`?"
        ),
        choices=(
            "`[k = y] − p_k`",
            "`−log p_k`",
            "`p_k − [k = y]`",
            "`p_k (1 − p_k)`",
        ),
        answer_hash="ea7e9e38ca40b62df95fcfdeebf870659f7e8f736c4aeda06bfd4a3da1f5c85b",
        hint="Re-read section 2.4, where the derivative is worked out and checked against autograd.",
    ),
    Choice(
        text=(
            "A circulating description of SFT minimises log P(answer | prompt), without the minus sign. What "
            "does training with that objective do?"
        ),
        choices=(
            "The same as the SFT loss: the sign is a convention, and AdamW normalises it away.",
            (
                "It drives the probability of the right answer tokens down: the model learns to avoid the answers "
                "it was shown."
            ),
            "It trains more slowly but reaches the same model.",
            "It diverges to NaN at the first step.",
        ),
        answer_hash="81afa0a45d59f4e9e9c1b72fa1b760d9ce33324fd6fe7e14313a320d52f3a8f2",
        hint="Re-read section 2.5, the two runs that differ only in the sign.",
    ),
    Numeric(
        text=(
            "A batch holds two examples: a short answer of 2 tokens and a long answer of 8 tokens. In the "
            "token mean (what Hugging Face models return), what share of the total weight do the long "
            "answer's tokens get?"
        ),
        unit="",
        decimals=2,
        answer_hash="1f8264ca209ef32f11d022c49c6ed9a65a262ac7eb3f743ab15cbca4a79fd77e",
        hint="Re-read section 2.6, the two ways of averaging the loss over a batch.",
    ),
    Choice(
        text="The loss `L` is the mean negative log-probability of the answer tokens. What is `exp(−L)`?",
        choices=(
            "The geometric mean of the answer tokens' probabilities.",
            "The arithmetic mean of the answer tokens' probabilities.",
            "The probability of the whole answer.",
            "The largest probability among the answer tokens.",
        ),
        answer_hash="c791619db94e36700ea9e14c659b2f592fcb522d98499c8996bebf99599a1ddb",
        hint="Re-read section 2.7, the paragraph on two averages of a probability.",
    ),
]
