"""Shared fixtures. Unit tests run on the smoke profile's tiny model unless a test says otherwise."""

import os

os.environ.setdefault("MPLBACKEND", "Agg")  # no windows from plotting tests

import pytest

from ftlib.models import load_model
from ftlib.profile import get_profile


@pytest.fixture(scope="session")
def smoke():
    """(model, tokenizer) of the smoke profile: a tiny random Llama with the SmolLM2 tokenizer."""
    return load_model(get_profile("smoke"))


@pytest.fixture(scope="session")
def real():
    """(model, tokenizer) of the cpu profile: the offline SmolLM2-135M-Instruct (loads in about a second)."""
    return load_model(get_profile("cpu"))
