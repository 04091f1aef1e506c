import time

import pytest
import torch

from ftlib.data import collate, tokenize_sft
from ftlib.measure import (
    PeakMemory,
    matmul_flops,
    saved_activation_bytes,
    training_flops,
    training_memory,
)
from ftlib.models import tiny_llama


def test_training_memory_counts_16_bytes_per_parameter_for_fp32_adamw():
    m = training_memory(1000, 1000, "adamw")
    assert (m.weights, m.gradients, m.optimizer, m.total) == (4000, 4000, 8000, 16000)
    lora = training_memory(1000, 10, "adamw", activations=500)
    assert (lora.gradients, lora.optimizer, lora.total) == (40, 80, 4000 + 40 + 80 + 500)
    assert training_memory(1000, 1000, "sgd").optimizer == 4000
    assert training_memory(1000, 1000, "adamw", bytes_per_value=2).total == 8000
    with pytest.raises(ValueError, match="unknown optimizer"):
        training_memory(10, 10, "lion")
    with pytest.raises(ValueError, match="n_trainable"):
        training_memory(10, 11)


def test_saved_activations_grow_with_the_batch(smoke):
    _, tokenizer = smoke
    model = tiny_llama(len(tokenizer), seed=0)
    ex = tokenize_sft({"prompt": "Date: 1 May 2000", "answer": "2000-05-01"}, tokenizer)
    one = saved_activation_bytes(model, collate([ex], tokenizer.pad_token_id))
    four = saved_activation_bytes(model, collate([ex] * 4, tokenizer.pad_token_id))
    logits = len(ex["input_ids"]) * len(tokenizer) * 4
    assert one > logits  # the logits at least, and every layer's inputs
    assert four == pytest.approx(4 * one, rel=0.05)


def test_peak_memory_sees_an_allocation():
    with PeakMemory("cpu") as pm:
        x = torch.ones(64 * 2**20 // 4)  # 64 MiB, written so the pages are resident
        del x
    assert pm.increase >= 48 * 2**20
    assert pm.peak >= pm.baseline > 0


def test_peak_memory_without_the_allocator_samples_the_resident_set_only():
    with PeakMemory("cpu", allocator=False, record=True) as pm:
        x = torch.ones(64 * 2**20 // 4)
        time.sleep(0.02)
        del x
    assert pm.increase >= 48 * 2**20
    assert pm.allocated_increase is None and pm.allocated_peak is None
    assert pm.samples and all(allocated is None for _, _, allocated in pm.samples)


def test_matmul_flops_and_the_6nt_rule():
    assert matmul_flops(n=128, repeats=2) > 1e6
    assert training_flops(100, 10) == 6000
    assert training_flops(100, 10, trainable=False) == 4000
    with pytest.raises(ValueError):
        matmul_flops(n=0)


def test_allocated_bytes_follow_a_tensor_and_peak_memory_records_them():
    from ftlib.measure import allocated_bytes

    if allocated_bytes() is None:
        pytest.skip("glibc's mallinfo2 is not available here")
    before = allocated_bytes()
    x = torch.ones(32 * 2**20 // 4)  # 32 MiB
    assert allocated_bytes() - before >= 31 * 2**20
    del x
    assert allocated_bytes() - before < 2**20  # given back to the allocator: no longer in use
    with PeakMemory("cpu") as pm:
        y = torch.ones(64 * 2**20 // 4)
        time.sleep(0.05)  # the sampling thread sees what lives for more than a millisecond or so
        del y
    assert pm.allocated_increase >= 60 * 2**20  # the tensor was seen while it lived
    assert pm.allocated_peak >= pm.allocated_baseline > 0


def test_training_phases_and_a_recorded_memory_timeline(smoke):
    from ftlib.measure import TrainingPhases
    from ftlib.train import train

    _, tokenizer = smoke
    model = tiny_llama(len(tokenizer), seed=0)
    ex = tokenize_sft({"prompt": "Date: 1 May 2000", "answer": "2000-05-01"}, tokenizer)
    with PeakMemory("cpu", record=True) as pm, TrainingPhases(model) as phases:
        train(model, [ex], tokenizer.pad_token_id, num_steps=2, batch_size=2, progress=False)
    names = [phase for _, phase in phases.events]
    assert names == ["forward", "backward", "optimizer", "other"] * 2 + ["other"]
    times = [t for t, _ in phases.events]
    assert times == sorted(times)
    assert pm.samples and all(rss > 0 for _, rss, _ in pm.samples)
    assert [t for t, _, _ in pm.samples] == sorted(t for t, _, _ in pm.samples)
    train(model, [ex], tokenizer.pad_token_id, num_steps=1, progress=False)
    assert len(phases.events) == 9  # the hooks are gone after the block
