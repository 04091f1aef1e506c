"""The quiz of chapter 1, why fine-tune: ``show_quiz(1)`` shows it, ``check_quiz(1, answers)`` checks it.

The right answers are stored hashed (ftlib/quizzes/_common.py); instructors find them in
chapters/solutions/quizzes_solutions.ipynb.

Taught in chapter 1; asked in chapters/quizzes.ipynb.
"""

from __future__ import annotations

from ftlib.quizzes._common import Choice, Numeric

__all__ = ["QUESTIONS"]

QUESTIONS: list[Choice | Numeric] = [
    Choice(
        text=(
            "A support bot must answer from a product manual that changes every month. What should you try "
            "first?"
        ),
        choices=(
            "Fine-tune the model on the manual, and again after every change.",
            "Train a larger model from scratch on the manual.",
            "Retrieval: put the relevant passages of the manual into the prompt.",
            "Fine-tune with a higher learning rate, so that new facts are learnt faster.",
        ),
        answer_hash="6f7b57acb8ee8aa9726cff0c4af77b02c29e7d99c9eaf523354577a9d55916ff",
        hint="Re-read section 1.1, the table of what to try first for each kind of need.",
    ),
    Choice(
        text=(
            "Why is the Wilson interval the standard choice for a share of right answers, k out of n, rather "
            "than the textbook interval p̂ ± 1.96·√(p̂(1 − p̂)/n)?"
        ),
        choices=(
            "It stays inside [0, 1] and does not shrink to a single point when 0 or n answers are right.",
            "It is always narrower, so it shows differences sooner.",
            "It accounts for the randomness of training as well as of the test items.",
            "It needs no assumption about how the test items were drawn.",
        ),
        answer_hash="ce1d1a11888ad64fc0e0cb1efad91c38b59aabbc19b87f67e37e1e3fc0a88d1c",
        hint="Re-read section 1.6, where the interval of an exact match is introduced.",
    ),
    Numeric(
        text=(
            "LoRA with r = 4 on `q_proj` only, in every one of SmolLM2-135M's 30 blocks. `q_proj` maps 576 "
            "features to 576. How many trainable parameters does LoRA add?"
        ),
        unit="parameters",
        decimals=0,
        answer_hash="f23f41084db8f3a57fd6245c13a4f74cfca2d4514fe478b6c36f1feca6c7d087",
        hint="Re-read section 1.5: the shapes of A and B, and how many layers get a pair.",
    ),
    Choice(
        text=(
            "The paired bootstrap of section 1.6 gives an interval for the gain of the fine-tuned model over "
            "the base model. What does that interval account for?"
        ),
        choices=(
            "How much another training run, with another seed, would move the gain.",
            "Both the choice of test items and the seed of the training run.",
            "Only the rounding of the model's float32 arithmetic.",
            "How much another draw of test items would move the gain; not another training run.",
        ),
        answer_hash="bd5cc023bece7f1bfef2bb2c65fd6c29115509a02d377fa4f6d37dad3cc0bff8",
        hint="Re-read section 1.6, the paragraph after the gain and its interval.",
    ),
    Choice(
        text="Which statement about LoRA's cost holds?",
        choices=(
            "LoRA makes inference cheaper than the base model, because most weights are frozen.",
            (
                "LoRA saves training memory and storage (gradients, optimizer state, a small adapter file); "
                "merged, the model costs at inference exactly what the base model costs."
            ),
            "LoRA removes parameters from the base model, so the saved model is smaller.",
            "LoRA makes the forward pass skip the frozen layers during training.",
        ),
        answer_hash="6bee92e7fc61f8eaedff63b9e397ad07cfa22db1cb1369f5bded1f4b17d9d9cf",
        hint="Re-read section 1.7, what the run cost and what LoRA does not buy.",
    ),
]
