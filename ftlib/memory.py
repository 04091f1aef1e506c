"""The memory calculator: what a training step needs, for a model of any size, before you run it.

``training_memory(shape, method, ...)`` predicts the four parts of a training step's memory:

- **weights**: every parameter, in the training precision; under QLoRA the targeted linear
  layers at 4.127 bits (NF4 with double quantization) instead;
- **gradients**: one per *trainable* parameter;
- **optimizer**: AdamW's two fp32 states per trainable parameter, plus the fp32 master copy
  that mixed precision keeps (the ZeRO paper's "K = 12 bytes");
- **activations**: what the forward pass saves for the backward pass, counted tensor by tensor
  for a Llama-style decoder (``activation_values_per_token``), for a batch and sequence length,
  with or without gradient checkpointing, plus what the loss saves and the gradient of the
  logits (the largest temporary of the backward pass).

The sum is the peak if every part is held at once. In full fine-tuning the weight gradients are
created during the backward pass, as activations are freed, so there the prediction is an upper
bound, by up to the gradients' size.

Parts can be sharded over GPUs as DeepSpeed ZeRO does (``zero_stage`` 1: optimizer, 2: and
gradients, 3: and weights). ``ModelShape`` holds the sizes that memory depends on; ``MODELS``
has SmolLM2, Llama 3.1 and LLaMA-65B. Usage::

    from ftlib.memory import MODELS, training_memory
    m = training_memory(MODELS["Llama-3.1-8B"], "qlora", batch_size=4, seq_len=512,
                        gradient_checkpointing=True)
    print(m)            # the four parts and the total, in GiB
    m.fits(24)          # True when the total is at most 24 GiB

The activation count was checked against ``ftlib.measure.saved_activation_bytes`` on SmolLM2
(exact for the forward pass), and the totals against measured training runs in chapter 11.

Taught in chapter 11, section 11.6 (the full and LoRA accounting of chapters 4 and 6, generalised).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

__all__ = [
    "ALL_LINEAR",
    "ATTENTION",
    "GPU_SIZES_GIB",
    "METHODS",
    "MODELS",
    "OPTIMIZER_BYTES",
    "PRECISIONS",
    "MemoryBreakdown",
    "ModelShape",
    "activation_bytes",
    "activation_values_per_token",
    "lora_parameters",
    "memory_table",
    "training_memory",
]

GIB = 2**30
ALL_LINEAR = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
METHODS = ("full", "lora", "qlora")
ATTENTION = ("flash", "masked")  # flash / memory-efficient kernels; or given an explicit mask (CPU, padding)
GPU_SIZES_GIB = (16, 24, 40, 48, 80)  # common GPU memory sizes (a "24 GB" card holds 24 GiB)
# Bytes per value: weights and gradients in the training dtype; the fp32 master copy kept by mixed
# precision (counted with the optimizer, as in the ZeRO paper); saved activations.
PRECISIONS = {
    "fp32": {"weight": 4, "grad": 4, "master": 0, "activation": 4},
    "bf16-mixed": {"weight": 2, "grad": 2, "master": 4, "activation": 2},  # torch autocast / Trainer bf16=True
    "bf16": {"weight": 2, "grad": 2, "master": 0, "activation": 2},  # pure bf16 weights (QLoRA's LoRA layers)
}
OPTIMIZER_BYTES = {"adamw": 8, "adamw-8bit": 2, "sgd": 4, "none": 0}  # state bytes per trainable parameter


@dataclass(frozen=True)
class ModelShape:
    """The sizes of a Llama-style decoder (SmolLM2, Llama, Mistral, Qwen) that its memory depends on."""

    name: str
    n_layers: int
    hidden: int
    intermediate: int  # width of the gated MLP
    n_heads: int
    n_kv_heads: int  # fewer than n_heads with grouped-query attention
    vocab: int
    tied_embeddings: bool = False  # output layer shares the input embedding's matrix

    @property
    def head_dim(self) -> int:
        return self.hidden // self.n_heads

    def linear_shapes(self) -> dict[str, tuple[int, int]]:
        """(out, in) of each linear layer of one decoder block, by peft's names."""
        h, kv = self.hidden, self.n_kv_heads * self.head_dim
        q = self.n_heads * self.head_dim
        i = self.intermediate
        return {"q_proj": (q, h), "k_proj": (kv, h), "v_proj": (kv, h), "o_proj": (h, q),
                "gate_proj": (i, h), "up_proj": (i, h), "down_proj": (h, i)}  # fmt: skip

    @property
    def linear_params(self) -> int:
        """Parameters in the decoder blocks' linear layers (what QLoRA stores in 4 bits)."""
        return self.n_layers * sum(o * i for o, i in self.linear_shapes().values())

    @property
    def n_params(self) -> int:
        """All parameters: embeddings, linear layers, norms and (when untied) the output layer."""
        embeddings = self.vocab * self.hidden * (1 if self.tied_embeddings else 2)
        norms = self.n_layers * 2 * self.hidden + self.hidden
        return embeddings + self.linear_params + norms

    @classmethod
    def from_config(cls, config, name: str | None = None) -> ModelShape:
        """From a Hugging Face ``LlamaConfig`` (or any config with the same fields)."""
        return cls(
            name or getattr(config, "name_or_path", "") or config.model_type,
            config.num_hidden_layers, config.hidden_size, config.intermediate_size,
            config.num_attention_heads, getattr(config, "num_key_value_heads", None) or config.num_attention_heads,
            config.vocab_size, bool(getattr(config, "tie_word_embeddings", False)),
        )  # fmt: skip


MODELS: dict[str, ModelShape] = {
    m.name: m
    for m in [
        ModelShape("SmolLM2-135M", 30, 576, 1536, 9, 3, 49152, tied_embeddings=True),
        ModelShape("SmolLM2-360M", 32, 960, 2560, 15, 5, 49152, tied_embeddings=True),
        ModelShape("SmolLM2-1.7B", 24, 2048, 8192, 32, 32, 49152, tied_embeddings=True),
        ModelShape("Llama-3.1-8B", 32, 4096, 14336, 32, 8, 128256),
        ModelShape("LLaMA-65B", 80, 8192, 22016, 64, 64, 32000),
        ModelShape("Llama-3.1-70B", 80, 8192, 28672, 64, 8, 128256),
    ]
}


@dataclass(frozen=True)
class MemoryBreakdown:
    """Predicted bytes of one training step, by part (per GPU when sharded)."""

    weights: int
    gradients: int
    optimizer: int
    activations: int
    trainable: int = 0  # trainable parameters (before any sharding)

    @property
    def total(self) -> int:
        return self.weights + self.gradients + self.optimizer + self.activations

    @property
    def gib(self) -> float:
        return self.total / GIB

    def fits(self, gpu_gib: float) -> bool:
        """Whether the total fits in ``gpu_gib`` GiB (leave some for the CUDA context, about 0.5 GiB)."""
        return self.total <= gpu_gib * GIB

    def as_gib(self) -> dict[str, float]:
        parts = ("weights", "gradients", "optimizer", "activations", "total")
        return {k: getattr(self, k) / GIB for k in parts}

    def __str__(self) -> str:
        return ", ".join(f"{k} {v:.2f} GiB" for k, v in self.as_gib().items())


def lora_parameters(shape: ModelShape, r: int, target_modules: Sequence[str] = ALL_LINEAR) -> int:
    """LoRA's trainable parameters: ``r * (out + in)`` for each targeted layer of each block."""
    if r < 1:
        raise ValueError(f"the rank r must be >= 1, got {r}")
    shapes = shape.linear_shapes()
    unknown = set(target_modules) - set(shapes)
    if unknown:
        raise ValueError(f"unknown target modules {sorted(unknown)}; choose from {list(shapes)}")
    return shape.n_layers * sum(r * (o + i) for name, (o, i) in shapes.items() if name in target_modules)


def activation_values_per_token(
    shape: ModelShape,
    seq_len: int = 1,
    attention: str = "flash",
    lora_r: int = 0,
    n_lora_targets: int = 7,
    frozen_base: bool = False,
) -> dict[str, int]:
    """Values saved for backward per token, by part, as PyTorch saves them for a Llama decoder.

    Per block: ``8 h + 4 i + 2 kv + heads + 2``: the residual stream, the normalised input and
    its scaled copy at both RMS norms (each with one rsqrt value), the rotated query and key, the
    value, the attention output (and its copy into o_proj) with one log-sum-exp per head, and in
    the MLP the gate and up outputs, the SiLU of the gate and the product that enters down_proj.
    ``attention="masked"`` is PyTorch's attention given an explicit mask (a padded batch on
    the CPU): each block also keeps a row of the mask (``seq_len`` values) and the keys and values
    repeated to every head (``2 (h - kv)`` more). After the blocks (``head``): the final norm,
    the output layer's input, the logits (vocab) and the token ids.

    With a frozen base (LoRA, QLoRA), what only weight gradients need is not kept: the scaled
    copies at the norms (``2 h`` per block), the final norm's and the output layer's inputs
    (``2 h``), the first block's norm input and the token ids (``first``, negative). LoRA adds
    ``r`` per targeted layer (the input of ``lora_B``). Not per token, so not counted here: the
    rotary cos and sin, ``2 head_dim`` per position.
    """
    if attention not in ATTENTION:
        raise ValueError(f"attention must be one of {ATTENTION}, got {attention!r}")
    h, i, heads = shape.hidden, shape.intermediate, shape.n_heads
    kv = shape.n_kv_heads * shape.head_dim
    block = 8 * h + 4 * i + 2 * kv + heads + 2
    if attention == "masked":
        block += seq_len + 2 * (h - kv)
    head = 3 * h + 3 + shape.vocab
    first = 0
    if frozen_base:
        block, head, first = block - 2 * h, head - 2 * h, -(h + 3)
    return {"block": block + n_lora_targets * lora_r, "block_input": h, "head": head, "first": first}


def activation_bytes(
    shape: ModelShape,
    batch_size: int,
    seq_len: int,
    bytes_per_value: int = 2,
    gradient_checkpointing: bool = False,
    attention: str = "flash",
    lora_r: int = 0,
    n_lora_targets: int = 7,
    frozen_base: bool = False,
    include_loss: bool = True,
) -> int:
    """Bytes of saved activations for one batch of ``batch_size`` x ``seq_len`` tokens.

    Without checkpointing every block's activations are kept. With checkpointing (one
    checkpoint per block, as Hugging Face's ``gradient_checkpointing_enable``) only each
    block's input is kept, and one block's activations are rebuilt at a time during backward.
    ``frozen_base``: the base weights do not train (LoRA, QLoRA; see
    :func:`activation_values_per_token`). ``include_loss`` adds what the loss needs: the
    log-softmax of the logits in fp32 (and, in a 16-bit precision, the fp32 copy of the logits
    it is computed from), and the fp32 gradient of the logits that the backward pass creates
    while the activations are still held (the largest single temporary; measured in chapter 11).
    """
    if batch_size < 1 or seq_len < 1:
        raise ValueError(f"batch_size and seq_len must be >= 1, got {batch_size}, {seq_len}")
    v = activation_values_per_token(shape, seq_len, attention, lora_r, n_lora_targets, frozen_base)
    if gradient_checkpointing:
        per_token = shape.n_layers * v["block_input"] + v["block"] + v["head"]
    else:
        per_token = shape.n_layers * v["block"] + v["head"] + v["first"]
    total = per_token * bytes_per_value
    if include_loss:
        total += shape.vocab * 4 * (2 if bytes_per_value == 4 else 3)
    rotary = 2 * shape.head_dim * seq_len * bytes_per_value  # cos and sin, per position
    return batch_size * seq_len * total + rotary


def training_memory(
    shape: ModelShape,
    method: str = "full",
    batch_size: int = 1,
    seq_len: int = 512,
    precision: str = "bf16-mixed",
    optimizer: str = "adamw",
    r: int = 8,
    target_modules: Sequence[str] = ALL_LINEAR,
    gradient_checkpointing: bool = False,
    attention: str = "flash",
    quant_bits: float = 4.127,
    zero_stage: int = 0,
    n_gpus: int = 1,
) -> MemoryBreakdown:
    """Predict the memory of one training step of ``shape`` under full fine-tuning, LoRA or QLoRA.

    Args:
        method: ``"full"`` (every parameter trains), ``"lora"`` (a frozen base in ``precision``
            plus LoRA of rank ``r`` on ``target_modules``), ``"qlora"`` (the same with the
            targeted linear layers stored at ``quant_bits`` per weight; 4.127 is NF4 with double
            quantization, 4.5 without).
        precision: a key of ``PRECISIONS``: ``"fp32"`` (the book's CPU runs), ``"bf16-mixed"``
            (bf16 weights and gradients, fp32 master copy and AdamW states: 16 bytes per trained
            parameter) or ``"bf16"`` (no master copy; QLoRA's LoRA layers: 12 bytes with AdamW).
        optimizer: a key of ``OPTIMIZER_BYTES`` (``"adamw"``: two fp32 states, 8 bytes).
        batch_size, seq_len: the tokens of one micro-batch (per GPU).
        gradient_checkpointing, attention: see :func:`activation_bytes`.
        zero_stage, n_gpus: DeepSpeed ZeRO sharding over ``n_gpus`` data-parallel GPUs: stage 1
            divides the optimizer part, stage 2 also the gradients, stage 3 also the weights.
            Activations are per GPU and not sharded.

    Returns:
        A :class:`MemoryBreakdown` per GPU.

    Raises:
        ValueError: for an unknown method, precision, optimizer or ZeRO stage, or n_gpus < 1.
    """
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; choose one of {METHODS}")
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}; choose one of {tuple(PRECISIONS)}")
    if optimizer not in OPTIMIZER_BYTES:
        raise ValueError(f"unknown optimizer {optimizer!r}; choose one of {tuple(OPTIMIZER_BYTES)}")
    if zero_stage not in (0, 1, 2, 3) or n_gpus < 1:
        raise ValueError(f"need zero_stage in 0..3 and n_gpus >= 1, got {zero_stage}, {n_gpus}")
    p = PRECISIONS[precision]
    if method == "full":
        trainable, frozen_bytes = shape.n_params, 0
    else:
        trainable = lora_parameters(shape, r, target_modules)
        targeted = sum(o * i for name, (o, i) in shape.linear_shapes().items() if name in target_modules)
        quantized = shape.n_layers * targeted if method == "qlora" else 0
        frozen_bytes = round(quantized * quant_bits / 8) + (shape.n_params - quantized) * p["weight"]
    weights = frozen_bytes + trainable * p["weight"]
    gradients = trainable * p["grad"]
    opt = trainable * (OPTIMIZER_BYTES[optimizer] + p["master"])
    acts = activation_bytes(
        shape, batch_size, seq_len, p["activation"], gradient_checkpointing, attention,
        lora_r=0 if method == "full" else r, n_lora_targets=0 if method == "full" else len(target_modules),
        frozen_base=method != "full",
    )  # fmt: skip
    if zero_stage >= 1:
        opt = -(-opt // n_gpus)
    if zero_stage >= 2:
        gradients = -(-gradients // n_gpus)
    if zero_stage >= 3:
        weights = -(-weights // n_gpus)
    return MemoryBreakdown(weights, gradients, opt, acts, trainable)


def memory_table(
    models: Iterable[ModelShape], methods: Sequence[str] = METHODS, gpus: Sequence[float] = GPU_SIZES_GIB, **kwargs
) -> list[dict]:
    """One row per (model, method): parameters, the predicted GiB and whether it fits each GPU size.

    ``kwargs`` go to :func:`training_memory` (batch size, sequence length, checkpointing, ...).
    """
    rows = []
    for shape in models:
        for method in methods:
            m = training_memory(shape, method, **kwargs)
            rows.append({"model": shape.name, "params": shape.n_params, "method": method, "gib": m.gib,
                         **{f"{g:g} GiB": m.fits(g) for g in gpus}})  # fmt: skip
    return rows
