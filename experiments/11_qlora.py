"""Chapter 11's sweep: LoRA on an NF4 base against LoRA on the float32 base, over seeds; memory of full, LoRA, QLoRA.

Quality: for each seed, the same LoRA job (chapter 6's: r=8 on every linear layer, 10 steps of 4
dates on the cpu profile, cosine schedule, lr 2e-3) on two bases that differ in one thing: the
frozen linear weights are float32, or NF4 with double quantization (``ftlib.quant``), dequantized
on the fly. The seed sets both LoRA's initialisation and the batch order, so the two bases are
compared seed by seed. Recorded per run: exact match on the 50 validation dates (with the
per-item scores, for paired intervals), validation loss, step time.

Memory: full fine-tuning, LoRA and QLoRA, each in a fresh process (so that one run's freed
memory does not inflate the next one's resident size), measured as chapters 4 and 6 measure:
a freshly loaded model, three training steps on one fixed batch of four inside
``ftlib.measure.PeakMemory`` (the rise of the resident size); on the CPU also the rise of the
bytes the C allocator has in use (``AllocatedPeak``), which leaves out freed memory the
allocator keeps; plus the bytes the model's weights occupy.

Writes ``experiments/results/11_qlora.json``. About 20 minutes on 2 CPU cores (cpu profile):
``FTLIB_PROFILE=cpu python experiments/11_qlora.py``.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import statistics
import subprocess
import sys
import threading
import time

import torch
from tqdm import tqdm

from ftlib.data import collate, data_dir, load_jsonl, tokenize_sft
from ftlib.evaluate import generate, match_scores
from ftlib.lora import add_lora
from ftlib.measure import PeakMemory
from ftlib.models import load_model
from ftlib.profile import get_profile, seed_everything, setup
from ftlib.quant import ALL_LINEAR, model_bytes, quantize_model_nf4
from ftlib.records import save_results
from ftlib.train import full_ft_settings, train, validation_loss

BASES = ("fp32", "nf4")


def lora_model(profile, base: str, seed: int):
    """A fresh model, its linear layers in NF4 when ``base == "nf4"``, with LoRA r=8 on every linear layer."""
    model, tokenizer = load_model(profile)
    if base == "nf4":
        quantize_model_nf4(model)  # NF4, blocks of 64, double quantization
    seed_everything(seed)  # LoRA's A matrices are drawn from this seed
    add_lora(model, ALL_LINEAR, r=8, lora_alpha=16)
    return model, tokenizer


def quality_run(profile, base: str, seed: int, data: dict) -> dict:
    model, tokenizer = lora_model(profile, base, seed)
    settings = dict(full_ft_settings(profile), lr=2e-3)
    history = train(model, data["train"], tokenizer.pad_token_id, seed=seed, progress=False, **settings)
    start = time.perf_counter()
    outputs = generate(model, tokenizer, data["prompts"], max_new_tokens=16, batch_size=25)
    scores = match_scores(outputs, data["refs"])
    return {
        "base": base,
        "seed": seed,
        "exact_match": sum(scores) / len(scores),
        "scores": scores,
        "val_loss": validation_loss(model, data["val"], tokenizer.pad_token_id),
        "step_seconds": statistics.median(history.seconds[1:]),
        "train_seconds": sum(history.seconds),
        "eval_seconds": time.perf_counter() - start,
        "final_train_loss": history.loss[-1],
    }


class AllocatedPeak:
    """The peak of the bytes the C allocator has handed out and not got back (glibc's ``mallinfo2``).

    The resident size that ``PeakMemory`` samples also counts memory that was freed but that the
    allocator keeps for reuse; this counts only what is in use. Linux with glibc 2.33 or newer.
    """

    def __init__(self, interval: float = 0.001):
        import ctypes

        class _Info(ctypes.Structure):
            _fields_ = [(n, ctypes.c_size_t) for n in
                        "arena ordblks smblks hblks hblkhd usmblks fsmblks uordblks fordblks keepcost".split()]  # fmt: skip

        self._libc = ctypes.CDLL("libc.so.6")
        self._libc.mallinfo2.restype = _Info
        self.interval, self.baseline, self.peak = interval, 0, 0
        self._stop = threading.Event()

    def in_use(self) -> int:
        info = self._libc.mallinfo2()
        return info.uordblks + info.hblkhd  # small chunks in use + large (mmapped) blocks

    def _sample(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self.in_use())
            time.sleep(self.interval)

    def __enter__(self) -> AllocatedPeak:
        self.baseline = self.peak = self.in_use()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self.in_use())

    @property
    def increase(self) -> int:
        return self.peak - self.baseline


def memory_run(profile, method: str) -> dict:
    """Chapter 6's protocol: what three training steps on one batch of four add to a loaded model."""
    model, tokenizer = load_model(profile)
    if method == "full":
        model.requires_grad_(True)
    else:
        if method == "qlora":
            quantize_model_nf4(model)
        add_lora(model, ALL_LINEAR, r=8, lora_alpha=16)
    examples = [tokenize_sft(r, tokenizer) for r in load_jsonl(data_dir() / "dates" / "train.jsonl")[:4]]
    batch = collate(examples, tokenizer.pad_token_id)
    with torch.no_grad():  # read every weight once, so that lazy loading is not counted as training
        model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"])
    gc.collect()
    cpu = profile.device == "cpu"
    allocated = AllocatedPeak() if cpu else contextlib.nullcontext()
    with PeakMemory(profile.device) as peak, allocated:
        history = train(model, examples, tokenizer.pad_token_id, num_steps=3, batch_size=4, lr=1e-5, progress=False)
    return {
        "method": method,
        "increase_bytes": peak.increase,
        "allocated_increase_bytes": allocated.increase if cpu else peak.increase,
        "baseline_bytes": peak.baseline,
        "model_bytes": model_bytes(model),
        "trainable": sum(p.numel() for p in model.parameters() if p.requires_grad),
        "batch_shape": list(batch["input_ids"].shape),
        "padding_tokens": int((batch["attention_mask"] == 0).sum()),
        "step_seconds": statistics.median(history.seconds[1:]),
    }


def measure_in_fresh_process(method: str) -> dict:
    """Run :func:`memory_run` in a new Python process and return its record."""
    done = subprocess.run([sys.executable, __file__, "--memory", method], capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--memory", choices=["full", "lora", "qlora"], help="measure one method and print JSON")
    args = parser.parse_args(argv)
    if args.memory:
        print(json.dumps(memory_run(get_profile(), args.memory)))
        return
    started = time.time()
    profile = setup()
    seeds = profile.pick(gpu=list(range(10)), cpu=list(range(10)), smoke=[0, 1])
    _, tokenizer = load_model(profile)
    val_records = load_jsonl(data_dir() / "dates" / "validation.jsonl")
    data = {
        "train": [tokenize_sft(r, tokenizer) for r in load_jsonl(data_dir() / "dates" / "train.jsonl")],
        "val": [tokenize_sft(r, tokenizer) for r in val_records],
        "prompts": [r["prompt"] for r in val_records],
        "refs": [r["answer"] for r in val_records],
    }
    runs = [quality_run(profile, base, seed, data) for seed in tqdm(seeds, desc="seeds") for base in BASES]
    memory = [measure_in_fresh_process(m) for m in tqdm(["full", "lora", "qlora"], desc="memory")]
    results = {"seeds": seeds, "settings": dict(full_ft_settings(profile), lr=2e-3, r=8, lora_alpha=16),
               "runs": runs, "memory": memory}  # fmt: skip
    path = save_results("11_qlora.json", results, profile.name, started)
    for base in BASES:
        ems = [r["exact_match"] for r in runs if r["base"] == base]
        print(f"{base}: exact match {statistics.mean(ems):.3f} over seeds {seeds}")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
