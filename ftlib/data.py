"""Records: load and validate JSONL, apply the chat template, mask the prompt, collate.

A record is one JSON object per line with at least a ``prompt`` and an ``answer``
(non-empty strings); other fields are kept. Supervised fine-tuning trains the model
to produce the answer given the prompt, so the loss is taken on answer tokens only:
prompt positions get the label -100, which PyTorch's cross-entropy ignores.

Taught in chapter 1, section 1.3 (chapter 3 goes deeper).
"""

from __future__ import annotations

import codecs
import json
import os
import re
from collections.abc import Sequence
from pathlib import Path

import torch

__all__ = [
    "IGNORE_INDEX",
    "STOP_WORDS",
    "chat_prompt",
    "collate",
    "crude_stem",
    "data_dir",
    "load_jsonl",
    "pack",
    "strip_stop_words",
    "tokenize_sft",
]

IGNORE_INDEX = -100  # the label PyTorch's cross_entropy skips (its default ignore_index)


def data_dir() -> Path:
    """The book's data folder: ``$FTLIB_DATA``, by default ``data/`` in the repository.

    Taught in chapter 1, section 1.3.
    """
    return Path(os.environ.get("FTLIB_DATA") or Path(__file__).resolve().parents[1] / "data")


def load_jsonl(path: str | Path, fields: Sequence[str] = ("prompt", "answer")) -> list[dict]:
    """Read a JSONL file and check every line; nothing is dropped silently.

    Each line must be UTF-8 text holding a JSON object whose ``fields`` are non-empty
    strings. Only a final newline is allowed to be empty. A UTF-8 byte-order mark at the
    start of the file (some Windows editors write one) is skipped.

    Raises:
        FileNotFoundError: when the file does not exist.
        ValueError: naming the file, the line number and the problem, for the first bad line
            (bytes that are not UTF-8 included).

    Taught in chapter 1, section 1.3.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file (build the data with `python data/build.py`)")
    records = []
    with path.open("rb") as f:  # bytes, so that a bad byte is reported with its line
        for number, raw in enumerate(f, start=1):
            where = f"{path}, line {number}"
            if number == 1 and raw.startswith(codecs.BOM_UTF8):
                raw = raw[len(codecs.BOM_UTF8) :]
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                byte = raw[exc.start : exc.start + 1].hex()
                raise ValueError(
                    f"{where}: not UTF-8 text (byte 0x{byte} at byte {exc.start + 1}); "
                    "save the file as UTF-8"
                ) from None
            if not line.strip():
                raise ValueError(f"{where}: empty line (every line must hold one JSON object)")
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ValueError(f"{where}: malformed JSON ({exc.msg} at column {exc.colno})") from None
            if not isinstance(record, dict):
                raise ValueError(f"{where}: expected a JSON object, got {type(record).__name__}")
            for field in fields:
                if field not in record:
                    raise ValueError(f"{where}: missing field {field!r}")
                if not isinstance(record[field], str):
                    raise ValueError(f"{where}: field {field!r} must be a string, got {type(record[field]).__name__}")
                if not record[field].strip():
                    raise ValueError(f"{where}: field {field!r} is empty")
            records.append(record)
    if not records:
        raise ValueError(f"{path}: the file holds no records")
    return records


def chat_prompt(prompt: str | Sequence[dict[str, str]], tokenizer) -> str:
    """The prompt as a user turn of the chat template, ending where the assistant starts to speak.

    ``prompt`` is either one string (one user turn) or a whole conversation, a list of
    ``{"role": ..., "content": ...}`` messages that ends with a user turn (a few-shot prompt
    written as earlier turns, for example). SmolLM2's template adds its default system prompt
    when the messages carry none.

    Raises:
        ValueError: for an empty conversation or one that does not end with a user turn.

    Taught in chapter 1, section 1.4 (chapter 3, section 3.2 looks inside the template).
    """
    if isinstance(prompt, str):
        messages = [{"role": "user", "content": prompt}]
    else:
        messages = list(prompt)
        if not messages or not isinstance(messages[-1], dict) or messages[-1].get("role") != "user":
            raise ValueError("a conversation prompt must be a non-empty list of messages ending with a user turn")
    return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)


def tokenize_sft(
    record: dict, tokenizer, max_length: int = 256, mask_prompt: bool = True, end_of_turn: bool = True
) -> dict[str, list[int]]:
    """Token ids of prompt + answer, with labels -100 on the prompt so only the answer is learned.

    The answer ends with the template's end-of-turn token, which is learned too: it is how
    the model learns to stop. An example longer than ``max_length`` is refused rather than cut:
    cutting from the right would keep a fragment of the answer without its end-of-turn token,
    and the model would silently learn to stop nowhere.

    Args:
        max_length: the most tokens an example may have (prompt and answer together).
        mask_prompt: False puts a loss on the prompt tokens too (chapter 3 measures what that does).
        end_of_turn: False leaves the end-of-turn token and what follows it out of the example
            (chapter 3 measures that the model then does not stop).

    Returns:
        ``input_ids``, ``attention_mask`` and ``labels`` as lists of equal length (at most ``max_length``).

    Raises:
        ValueError: when prompt and answer together do not fit in ``max_length`` (naming the
            record's ``id`` when it has one), or when the chat template renders the prompt
            differently with and without the answer.

    Taught in chapter 1, section 1.5 (masking) and chapter 3, section 3.3 (truncation).
    """
    prompt_text = chat_prompt(record["prompt"], tokenizer)
    messages = [{"role": "user", "content": record["prompt"]}, {"role": "assistant", "content": record["answer"]}]
    full_text = tokenizer.apply_chat_template(messages, tokenize=False)
    if not full_text.startswith(prompt_text):
        raise ValueError("the chat template renders the prompt differently with and without the answer")
    answer_text = full_text[len(prompt_text) :] if end_of_turn else record["answer"]
    prompt_ids = tokenizer(prompt_text, add_special_tokens=False)["input_ids"]
    answer_ids = tokenizer(answer_text, add_special_tokens=False)["input_ids"]
    if len(prompt_ids) + len(answer_ids) > max_length:
        name = f"record {record['id']!r}" if "id" in record else "a record"
        raise ValueError(
            f"{name} has {len(prompt_ids) + len(answer_ids)} tokens ({len(prompt_ids)} prompt, "
            f"{len(answer_ids)} answer), more than max_length={max_length}: cutting it would drop the end of the "
            "answer and its end-of-turn token. Raise max_length, or shorten or leave out the record."
        )
    prompt_labels = [IGNORE_INDEX] * len(prompt_ids) if mask_prompt else prompt_ids
    input_ids = prompt_ids + answer_ids
    return {"input_ids": input_ids, "attention_mask": [1] * len(input_ids), "labels": prompt_labels + answer_ids}


def collate(examples: Sequence[dict[str, list[int]]], pad_token_id: int) -> dict[str, torch.Tensor]:
    """Pad tokenized examples on the right into a batch of tensors, shape (B, T_max).

    Padding gets attention 0 and label -100, so it changes neither the forward pass of
    real tokens nor the loss.

    Raises:
        ValueError: for an empty list of examples.

    Taught in chapter 1, section 1.5 (chapter 3, section 3.3 looks at padding).
    """
    if not examples:
        raise ValueError("collate needs at least one example")
    width = max(len(e["input_ids"]) for e in examples)
    batch = {"input_ids": [], "attention_mask": [], "labels": []}
    for e in examples:
        pad = width - len(e["input_ids"])
        batch["input_ids"].append(e["input_ids"] + [pad_token_id] * pad)
        batch["attention_mask"].append(e["attention_mask"] + [0] * pad)
        batch["labels"].append(e["labels"] + [IGNORE_INDEX] * pad)
    return {k: torch.tensor(v, dtype=torch.long) for k, v in batch.items()}


def pack(examples: Sequence[dict[str, list[int]]], block_size: int) -> list[dict[str, list[int]]]:
    """Concatenate tokenized examples and cut the stream into blocks of ``block_size`` tokens.

    Packing removes padding: every block is full except perhaps the last. The first label
    of each example is set to -100 so that no example is trained to follow the one before it,
    but attention still crosses example boundaries inside a block (masking that needs
    per-example position ids, which this simple version does not build).

    Taught in chapter 3, section 3.4.
    """
    if block_size < 2:
        raise ValueError("block_size must be at least 2")
    ids: list[int] = []
    labels: list[int] = []
    for e in examples:
        ids += e["input_ids"]
        labels += [IGNORE_INDEX] + e["labels"][1:]
    blocks = []
    for start in range(0, len(ids), block_size):
        chunk = ids[start : start + block_size]
        blocks.append({"input_ids": chunk, "attention_mask": [1] * len(chunk), "labels": labels[start : start + block_size]})
    return blocks


# A bag-of-words habit that some guides carry over to LLM fine-tuning; chapter 3 measures it.
STOP_WORDS = frozenset(
    "a an the of for to in on at and or is it be we i me my if with this that are please only would could can".split()
)


def crude_stem(word: str) -> str:
    """Strip one common English suffix (ing, ed, es, s, ly) from a word of more than three letters besides it.

    A crude suffix stripper in the spirit of the Porter stemmer: ``seating`` -> ``seat``,
    ``Jonas`` -> ``Jona``.

    Taught in chapter 3, section 3.8.
    """
    for suffix in ("ing", "ed", "es", "s", "ly"):
        if len(word) > len(suffix) + 3 and word.endswith(suffix):
            return word[: -len(suffix)]
    return word


def strip_stop_words(text: str) -> str:
    """Lower-case every word, drop the words in ``STOP_WORDS`` and stem the rest; keep digits and punctuation.

    This is the preprocessing that bag-of-words models needed and that some fine-tuning guides
    still recommend. It exists here so that chapter 3, section 3.8 (and
    ``experiments/03_data_choices.py``) can measure what it does to an LLM; it is not advice.

    Raises:
        TypeError: when ``text`` is not a string.

    Taught in chapter 3, section 3.8.
    """
    if not isinstance(text, str):
        raise TypeError(f"text must be a string, got {type(text).__name__}")

    def replace(match: re.Match) -> str:
        word = match.group().lower()
        return "" if word in STOP_WORDS else crude_stem(word)

    return re.sub(r"[A-Za-z]+", replace, text)
