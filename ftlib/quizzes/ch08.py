"""The quiz of chapter 8, the PEFT family side by side: ``show_quiz(8)`` shows it, ``check_quiz(8, answers)`` checks it.

The right answers are stored hashed (ftlib/quizzes/_common.py); instructors find them in
chapters/solutions/quizzes_solutions.ipynb.

Taught in chapter 8; asked in chapters/quizzes.ipynb.
"""

from __future__ import annotations

from ftlib.quizzes._common import Choice, Numeric

__all__ = ["QUESTIONS"]

QUESTIONS: list[Choice | Numeric] = [
    Numeric(
        text=(
            "IA3 on SmolLM2-135M scales the keys, the values and the input of each MLP's down-projection: 30 "
            "blocks, keys and values 192 wide, an MLP 1536 wide. How many parameters does it train?"
        ),
        unit="parameters",
        decimals=0,
        answer_hash="5710e131aa68e68e93dc5dd39d52baf0eaf5ca581c69f96d5ba635da6436f035",
        hint="Re-read section 8.2, what each method trains, counted by hand.",
    ),
    Choice(
        text='A write-up says that PEFT "averages its loss over modules rather than over samples". What holds?',
        choices=(
            (
                "Every PEFT method trains with the ordinary SFT loss, the mean negative log-likelihood of the "
                "answer tokens; only which parameters require gradients changes."
            ),
            "It is true for adapters but not for LoRA.",
            "Each adapted module has a loss of its own, and their mean is minimised.",
            "PEFT minimises the KL divergence to the base model instead.",
        ),
        answer_hash="6fb0cc9f3504939c734f079a5afec018949eeefe0896eb120cb91bb5749b48aa",
        hint="Re-read section 8.3, one loss for all of them.",
    ),
    Choice(
        text=(
            "Which of these methods cannot be merged into the model's weights, and so adds work to every "
            "forward pass at inference?"
        ),
        choices=(
            "LoRA",
            "IA3",
            "LayerNorm tuning",
            "A bottleneck adapter",
        ),
        answer_hash="59bdd6dd909a757c813eb2816cd957b2b0e6fadb02817ffa2ee1b31d7d6bfe61",
        hint="Re-read section 8.3, what each method costs at inference.",
    ),
    Choice(
        text=(
            '"PEFT works by sharing parameters and by splitting the model into modules, one per task." What '
            "holds?"
        ),
        choices=(
            "True: every PEFT method shares its parameters across layers.",
            (
                "PEFT freezes the base model and trains a small added or selected set of parameters; what many "
                "tasks share is the frozen base model. VeRA, which shares frozen random matrices across layers, "
                "is the exception."
            ),
            "True for prompt tuning, false for LoRA.",
            "PEFT splits the model into one module per layer and trains them in turn.",
        ),
        answer_hash="29576f3cd6d8870d63fc2cca1f2b141bce607e4898be2d5efc6f50fea82cebe2",
        hint="Re-read section 8.1, what PEFT is and what it is not.",
    ),
    Choice(
        text=(
            "Eight PEFT methods are compared at one shared learning rate. What does the comparison mostly "
            "measure?"
        ),
        choices=(
            "Which method is best, since AdamW makes the learning rate irrelevant.",
            "Which method has the most parameters.",
            "How far each method's best rate lies from the shared one: each method needs a rate of its own.",
            "The speed of each method's step.",
        ),
        answer_hash="d856997c1b2e64f59e6306610f3669937caa8f62cf005af3a3260092a5738939",
        hint="Re-read section 8.5, each method at its own learning rate.",
    ),
]
