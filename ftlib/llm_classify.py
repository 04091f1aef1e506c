"""A causal language model as a classifier: label scoring by log-likelihood, and a classification head.

Two ways to make SmolLM2 classify a text into one of K labels:

1. **Score the labels** (zero-shot or few-shot, no training). Ask the question in the chat
   template and compute, for every label, the log-probability that the assistant's answer is
   exactly that label followed by the end-of-turn token. The prediction is the label with the
   highest score: the answer is constrained to the label set, unlike free generation, which
   may answer anything. ``label_logprobs`` computes the prompt once (and the part that every
   prompt shares, such as the instruction and few-shot examples, once for all prompts) and
   reuses its key-value cache for the K continuations.
2. **A classification head** (trained): ``load_sequence_classifier`` replaces the language-model
   head by a new linear layer from the hidden state of the last token to K logits
   (``LlamaForSequenceClassification``). That layer starts random and must be trained.

Taught in chapter 9, sections 9.3 and 9.5.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence

import torch
from torch import nn

from ftlib.profile import Profile, get_profile

__all__ = [
    "END_OF_TURN",
    "classification_messages",
    "label_logprobs",
    "label_logprobs_naive",
    "load_sequence_classifier",
]

END_OF_TURN = "<|im_end|>"


def classification_messages(text: str, labels: Sequence[str], instruction: str,
                            examples: Sequence[dict] = ()) -> list[dict[str, str]]:
    """The chat messages that ask for ``text``'s label, after optional solved ``examples`` (few-shot).

    Each example becomes a user turn (the instruction with its text) and an assistant turn (its
    label): the chat-native form of few-shot prompting, the form an instruction-tuned model saw
    in training. ``instruction`` is a format string with the fields ``{labels}`` and ``{text}``.

    Raises:
        ValueError: for an empty text, or an example whose label is not in ``labels``.
    """
    if not isinstance(text, str) or not text.strip():
        raise ValueError("the text to classify is empty")
    names = ", ".join(labels)
    messages = []
    for example in examples:
        if example["label"] not in labels:
            raise ValueError(f"few-shot example {example.get('id')!r} has label {example['label']!r}, not in {list(labels)}")
        messages += [{"role": "user", "content": instruction.format(labels=names, text=example["text"])},
                     {"role": "assistant", "content": example["label"]}]
    return messages + [{"role": "user", "content": instruction.format(labels=names, text=text)}]


def _label_tokens(tokenizer, prompt_ids: list[int], prompt: str, labels: Sequence[str], end: str) -> list[list[int]]:
    """The tokens of each label + end-of-turn, checked to be what the tokenizer gives after the prompt."""
    out = []
    for label in labels:
        ids = tokenizer(label + end, add_special_tokens=False)["input_ids"]
        joined = tokenizer(prompt + label + end, add_special_tokens=False)["input_ids"]
        if joined != prompt_ids + ids:
            raise ValueError(f"label {label!r} merges with the end of the prompt when tokenized; "
                             "end the prompt with a newline or a special token")
        out.append(ids)
    return out


@torch.no_grad()
def label_logprobs_naive(model, tokenizer, prompt: str, labels: Sequence[str], end: str = END_OF_TURN) -> torch.Tensor:
    """The same scores as ``label_logprobs`` for one prompt, the slow, plain way: one forward pass per label."""
    prompt_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    scores = []
    device = next(model.parameters()).device
    for ids in _label_tokens(tokenizer, prompt_ids, prompt, labels, end):
        x = torch.tensor([prompt_ids + ids], device=device)
        logprobs = model(input_ids=x).logits[0, :-1].float().log_softmax(-1)  # position t predicts token t+1
        targets = x[0, len(prompt_ids):]
        scores.append(logprobs[len(prompt_ids) - 1 :].gather(-1, targets[:, None]).sum())
    return torch.stack(scores).cpu()


def _with_cache(model, cache) -> dict:
    """The keyword that passes a key-value cache: ``cache`` in recent transformers, ``past_key_values`` before."""
    import inspect

    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    return {"cache": cache} if "cache" in inspect.signature(base.forward).parameters else {"past_key_values": cache}


def _common_prefix(sequences: list[list[int]]) -> int:
    """Length of the longest token prefix all sequences share, leaving each at least one token of its own."""
    n = min(len(s) for s in sequences) - 1
    first = sequences[0]
    for i in range(n):
        if any(s[i] != first[i] for s in sequences):
            return i
    return max(n, 0)


@torch.no_grad()
def label_logprobs(model, tokenizer, prompts: Sequence[str], labels: Sequence[str], end: str = END_OF_TURN,
                   batch_size: int = 16, progress: bool = False) -> torch.Tensor:
    """Log-probability of each label (then ``end``) as the answer to each prompt: shape (len(prompts), len(labels)).

    ``prompts`` are complete chat prompts ending where the assistant's answer starts
    (``ftlib.data.chat_prompt``). A label of several tokens scores the sum of their
    log-probabilities (a longer label is not favoured: every label must end with ``end``).

    How it saves time: the tokens that every prompt shares (system prompt, instruction,
    few-shot examples) run through the model once; each batch of prompts continues from a
    copy of that key-value cache; the cache of each prompt is then repeated once per label,
    and only the label tokens run. Padding goes between the shared part and each prompt's
    own tokens, with the attention mask and position ids set so that every prompt sees
    exactly what it would see alone (the tests compare with ``label_logprobs_naive``).

    Raises:
        ValueError: for no prompts, fewer than 2 labels, or a label that does not tokenize apart.
    """
    from tqdm.auto import tqdm
    from transformers import DynamicCache

    prompts, labels = list(prompts), list(labels)
    if not prompts or len(labels) < 2 or len(set(labels)) != len(labels):
        raise ValueError(f"need at least one prompt and 2 distinct labels, got {len(prompts)} prompts and {labels}")
    device = next(model.parameters()).device
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    ids = [tokenizer(p, add_special_tokens=False)["input_ids"] for p in prompts]
    label_ids = _label_tokens(tokenizer, ids[0], prompts[0], labels, end)
    K, L = len(labels), max(len(t) for t in label_ids)
    lab = torch.full((K, L), pad, dtype=torch.long)
    lab_mask = torch.zeros(K, L, dtype=torch.long)
    for k, t in enumerate(label_ids):
        lab[k, : len(t)], lab_mask[k, : len(t)] = torch.tensor(t), 1
    shared = _common_prefix(ids)
    prefix_cache = DynamicCache()
    if shared:
        model(input_ids=torch.tensor([ids[0][:shared]], device=device), use_cache=True, **_with_cache(model, prefix_cache))
    scores = []
    for start in tqdm(range(0, len(ids), batch_size), desc="scoring labels", disable=not progress):
        own = [s[shared:] for s in ids[start : start + batch_size]]
        B, S = len(own), max(len(s) for s in own)
        x = torch.full((B, S), pad, dtype=torch.long)
        mask = torch.zeros(B, shared + S, dtype=torch.long)
        mask[:, :shared] = 1
        for b, s in enumerate(own):  # left-pad each prompt's own tokens
            x[b, S - len(s) :], mask[b, shared + S - len(s) :] = torch.tensor(s), 1
        cache = copy.deepcopy(prefix_cache)
        if shared:
            cache.batch_repeat_interleave(B)
        pos = (mask.cumsum(-1) - 1).clamp(min=0)
        out = model(input_ids=x.to(device), attention_mask=mask.to(device), position_ids=pos[:, shared:].to(device),
                    use_cache=True, logits_to_keep=1, **_with_cache(model, cache))
        first = out.logits[:, -1].float().log_softmax(-1)  # (B, V): the first answer token
        cache.batch_repeat_interleave(K)  # (B*K, ...): each prompt once per label
        mask2 = torch.cat([mask.repeat_interleave(K, 0), lab_mask.repeat(B, 1)], dim=1)  # (B*K, shared+S+L)
        pos2 = (mask2.cumsum(-1) - 1).clamp(min=0)[:, shared + S :]
        rest = model(input_ids=lab.repeat(B, 1).to(device), attention_mask=mask2.to(device),
                     position_ids=pos2.to(device), **_with_cache(model, cache)).logits.float().log_softmax(-1)
        targets = lab.repeat(B, 1).to(device)  # (B*K, L)
        total = first.repeat_interleave(K, 0).gather(-1, targets[:, :1]).squeeze(-1)
        if L > 1:  # label token t+1 is predicted at label position t
            later = rest[:, :-1].gather(-1, targets[:, 1:, None]).squeeze(-1) * lab_mask.repeat(B, 1)[:, 1:].to(device)
            total = total + later.sum(-1)
        scores.append(total.view(B, K).cpu())
    return torch.cat(scores)


def load_sequence_classifier(num_labels: int, profile: Profile | None = None, seed: int = 0):
    """SmolLM2 with a new classification head on its last token: ``(model, tokenizer)`` in eval mode.

    ``AutoModelForSequenceClassification`` keeps the transformer and drops the language-model
    head; a new linear layer ``score`` maps the hidden state of the last real token (576 values)
    to ``num_labels`` logits. It starts random (seeded here), so it must be trained.

    Raises:
        ftlib.models.ModelMissingError: on cpu and smoke when the offline model is not prepared.
    """
    from transformers import AutoModelForSequenceClassification, LlamaConfig, LlamaForSequenceClassification
    from transformers.utils import logging as hf_logging

    from ftlib.models import load_pretrained, load_tokenizer

    profile = profile or get_profile()
    tokenizer = load_tokenizer(profile)
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        if profile.name == "smoke":
            config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                                 num_attention_heads=4, num_key_value_heads=2, num_labels=num_labels,
                                 pad_token_id=tokenizer.pad_token_id)
            model = LlamaForSequenceClassification(config)
        else:
            verbosity = hf_logging.get_verbosity()
            hf_logging.set_verbosity_error()  # the "newly initialized: score.weight" notice: we say it ourselves
            try:
                # the Hub (gpu), the offline folder (cpu), or $FTLIB_MODEL_DIR's folder or random weights
                model = load_pretrained(AutoModelForSequenceClassification, profile, num_labels=num_labels,
                                        pad_token_id=tokenizer.pad_token_id)
            finally:
                hf_logging.set_verbosity(verbosity)
    if not isinstance(getattr(model, "score", None), nn.Linear):
        raise RuntimeError(f"{type(model).__name__} has no linear `score` head")
    return model.to(profile.device).eval(), tokenizer
