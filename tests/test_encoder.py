"""ftlib.encoder: all-MiniLM-L6-v2 offline, checked against the similarities sentence-transformers documents."""

from __future__ import annotations

import importlib.util

import pytest
import torch

from ftlib import encoder as enc
from ftlib.profile import get_profile


@pytest.fixture(scope="module")
def minilm():
    """The real encoder (22.7M parameters, loads in about a second): `make model` installs it."""
    return enc.load_encoder(get_profile("cpu"))


def test_embeddings_match_the_documented_similarities(minilm):
    """Equivalence with sentence-transformers: its quick-start example prints 0.6660, 0.1046, 0.1411."""
    model, tokenizer = minilm
    measured = enc.check_encoder(model, tokenizer, atol=5e-4)
    assert measured == pytest.approx([s for _, _, s in enc.REFERENCE_SIMILARITIES], abs=5e-4)
    e = enc.embed(model, tokenizer, list(enc.REFERENCE_SENTENCES))
    assert e.shape == (3, 384)
    torch.testing.assert_close(e.norm(dim=-1), torch.ones(3), rtol=0, atol=1e-5)


def test_padding_does_not_change_an_embedding(minilm):
    model, tokenizer = minilm
    alone = enc.embed(model, tokenizer, ["IRC client for Emacs"])
    padded = enc.embed(model, tokenizer, ["IRC client for Emacs", "a much longer description of a sound editor for X11"])
    torch.testing.assert_close(padded[:1], alone, rtol=0, atol=1e-5)


def test_mean_pool_ignores_padding():
    hidden = torch.tensor([[[1.0, 2.0], [3.0, 4.0], [100.0, 100.0]]])
    mask = torch.tensor([[1, 1, 0]])
    assert enc.mean_pool(hidden, mask).tolist() == [[2.0, 3.0]]


def test_bad_input(minilm):
    model, tokenizer = minilm
    with pytest.raises(ValueError, match="empty"):
        enc.embed(model, tokenizer, ["fine", "  "])
    with pytest.raises(ValueError, match="at least one text"):
        enc.embed(model, tokenizer, [])
    with pytest.raises(ValueError, match="at least 2 classes"):
        enc.EncoderClassifier(model, 1)


def test_classifier_on_the_smoke_encoder():
    model, tokenizer = enc.load_encoder(get_profile("smoke"))
    clf = enc.EncoderClassifier(model, 5)
    batch = tokenizer(["a game", "a network daemon for IPv6"], padding=True, return_tensors="pt")
    logits = clf(batch["input_ids"], batch["attention_mask"])
    assert logits.shape == (2, 5)
    assert sum(p.numel() for p in clf.head.parameters()) == 32 * 5 + 5


def test_a_missing_package_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(enc.EncoderMissingError, match="make model"):
        enc.encoder_dir()
