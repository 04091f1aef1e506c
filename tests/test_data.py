import json

import pytest
import torch

from ftlib.data import IGNORE_INDEX, chat_prompt, collate, data_dir, load_jsonl, tokenize_sft

GOOD = {"prompt": "Date: 1 May 2000", "answer": "2000-05-01"}


def write(tmp_path, *lines):
    path = tmp_path / "records.jsonl"
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


def test_load_jsonl_keeps_every_record_and_extra_fields(tmp_path):
    path = write(tmp_path, json.dumps(GOOD), json.dumps({**GOOD, "id": "x"}))
    records = load_jsonl(path)
    assert len(records) == 2 and records[1]["id"] == "x"


@pytest.mark.parametrize(
    "bad_line, problem",
    [
        ('{"prompt": "a", "answer": }', "malformed JSON"),
        ('["prompt", "answer"]', "expected a JSON object, got list"),
        ('{"prompt": "a"}', "missing field 'answer'"),
        ('{"prompt": "a", "answer": "  "}', "field 'answer' is empty"),
        ('{"prompt": 3, "answer": "b"}', "field 'prompt' must be a string, got int"),
        ("", "empty line"),
    ],
)
def test_load_jsonl_names_file_line_and_problem(tmp_path, bad_line, problem):
    path = write(tmp_path, json.dumps(GOOD), bad_line, json.dumps(GOOD))
    with pytest.raises(ValueError) as err:
        load_jsonl(path)
    assert str(path) in str(err.value) and "line 2" in str(err.value) and problem in str(err.value)


def test_load_jsonl_empty_and_missing_files(tmp_path):
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    with pytest.raises(ValueError, match="no records"):
        load_jsonl(empty)
    with pytest.raises(FileNotFoundError, match="data/build.py"):
        load_jsonl(tmp_path / "nope.jsonl")


def test_load_jsonl_bytes_that_are_not_utf8_name_file_and_line(tmp_path):
    path = tmp_path / "latin1.jsonl"
    good = json.dumps(GOOD).encode()
    path.write_bytes(good + b"\n" + '{"prompt": "Café", "answer": "x"}'.encode("latin-1") + b"\n")
    with pytest.raises(ValueError) as err:
        load_jsonl(path)
    message = str(err.value)
    assert str(path) in message and "line 2" in message and "not UTF-8" in message and "0xe9" in message
    assert err.type is ValueError  # not a bare UnicodeDecodeError (a ValueError subclass)


def test_load_jsonl_accepts_a_byte_order_mark(tmp_path):
    path = tmp_path / "bom.jsonl"
    path.write_bytes(b"\xef\xbb\xbf" + json.dumps(GOOD).encode() + b"\r\n" + json.dumps(GOOD).encode() + b"\n")
    assert load_jsonl(path) == [GOOD, GOOD]
    late = tmp_path / "late_bom.jsonl"  # a mark anywhere else is a fault, reported with its line
    late.write_bytes(json.dumps(GOOD).encode() + b"\n\xef\xbb\xbf" + json.dumps(GOOD).encode() + b"\n")
    with pytest.raises(ValueError, match="line 2: malformed JSON"):
        load_jsonl(late)


def test_load_jsonl_custom_fields(tmp_path):
    path = write(tmp_path, json.dumps({"text": "hi", "label": "greeting"}))
    assert load_jsonl(path, fields=("text", "label"))[0]["label"] == "greeting"


def test_data_dir(monkeypatch, tmp_path):
    assert (data_dir() / "dates" / "train.jsonl").is_file()
    monkeypatch.setenv("FTLIB_DATA", str(tmp_path))
    assert data_dir() == tmp_path


def test_committed_date_data_is_valid():
    for split, size in [("train", 400), ("validation", 50), ("test", 100)]:
        assert len(load_jsonl(data_dir() / "dates" / f"{split}.jsonl")) == size


def test_chat_prompt(smoke):
    _, tokenizer = smoke
    text = chat_prompt("Hello?", tokenizer)
    assert "<|im_start|>user\nHello?<|im_end|>" in text
    assert "You are a helpful AI assistant named SmolLM" in text  # the template's default system prompt
    assert text.endswith("<|im_start|>assistant\n")


def test_chat_prompt_takes_a_conversation(smoke):
    _, tokenizer = smoke
    shots = [
        {"role": "user", "content": "Date: 3 March 2021"},
        {"role": "assistant", "content": "2021-03-03"},
        {"role": "user", "content": "Date: 1 May 2000"},
    ]
    text = chat_prompt(shots, tokenizer)
    assert "<|im_start|>assistant\n2021-03-03<|im_end|>" in text and text.endswith("<|im_start|>assistant\n")
    assert chat_prompt(shots[-1:], tokenizer) == chat_prompt("Date: 1 May 2000", tokenizer)
    for bad in ([], shots[:2]):
        with pytest.raises(ValueError, match="ending with a user turn"):
            chat_prompt(bad, tokenizer)


def test_tokenize_sft_masks_the_prompt(smoke):
    _, tokenizer = smoke
    ex = tokenize_sft(GOOD, tokenizer)
    assert len(ex["input_ids"]) == len(ex["labels"]) == len(ex["attention_mask"])
    n_prompt = len(tokenizer(chat_prompt(GOOD["prompt"], tokenizer), add_special_tokens=False)["input_ids"])
    assert all(label == IGNORE_INDEX for label in ex["labels"][:n_prompt])
    assert ex["labels"][n_prompt:] == ex["input_ids"][n_prompt:]
    learned = tokenizer.decode(ex["labels"][n_prompt:])
    assert learned == GOOD["answer"] + "<|im_end|>\n"  # the answer and the end of turn
    assert tokenizer.decode(ex["input_ids"]).startswith(chat_prompt(GOOD["prompt"], tokenizer))


def test_tokenize_sft_refuses_an_example_that_does_not_fit(smoke):
    """Cutting the answer would keep a fragment without its end-of-turn token: refuse, and say which record."""
    _, tokenizer = smoke
    full = tokenize_sft(GOOD, tokenizer)
    n = len(full["input_ids"])
    assert tokenize_sft(GOOD, tokenizer, max_length=n) == full  # exactly fits
    with pytest.raises(ValueError, match=rf"record 'dates-7' has {n} tokens .*max_length={n - 2}") as err:
        tokenize_sft({**GOOD, "id": "dates-7"}, tokenizer, max_length=n - 2)
    assert "end-of-turn" in str(err.value)
    with pytest.raises(ValueError, match=r"^a record has"):  # no id: still a clear message
        tokenize_sft(GOOD, tokenizer, max_length=10)
    no_eot = tokenize_sft(GOOD, tokenizer, end_of_turn=False)  # shorter: fits where the full one does not
    assert tokenize_sft(GOOD, tokenizer, end_of_turn=False, max_length=len(no_eot["input_ids"])) == no_eot


def test_collate_pads_right_and_masks_padding():
    a = {"input_ids": [5, 6, 7], "attention_mask": [1, 1, 1], "labels": [-100, 6, 7]}
    b = {"input_ids": [8], "attention_mask": [1], "labels": [8]}
    batch = collate([a, b], pad_token_id=2)
    assert batch["input_ids"].tolist() == [[5, 6, 7], [8, 2, 2]]
    assert batch["attention_mask"].tolist() == [[1, 1, 1], [1, 0, 0]]
    assert batch["labels"].tolist() == [[-100, 6, 7], [8, -100, -100]]
    assert all(t.dtype == torch.long for t in batch.values())
    with pytest.raises(ValueError):
        collate([], pad_token_id=2)


def test_padding_changes_no_real_logit(smoke):
    """Right padding with attention 0 leaves the real tokens' logits as they were."""
    model, tokenizer = smoke
    long = tokenize_sft({"prompt": "a much longer prompt than the other one", "answer": "yes"}, tokenizer)
    short = tokenize_sft(GOOD, tokenizer)
    with torch.no_grad():
        alone = model(**collate([short], tokenizer.pad_token_id)).logits[0]
        padded = model(**collate([long, short], tokenizer.pad_token_id)).logits[1, : alone.shape[0]]
    torch.testing.assert_close(alone, padded, atol=1e-5, rtol=1e-5)


def test_tokenize_sft_options(smoke):
    _, tokenizer = smoke
    full = tokenize_sft(GOOD, tokenizer)
    unmasked = tokenize_sft(GOOD, tokenizer, mask_prompt=False)
    assert unmasked["input_ids"] == full["input_ids"] and unmasked["labels"] == unmasked["input_ids"]
    no_eot = tokenize_sft(GOOD, tokenizer, end_of_turn=False)
    learned = [t for t in no_eot["labels"] if t != IGNORE_INDEX]
    assert tokenizer.decode(learned) == GOOD["answer"]  # no <|im_end|>, nothing after it
    assert no_eot["input_ids"] == full["input_ids"][: len(no_eot["input_ids"])]


def test_pack_fills_blocks_and_keeps_every_token():
    from ftlib.data import pack

    a = {"input_ids": [1, 2, 3], "attention_mask": [1, 1, 1], "labels": [-100, 2, 3]}
    b = {"input_ids": [4, 5, 6, 7, 8], "attention_mask": [1] * 5, "labels": [4, 5, 6, 7, 8]}
    blocks = pack([a, b], block_size=4)
    assert [blk["input_ids"] for blk in blocks] == [[1, 2, 3, 4], [5, 6, 7, 8]]
    assert [blk["labels"] for blk in blocks] == [[-100, 2, 3, -100], [5, 6, 7, 8]]  # b's first label is cut
    with pytest.raises(ValueError):
        pack([a], block_size=1)


def test_strip_stop_words_lowercases_drops_and_stems():
    from ftlib.data import STOP_WORDS, crude_stem, strip_stop_words

    text = "Jonas here. A table for the 3rd of March at 7pm, seating outside, please."
    assert strip_stop_words(text) == "jona here.  table   3rd  march  7pm, seat outside, ."
    assert crude_stem("seating") == "seat" and crude_stem("bus") == "bus" and crude_stem("Lars") == "Lars"
    assert {"the", "of", "for", "me"} <= STOP_WORDS
    assert strip_stop_words("2027-05-02, 19:30") == "2027-05-02, 19:30"  # digits and punctuation kept
    with pytest.raises(TypeError, match="must be a string"):
        strip_stop_words(None)
