"""ftlib.answer_eval: one teacher-forced pass gives the validation loss and greedy decoding's exact match."""

import pytest
import torch

from ftlib.answer_eval import AnswerScores, answer_scores
from ftlib.data import tokenize_sft
from ftlib.evaluate import generate
from ftlib.models import tiny_llama
from ftlib.train import train, validation_loss

RECORDS = [
    {"prompt": "Date: 1 May 2000", "answer": "2000-05-01"},
    {"prompt": "Date: the 3rd of June, 1999", "answer": "1999-06-03"},
    {"prompt": "Table for 2 at 7pm, Ana.", "answer": '{"name": "Ana", "party_size": 2}'},
]


@pytest.fixture
def examples(smoke):
    return [tokenize_sft(r, smoke[1]) for r in RECORDS]


def test_loss_equals_validation_loss(smoke, examples):
    model, tokenizer = smoke
    scores = answer_scores(model, examples, tokenizer.pad_token_id, tokenizer.eos_token_id, batch_size=2)
    expected = validation_loss(model, examples, tokenizer.pad_token_id, batch_size=2)
    assert scores.loss == pytest.approx(expected, rel=1e-5)
    assert len(scores) == 3 and scores.tokens == [sum(x != -100 for x in e["labels"][1:]) for e in examples]
    assert scores.example_loss()[0] == pytest.approx(scores.nll[0] / scores.tokens[0])


@pytest.fixture(scope="module")
def half_trained(smoke):
    """A tiny model trained until it knows some answers and not others (75 steps, measured)."""
    _, tokenizer = smoke
    examples = [tokenize_sft(r, tokenizer) for r in RECORDS]
    model = tiny_llama(len(tokenizer), seed=0)
    for seed in range(3):
        train(model, examples, tokenizer.pad_token_id, num_steps=25, batch_size=3, lr=3e-3, seed=seed, progress=False)
    return model, examples


def test_exact_match_equals_greedy_generation(smoke, half_trained):
    """Teacher forcing and real greedy generation agree item by item, on items right and wrong."""
    _, tokenizer = smoke
    model, examples = half_trained
    s = answer_scores(model, examples, tokenizer.pad_token_id, tokenizer.eos_token_id)
    outputs = generate(model, tokenizer, [r["prompt"] for r in RECORDS], max_new_tokens=24)
    assert s.exact == [o == r["answer"] for o, r in zip(outputs, RECORDS)]
    assert True in s.exact and False in s.exact  # the comparison can fail either way
    untrained = tiny_llama(len(tokenizer), seed=0)
    assert answer_scores(untrained, examples, tokenizer.pad_token_id, tokenizer.eos_token_id).exact_match == 0.0


def test_tokens_after_the_stop_token_do_not_count(smoke, half_trained):
    """SmolLM2's template puts a newline after <|im_end|>; generation never writes it, so it must not count."""
    _, tokenizer = smoke
    model, examples = half_trained
    right = answer_scores(model, examples, tokenizer.pad_token_id, tokenizer.eos_token_id).exact
    assert examples[0]["labels"][-2] == tokenizer.eos_token_id  # <|im_end|>, then a newline
    wrong_after = tokenizer.convert_tokens_to_ids("x")
    broken = [dict(e, labels=e["labels"][:-1] + [wrong_after]) for e in examples]
    assert answer_scores(model, broken, tokenizer.pad_token_id, tokenizer.eos_token_id).exact == right
    assert not any(answer_scores(model, broken, tokenizer.pad_token_id, None).exact)


def test_bad_input(smoke, examples):
    model, tokenizer = smoke
    with pytest.raises(ValueError, match="at least one"):
        answer_scores(model, [], tokenizer.pad_token_id, tokenizer.eos_token_id)
    no_answer = dict(examples[0], labels=[-100] * len(examples[0]["labels"]))
    with pytest.raises(ValueError, match="no answer token"):
        answer_scores(model, [no_answer], tokenizer.pad_token_id, tokenizer.eos_token_id)
    with pytest.raises(TypeError, match="tokenized example"):
        answer_scores(model, ["Date: 1 May 2000"], tokenizer.pad_token_id, tokenizer.eos_token_id)
    with pytest.raises(TypeError, match="stop_token_id"):
        answer_scores(model, examples, tokenizer.pad_token_id, "<|im_end|>")


def test_empty_scores():
    assert AnswerScores().exact_match == 0.0 and AnswerScores().loss == 0.0
    s = AnswerScores(nll=[2.0, 1.0], tokens=[2, 2], exact=[True, False])
    assert s.loss == pytest.approx(0.75) and s.exact_match == 0.5 and s.example_loss() == [1.0, 0.5]
    assert torch.tensor(s.exact).sum() == 1


def test_shared_prefix_changes_nothing_but_the_cost(smoke, half_trained):
    _, tokenizer = smoke
    model, examples = half_trained
    shared = answer_scores(model, examples, tokenizer.pad_token_id, tokenizer.eos_token_id, batch_size=2)
    whole = answer_scores(model, examples, tokenizer.pad_token_id, tokenizer.eos_token_id, shared_prefix=False)
    torch.testing.assert_close(torch.tensor(shared.nll), torch.tensor(whole.nll), rtol=1e-5, atol=1e-5)
    assert shared.exact == whole.exact and shared.tokens == whole.tokens
    one = answer_scores(model, examples[:1], tokenizer.pad_token_id, tokenizer.eos_token_id)  # nothing to share
    assert one.nll[0] == pytest.approx(whole.nll[0], rel=1e-5)
