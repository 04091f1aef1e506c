"""Training speed: full fine-tuning and LoRA, through ftlib's loop, Hugging Face Trainer and TRL's SFTTrainer.

Each job (method x loop) runs in a fresh process (so that peak memory is its own): a few
warm-up steps, then timed steps, on SmolLM2-135M-Instruct at batch 8 x 128 tokens
(packed blocks of the booking requests, no padding). For each job it reports the median
time per step (and the range), tokens per second, peak memory, and the share of the device's matrix-multiply peak
(measured in the same run) that training reaches by the 6PT rule (4PT for LoRA, whose
base weights get no gradient). Results go to bench/results/<name>.json and a Markdown
table beside it, which the book includes.

The three loops run the same job: the same model, blocks, batches in the same order, AdamW at the
same learning rate, the same precision (fp32; or bf16 weights with bf16 autocast on CUDA), no gradient
checkpointing. ``SFTTrainer`` gets the tokenized blocks as they are (``skip_prepare_dataset``) and
``ftlib.data.collate`` as its collator, so what differs is the trainer itself: its loss goes through
TRL's fused LM head (log-probabilities computed in chunks, without the full logits) and it computes
entropy and token accuracy at every step. ``SFTConfig``'s own defaults differ from ``Trainer``'s
(gradient checkpointing on, bf16 autocast on): here both are set as ``Trainer`` has them.

    python bench/train_speed.py                      # what `make bench` runs (offline model, cpu)
    python bench/train_speed.py --random-init --name h200 --device cuda
                                                     # same shapes, random weights and tokens:
                                                     # for machines without the converted model
    python bench/train_speed.py --loops book,trainer # a subset of the loops (book, trainer, sft_trainer)

Speed does not depend on the weights' values, so --random-init times the same computation.
``--model-config`` swaps SmolLM2's shapes for another config (a tiny one checks the plumbing in seconds).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

# --loops names -> the loop's name in the results (and in the book's {bench} role: full.ftlib.seconds_per_step)
LOOPS = {"book": "ftlib", "trainer": "Trainer", "sft_trainer": "SFTTrainer"}
METHODS = ("full", "lora")


def jobs(loops: str) -> list[tuple[str, str]]:
    """(method, loop) pairs for ``--loops book,trainer,sft_trainer``, method by method."""
    names = [name.strip() for name in loops.split(",") if name.strip()]
    unknown = [name for name in names if name not in LOOPS]
    if unknown or not names:
        raise SystemExit(f"--loops: unknown {unknown or loops!r}; choose from {', '.join(LOOPS)}")
    return [(method, LOOPS[name]) for method in METHODS for name in names]


def stand_in_tokenizer(vocab_size: int):
    """A tokenizer object for SFTTrainer, which requires one, when the job has none (random init).

    The data are token ids already and the collator is ours, so SFTTrainer never tokenizes with it:
    it only reads the pad and eos tokens (ids 2, as in SmolLM2's config).
    """
    from tokenizers import Tokenizer
    from tokenizers.models import WordLevel
    from transformers import PreTrainedTokenizerFast

    vocab = {"<unk>": 0, "<s>": 1, "</s>": 2} | {f"t{i}": i for i in range(3, vocab_size)}
    return PreTrainedTokenizerFast(
        tokenizer_object=Tokenizer(WordLevel(vocab, unk_token="<unk>")),
        unk_token="<unk>", bos_token="<s>", eos_token="</s>", pad_token="</s>",
    )


def build(args):
    """Model, training blocks and tokenizer for one job."""
    import torch

    from ftlib.data import pack

    dtype = getattr(torch, args.dtype)
    if args.random_init:
        from transformers import LlamaConfig, LlamaForCausalLM

        config = LlamaConfig(**json.loads(args.model_config.read_text()))
        torch.manual_seed(0)
        model = LlamaForCausalLM(config).to(dtype)
        tokenizer = stand_in_tokenizer(config.vocab_size)
        gen = torch.Generator().manual_seed(0)
        n = args.batch_size * (args.warmup + args.steps)
        blocks = [
            {"input_ids": ids, "attention_mask": [1] * args.seq_len, "labels": ids}
            for ids in torch.randint(3, config.vocab_size, (n, args.seq_len), generator=gen).tolist()
        ]
    else:
        from ftlib.data import data_dir, load_jsonl, tokenize_sft
        from ftlib.models import load_model
        from ftlib.profile import get_profile

        model, tokenizer = load_model(get_profile("cpu"))
        model = model.to(dtype)
        records = load_jsonl(data_dir() / "requests" / "train.jsonl")
        blocks = pack([tokenize_sft(r, tokenizer) for r in records], block_size=args.seq_len)[:-1]  # full blocks only
    return model.to(args.device), blocks, tokenizer


def train_with_sft_trainer(model, examples, tokenizer, pad_token_id, num_steps, output_dir, batch_size, lr, seed=0):
    """The job of ``ftlib.train.train_with_trainer`` (constant lr, AdamW, no clipping), run by TRL's SFTTrainer.

    Same batches in the same order (``draw_batches``, fed by a sequential sampler), ``collate`` as
    the collator, each step timed from ``on_step_begin`` to ``on_step_end``.
    """
    import torch
    from datasets import Dataset
    from torch.utils.data import SequentialSampler
    from transformers import PrinterCallback, TrainerCallback
    from trl import SFTConfig, SFTTrainer

    from ftlib.data import collate
    from ftlib.train import History, draw_batches

    batches = draw_batches(len(examples), num_steps, batch_size, seed)
    stream = Dataset.from_list([examples[i] for batch in batches for i in batch])
    device = next(model.parameters()).device
    step_seconds: list[float] = []

    class InOrder(SFTTrainer):
        def _get_train_sampler(self, *args, **kwargs):
            return SequentialSampler(self.train_dataset)

    class StepTimer(TrainerCallback):
        def on_step_begin(self, *args, **kwargs):
            self.start = time.perf_counter()

        def on_step_end(self, *args, **kwargs):
            if device.type == "cuda":
                torch.cuda.synchronize()
            step_seconds.append(time.perf_counter() - self.start)

    config = SFTConfig(
        output_dir=str(output_dir),
        max_steps=num_steps,
        per_device_train_batch_size=batch_size,
        learning_rate=lr,
        lr_scheduler_type="constant_with_warmup",  # as train_with_trainer's "constant"
        warmup_steps=0,
        weight_decay=0.0,
        optim="adamw_torch",
        max_grad_norm=0.0,
        gradient_checkpointing=False,  # SFTConfig's default is True; Trainer's and the book's are off
        bf16=device.type == "cuda" and next(model.parameters()).dtype == torch.bfloat16,  # default: on everywhere
        use_cpu=device.type == "cpu",
        logging_steps=1,
        save_strategy="no",
        report_to=[],
        seed=seed,
        remove_unused_columns=False,
        dataset_kwargs={"skip_prepare_dataset": True},  # the blocks are token ids already
        disable_tqdm=True,
    )
    trainer = InOrder(
        model=model,
        args=config,
        train_dataset=stream,
        processing_class=tokenizer,
        data_collator=lambda rows: collate(rows, pad_token_id),
    )
    trainer.remove_callback(PrinterCallback)
    trainer.add_callback(StepTimer())
    trainer.train()
    history = History()
    history.loss = [float(r["loss"]) for r in trainer.state.log_history if "loss" in r and "learning_rate" in r]
    history.seconds = step_seconds
    return history


def run_job(args) -> dict:
    """One job in this process; returns its measurements."""
    import torch

    from ftlib.measure import PeakMemory, training_flops
    from ftlib.models import count_parameters
    from ftlib.train import train, train_with_trainer

    torch.manual_seed(0)
    with PeakMemory(args.device, allocator=False) as peak:  # timed: resident set only
        model, blocks, tokenizer = build(args)
        n_params = count_parameters(model).total
        if args.method == "lora":
            from peft import LoraConfig, get_peft_model

            model = get_peft_model(model, LoraConfig(r=8, lora_alpha=16, target_modules="all-linear"))
        else:
            model.requires_grad_(True)
        kwargs = {"num_steps": args.warmup + args.steps, "batch_size": args.batch_size, "lr": 1e-5}
        if args.loop == "ftlib":
            history = train(model, blocks, 2, progress=False, **kwargs)
        elif args.loop == "Trainer":
            import tempfile

            history = train_with_trainer(model, blocks, 2, output_dir=tempfile.mkdtemp(), save=False, **kwargs)
        else:
            import tempfile

            history = train_with_sft_trainer(model, blocks, tokenizer, 2, output_dir=tempfile.mkdtemp(), **kwargs)
    seconds = sorted(history.seconds[args.warmup :])
    step = seconds[len(seconds) // 2]  # the median step: robust to a slow step when the host is busy
    tokens = args.batch_size * args.seq_len
    flops = training_flops(n_params, tokens, trainable=args.method == "full")
    return {
        "method": args.method,
        "loop": args.loop,
        "trainable": count_parameters(model).trainable,
        "params": n_params,
        "timed_steps": len(seconds),
        "seconds_per_step": step,
        "step_seconds_range": [seconds[0], seconds[-1]],
        "tokens_per_second": tokens / step,
        "achieved_flops": flops / step,
        "peak_memory_bytes": peak.increase,
        "final_loss": history.loss[-1],
    }


def environment(args) -> dict:
    import peft
    import torch
    import transformers

    from ftlib.measure import matmul_flops

    if args.device == "cuda":
        hardware = torch.cuda.get_device_name(0)
    else:
        hardware = f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} threads"
    n = 8192 if args.device == "cuda" else 2048
    return {
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "hardware": hardware,
        "device": args.device,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "peft": peft.__version__,
        "trl": _version("trl"),
        "dtype": args.dtype,
        "weights": _weights(args),
        "data": "random token ids" if args.random_init else "packed booking requests",
        "batch": f"{args.batch_size} x {args.seq_len}",
        "warmup_steps": args.warmup,
        "matmul_n": n,
        "matmul_peak_flops": matmul_flops(n=n, dtype=getattr(torch, args.dtype), device=args.device, repeats=10),
    }


def _weights(args) -> str:
    if not args.random_init:
        return "SmolLM2-135M-Instruct (offline)"
    if args.model_config.name == "smollm2_135m_config.json":
        return "random init (same shapes)"
    return f"random init ({args.model_config.name})"


def _version(name: str) -> str | None:
    import importlib.metadata

    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def table(result: dict) -> str:
    env = result["environment"]
    lines = [
        f"Measured {env['date']} on {env['hardware']} ({env['dtype']}, batch {env['batch']}, {env['weights']}; "
        f"torch {env['torch']}, transformers {env['transformers']}, peft {env['peft']}"
        + (f", trl {env['trl']}" if env.get("trl") and any(j["loop"] == "SFTTrainer" for j in result["jobs"]) else "")
        + "). "
        f"Matrix-multiply peak: {env['matmul_peak_flops'] / 1e9:,.0f} GFLOP/s ({env['matmul_n']}-square product).",
        "",
        "| job | loop | s / step (median) | range | tokens / s | peak memory | share of matmul peak |",
        "|---|---|---|---|---|---|---|",
    ]
    for j in result["jobs"]:
        lines.append(
            f"| {j['method']} | {j['loop']} | {j['seconds_per_step']:.3f} | "
            f"{j['step_seconds_range'][0]:.3f} to {j['step_seconds_range'][1]:.3f} | {j['tokens_per_second']:,.0f} | "
            f"{j['peak_memory_bytes'] / 2**30:.2f} GiB | {j['achieved_flops'] / env['matmul_peak_flops']:.0%} |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", default="float32", choices=["float32", "bfloat16"])
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--seq-len", type=int, default=128)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--random-init", action="store_true")
    parser.add_argument("--model-config", type=Path, default=ROOT / "bench" / "smollm2_135m_config.json",
                        help="the shapes for --random-init (default: SmolLM2-135M's)")
    parser.add_argument("--keep-going", action="store_true", help="record a failed job and go on (device runs)")
    parser.add_argument("--loops", default=",".join(LOOPS), help="which loops, comma-separated: book,trainer,sft_trainer")
    parser.add_argument("--name", default="cpu", help="results go to bench/results/<name>.json and .md")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    parser.add_argument("--method", choices=["full", "lora"], help=argparse.SUPPRESS)  # one job (internal)
    parser.add_argument("--loop", choices=list(LOOPS.values()), help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.method:  # a child process: run one job, print its JSON
        print("RESULT " + json.dumps(run_job(args)))
        return
    done_jobs, failed = [], []
    for method, loop in jobs(args.loops):
        cmd = [sys.executable, __file__, "--method", method, "--loop", loop, *sys.argv[1:]]
        print(f"{method} / {loop} ...", flush=True)
        done = subprocess.run(cmd, check=False, capture_output=True, text=True, env=dict(os.environ, TQDM_DISABLE="1"))
        lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
        if done.returncode != 0 or not lines:
            if not args.keep_going:
                sys.exit(f"job {method}/{loop} failed:\n{done.stderr[-3000:]}")
            print(f"  FAILED:\n{done.stderr[-1500:]}", flush=True)
            failed.append({"method": method, "loop": loop, "error": done.stderr[-1500:]})
            continue
        done_jobs.append(json.loads(lines[-1][len("RESULT ") :]))
        last = done_jobs[-1]
        print(f"  {last['seconds_per_step']:.3f} s/step, {last['tokens_per_second']:,.0f} tokens/s", flush=True)
    result = {"environment": environment(args), "jobs": done_jobs}
    if failed:
        result["failed_jobs"] = failed
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"{args.name}.json").write_text(json.dumps(result, indent=2) + "\n")
    (args.out / f"{args.name}.md").write_text(table(result))
    print(table(result))
    if failed:
        sys.exit(f"{len(failed)} job(s) failed: " + ", ".join(f"{f['method']}/{f['loop']}" for f in failed))


if __name__ == "__main__":
    main()
