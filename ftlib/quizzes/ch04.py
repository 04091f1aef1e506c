"""The quiz of chapter 4, full fine-tuning: ``show_quiz(4)`` shows it, ``check_quiz(4, answers)`` checks it.

The right answers are stored hashed (ftlib/quizzes/_common.py); instructors find them in
chapters/solutions/quizzes_solutions.ipynb.

Taught in chapter 4; asked in chapters/quizzes.ipynb.
"""

from __future__ import annotations

from ftlib.quizzes._common import Choice, Numeric

__all__ = ["QUESTIONS"]

QUESTIONS: list[Choice | Numeric] = [
    Numeric(
        text=(
            "A model of 135 million parameters is fully fine-tuned with AdamW in fp32. How much memory do its "
            "weights, gradients and optimizer state take together, before any activation? Count 1 GB as 10^9 "
            "bytes."
        ),
        unit="GB",
        decimals=2,
        answer_hash="1802d122117f03f7f3cf670bff2089197292e9dee177a55b07bc54c91dd4a3e9",
        hint="Re-read section 4.7: the bytes per parameter of each part.",
    ),
    Choice(
        text=(
            "AdamW's first step (t = 1, with bias correction; ignore ε and weight decay): how far does each "
            "parameter move?"
        ),
        choices=(
            "By the learning rate times its gradient.",
            "By the learning rate divided by the gradient's norm.",
            "Not at all: the running averages start at zero.",
            (
                "By exactly the learning rate, in the direction opposite to the sign of its gradient, however "
                "small the gradient."
            ),
        ),
        answer_hash="91a33da259d2e9e104da8f9d5d3a6e087287c654a62904b3f5b96bf6fff5e22e",
        hint="Re-read section 4.1, the note on the size of the first step.",
    ),
    Numeric(
        text=(
            "Linear warm-up over the first 10 steps, then cosine decay, 70 steps in all, steps counted from "
            "0. What is the learning rate at step 30, as a fraction of the peak rate?"
        ),
        unit="",
        decimals=2,
        answer_hash="2cdeba2d1751bd0f4f1009f0188646dcd22b114c0f8c6b81d6ed2cfb97bf88e1",
        hint="Re-read section 4.2: the progress u after the warm-up, and the cosine schedule.",
    ),
    Choice(
        text=(
            "Gradient accumulation over k micro-batches must give the gradient of the whole step's token "
            "mean. How is each micro-batch's summed loss S_j scaled before its backward pass?"
        ),
        choices=(
            "Divided by its own number of answer tokens n_j, then by k.",
            "Divided by the number of answer tokens of all k micro-batches together.",
            "Divided by k only.",
            "Not at all: the optimizer normalises the summed gradient.",
        ),
        answer_hash="94ff72d0873315e1c3553ed21c484dc682d7bfb52c73ccc94400cf6d270c7939",
        hint="Re-read section 4.4, gradient accumulation and the mean over answer tokens.",
    ),
    Choice(
        text=(
            "A tutorial tests its fine-tuned model by loading the pretrained model's name again with "
            "`from_pretrained`. What does that test?"
        ),
        choices=(
            "The fine-tuned model, since the name now points to the trained weights.",
            "The fine-tuned model, merged with the base.",
            (
                "The original, pretrained weights: the fine-tuning is gone. Save the trained weights and load "
                "those."
            ),
            "Nothing: loading a name twice raises an error.",
        ),
        answer_hash="73ce29989b9b09d6ffc20d28530fa4431c459dd885b500363007604788dfc0b8",
        hint="Re-read section 4.9, saving and loading the fine-tuned model.",
    ),
]
