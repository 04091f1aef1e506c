"""Where a training step's time goes: kernel time on the device against wall-clock time.

Profiles the full fine-tuning job of bench/train_speed.py (batch 8 x 128) through ftlib's loop
and through Trainer with torch.profiler. If the device's kernels are busy for only a small part
of the wall time, the step is bound by launching work (Python, the framework, kernel launches),
not by arithmetic. Run on a GPU: python bench/profile_step.py --device cuda
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))


def main() -> None:
    import torch
    from torch.profiler import ProfilerActivity, profile

    from ftlib.train import train, train_with_trainer
    from train_speed import build

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--steps", type=int, default=6)
    cli = parser.parse_args()
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if cli.device == "cuda" else [])
    for dtype in ["float32", "bfloat16"]:
        for method in ["full", "lora"]:
            for loop in ["ftlib", "Trainer"]:
                args = argparse.Namespace(random_init=True, dtype=dtype, device=cli.device, batch_size=8, seq_len=128,
                                          warmup=2, steps=cli.steps)
                model, blocks = build(args)
                if method == "lora":
                    from peft import LoraConfig, get_peft_model

                    model = get_peft_model(model, LoraConfig(r=8, lora_alpha=16, target_modules="all-linear"))
                    dtypes = sorted({str(p.dtype) for p in model.parameters() if p.requires_grad})
                else:
                    model.requires_grad_(True)
                    dtypes = [dtype]
                kwargs = dict(num_steps=args.warmup + args.steps, batch_size=8, lr=1e-5)
                start = time.perf_counter()
                with profile(activities=activities) as prof:
                    if loop == "ftlib":
                        train(model, blocks, 2, progress=False, **kwargs)
                    else:
                        train_with_trainer(model, blocks, 2, output_dir=tempfile.mkdtemp(), save=False, **kwargs)
                    if cli.device == "cuda":
                        torch.cuda.synchronize()
                wall = time.perf_counter() - start
                events = prof.key_averages()
                kernels = [e for e in events if e.device_type.name == "CUDA"]
                busy = sum(e.self_device_time_total for e in kernels) / 1e6
                launches = sum(e.count for e in kernels)
                print(f"\n=== {method} / {loop} / {dtype} (trainable dtypes {dtypes}): wall {wall:.2f} s for "
                      f"{kwargs['num_steps']} steps (profiler on), kernels busy {busy:.2f} s = {busy / wall:.0%}; "
                      f"{launches / kwargs['num_steps']:.0f} kernels per step", flush=True)
                if method == "full" and loop == "ftlib" or method == "lora" and loop == "ftlib" and dtype == "bfloat16":
                    print(events.table(sort_by="self_cuda_time_total", row_limit=12, max_name_column_width=60), flush=True)
                del model, prof
                torch.cuda.empty_cache()


if __name__ == "__main__":
    main()
