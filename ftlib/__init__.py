"""ftlib: the small helper library of *Fine-tuning LLMs, hands-on*.

Each module holds one concern and says which chapter teaches it:

- ``ftlib.profile``: runtime profiles (gpu / cpu / smoke), seeding, the banner.
- ``ftlib.models``: loading a model by profile, the offline model, parameter counts.
- ``ftlib.data``: JSONL records, chat templates, prompt masking, collation.
- ``ftlib.evaluate``: batched greedy generation, exact match, field accuracy.
- ``ftlib.loss``: the SFT loss written out, token and sequence means, perplexity.
- ``ftlib.train``: the training loop (schedules, accumulation, clipping, validation) and its Trainer twin.
- ``ftlib.measure``: memory predicted and measured, matrix-multiply peak, training FLOPs.
- ``ftlib.lora``: LoRA from scratch (a LoRA linear layer, adding, merging, saving adapters).
- ``ftlib.plots``: the figures the chapters draw.
- ``ftlib.adapters``: bottleneck adapters (Houlsby et al.), written from scratch for chapter 8.
- ``ftlib.glue``: numbers pasted from the cell that computed them into the prose (myst-nb's glue).
- ``ftlib.stats``: intervals for proportions, paired differences and seeds.
- ``ftlib.glance``: the measured time and memory of a chapter, for its "at a glance" box.
- ``ftlib.records``: results of sweeps saved with their provenance (``experiments/``).
- ``ftlib.exercises``: autograded checks for the end-of-chapter exercises (one module per chapter in ``ftlib.checks``).
- ``ftlib.quiz``: the five-question quiz of every chapter (one module per chapter in ``ftlib.quizzes``).
- ``ftlib.distill``, ``ftlib.prune``, ``ftlib.efficiency``, ``ftlib.launch``: less compute, more machines (chapter 12).
- ``ftlib.dpo``: direct preference optimization, the loss and a loop (chapter 13).

Importing ``ftlib`` does nothing else: no seeding, no downloads, no settings changed.
"""

__version__ = "0.1.0"
__all__ = ["__version__"]
