"""Batched generation (greedy or sampled) and the metrics that score its answers.

Exact match and field accuracy are taught in chapters 1 and 3; token F1, ROUGE-L, BLEU,
``contains_answer`` and perplexity in chapter 10, each in a few lines and checked in the tests
against a reference implementation (the SQuAD script, ``rouge-score``, ``sacrebleu``).
"""

from __future__ import annotations

import json
import math
import re
import string
from collections import Counter
from collections.abc import Sequence

import torch
from tqdm import tqdm

from ftlib.data import chat_prompt

__all__ = [
    "bleu",
    "contains_answer",
    "exact_match",
    "field_accuracy",
    "field_scores",
    "generate",
    "lcs_length",
    "match_scores",
    "normalize_answer",
    "perplexity",
    "rouge_l",
    "token_f1",
]


@torch.no_grad()
def generate(
    model,
    tokenizer,
    prompts: Sequence[str | Sequence[dict[str, str]]],
    max_new_tokens: int = 32,
    batch_size: int = 16,
    progress: bool = False,
    temperature: float = 0.0,
    seed: int | None = None,
) -> list[str]:
    """Answer each prompt as a user turn of the chat template, greedily or by sampling, in batches.

    A prompt is a string (one user turn) or a conversation: a list of chat messages ending
    with a user turn (``ftlib.data.chat_prompt`` renders both). Prompts are padded on the left
    so that every row's last token is its own last prompt token: generation then continues
    each row from the right place.

    ``temperature=0`` decodes greedily; a positive temperature samples each token from the
    softmax of the logits divided by it (no top-k or top-p cut), with ``torch.manual_seed(seed)``
    first when a seed is given, so that a sampled run can be repeated.

    Returns:
        The generated answers, special tokens removed, stripped of surrounding white space.

    Raises:
        TypeError: when ``prompts`` is one string instead of a list of them.
        ValueError: for a negative temperature.

    Taught in chapter 1, section 1.4 (sampling: chapter 10, section 10.4).
    """
    if isinstance(prompts, str):
        raise TypeError("prompts must be a list of strings, not one string")
    if temperature < 0:
        raise ValueError(f"temperature must be >= 0 (0 is greedy), got {temperature}")
    sampling = {"do_sample": False}
    if temperature > 0:
        sampling = {"do_sample": True, "temperature": temperature, "top_k": 0, "top_p": 1.0}
        if seed is not None:
            torch.manual_seed(seed)
    was_training, side = model.training, tokenizer.padding_side
    model.eval()
    tokenizer.padding_side = "left"
    device = next(model.parameters()).device
    answers: list[str] = []
    try:
        batches = range(0, len(prompts), batch_size)
        for start in tqdm(batches, desc="generating", disable=not progress):
            texts = [chat_prompt(p, tokenizer) for p in prompts[start : start + batch_size]]
            enc = tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False).to(device)
            out = model.generate(
                **enc,
                max_new_tokens=max_new_tokens,
                **sampling,
                pad_token_id=tokenizer.pad_token_id,
                eos_token_id=tokenizer.eos_token_id,
            )
            new_tokens = out[:, enc["input_ids"].shape[1] :]  # (B, T_new)
            answers += [t.strip() for t in tokenizer.batch_decode(new_tokens, skip_special_tokens=True)]
    finally:
        tokenizer.padding_side = side
        model.train(was_training)
    return answers


def _check_pairs(predictions: Sequence[str], references: Sequence[str], name: str) -> None:
    if isinstance(predictions, str) or isinstance(references, str):
        raise TypeError(f"{name} takes lists of strings, not one string")
    if len(predictions) != len(references):
        raise ValueError(f"{len(predictions)} predictions but {len(references)} references")
    if not references:
        raise ValueError(f"{name} needs at least one reference")


def match_scores(predictions: Sequence[str], references: Sequence[str]) -> list[int]:
    """1 for each prediction equal to its reference (white space at both ends stripped), else 0.

    The per-item scores are what a paired comparison of two systems needs
    (``ftlib.stats.paired_bootstrap``); their mean is :func:`exact_match`.

    Raises:
        ValueError: when the two lists differ in length or are empty.

    Taught in chapter 1, section 1.6.
    """
    _check_pairs(predictions, references, "match_scores")
    return [int(p.strip() == r.strip()) for p, r in zip(predictions, references)]


def exact_match(predictions: Sequence[str], references: Sequence[str]) -> float:
    """Share of predictions equal to their reference after stripping white space at both ends.

    Raises:
        ValueError: when the two lists differ in length or are empty.

    Taught in chapter 1, section 1.4.
    """
    _check_pairs(predictions, references, "exact_match")
    return sum(match_scores(predictions, references)) / len(references)


def field_scores(predictions: Sequence[str], references: Sequence[str]) -> list[dict[str, int]]:
    """Score each JSON answer field by field: one dict of 1/0 per item.

    Each reference is a JSON object. A prediction that does not parse as a JSON object gets
    every field wrong. Each dict holds ``valid_json``, ``all_fields`` and one key per field of
    the references.

    Raises:
        ValueError: when the two lists differ in length or are empty, or a reference is not
            a JSON object.

    Taught in chapter 3, section 3.1.
    """
    _check_pairs(predictions, references, "field_scores")
    refs = [json.loads(r) for r in references]
    if not all(isinstance(r, dict) for r in refs):
        raise ValueError("every reference must be a JSON object")
    fields = list(dict.fromkeys(k for r in refs for k in r))
    scores = []
    for prediction, ref in zip(predictions, refs):
        try:
            pred = json.loads(prediction)
        except json.JSONDecodeError:
            pred = None
        if not isinstance(pred, dict):
            scores.append({"valid_json": 0, "all_fields": 0, **{f: 0 for f in fields}})
            continue
        ok = {f: int(pred.get(f, object()) == ref.get(f)) for f in fields}
        scores.append({"valid_json": 1, "all_fields": int(all(ok.values())), **ok})
    return scores


def field_accuracy(predictions: Sequence[str], references: Sequence[str]) -> dict[str, float]:
    """Score JSON answers field by field: the mean of :func:`field_scores` over the items.

    Returns:
        ``{"valid_json": share that parsed, "all_fields": share with every field right,
        <field>: share right, ...}`` for every field of the references.

    Taught in chapter 3, section 3.1.
    """
    scores = field_scores(predictions, references)
    return {key: sum(s[key] for s in scores) / len(scores) for key in scores[0]}


def normalize_answer(text: str) -> str:
    """SQuAD's normalisation: lower case, no punctuation, no articles (a, an, the), single spaces.

    Taught in chapter 10, section 10.3.
    """
    text = "".join(ch for ch in text.lower() if ch not in set(string.punctuation))
    text = re.sub(r"\b(a|an|the)\b", " ", text)
    return " ".join(text.split())


def token_f1(prediction: str, reference: str) -> float:
    """SQuAD's token-level F1: the harmonic mean of precision and recall of the shared tokens.

    Both texts are normalised (:func:`normalize_answer`) and split on white space; a token counts
    as often as it occurs in both (a multiset intersection). Two empty texts score 1, one empty 0.

    Taught in chapter 10, section 10.3.
    """
    pred, ref = normalize_answer(prediction).split(), normalize_answer(reference).split()
    if not pred or not ref:
        return float(pred == ref)
    common = sum((Counter(pred) & Counter(ref)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(pred), common / len(ref)
    return 2 * precision * recall / (precision + recall)


def lcs_length(a: Sequence[str], b: Sequence[str]) -> int:
    """The length of the longest common subsequence of two token lists (dynamic programming).

    ``row[j]`` holds the LCS of the first i tokens of ``a`` and the first j of ``b``; one row is
    kept at a time, so memory is O(len(b)).

    Taught in chapter 10, section 10.3.
    """
    row = [0] * (len(b) + 1)
    for x in a:
        diagonal = 0  # the previous row's value at j - 1
        for j, y in enumerate(b, start=1):
            diagonal, row[j] = row[j], diagonal + 1 if x == y else max(row[j], row[j - 1])
    return row[-1]


def _rouge_tokens(text: str) -> list[str]:
    """rouge-score's default tokenizer: lower case, anything but a-z and 0-9 becomes a space."""
    return re.sub(r"[^a-z0-9]+", " ", text.lower()).split()


def rouge_l(prediction: str, reference: str) -> float:
    """ROUGE-L F-measure: precision and recall of the longest common subsequence of tokens.

    Tokens as the ``rouge-score`` package makes them (lower case, letters and digits only, no
    stemming), F = 2PR / (P + R) with P = LCS / len(prediction), R = LCS / len(reference).

    Taught in chapter 10, section 10.3.
    """
    pred, ref = _rouge_tokens(prediction), _rouge_tokens(reference)
    lcs = lcs_length(pred, ref)
    if lcs == 0:
        return 0.0
    precision, recall = lcs / len(pred), lcs / len(ref)
    return 2 * precision * recall / (precision + recall)


def _ngrams(tokens: list[str], n: int) -> Counter:
    return Counter(tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1))


def bleu(predictions: Sequence[str], references: Sequence[str], max_order: int = 4) -> float:
    """Corpus BLEU (Papineni et al. 2002) in [0, 100], one reference per prediction, tokens split on white space.

    BLEU = BP * exp(mean over n of log p_n), with p_n the clipped n-gram precision summed over
    the corpus (each n-gram counts at most as often as in its reference) and the brevity penalty
    BP = exp(1 - r / c) when the predictions' c tokens are fewer than the references' r, else 1.
    Any p_n of zero makes BLEU zero (no smoothing): ``sacrebleu.corpus_bleu`` with
    ``tokenize="none"`` and ``smooth_method="none"`` gives the same number.

    Raises:
        ValueError: when the two lists differ in length or are empty.

    Taught in chapter 10, section 10.3.
    """
    _check_pairs(predictions, references, "bleu")
    matches, totals = [0] * max_order, [0] * max_order
    pred_len = ref_len = 0
    for prediction, reference in zip(predictions, references):
        pred, ref = prediction.split(), reference.split()
        pred_len, ref_len = pred_len + len(pred), ref_len + len(ref)
        for n in range(1, max_order + 1):
            p, r = _ngrams(pred, n), _ngrams(ref, n)
            matches[n - 1] += sum((p & r).values())
            totals[n - 1] += max(0, len(pred) - n + 1)
    if pred_len == 0 or min(matches) == 0:
        return 0.0
    log_precision = sum(math.log(m / t) for m, t in zip(matches, totals)) / max_order
    brevity = 1.0 if pred_len > ref_len else math.exp(1 - ref_len / pred_len)
    return 100 * brevity * math.exp(log_precision)


def contains_answer(prediction: str, reference: str) -> bool:
    """True when the normalised reference occurs in the normalised prediction as whole words.

    A lenient match for a short answer inside a sentence ("The capital of France is Paris."
    contains "Paris"); it cannot tell a hedge listing several answers from a right one.

    Taught in chapter 10, section 10.5.
    """
    ref = normalize_answer(reference)
    return bool(ref) and f" {ref} " in f" {normalize_answer(prediction)} "


def perplexity(mean_loss: float) -> float:
    """exp(mean loss per token in nats): the number of equally likely tokens the model's
    uncertainty is worth.

    Taught in chapter 10, section 10.3 (the mean loss: ``ftlib.instruct.text_losses``).
    """
    return math.exp(mean_loss)
