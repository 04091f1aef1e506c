"""Autograded checks for the end-of-chapter exercises.

``check("1.2", answer)`` runs the check for exercise 1.2, prints what passed or a hint,
and returns True or False. It never raises on a wrong answer, so a notebook with an
unsolved exercise still runs top to bottom.

Taught in chapter 1 (exercises); every chapter adds its checks here.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = ["check", "exercises"]

Result = tuple[bool, str]  # (passed, what happened)


def _lora_params_q_v() -> int:
    """LoRA r=8 on q_proj and v_proj of SmolLM2-135M: r * (d_in + d_out) per matrix, 30 layers."""
    hidden, layers, kv_dim, r = 576, 30, 3 * 64, 8
    return layers * r * ((hidden + hidden) + (hidden + kv_dim))


def _check_1_1(answer: Any) -> Result:
    if not isinstance(answer, int) or isinstance(answer, bool):
        return False, f"expected an int, got {type(answer).__name__}. Hint: each LoRA pair adds r * (d_in + d_out)."
    expected = _lora_params_q_v()
    if answer == expected:
        return True, f"{answer:,} trainable parameters"
    hint = "q_proj maps 576 -> 576 but v_proj maps 576 -> 192 (3 key-value heads of 64); 30 layers"
    return False, f"{answer:,} is not it. Hint: {hint}."


_CASES_1_2 = [
    (("2021-03-03", "2021-03-03"), True),
    (("The date is 2021-03-03.", "2021-03-03"), True),
    (("2021-03-03 2022-", "2021-03-03"), True),
    (("  2021-03-03\n", "2021-03-03"), True),
    (("2021-03-04", "2021-03-03"), False),
    (("20210303", "2021-03-03"), False),
    (("2022-03-03 2021-03-03", "2021-03-03"), False),
    (("", "2021-03-03"), False),
]


def _check_1_2(fn: Any) -> Result:
    if not callable(fn):
        return False, "expected a function lenient_match(prediction, reference) -> bool"
    for (prediction, reference), expected in _CASES_1_2:
        try:
            got = fn(prediction, reference)
        except Exception as exc:  # a learner's bug: report it, do not crash the notebook
            return False, f"lenient_match({prediction!r}, {reference!r}) raised {exc!r}"
        if bool(got) != expected:
            hint = "take the first YYYY-MM-DD found in the prediction (re.search(r'\\d{4}-\\d{2}-\\d{2}', ...))"
            return False, f"lenient_match({prediction!r}, {reference!r}) gave {got!r}, expected {expected}. Hint: {hint}."
    return True, f"all {len(_CASES_1_2)} cases right"


def _check_1_3(fn: Any) -> Result:
    if not callable(fn):
        return False, "expected a function few_shot_prompt(examples, query) -> str"
    shots = [
        {"prompt": "Rewrite this date.\nDate: 3 March 2021", "answer": "2021-03-03"},
        {"prompt": "Rewrite this date.\nDate: Jan 9, 1999", "answer": "1999-01-09"},
    ]
    query = {"prompt": "Rewrite this date.\nDate: the 1st of May 2000", "answer": "2000-05-01"}
    try:
        text = fn(shots, query)
    except Exception as exc:
        return False, f"few_shot_prompt raised {exc!r}"
    if not isinstance(text, str):
        return False, f"expected a string, got {type(text).__name__}"
    for date_text, answer in [("3 March 2021", "2021-03-03"), ("Jan 9, 1999", "1999-01-09")]:
        if date_text not in text or answer not in text:
            return False, f"the prompt lacks the example {date_text!r} -> {answer!r}. Hint: show each example's date and answer."
    if "the 1st of May 2000" not in text:
        return False, "the prompt lacks the query's date"
    if "2000-05-01" in text:
        return False, "the prompt gives away the query's answer"
    if text.rfind("the 1st of May 2000") < text.rfind("1999-01-09"):
        return False, "put the query after the examples"
    return True, "examples with answers, then the query without its answer"


def _check_2_1(answer: Any) -> Result:
    import math

    expected = -math.log(math.exp(2.0) / (math.exp(2.0) + math.exp(1.0) + math.exp(0.1)))
    if not isinstance(answer, (int, float)) or isinstance(answer, bool):
        return False, f"expected a number, got {type(answer).__name__}"
    if abs(answer - expected) < 1e-3:
        return True, f"{answer:.4f} nats"
    if abs(answer + expected) < 1e-3:
        return False, "right size, wrong sign: the loss is the NEGATIVE log-probability, so it is never below 0"
    return False, f"{answer} is not it. Hint: softmax the three logits, take the probability of index 0, then -log."


def _check_2_2(fn: Any) -> Result:
    import torch

    if not callable(fn):
        return False, "expected a function sequence_mean(nll, mask) -> tensor"
    generator = torch.Generator().manual_seed(0)
    nll = torch.rand(3, 5, generator=generator)
    mask = torch.tensor([[1, 1, 0, 0, 0], [1, 1, 1, 1, 1], [0, 0, 0, 1, 0]], dtype=torch.bool)
    nll = nll * mask
    expected = torch.stack([nll[i].sum() / mask[i].sum() for i in range(3)]).mean()
    try:
        got = fn(nll, mask)
    except Exception as exc:
        return False, f"sequence_mean raised {exc!r}"
    if not torch.is_tensor(got) or got.numel() != 1:
        return False, f"expected a one-number tensor, got {got!r}"
    if torch.isclose(got.float(), expected, atol=1e-6):
        return True, f"{float(got):.4f} on the test batch"
    token_mean = nll.sum() / mask.sum()
    if torch.isclose(got.float(), token_mean, atol=1e-6):
        return False, "that is the token mean. Hint: average within each row first (sum / count per row), then over rows."
    return False, f"got {float(got):.4f}, expected {float(expected):.4f}. Hint: divide each row's sum by its own count."


def _check_2_3(answer: Any) -> Result:
    if not isinstance(answer, (int, float)) or isinstance(answer, bool):
        return False, f"expected a number, got {type(answer).__name__}"
    if abs(answer - 49152) < 0.5:
        return True, "a uniform guess over 49,152 tokens has perplexity 49,152"
    return False, f"{answer} is not it. Hint: each token has p = 1/V, so the loss is log V; perplexity is exp(loss)."


def _run_cases(fn: Any, name: str, cases: list, hint: str) -> Result:
    """Call ``fn(*args)`` for each (args, expected) case; report the first mismatch or crash."""
    if not callable(fn):
        return False, f"expected a function {name}"
    for args, expected in cases:
        try:
            got = fn(*args)
        except Exception as exc:
            return False, f"{name}{args!r} raised {exc!r}"
        same = abs(got - expected) < 1e-9 if isinstance(expected, float) and isinstance(got, (int, float)) else got == expected
        if not same:
            return False, f"{name}{args!r} gave {got!r}, expected {expected!r}. Hint: {hint}"
    return True, f"all {len(cases)} cases right"


def _check_3_1(fn: Any) -> Result:
    cases = [
        (([5, 5, 5, 5], 2), 0.0),
        (([1, 3, 3, 1], 2), 0.0),  # sorted: [1, 1] and [3, 3]
        (([1, 4, 2, 3], 2), 1 - 10 / 12),  # sorted groups [1, 2] -> 4, [3, 4] -> 8
        (([2, 7, 4], 4), 1 - 13 / 21),
    ]
    return _run_cases(fn, "padding_waste_sorted", cases, "sort first, then pad each group of batch_size to its longest")


def _check_3_2(fn: Any) -> Result:
    train = [{"id": "a", "prompt": "Table for  two"}, {"id": "b", "prompt": "Lunch at noon"}]
    test = [{"id": "x", "prompt": "table for two"}, {"id": "y", "prompt": "Lunch at one"}, {"id": "z", "prompt": "LUNCH AT\nNOON "}]
    cases = [((train, test), {"x", "z"}), ((train, []), set()), (([], test), set())]
    return _run_cases(fn, "leaked_ids", cases, "compare ' '.join(prompt.lower().split()) of test against a set built from train")


def _check_3_3(fn: Any) -> Result:
    good = '{"name": "Mei", "party_size": 7, "date": "2027-02-04", "time": "22:00", "seating": null}'
    parsed = {"name": "Mei", "party_size": 7, "date": "2027-02-04", "time": "22:00", "seating": None}
    cases = [
        ((good,), parsed),
        ((good[:-1],), None),  # cut off
        (('{"name": "Mei"}',), None),  # keys missing
        ((good.replace("}", ', "extra": 1}'),), None),  # a key too many
        (("[1, 2]",), None),
        (("Sure! Mei, 7 people.",), None),
    ]
    return _run_cases(fn, "parse_booking", cases, "json.loads inside try/except, then check isinstance(dict) and the set of keys")


def _check_4_1(fn: Any) -> Result:
    from ftlib.train import lr_at

    cases = [((s, 1e-3, 20, w), lr_at(s, 1e-3, 20, "cosine", w)) for s, w in [(0, 4), (2, 4), (4, 4), (10, 4), (19, 4), (0, 0), (7, 0)]]
    return _run_cases(fn, "warmup_cosine", cases, "below warmup_steps return lr * step / warmup_steps; after, "
                      "progress = (step - warmup_steps) / (num_steps - warmup_steps) and lr * 0.5 * (1 + cos(pi * progress))")


def _check_4_2(fn: Any) -> Result:
    import torch

    if not callable(fn):
        return False, "expected a function adamw_step"
    gen = torch.Generator().manual_seed(4)
    start = torch.randn(5, generator=gen)
    grads = [torch.randn(5, generator=gen) for _ in range(3)]
    settings = dict(lr=0.1, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.01)
    reference = torch.nn.Parameter(start.clone())
    opt = torch.optim.AdamW([reference], lr=0.1, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01)
    param, m, v = start.clone(), torch.zeros(5), torch.zeros(5)
    for t, g in enumerate(grads, start=1):
        reference.grad = g.clone()
        opt.step()
        try:
            param, m, v = fn(param.clone(), g.clone(), m.clone(), v.clone(), t, **settings)
        except Exception as exc:
            return False, f"adamw_step raised {exc!r} at step {t}"
        if not isinstance(param, torch.Tensor) or param.shape != start.shape:
            return False, f"step {t}: expected the new parameter as a tensor of shape {tuple(start.shape)}"
        if not torch.allclose(param, reference.detach(), atol=1e-6):
            hint = ("decay first: p -= lr * weight_decay * p; then m, v; the bias corrections 1 - beta^t; "
                    "p -= lr * m_hat / (sqrt(v_hat) + eps)")
            return False, f"step {t}: parameter differs from torch.optim.AdamW by {float((param - reference.detach()).abs().max()):.2e}. Hint: {hint}"
    return True, "three steps equal torch.optim.AdamW's to 1e-6"


def _check_4_3(fn: Any) -> Result:
    cases = [
        ((100, 10, 1.0, 6000.0), 1.0),
        ((135_000_000, 1000, 4.0, 1e12), 6 * 135_000_000 * 1000 / 4.0 / 1e12),
        ((10, 10, 2.0, 600.0), 0.5),
    ]
    return _run_cases(fn, "fraction_of_peak", cases, "achieved FLOP/s = 6 * n_params * n_tokens / seconds; divide by peak_flops")


def _check_5_1(fn: Any) -> Result:
    import torch

    if not callable(fn):
        return False, "expected a function best_rank_r"
    gen = torch.Generator().manual_seed(5)
    for shape, r in [((6, 4), 2), ((5, 9), 1), ((8, 8), 8)]:
        M = torch.randn(*shape, generator=gen, dtype=torch.float64)
        try:
            approx = fn(M.clone(), r)
        except Exception as exc:
            return False, f"best_rank_r(M of shape {shape}, {r}) raised {exc!r}"
        if not isinstance(approx, torch.Tensor) or approx.shape != M.shape:
            return False, f"expected a tensor of shape {shape}"
        S = torch.linalg.svdvals(M)
        best_error = S[r:].pow(2).sum().sqrt()
        rank = torch.linalg.matrix_rank(approx).item()
        if rank > r or abs(torch.linalg.norm(M - approx.to(M)) - best_error) > 1e-6 * (1 + best_error):
            return False, (f"for a {shape} matrix and r = {r}: rank {rank}, error {torch.linalg.norm(M - approx.to(M)):.4f}, "
                           f"best possible {best_error:.4f}. Hint: U, S, Vh = torch.linalg.svd(M, full_matrices=False); "
                           "keep the first r columns of U, values of S, rows of Vh")
    return True, "rank at most r and the Eckart-Young error, on 3 matrices"


def _check_5_2(fn: Any) -> Result:
    import torch

    s = torch.tensor([3.0, 2.0, 1.0, 0.0], dtype=torch.float64)
    cases = [((s, 1), 9 / 14), ((s, 2), 13 / 14), ((s, 4), 1.0), ((torch.ones(5, dtype=torch.float64), 2), 0.4)]
    return _run_cases(lambda v, r: float(fn(v, r)), "energy_at", cases, "square the values; divide the sum of the first r by the sum of all")


def _check_5_3(fn: Any) -> Result:
    import torch

    s = torch.tensor([3.0, 2.0, 1.0, 0.0], dtype=torch.float64)
    cases = [((s, 0.5), 1), ((s, 0.9), 2), ((s, 0.95), 3), ((s, 1.0), 3), ((torch.ones(10, dtype=torch.float64), 0.9), 9)]
    return _run_cases(fn, "smallest_rank", cases, "energy = cumsum of squares / total; the first index where it reaches fraction, plus one")


def _check_6_1(fn: Any) -> Result:
    q, kv, mlp = (576, 576), (192, 576), (1536, 576)
    cases = [(([q], 8), 8 * 1152), (([q, kv], 4), 4 * (1152 + 768)), (([q, kv, kv, q, mlp, mlp, mlp[::-1]], 8), 81_408), (([], 8), 0)]
    return _run_cases(fn, "lora_parameters", cases, "each layer adds r * (d_out + d_in): A is r x d_in, B is d_out x r")


def _lora_tensors():
    import torch

    gen = torch.Generator().manual_seed(6)
    W = torch.randn(5, 7, generator=gen, dtype=torch.float64)
    A = torch.randn(3, 7, generator=gen, dtype=torch.float64)
    B = torch.randn(5, 3, generator=gen, dtype=torch.float64)
    return W, A, B


def _check_6_2(fn: Any) -> Result:
    import math

    import torch

    if not callable(fn):
        return False, "expected a function merged_weight"
    W, A, B = _lora_tensors()
    for use_rslora, scaling in [(False, 16 / 3), (True, 16 / math.sqrt(3))]:
        original = W.clone()
        try:
            got = fn(W, A, B, 16, 3, use_rslora=use_rslora)
        except Exception as exc:
            return False, f"merged_weight raised {exc!r}"
        if not torch.equal(W, original):
            return False, "merged_weight changed W in place; return a new tensor"
        if not isinstance(got, torch.Tensor) or not torch.allclose(got, W + scaling * B @ A):
            return False, f"wrong merged weight with use_rslora={use_rslora}. Hint: W + scaling * B @ A, scaling = alpha / r or alpha / sqrt(r)"
    return True, "both scalings right, W unchanged"


def _check_6_3(fn: Any) -> Result:
    import torch

    if not callable(fn):
        return False, "expected a function lora_forward"
    W, A, B = _lora_tensors()
    x = torch.randn(2, 4, 7, generator=torch.Generator().manual_seed(7), dtype=torch.float64)
    try:
        got = fn(x, W, A, B, 2.0)
    except Exception as exc:
        return False, f"lora_forward raised {exc!r}"
    expected = x @ W.T + 2.0 * (x @ A.T) @ B.T
    if not isinstance(got, torch.Tensor) or got.shape != expected.shape or not torch.allclose(got, expected):
        return False, "wrong output for x of shape (2, 4, 7). Hint: x @ W.T + scaling * (x @ A.T) @ B.T"
    return True, "right on a batch of shape (2, 4, 7)"


_CHECKS: dict[str, Callable[[Any], Result]] = {
    "1.1": _check_1_1,
    "1.2": _check_1_2,
    "1.3": _check_1_3,
    "2.1": _check_2_1,
    "2.2": _check_2_2,
    "2.3": _check_2_3,
    "3.1": _check_3_1,
    "3.2": _check_3_2,
    "3.3": _check_3_3,
    "4.1": _check_4_1,
    "4.2": _check_4_2,
    "4.3": _check_4_3,
    "5.1": _check_5_1,
    "5.2": _check_5_2,
    "5.3": _check_5_3,
    "6.1": _check_6_1,
    "6.2": _check_6_2,
    "6.3": _check_6_3,
}


def exercises() -> list[str]:
    """The exercise numbers that have an autograded check."""
    return sorted(_CHECKS, key=lambda k: tuple(int(x) for x in k.split(".")))


def check(exercise: str, answer: Any) -> bool:
    """Check an answer to an exercise, print the verdict (and a hint when wrong), return whether it passed.

    Raises:
        KeyError: for an exercise number with no check.
    """
    if exercise not in _CHECKS:
        raise KeyError(f"no check for exercise {exercise!r}; checks exist for {', '.join(exercises())}")
    passed, message = _CHECKS[exercise](answer)
    print(f"{'PASSED' if passed else 'NOT YET'} exercise {exercise}: {message}")
    return passed
