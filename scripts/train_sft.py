"""Fine-tune SmolLM2 on the book's dates task: one script for one process, DDP, FSDP or DeepSpeed.

The same file runs unchanged on a laptop and under ``accelerate launch``:

    python scripts/train_sft.py --steps 4 --grad-accum 2 --out runs/one
    accelerate launch --config_file scripts/accelerate/ddp.yaml scripts/train_sft.py --steps 4 --out runs/ddp
    accelerate launch --config_file scripts/accelerate/fsdp.yaml scripts/train_sft.py --steps 4 --out runs/fsdp

A step uses ``world_size x grad_accum`` micro-batches of ``--batch-size`` examples, drawn by
``ftlib.train.draw_batches`` exactly as the single-process loop draws them: process ``r``
takes micro-batches ``r * grad_accum ... (r + 1) * grad_accum - 1`` of each step. So one process
with ``--grad-accum 2`` and two processes with ``--grad-accum 1`` see the same examples, and
(the loss being normalised by the answer tokens of the *whole* step, see ``step_loss``) they
compute the same gradient, up to the order of floating-point sums.

On a machine without CUDA, accelerate runs several processes as ``MULTI_CPU`` with the gloo
backend. It applies FSDP only to GPU-like devices, so when the FSDP config is launched on CPUs
this script shards the model itself with PyTorch's ``fully_shard`` (FSDP2), as accelerate does
on GPUs, and says so.

Each process writes ``rank<r>.json`` into ``--out`` (losses, step times, memory); the main
process also writes the final weights, ``model.safetensors``. ``--save-steps 2,4`` writes
``checkpoint-2/`` ... with ``accelerator.save_state``; ``--resume DIR`` continues from one.

Taught in chapter 12, sections 12.6-12.8.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run from a checkout without `pip install -e .`
    sys.path.insert(0, str(ROOT))

from ftlib.data import IGNORE_INDEX, collate, data_dir, load_jsonl, tokenize_sft  # noqa: E402
from ftlib.loss import token_nll  # noqa: E402
from ftlib.measure import PeakMemory  # noqa: E402
from ftlib.models import load_model  # noqa: E402
from ftlib.profile import get_profile, seed_everything  # noqa: E402
from ftlib.train import draw_batches, lr_at, make_optimizer  # noqa: E402

ALL_LINEAR = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--steps", type=int, default=4, help="optimizer steps")
    p.add_argument("--batch-size", type=int, default=4, help="examples per micro-batch, per process")
    p.add_argument("--grad-accum", type=int, default=1, help="micro-batches per step, per process")
    p.add_argument("--lr", type=float, default=1e-4, help="peak learning rate (AdamW)")
    p.add_argument("--schedule", default="constant", choices=["constant", "linear", "cosine"])
    p.add_argument("--warmup-steps", type=int, default=0)
    p.add_argument("--max-grad-norm", type=float, default=1.0, help="clip the global gradient norm (0: off)")
    p.add_argument("--method", default="full", choices=["full", "lora"], help="train every weight, or LoRA r=8")
    p.add_argument("--gradient-checkpointing", action="store_true")
    p.add_argument("--task", default="dates", help="a folder of data/ with train.jsonl")
    p.add_argument("--seed", type=int, default=0, help="seeds the batch order (and LoRA's initialisation)")
    p.add_argument("--out", type=Path, required=True, help="folder for rank<r>.json and model.safetensors")
    p.add_argument("--save-steps", default="", help="comma-separated steps after which to save a checkpoint")
    p.add_argument("--resume", type=Path, default=None, help="a checkpoint-<step> folder to continue from")
    p.add_argument("--no-save-model", action="store_true", help="skip writing model.safetensors")
    args = p.parse_args(argv)
    if min(args.steps, args.batch_size, args.grad_accum) < 1:
        p.error("--steps, --batch-size and --grad-accum must be >= 1")
    args.save_steps = sorted({int(s) for s in args.save_steps.split(",") if s.strip()})
    return args


def wants_fsdp() -> bool:
    """True when the accelerate config asked for FSDP (``accelerate launch`` sets this variable)."""
    return os.environ.get("ACCELERATE_USE_FSDP", "false").lower() == "true"


def shard_on_cpu(model: torch.nn.Module) -> torch.nn.Module:
    """FSDP2 by hand, as accelerate applies it on GPUs: each decoder layer, then the whole model.

    Each process keeps 1/world of every parameter (a DTensor shard); a layer's full weights are
    gathered just before it runs and freed after (``reshard_after_forward``).
    """
    from torch.distributed.fsdp import fully_shard

    for layer in model.model.layers:
        fully_shard(layer)
    fully_shard(model)
    return model


def local_numel(model: torch.nn.Module) -> int:
    """Parameters this process holds: its shard under FSDP, everything otherwise (tied weights once)."""
    seen, total = set(), 0
    for p in model.parameters():
        t = p.to_local() if hasattr(p, "to_local") else p
        if t.data_ptr() not in seen:
            seen.add(t.data_ptr())
            total += t.numel()
    return total


def answer_tokens(examples: list[dict], indices: list[int]) -> int:
    """Tokens that carry a loss (labels other than -100 after the shift) in these examples."""
    return sum(sum(label != IGNORE_INDEX for label in examples[i]["labels"][1:]) for i in indices)


def step_loss(logits: torch.Tensor, labels: torch.Tensor, n_answer_step: int, world: int) -> torch.Tensor:
    """This micro-batch's share of the step's loss, scaled for the gradient average of DDP and FSDP.

    The step's loss is the mean negative log-likelihood over the answer tokens of *all* its
    micro-batches on *all* processes (``n_answer_step``), as one process with gradient
    accumulation computes it. DDP and FSDP average the gradients of the processes, dividing by
    ``world``; multiplying by ``world`` here undoes that, so the sum over processes is the mean
    over the step. (Dividing by each micro-batch's own token count instead gives a different
    gradient whenever the micro-batches hold different numbers of answer tokens.)
    """
    nll, _ = token_nll(logits, labels)
    return nll.sum() / n_answer_step * world


def held_bytes(tensors) -> int:
    """Bytes of the tensors this process holds (its local shard of a sharded tensor), each storage once."""
    seen, total = set(), 0
    for t in tensors:
        if t is None:
            continue
        t = t.to_local() if hasattr(t, "to_local") else t
        if t.untyped_storage().data_ptr() not in seen:
            seen.add(t.untyped_storage().data_ptr())
            total += t.untyped_storage().nbytes()
    return total


def rss_bytes() -> int:
    import psutil

    return psutil.Process().memory_info().rss


def main(argv: list[str] | None = None) -> dict:
    from accelerate import Accelerator

    args = parse_args(argv)
    # cpu=True on a machine without CUDA: accelerate then runs several processes with gloo (MULTI_CPU).
    accelerator = Accelerator(cpu=not torch.cuda.is_available())
    world, rank = accelerator.num_processes, accelerator.process_index
    profile = get_profile()
    seed_everything(args.seed)
    rss_start = rss_bytes()

    model, tokenizer = load_model(profile)
    if args.method == "lora":
        from ftlib.lora import add_lora

        add_lora(model, ALL_LINEAR, r=8, lora_alpha=16)
    else:
        model.requires_grad_(True)
    if args.gradient_checkpointing:
        from ftlib.efficiency import set_checkpointing

        set_checkpointing(model, True)
    model.train()
    rss_loaded = rss_bytes()

    sharded_by_hand = wants_fsdp() and accelerator.distributed_type.value == "MULTI_CPU"
    if sharded_by_hand:
        if args.save_steps or args.resume:
            raise SystemExit("checkpoints are not supported when this script shards the model itself (FSDP on CPUs)")
        model = shard_on_cpu(model)
        optimizer = make_optimizer([p for p in model.parameters() if p.requires_grad], "adamw", args.lr)
        optimizer = accelerator.prepare(optimizer)
    else:
        optimizer = make_optimizer([p for p in model.parameters() if p.requires_grad], "adamw", args.lr)
        model, optimizer = accelerator.prepare(model, optimizer)
    engine = "FSDP2 (fully_shard, applied by this script)" if sharded_by_hand else accelerator.distributed_type.value
    rss_prepared = rss_bytes()

    records = load_jsonl(data_dir() / args.task / "train.jsonl")
    examples = [tokenize_sft(r, tokenizer) for r in records]
    per_step = world * args.grad_accum
    batches = draw_batches(len(examples), args.steps * per_step, args.batch_size, args.seed)
    params = [p for p in model.parameters() if p.requires_grad]

    first_step = 0
    if args.resume is not None:
        accelerator.load_state(str(args.resume))
        first_step = json.loads((args.resume / "step.json").read_text())["step"]
    losses, seconds = [], []
    with PeakMemory("cpu" if not torch.cuda.is_available() else accelerator.device) as peak:
        for step in range(first_step, args.steps):
            start = time.perf_counter()
            step_batches = batches[step * per_step : (step + 1) * per_step]
            n_answer = answer_tokens(examples, [i for b in step_batches for i in b])
            mine = step_batches[rank * args.grad_accum : (rank + 1) * args.grad_accum]
            local = torch.zeros((), device=accelerator.device)
            for j, indices in enumerate(mine):
                last = j == len(mine) - 1
                if sharded_by_hand:
                    model.set_requires_gradient_sync(last)  # FSDP2: reduce-scatter on the last micro-batch only
                    sync = contextlib.nullcontext()
                else:
                    sync = contextlib.nullcontext() if last else accelerator.no_sync(model)
                batch = {k: v.to(accelerator.device) for k, v in collate([examples[i] for i in indices], tokenizer.pad_token_id).items()}
                with sync, accelerator.autocast():
                    logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], use_cache=False).logits
                    loss = step_loss(logits.float(), batch["labels"], n_answer, world)
                    del logits
                    accelerator.backward(loss)
                local += loss.detach() / world
            if args.max_grad_norm > 0:
                if sharded_by_hand:
                    torch.nn.utils.clip_grad_norm_(params, args.max_grad_norm)
                else:
                    accelerator.clip_grad_norm_(model.parameters(), args.max_grad_norm)
            for group in optimizer.param_groups:
                group["lr"] = lr_at(step, args.lr, args.steps, args.schedule, args.warmup_steps)
            optimizer.step()
            if step == first_step:  # what sharding divides: weights, gradients and AdamW state held by this process
                held = {
                    "weights": held_bytes(model.parameters()),
                    "gradients": held_bytes(p.grad for p in params),
                    "optimizer": held_bytes(t for state in optimizer.state.values() for t in state.values()
                                            if torch.is_tensor(t) and t.dim() > 0),
                }
            optimizer.zero_grad(set_to_none=True)
            total = accelerator.reduce(local, reduction="sum").item()  # the step's mean loss over all processes
            losses.append(total)
            seconds.append(time.perf_counter() - start)
            accelerator.print(f"step {step + 1}/{args.steps}  loss {total:.4f}  ({seconds[-1]:.2f} s)", flush=True)
            if step + 1 in args.save_steps:
                folder = args.out / f"checkpoint-{step + 1}"
                accelerator.save_state(str(folder))
                accelerator.wait_for_everyone()
                if accelerator.is_main_process:
                    (folder / "step.json").write_text(json.dumps({"step": step + 1}))

    args.out.mkdir(parents=True, exist_ok=True)
    if not args.no_save_model:
        save_final(model, accelerator, args.out / "model.safetensors", sharded_by_hand)
    record = {
        "rank": rank,
        "world_size": world,
        "engine": engine,
        "accelerate_distributed_type": accelerator.distributed_type.value,
        "fsdp_requested": wants_fsdp(),
        "threads": torch.get_num_threads(),
        "method": args.method,
        "steps": args.steps,
        "first_step": first_step,
        "grad_accum": args.grad_accum,
        "batch_size": args.batch_size,
        "losses": losses,
        "step_seconds": seconds,
        "local_parameters": local_numel(model),
        "held_bytes": held if args.steps > first_step else {},
        "rss_start": rss_start,
        "rss_loaded": rss_loaded,
        "rss_prepared": rss_prepared,
        "training_peak_increase": peak.increase,
        "max_rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
    }
    (args.out / f"rank{rank}.json").write_text(json.dumps(record, indent=1) + "\n")
    accelerator.wait_for_everyone()
    accelerator.end_training()
    return record


def save_final(model: torch.nn.Module, accelerator, path: Path, sharded_by_hand: bool) -> None:
    """Write the trained weights as one safetensors file (gathered from every shard under FSDP)."""
    from safetensors.torch import save_file

    if sharded_by_hand:
        from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict

        state = get_model_state_dict(model, options=StateDictOptions(full_state_dict=True, cpu_offload=True))
    else:
        state = accelerator.get_state_dict(model)
    if accelerator.is_main_process:
        state = {k: v.detach().cpu().contiguous() for k, v in state.items() if k != "lm_head.weight"}  # tied to the embedding
        save_file(state, str(path))


if __name__ == "__main__":
    main()
