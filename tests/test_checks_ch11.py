"""The autograded checks of chapter 11 accept right answers and refuse typical wrong ones."""

import torch

from ftlib.exercises import check
from ftlib.memory import MODELS, training_memory


def absmax_int8(x):
    scale = x.abs().max() / 127
    if scale == 0:
        return torch.zeros_like(x, dtype=torch.int8), 0.0
    return torch.round(x / scale).to(torch.int8), scale.item()


def nf4_block(x, levels):
    absmax = x.abs().max()
    normalized = x / absmax if absmax > 0 else x
    return (normalized[:, None] - levels[None, :]).abs().argmin(dim=1), absmax.item()


def bits_per_param(block_size, double_quant):
    return 4 + (8 / block_size + 32 / (block_size * 256) if double_quant else 32 / block_size)


def largest_batch(gpu_gib):
    best = 0
    for b in range(1, 257):
        m = training_memory(MODELS["Llama-3.1-8B"], "qlora", batch_size=b, seq_len=1024, precision="bf16",
                            r=16, gradient_checkpointing=True)
        if not m.fits(gpu_gib):
            break
        best = b
    return best


def test_right_answers_pass():
    assert check("11.1", absmax_int8)
    assert check("11.2", nf4_block)
    assert check("11.3", bits_per_param)
    assert check("11.4", largest_batch)


def test_typical_mistakes_fail(capsys):
    def int4_instead(x):
        scale = x.abs().max() / 7
        return (torch.round(x / scale) if scale > 0 else torch.zeros_like(x)), scale.item()

    def truncating(x, levels):
        codes, absmax = nf4_block(x, levels)
        return torch.bucketize(x / max(absmax, 1e-12), levels), absmax  # the level above, not the nearest

    assert not check("11.1", int4_instead)
    assert not check("11.2", truncating)
    assert not check("11.3", lambda b, dq: 4 + 32 / b)  # forgets double quantization
    assert not check("11.3", lambda b, dq: 4.0)
    assert not check("11.4", lambda g: largest_batch(g) + 1)
    assert not check("11.4", lambda g: True)
    assert "Hint" in capsys.readouterr().out


def test_the_calculator_answers_are_not_trivial():
    answers = [largest_batch(g) for g in (6, 12, 24, 40)]
    assert answers[0] == 0 and 0 < answers[1] < answers[2] < answers[3]
