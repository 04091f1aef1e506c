"""Training speed: full fine-tuning and LoRA, through ftlib's loop and through Hugging Face Trainer.

Each of the four jobs runs in a fresh process (so that peak memory is its own): a few
warm-up steps, then timed steps, on SmolLM2-135M-Instruct at batch 8 x 128 tokens
(packed blocks of the booking requests, no padding). For each job it reports the median
time per step (and the range), tokens per second, peak memory, and the share of the device's matrix-multiply peak
(measured in the same run) that training reaches by the 6PT rule (4PT for LoRA, whose
base weights get no gradient). Results go to bench/results/<name>.json and a Markdown
table beside it, which the book includes.

    python bench/train_speed.py                      # what `make bench` runs (offline model, cpu)
    python bench/train_speed.py --random-init --name h200 --device cuda
                                                     # same shapes, random weights and tokens:
                                                     # for machines without the converted model

Speed does not depend on the weights' values, so --random-init times the same computation.
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

JOBS = [("full", "ftlib"), ("full", "Trainer"), ("lora", "ftlib"), ("lora", "Trainer")]


def build(args):
    """Model and training blocks for one job."""
    import torch

    from ftlib.data import pack

    dtype = getattr(torch, args.dtype)
    if args.random_init:
        from transformers import LlamaConfig, LlamaForCausalLM

        config = LlamaConfig(**json.loads((ROOT / "bench" / "smollm2_135m_config.json").read_text()))
        torch.manual_seed(0)
        model = LlamaForCausalLM(config).to(dtype)
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
    return model.to(args.device), blocks


def run_job(args) -> dict:
    """One job in this process; returns its measurements."""
    import torch

    from ftlib.measure import PeakMemory, training_flops
    from ftlib.models import count_parameters
    from ftlib.train import train, train_with_trainer

    torch.manual_seed(0)
    with PeakMemory(args.device, allocator=False) as peak:  # timed: resident set only
        model, blocks = build(args)
        n_params = count_parameters(model).total
        if args.method == "lora":
            from peft import LoraConfig, get_peft_model

            model = get_peft_model(model, LoraConfig(r=8, lora_alpha=16, target_modules="all-linear"))
        else:
            model.requires_grad_(True)
        kwargs = dict(num_steps=args.warmup + args.steps, batch_size=args.batch_size, lr=1e-5)
        if args.loop == "ftlib":
            history = train(model, blocks, 2, progress=False, **kwargs)
        else:
            import tempfile

            history = train_with_trainer(model, blocks, 2, output_dir=tempfile.mkdtemp(), save=False, **kwargs)
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
        "dtype": args.dtype,
        "weights": "random init (same shapes)" if args.random_init else "SmolLM2-135M-Instruct (offline)",
        "data": "random token ids" if args.random_init else "packed booking requests",
        "batch": f"{args.batch_size} x {args.seq_len}",
        "warmup_steps": args.warmup,
        "matmul_n": n,
        "matmul_peak_flops": matmul_flops(n=n, dtype=getattr(torch, args.dtype), device=args.device, repeats=10),
    }


def table(result: dict) -> str:
    env = result["environment"]
    lines = [
        f"Measured {env['date']} on {env['hardware']} ({env['dtype']}, batch {env['batch']}, {env['weights']}; "
        f"torch {env['torch']}, transformers {env['transformers']}, peft {env['peft']}). "
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
    parser.add_argument("--name", default="cpu", help="results go to bench/results/<name>.json and .md")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    parser.add_argument("--method", choices=["full", "lora"], help=argparse.SUPPRESS)  # one job (internal)
    parser.add_argument("--loop", choices=["ftlib", "Trainer"], help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.method:  # a child process: run one job, print its JSON
        print("RESULT " + json.dumps(run_job(args)))
        return
    jobs = []
    for method, loop in JOBS:
        cmd = [sys.executable, __file__, "--method", method, "--loop", loop, *sys.argv[1:]]
        print(f"{method} / {loop} ...", flush=True)
        done = subprocess.run(cmd, capture_output=True, text=True, env=dict(os.environ, TQDM_DISABLE="1"))
        lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
        if done.returncode != 0 or not lines:
            sys.exit(f"job {method}/{loop} failed:\n{done.stderr[-3000:]}")
        jobs.append(json.loads(lines[-1][len("RESULT ") :]))
        print(f"  {jobs[-1]['seconds_per_step']:.3f} s/step, {jobs[-1]['tokens_per_second']:,.0f} tokens/s", flush=True)
    result = {"environment": environment(args), "jobs": jobs}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"{args.name}.json").write_text(json.dumps(result, indent=2) + "\n")
    (args.out / f"{args.name}.md").write_text(table(result))
    print(table(result))


if __name__ == "__main__":
    main()
