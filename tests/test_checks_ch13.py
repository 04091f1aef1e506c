"""The autograded checks of chapter 13 accept right answers and refuse the usual wrong ones with a hint."""

import torch
import torch.nn.functional as F

from ftlib.exercises import check


def dpo_right(policy_chosen, policy_rejected, ref_chosen, ref_rejected, beta):
    margin = beta * ((policy_chosen - ref_chosen) - (policy_rejected - ref_rejected))
    return -F.logsigmoid(margin).mean()


def dpo_written_out(pc, pr, rc, rr, beta):  # the same loss, as log(1 + e^-m)
    return torch.log1p(torch.exp(-beta * (pc - rc - pr + rr))).mean()


def test_13_1(capsys):
    assert check("13.1", dpo_right)
    assert check("13.1", dpo_written_out)
    capsys.readouterr()
    assert not check(
        "13.1", lambda pc, pr, rc, rr, beta: dpo_right(pc, pr, rc, rr, 1.0)
    )  # beta forgotten
    assert "multiply the margin by beta" in capsys.readouterr().out
    assert not check(
        "13.1", lambda *args: -dpo_right(*args)
    )  # the minus sign forgotten
    assert "check the sign" in capsys.readouterr().out
    assert not check(
        "13.1", lambda pc, pr, rc, rr, beta: dpo_right(pr, pc, rr, rc, beta)
    )  # chosen and rejected swapped
    assert "Hint: the margin is" in capsys.readouterr().out
    assert not check(
        "13.1", lambda pc, pr, rc, rr, beta: dpo_right(pc, pr, rc, rr, beta) * 2
    )
    assert not check(
        "13.1", lambda pc, pr, rc, rr, beta: -F.logsigmoid(beta * (pc - pr)).mean()
    )  # no reference


def test_13_1_survives_a_broken_answer(capsys):
    def broken(*args):
        raise RuntimeError("oops")

    assert not check("13.1", broken)
    assert "raised RuntimeError('oops')" in capsys.readouterr().out
    assert not check("13.1", "not a function")
    assert "expected a function" in capsys.readouterr().out
    assert not check("13.1", lambda *args: None)


def task_arithmetic_right(base, updates, lambdas):
    merged = base.clone()
    for (B, A, s), lam in zip(updates, lambdas):
        merged += lam * s * (B @ A)
    return merged


def test_13_2(capsys):
    assert check("13.2", task_arithmetic_right)
    capsys.readouterr()
    assert not check(
        "13.2",
        lambda base, updates, lambdas: (
            base + sum(lam * B @ A for (B, A, s), lam in zip(updates, lambdas))
        ),
    )  # scaling s forgotten
    assert "multiply each B @ A by its scaling s" in capsys.readouterr().out
    assert not check(
        "13.2",
        lambda base, updates, lambdas: (
            base + sum(s * B @ A for (B, A, s), lam in zip(updates, lambdas))
        ),
    )  # the lambdas ignored: right for (1, 1), wrong for (0.5, 0.5)
    assert "(0.5, 0.5)" in capsys.readouterr().out
    assert not check("13.2", lambda base, updates, lambdas: base)
    assert "Hint: each update is lambda_i * s_i * B_i @ A_i" in capsys.readouterr().out
    assert not check(
        "13.2",
        lambda base, updates, lambdas: (base + updates[0][0] @ updates[0][1]).tolist(),
    )
    assert "should return a tensor" in capsys.readouterr().out


def test_13_2_survives_a_broken_answer(capsys):
    assert not check(
        "13.2", lambda base, updates, lambdas: base + updates[0][1] @ updates[0][0]
    )  # A @ B: wrong shapes
    assert "task_arithmetic raised" in capsys.readouterr().out
    assert not check("13.2", None)
    assert "expected a function task_arithmetic" in capsys.readouterr().out


def test_13_1_one_loss_per_pair_is_named(capsys):
    import torch

    def no_mean(pc, pr, rc, rr, beta):
        return -torch.nn.functional.logsigmoid(beta * ((pc - rc) - (pr - rr)))

    assert not check("13.1", no_mean)
    assert "one number" in capsys.readouterr().out
