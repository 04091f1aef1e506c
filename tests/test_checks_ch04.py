"""Exercise 4.5's check (micro-batch weights of gradient accumulation): right answers pass, wrong ones get a hint."""

import numpy as np
import torch

from ftlib.exercises import check


def test_check_4_5_accepts_the_token_shares_as_list_array_or_tensor():
    assert check("4.5", lambda counts: [n / sum(counts) for n in counts])
    assert check("4.5", lambda counts: np.asarray(counts) / np.sum(counts))
    assert check("4.5", lambda counts: torch.tensor(counts, dtype=torch.float64) / sum(counts))


def test_check_4_5_rejects_the_mean_of_means_and_bad_answers(capsys):
    assert not check("4.5", lambda counts: [1 / len(counts)] * len(counts))  # equal weights: the mean of means
    assert "NOT YET" in capsys.readouterr().out
    for wrong in [lambda counts: counts, lambda counts: None, lambda counts: "0.5", lambda counts: 1 / 0,
                  lambda counts: torch.tensor(0.5), lambda counts: [float("nan")] * len(counts), 42]:
        passed = check("4.5", wrong)
        assert not passed
        assert "Hint" in capsys.readouterr().out or not callable(wrong)
