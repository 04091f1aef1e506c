import math

import pytest
import torch

from ftlib.data import collate, tokenize_sft
from ftlib.loss import perplexity, sft_loss, token_nll


def test_sft_loss_equals_transformers_loss(smoke):
    """Our loss, written out, is the number a Hugging Face causal LM returns as .loss."""
    model, tokenizer = smoke
    records = [{"prompt": "Date: 1 May 2000", "answer": "2000-05-01"}, {"prompt": "Hi", "answer": "Hello! How can I help?"}]
    batch = collate([tokenize_sft(r, tokenizer) for r in records], tokenizer.pad_token_id)
    with torch.no_grad():
        out = model(**batch)
    torch.testing.assert_close(sft_loss(out.logits, batch["labels"]), out.loss, atol=1e-5, rtol=1e-5)


def test_token_nll_by_hand():
    logits = torch.tensor([[[2.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 0.0]]])  # (1, 3, 3)
    labels = torch.tensor([[-100, 1, 2]])
    nll, mask = token_nll(logits, labels)
    expected_0 = -math.log(math.exp(0) / (math.exp(2) + 2))  # position 0 predicts label 1
    expected_1 = -math.log(math.exp(0) / (math.exp(1) + 2))  # position 1 predicts label 2
    assert mask.tolist() == [[True, True]]
    assert nll[0].tolist() == pytest.approx([expected_0, expected_1], rel=1e-6)


def test_masked_positions_contribute_nothing():
    torch.manual_seed(0)
    logits = torch.randn(2, 5, 7)
    labels = torch.tensor([[-100, -100, 3, 4, -100], [-100, 1, 2, 3, 4]])
    nll, mask = token_nll(logits, labels)
    assert (nll[~mask] == 0).all() and mask.sum() == 6
    changed = logits.clone()
    changed[0, 0] += 100.0  # position 0 of row 0 predicts a masked label
    assert sft_loss(changed, labels) == sft_loss(logits, labels)


def test_token_and_sequence_means_weigh_examples_differently():
    torch.manual_seed(0)
    logits = torch.randn(2, 6, 5)
    labels = torch.tensor([[-100, 1, -100, -100, -100, -100], [-100, 1, 2, 3, 4, 0]])  # 1 vs 5 answer tokens
    nll, mask = token_nll(logits, labels)
    token_mean = nll.sum() / mask.sum()
    sequence_mean = (nll[0].sum() / 1 + nll[1].sum() / 5) / 2
    torch.testing.assert_close(sft_loss(logits, labels, "token"), token_mean)
    torch.testing.assert_close(sft_loss(logits, labels, "sequence"), sequence_mean)
    assert not torch.isclose(token_mean, sequence_mean)


def test_gradient_is_p_minus_onehot():
    """d(-log softmax(z)[y]) / dz = softmax(z) - onehot(y)."""
    z = torch.randn(1, 2, 6, requires_grad=True)
    labels = torch.tensor([[-100, 4]])
    sft_loss(z, labels).backward()
    expected = torch.softmax(z[0, 0].detach(), -1) - torch.nn.functional.one_hot(torch.tensor(4), 6)
    torch.testing.assert_close(z.grad[0, 0], expected)
    assert (z.grad[0, 1] == 0).all()  # the last position predicts nothing


def test_errors_and_perplexity():
    with pytest.raises(ValueError, match="nothing to learn"):
        sft_loss(torch.zeros(1, 3, 4), torch.full((1, 3), -100))
    with pytest.raises(ValueError, match="reduction"):
        sft_loss(torch.zeros(1, 3, 4), torch.tensor([[0, 1, 2]]), reduction="max")
    with pytest.raises(ValueError, match="disagree"):
        token_nll(torch.zeros(1, 3, 4), torch.zeros(1, 4, dtype=torch.long))
    assert perplexity(math.log(10.0)) == pytest.approx(10.0)
    assert perplexity(torch.tensor(0.0)) == 1.0
    for bad in (-0.5, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="finite number >= 0"):
            perplexity(bad)
