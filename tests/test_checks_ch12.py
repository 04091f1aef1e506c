"""The autograded checks of chapter 12 accept right answers and refuse the usual wrong ones."""

import torch
import torch.nn.functional as F

from ftlib.checks.ch12 import zero_bytes_per_gpu
from ftlib.exercises import check


def kd_right(s, t, T):
    log_s, log_t = F.log_softmax(s / T, -1), F.log_softmax(t / T, -1)
    return (log_t.exp() * (log_t - log_s)).sum(-1).mean() * T**2


def test_12_1(capsys):
    assert check("12.1", kd_right)
    assert not check("12.1", lambda s, t, T: kd_right(s, t, T) / T**2)  # forgot T**2
    assert "T**2" in capsys.readouterr().out
    assert not check("12.1", lambda s, t, T: kd_right(t, s, T))  # KL the wrong way round
    assert not check("12.1", lambda s, t, T: F.cross_entropy(s, t.argmax(-1)))
    assert not check("12.1", "not a function")


def test_12_2():
    assert check("12.2", zero_bytes_per_gpu)
    assert zero_bytes_per_gpu(8_000_000_000, 8, 0) == 128_000_000_000
    assert zero_bytes_per_gpu(8_000_000_000, 8, 3) == 16_000_000_000
    assert not check("12.2", lambda p, n, s: 16 * p // n)  # everything sharded at every stage
    assert not check("12.2", lambda p, n, s: 16 * p)


def test_12_3():
    def mask_2_4(w):
        groups = w.abs().reshape(w.shape[0], -1, 4)
        mask = torch.zeros_like(groups, dtype=torch.bool)
        mask.scatter_(-1, groups.topk(2, dim=-1).indices, True)
        return mask.reshape(w.shape)

    assert check("12.3", mask_2_4)
    assert not check("12.3", lambda w: w.abs() >= w.abs().median())  # global magnitude, not 2 in every 4
    assert not check("12.3", lambda w: torch.ones_like(w, dtype=torch.bool))
    assert not check("12.3", lambda w: None)
