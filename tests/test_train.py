import pytest
import torch

from ftlib.data import tokenize_sft
from ftlib.models import tiny_llama
from ftlib.train import train


def test_train_lowers_the_loss_and_repeats(smoke):
    _, tokenizer = smoke
    examples = [tokenize_sft({"prompt": "Date: 1 May 2000", "answer": "2000-05-01"}, tokenizer)]
    runs = []
    for _ in range(2):
        model = tiny_llama(len(tokenizer), seed=0)
        runs.append(train(model, examples, tokenizer.pad_token_id, num_steps=8, batch_size=2, lr=1e-2))
    assert runs[1] == runs[0]  # same seed, same batches, same losses
    assert runs[0][-1] < runs[0][0]
    assert not model.training


def test_train_refuses_nothing_to_train(smoke):
    _, tokenizer = smoke
    model = tiny_llama(len(tokenizer)).requires_grad_(False)
    with pytest.raises(ValueError, match="nothing to train"):
        train(model, [{"input_ids": [1], "attention_mask": [1], "labels": [1]}], 2, num_steps=1)
    with pytest.raises(ValueError, match="no training examples"):
        train(model, [], 2, num_steps=1)
