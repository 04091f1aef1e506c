"""The exercise checks of chapters 4-6 on answers a learner might really give."""

import numpy as np
import torch

from ftlib.exercises import check


def _smallest_rank_tensor(s, fraction):
    energy = (s.double() ** 2).cumsum(0) / (s.double() ** 2).sum()
    return (energy < fraction - 1e-12).sum() + 1  # a 0-d tensor, not an int


def test_5_3_accepts_a_one_element_tensor_or_numpy_integer(capsys):
    assert check("5.3", _smallest_rank_tensor)
    assert check("5.3", lambda s, f: int(_smallest_rank_tensor(s, f)))
    assert check("5.3", lambda s, f: np.int64(_smallest_rank_tensor(s, f).item()))
    assert check("5.3", lambda s, f: _smallest_rank_tensor(s, f).reshape(1))
    assert "PASSED" in capsys.readouterr().out


def test_5_3_explains_what_to_return(capsys):
    energy = lambda s, f: (s**2).cumsum(0) / (s**2).sum()  # noqa: E731  the whole curve, not a rank
    assert not check("5.3", energy)
    out = capsys.readouterr().out
    assert "returned Tensor of shape (4,)" in out and "one whole number" in out
    assert not check("5.3", lambda s, f: 1.5)
    assert "expected one whole number" in capsys.readouterr().out
    assert not check("5.3", lambda s, f: torch.tensor(len(s)))  # a wrong count, as a tensor
    assert "gave 4, expected 1" in capsys.readouterr().out
