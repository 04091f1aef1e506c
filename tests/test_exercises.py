import re

import pytest

from ftlib.exercises import check, exercises


def test_known_exercises():
    first = ["1.1", "1.2", "1.3", "2.1", "2.2", "2.3", "3.1", "3.2", "3.3"]
    assert exercises()[: len(first)] == first
    assert {"4.1", "4.2", "4.3", "5.1", "5.2", "5.3", "6.1", "6.2", "6.3"} <= set(exercises())
    with pytest.raises(KeyError, match="no check for exercise '9.9'"):
        check("9.9", None)


def test_1_1(capsys):
    assert check("1.1", 460_800)
    assert not check("1.1", 30 * 8 * (1152 + 1152))  # treats v_proj like q_proj
    assert not check("1.1", None) and not check("1.1", True)
    out = capsys.readouterr().out
    assert "PASSED exercise 1.1" in out and "Hint" in out


def lenient(prediction, reference):
    found = re.search(r"\d{4}-\d{2}-\d{2}", prediction)
    return bool(found) and found.group() == reference


def test_1_2(capsys):
    assert check("1.2", lenient)
    assert not check("1.2", lambda p, r: p.strip() == r)
    assert not check("1.2", lambda p, r: 1 / 0)  # a crash is reported, not raised
    assert not check("1.2", "not a function")
    assert "ZeroDivisionError" in capsys.readouterr().out


def test_1_3():
    def shots(examples):
        return [f"{e['prompt'].splitlines()[-1]}\nAnswer: {e['answer']}" for e in examples]

    def good(examples, query):
        return "\n\n".join([*shots(examples), query["prompt"].splitlines()[-1]])

    def query_first(examples, query):
        return "\n\n".join([query["prompt"].splitlines()[-1], *shots(examples)])

    assert check("1.3", good)
    assert not check("1.3", lambda examples, query: query["prompt"])  # zero-shot
    assert not check("1.3", lambda examples, query: good(examples, query) + " " + query["answer"])  # leaks
    assert not check("1.3", query_first)


def test_2_1(capsys):
    assert check("2.1", 0.41703)
    assert not check("2.1", -0.41703)
    assert "wrong sign" in capsys.readouterr().out
    assert not check("2.1", 2.0) and not check("2.1", "0.417")


def test_2_2(capsys):
    import torch

    def sequence_mean(nll, mask):
        return (nll.sum(1) / mask.sum(1)).mean()

    assert check("2.2", sequence_mean)
    assert not check("2.2", lambda nll, mask: nll.sum() / mask.sum())
    assert "token mean" in capsys.readouterr().out
    assert not check("2.2", lambda nll, mask: torch.zeros(3))
    assert not check("2.2", lambda nll, mask: 1 / 0)


def test_2_3():
    assert check("2.3", 49152) and check("2.3", 49152.2)
    assert not check("2.3", 10.8) and not check("2.3", None)


def test_3_1():
    def padding_waste_sorted(lengths, batch_size):
        lengths = sorted(lengths)
        groups = [lengths[i : i + batch_size] for i in range(0, len(lengths), batch_size)]
        return 1 - sum(lengths) / sum(max(g) * len(g) for g in groups)

    assert check("3.1", padding_waste_sorted)
    assert not check("3.1", lambda lengths, batch_size: 0.0)


def test_3_2():
    def leaked_ids(train, test):
        seen = {" ".join(r["prompt"].lower().split()) for r in train}
        return {r["id"] for r in test if " ".join(r["prompt"].lower().split()) in seen}

    assert check("3.2", leaked_ids)
    assert not check("3.2", lambda train, test: {r["id"] for r in test if r in train})


def test_3_3():
    import json

    def parse_booking(text):
        try:
            value = json.loads(text)
        except json.JSONDecodeError:
            return None
        keys = {"name", "party_size", "date", "time", "seating"}
        return value if isinstance(value, dict) and set(value) == keys else None

    assert check("3.3", parse_booking)
    assert not check("3.3", json.loads)  # raises on bad input


def test_check_4_1_warmup_cosine():
    import math

    def warmup_cosine(step, lr, num_steps, warmup_steps):
        if step < warmup_steps:
            return lr * step / warmup_steps
        progress = (step - warmup_steps) / max(1, num_steps - warmup_steps)
        return lr * 0.5 * (1 + math.cos(math.pi * progress))

    assert check("4.1", warmup_cosine)
    assert not check("4.1", lambda step, lr, num_steps, warmup_steps: lr)  # no warm-up, no decay


def test_check_4_2_adamw_step():
    import torch

    def adamw_step(param, grad, m, v, t, lr, beta1, beta2, eps, weight_decay):
        param = param * (1 - lr * weight_decay)
        m = beta1 * m + (1 - beta1) * grad
        v = beta2 * v + (1 - beta2) * grad**2
        m_hat, v_hat = m / (1 - beta1**t), v / (1 - beta2**t)
        return param - lr * m_hat / (v_hat.sqrt() + eps), m, v

    def no_bias_correction(param, grad, m, v, t, lr, beta1, beta2, eps, weight_decay):
        param = param * (1 - lr * weight_decay)
        m = beta1 * m + (1 - beta1) * grad
        v = beta2 * v + (1 - beta2) * grad**2
        return param - lr * m / (v.sqrt() + eps), m, v

    assert check("4.2", adamw_step)
    assert not check("4.2", no_bias_correction)
    assert not check("4.2", lambda *args, **kwargs: 1 / 0)
    assert not check("4.2", lambda param, *args, **kwargs: (torch.zeros(2), None, None))


def test_check_4_3_fraction_of_peak():
    assert check("4.3", lambda n_params, n_tokens, seconds, peak_flops: 6 * n_params * n_tokens / seconds / peak_flops)
    assert not check("4.3", lambda n_params, n_tokens, seconds, peak_flops: 2 * n_params * n_tokens / seconds / peak_flops)


def test_checks_of_chapter_5():
    import torch

    def best_rank_r(M, r):
        U, S, Vh = torch.linalg.svd(M, full_matrices=False)
        return U[:, :r] @ torch.diag(S[:r]) @ Vh[:r]

    def energy_at(s, r):
        return float((s[:r] ** 2).sum() / (s**2).sum())

    def smallest_rank(s, fraction):
        e = (s**2).cumsum(0) / (s**2).sum()
        return int((e < fraction - 1e-12).sum().item()) + 1

    assert check("5.1", best_rank_r)
    assert not check("5.1", lambda M, r: M)  # full rank
    assert not check("5.1", lambda M, r: torch.zeros_like(M))  # rank 0, but far from best
    assert check("5.2", energy_at)
    assert not check("5.2", lambda s, r: r / len(s))
    assert check("5.3", smallest_rank)
    assert not check("5.3", lambda s, fraction: len(s))


def test_checks_of_chapter_6():
    import math

    def lora_parameters(shapes, r):
        return sum(r * (d_out + d_in) for d_out, d_in in shapes)

    def merged_weight(W, A, B, lora_alpha, r, use_rslora=False):
        scaling = lora_alpha / math.sqrt(r) if use_rslora else lora_alpha / r
        return W + scaling * B @ A

    def in_place(W, A, B, lora_alpha, r, use_rslora=False):
        W += merged_weight(W.clone(), A, B, lora_alpha, r, use_rslora) - W
        return W

    def lora_forward(x, W, A, B, scaling):
        return x @ W.T + scaling * (x @ A.T) @ B.T

    assert check("6.1", lora_parameters)
    assert not check("6.1", lambda shapes, r: sum(d_out * d_in for d_out, d_in in shapes))
    assert check("6.2", merged_weight)
    assert not check("6.2", lambda W, A, B, lora_alpha, r, use_rslora=False: W + B @ A)
    assert not check("6.2", in_place)
    assert check("6.3", lora_forward)
    assert not check("6.3", lambda x, W, A, B, scaling: x @ W.T)


def _weird_answers():
    import torch

    return [None, True, 3, -1.5, "text", [1, 2], {"a": 1}, torch.ones(3), torch.tensor(0.5),
            lambda *a, **k: 1 / 0, lambda *a, **k: None, lambda *a, **k: torch.ones(2, 2), lambda *a, **k: "x"]


@pytest.mark.parametrize("exercise", exercises())
def test_a_check_never_raises_whatever_the_answer(exercise, capsys):
    """A learner's answer of any type, or a function that crashes or returns nonsense, gets NOT YET and a hint."""
    for answer in _weird_answers():
        assert check(exercise, answer) is False
    out = capsys.readouterr().out
    assert out.count(f"NOT YET exercise {exercise}") == len(_weird_answers())
    assert "Traceback" not in out
