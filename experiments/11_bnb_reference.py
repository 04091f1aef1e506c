"""Record what bitsandbytes' NF4 does to two fixed tensors, so that chapter 11 can check ftlib.quant against it.

bitsandbytes is the library QLoRA runs on. Its recent releases quantize NF4 on the CPU too, but
installing it changes what ``import peft`` prints on every chapter (a warning about an optional
CPU kernel), so the book's CPU environment does not install it. This script runs wherever
bitsandbytes is installed (``pip install bitsandbytes``, or Colab) and writes
``experiments/results/11_bnb_nf4_reference.json`` with its provenance:

- ``levels``: bitsandbytes' 16 NF4 code values;
- ``odd``: a 1-D tensor of 333 values (five blocks of 64 and a remainder of 13; the third
  block all zeros), given in full, with bitsandbytes' packed 4-bit codes, absmax scales and
  dequantized values (``quantize_4bit(blocksize=64, quant_type="nf4")``);
- ``double``: a 96 x 192 tensor (rows a multiple of the block, as in real weights) from ``torch.randn`` with seed 11 (its SHA-256 is kept, to
  detect a change of PyTorch's generator), with double quantization
  (``compress_statistics=True``): the packed codes, the fp32 scales and the scales as
  bitsandbytes reconstructs them from 8 bits, and the largest difference between
  ``dequantize_4bit`` and ``levels[code] * scale`` (0 when that is how it dequantizes).

Run: ``python experiments/11_bnb_reference.py`` (a few seconds).
"""

from __future__ import annotations

import hashlib
import logging
import time

import torch

from ftlib.records import save_results


def rows_not_multiple_of_block(F, levels: torch.Tensor) -> dict:
    """A 64 x 272 tensor (rows of 4.25 blocks): bitsandbytes' dequantized values against its own codes and scales.

    On bitsandbytes 0.50.2's CPU kernel the two disagree for such shapes; real weight rows are
    multiples of 64, which is why the reference above uses one.
    """
    x = torch.randn(64, 272, generator=torch.Generator().manual_seed(11)) * 0.02
    q, state = F.quantize_4bit(x, blocksize=64, quant_type="nf4")
    codes = torch.stack([q.flatten() >> 4, q.flatten() & 0xF], dim=1).flatten().long()
    rule = (levels[codes].reshape(-1, 64) * state.absmax.view(-1, 1)).reshape(x.shape)
    deq = F.dequantize_4bit(q, state)
    return {
        "shape": list(x.shape),
        "max_difference_from_codes_times_scales": (deq - rule).abs().max().item(),
        "relative_error_dequantized": ((deq - x).norm() / x.norm()).item(),
        "relative_error_codes_times_scales": ((rule - x).norm() / x.norm()).item(),
    }


def main() -> None:
    started = time.time()
    logging.getLogger("bitsandbytes").setLevel(logging.ERROR)  # an optional CPU kernel's warning
    import bitsandbytes
    import bitsandbytes.functional as F

    levels = F.get_4bit_type("nf4", device="cpu")[:16]

    gen = torch.Generator().manual_seed(11)
    odd = torch.randn(333, generator=gen) * 0.05
    odd[128:192] = 0.0  # an all-zero block
    odd[7] = 0.9  # an outlier in the first block
    q, state = F.quantize_4bit(odd, blocksize=64, quant_type="nf4")
    deq = F.dequantize_4bit(q, state)

    big = torch.randn(96, 192, generator=torch.Generator().manual_seed(11)) * 0.02
    big[3, 5] = 0.4
    q2, state2 = F.quantize_4bit(big, blocksize=64, quant_type="nf4", compress_statistics=True)
    q_plain, state_plain = F.quantize_4bit(big, blocksize=64, quant_type="nf4")
    deq2 = F.dequantize_4bit(q2, state2)
    scales_dq = F.dequantize_blockwise(state2.absmax, state2.state2) + state2.offset
    codes = torch.stack([q2.flatten() >> 4, q2.flatten() & 0xF], dim=1).flatten().long()
    rule = (levels[codes].reshape(-1, 64) * scales_dq.view(-1, 1)).reshape(big.shape)

    results = {
        "bitsandbytes": bitsandbytes.__version__,
        "levels": levels.tolist(),
        "odd": {
            "values": odd.tolist(),
            "blocksize": 64,
            "packed_hex": q.flatten().numpy().tobytes().hex(),
            "absmax": state.absmax.tolist(),
            "dequantized": deq.flatten().tolist(),
        },
        "double": {
            "seed": 11,
            "shape": list(big.shape),
            "scale": 0.02,
            "outlier": [3, 5, 0.4],
            "sha256": hashlib.sha256(big.numpy().tobytes()).hexdigest(),
            "blocksize": 64,
            "nested_blocksize": state2.state2.blocksize,
            "packed_hex": q2.flatten().numpy().tobytes().hex(),
            "same_codes_without_double_quant": bool(torch.equal(q2, q_plain)),
            "absmax_fp32": state_plain.absmax.tolist(),
            "absmax_double_quant": scales_dq.tolist(),
            "dequantize_rule_max_difference": (deq2 - rule).abs().max().item(),
            "relative_error": ((deq2 - big).norm() / big.norm()).item(),
        },
        "rows_not_multiple_of_block": rows_not_multiple_of_block(F, levels),
    }
    path = save_results("11_bnb_nf4_reference.json", results, "cpu", started)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
