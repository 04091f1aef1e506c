"""ftlib.quant: absmax and NF4 quantizers, double quantization, the NF4 linear layer (smoke profile)."""

import json
import math
from pathlib import Path

import pytest
import torch
from torch import nn

from ftlib.quant import (
    NF4Linear,
    absmax_quantize,
    bits_per_parameter,
    dequantize,
    merge_lora_nf4,
    nf4_levels,
    nf4_quantize,
    pack_4bit,
    quantize_dynamic_int8,
    quantize_model_nf4,
    relative_error,
    unpack_4bit,
)

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = ROOT / "experiments" / "results" / "11_bnb_nf4_reference.json"

# The NF4 table of the QLoRA paper's appendix (Dettmers et al. 2023), which bitsandbytes also hard-codes.
PAPER_NF4 = [
    -1.0, -0.6961928009986877, -0.5250730514526367, -0.39491748809814453, -0.28444138169288635,
    -0.18477343022823334, -0.09105003625154495, 0.0, 0.07958029955625534, 0.16093020141124725,
    0.24611230194568634, 0.33791524171829224, 0.44070982933044434, 0.5626170039176941,
    0.7229568362236023, 1.0,
]  # fmt: skip


@pytest.fixture
def smoke_model():
    """A fresh tiny model of the smoke profile (these tests change it in place)."""
    from ftlib.models import load_model
    from ftlib.profile import get_profile

    return load_model(get_profile("smoke"))


def weights(*shape, seed=0, scale=0.02):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed)) * scale


# ---------- absmax ----------


@pytest.mark.parametrize("bits, bound", [(8, 1 / 127), (4, 1 / 7)])
@pytest.mark.parametrize("block_size", [None, 256, 64, 7])
def test_absmax_round_trip_error_is_at_most_half_a_step(bits, bound, block_size):
    x = weights(33, 65)  # 2145 values: not a multiple of any block size tested
    q = absmax_quantize(x, bits=bits, block_size=block_size)
    back = dequantize(q)
    assert back.shape == x.shape
    blocks_absmax = q.scales * (2 ** (bits - 1) - 1)
    per_value_step = blocks_absmax.repeat_interleave(q.block_size)[: x.numel()].view_as(x) / (2 ** (bits - 1) - 1)
    assert ((back - x).abs() <= per_value_step / 2 + 1e-7).all()
    assert (back - x).abs().max() <= x.abs().max() * bound / 2 + 1e-7


def test_smaller_blocks_give_smaller_error_with_an_outlier():
    x = weights(64, 64)
    x[5, 7] = 1.0  # one outlier, 50 standard deviations out
    errors = [relative_error(dequantize(absmax_quantize(x, 4, b)), x) for b in [None, 256, 64]]
    assert errors[0] > errors[1] > errors[2]
    assert errors[0] > 0.5  # per-tensor int4 rounds almost everything to zero


def test_block_handling_and_a_remainder():
    x = torch.arange(1, 11, dtype=torch.float32)  # 10 values, blocks of 4: 4 + 4 + 2 (padded)
    q = absmax_quantize(x, bits=8, block_size=4)
    assert q.codes.shape == (3, 4) and q.scales.shape == (3,)
    torch.testing.assert_close(q.scales, torch.tensor([4.0, 8.0, 10.0]) / 127)
    assert q.codes[0, 3] == 127 and q.codes[1, 3] == 127 and q.codes[2, 1] == 127
    assert q.codes[2, 2:].eq(0).all()  # padding
    torch.testing.assert_close(dequantize(q), x, rtol=0, atol=10 / 127 / 2)


def test_all_zero_blocks_come_back_as_zeros():
    x = weights(300)
    x[64:128] = 0.0
    for q in [absmax_quantize(x, 8, 64), nf4_quantize(x, 64), nf4_quantize(x, 64, double_quant=True)]:
        back = dequantize(q)
        assert torch.isfinite(back).all()
        assert back[64:128].eq(0).all()
    assert dequantize(absmax_quantize(torch.zeros(10), 4, None)).eq(0).all()


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), float("-inf")])
@pytest.mark.parametrize("quantizer", [lambda x: absmax_quantize(x, 8), lambda x: nf4_quantize(x)])
def test_nan_and_inf_are_refused_with_a_clear_error(bad, quantizer):
    x = weights(100)
    x[3] = bad
    with pytest.raises(ValueError, match="NaN or infinite"):
        quantizer(x)


def test_bad_arguments():
    with pytest.raises(ValueError, match="bits"):
        absmax_quantize(weights(10), bits=1)
    with pytest.raises(ValueError, match="block_size"):
        absmax_quantize(weights(10), block_size=0)
    with pytest.raises(ValueError, match="empty"):
        nf4_quantize(torch.empty(0))
    with pytest.raises(TypeError, match="floating-point"):
        nf4_quantize(torch.arange(10))


# ---------- NF4 ----------


def test_nf4_levels_derived_from_normal_quantiles_match_the_paper_table():
    levels = nf4_levels()
    assert levels.shape == (16,) and levels[7] == 0 and levels[0] == -1 and levels[-1] == 1
    torch.testing.assert_close(levels, torch.tensor(PAPER_NF4), rtol=0, atol=1e-6)
    assert (levels[1:] > levels[:-1]).all()


def test_nf4_levels_against_scipy():
    from scipy.stats import norm

    delta = (1 / 32 + 1 / 30) / 2
    pos = norm.ppf([1 - delta + (delta - 0.5) * k / 8 for k in range(8)])
    neg = -norm.ppf([1 - delta + (delta - 0.5) * k / 7 for k in range(7)])
    v = sorted([*pos, 0.0, *neg])
    torch.testing.assert_close(nf4_levels(), torch.tensor(v, dtype=torch.float64).div(max(v)).float(), rtol=0, atol=1e-7)


def test_pack_and_unpack_4bit():
    codes = torch.tensor([0, 15, 7, 8, 1])
    packed = pack_4bit(codes)
    assert packed.tolist() == [0x0F, 0x78, 0x10]
    assert unpack_4bit(packed, 5).tolist() == codes.tolist()


@pytest.mark.parametrize("numel", [64, 333, 1])
def test_nf4_round_trip_picks_the_nearest_level(numel):
    x = weights(numel, seed=numel)
    q = nf4_quantize(x, block_size=64)
    back = dequantize(q)
    levels = nf4_levels()
    absmax = q.scales.repeat_interleave(64)[:numel]
    best = (x[:, None] / absmax[:, None] - levels[None, :]).abs().min(dim=1).values * absmax
    torch.testing.assert_close((back - x).abs(), best, rtol=0, atol=1e-6)
    assert q.codes.numel() == math.ceil(numel / 2)


def test_nf4_beats_int4_absmax_on_normal_weights():
    x = weights(256, 256)
    nf4 = relative_error(dequantize(nf4_quantize(x, 64)), x)
    int4 = relative_error(dequantize(absmax_quantize(x, 4, 64)), x)
    assert nf4 < 0.9 * int4


def test_double_quantization_costs_little_error_and_saves_bits():
    x = weights(128, 256)  # 512 blocks: two second-level blocks of 256
    plain, dq = nf4_quantize(x, 64), nf4_quantize(x, 64, double_quant=True)
    assert dq.scale_codes.dtype == torch.int8 and dq.scale_scales.numel() == 2
    e_plain, e_dq = relative_error(dequantize(plain), x), relative_error(dequantize(dq), x)
    assert e_dq < e_plain * 1.02
    assert plain.bits_per_parameter == pytest.approx(4.5)
    assert dq.bits_per_parameter == pytest.approx(4 + 8 / 64 + 32 / (64 * 256), abs=1e-3)


def test_bits_per_parameter_formula():
    assert bits_per_parameter(4, 64) == 4.5
    assert bits_per_parameter(4, 64, double_quant=True) == pytest.approx(4.126953125)
    assert bits_per_parameter(8, 64, scale_bits=16) == 8.25
    with pytest.raises(ValueError):
        bits_per_parameter(0)


def test_relative_error_checks_its_inputs():
    assert relative_error(torch.ones(3), torch.ones(3)) == 0
    with pytest.raises(ValueError, match="shapes"):
        relative_error(torch.ones(3), torch.ones(4))
    with pytest.raises(ValueError, match="zero"):
        relative_error(torch.ones(3), torch.zeros(3))


# ---------- against bitsandbytes (recorded by experiments/11_bnb_reference.py) ----------


def reference():
    if not REFERENCE.is_file():
        pytest.skip("no recorded bitsandbytes reference; run experiments/11_bnb_reference.py")
    return json.loads(REFERENCE.read_text())["results"]


def test_levels_equal_bitsandbytes():
    torch.testing.assert_close(nf4_levels(), torch.tensor(reference()["levels"]), rtol=0, atol=1e-6)


def test_same_codes_scales_and_values_as_bitsandbytes_odd_size_and_zero_block():
    odd = reference()["odd"]
    x = torch.tensor(odd["values"])
    q = nf4_quantize(x, odd["blocksize"])
    assert q.codes.numpy().tobytes().hex() == odd["packed_hex"]
    torch.testing.assert_close(q.scales, torch.tensor(odd["absmax"]), rtol=0, atol=0)
    torch.testing.assert_close(dequantize(q), torch.tensor(odd["dequantized"]), rtol=0, atol=1e-7)


def test_same_codes_as_bitsandbytes_with_double_quantization():
    import hashlib

    ref = reference()["double"]
    x = torch.randn(*ref["shape"], generator=torch.Generator().manual_seed(ref["seed"])) * ref["scale"]
    i, j, v = ref["outlier"]
    x[i, j] = v
    if hashlib.sha256(x.numpy().tobytes()).hexdigest() != ref["sha256"]:
        pytest.skip("torch.randn gives other numbers in this version: the recorded input cannot be rebuilt")
    q = nf4_quantize(x, ref["blocksize"], double_quant=True)
    assert q.codes.numpy().tobytes().hex() == ref["packed_hex"]
    torch.testing.assert_close(nf4_quantize(x).scales, torch.tensor(ref["absmax_fp32"]), rtol=0, atol=0)
    # bitsandbytes stores the scales with its own 8-bit code, we with int8 absmax: with this tensor's
    # outlier block ours rebuilds the scales less well (about 1.3 % against 0.4 %), and the weights
    # end up about 1 % worse relative to bitsandbytes' error.
    from ftlib.quant import _nf4_scales

    assert relative_error(_nf4_scales(q), torch.tensor(ref["absmax_fp32"])) < 0.02
    assert ref["relative_error"] <= relative_error(dequantize(q), x) < ref["relative_error"] * 1.02


# ---------- the NF4 layer ----------


def test_nf4_linear_matches_a_linear_with_the_dequantized_weight_forward_and_backward():
    torch.manual_seed(0)
    linear = nn.Linear(128, 96, bias=False)
    layer = NF4Linear.from_linear(linear)
    assert isinstance(layer, nn.Linear) and not list(layer.parameters())
    reference = nn.Linear(128, 96, bias=False)
    reference.weight.data = layer.dequantized_weight()
    reference.requires_grad_(False)
    x1 = torch.randn(3, 5, 128, requires_grad=True)
    x2 = x1.detach().clone().requires_grad_(True)
    layer(x1).square().sum().backward()
    reference(x2).square().sum().backward()
    torch.testing.assert_close(layer(x1), reference(x2), rtol=0, atol=1e-5)
    torch.testing.assert_close(x1.grad, x2.grad, rtol=0, atol=1e-5)
    assert relative_error(layer.weight, linear.weight) < 0.15


def test_nf4_linear_refuses_weight_changes_and_biases():
    layer = NF4Linear.from_weight(weights(16, 64))
    with pytest.raises(AttributeError, match="merge_lora_nf4"):
        layer.weight = torch.zeros(16, 64)
    with pytest.raises(ValueError, match="bias"):
        NF4Linear.from_linear(nn.Linear(64, 16))
    with pytest.raises(TypeError):
        NF4Linear.from_linear(layer)


def test_quantize_model_then_lora_trains_only_lora_and_merges(smoke_model):
    from ftlib.lora import add_lora, lora_layers

    model, tokenizer = smoke_model
    ids = tokenizer(["Date: 3 March 2021"], return_tensors="pt")["input_ids"]
    names = quantize_model_nf4(model)
    assert len(names) == 7 * model.config.num_hidden_layers
    assert not any(p.requires_grad for p in model.parameters())
    with pytest.raises(ValueError, match="no float nn.Linear"):
        quantize_model_nf4(model)
    add_lora(model, ["q_proj", "v_proj"], r=4, lora_alpha=8)
    with torch.no_grad():
        before = model(ids).logits
    model(ids).logits.square().mean().backward()
    trained = {n for n, p in model.named_parameters() if p.grad is not None}
    assert trained and all("lora_" in n for n in trained)
    for layer in lora_layers(model).values():
        layer.lora_B.weight.data.normal_(0, 0.5)
    import copy

    with torch.no_grad():
        tuned = model(ids).logits
    exact = copy.deepcopy(model)
    stats_exact = merge_lora_nf4(exact, requantize=False)
    assert stats_exact["quantization_error"] == 0 and stats_exact["update_error"] < 1e-5
    stats = merge_lora_nf4(model)
    assert stats["layers"] == 2 * model.config.num_hidden_layers and not lora_layers(model)
    assert 0 < stats["quantization_error"] < 0.2 and stats["update_error"] > 0
    with torch.no_grad():
        torch.testing.assert_close(exact(ids).logits, tuned, rtol=0, atol=1e-4)
        assert model(ids).logits.shape == before.shape
    with pytest.raises(ValueError, match="no LoRA layer"):
        merge_lora_nf4(model)


def test_quantize_before_lora_is_enforced(smoke_model):
    from ftlib.lora import add_lora

    model, _ = smoke_model
    add_lora(model, ["q_proj"], r=2)
    with pytest.raises(ValueError, match="quantize the base model first"):
        quantize_model_nf4(model, ["q_proj"])


def test_quantize_dynamic_int8_copies_and_stays_close():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 32))
    q = quantize_dynamic_int8(model)
    assert isinstance(model[0], nn.Linear) and type(q[0]) is not nn.Linear
    x = torch.randn(4, 64)
    assert relative_error(q(x), model(x)) < 0.05


def test_model_bytes_counts_tied_storage_once(smoke_model):
    from ftlib.quant import model_bytes

    model, _ = smoke_model
    tensors = {t.data_ptr(): t.numel() * t.element_size() for t in [*model.parameters(), *model.buffers()]}
    assert model_bytes(model) == sum(tensors.values())  # the tied output layer is not counted twice
    before = model_bytes(model)
    quantize_model_nf4(model)
    assert model_bytes(model) < before


def test_dequantize_model_computes_the_same_function(smoke_model):
    from ftlib.quant import dequantize_model

    model, tokenizer = smoke_model
    ids = tokenizer(["Normalise: 12/25/2010"], return_tensors="pt")["input_ids"]
    quantize_model_nf4(model)
    with torch.no_grad():
        before = model(ids).logits
    assert dequantize_model(model) == 7 * model.config.num_hidden_layers
    assert not any(isinstance(m, NF4Linear) for m in model.modules())
    with torch.no_grad():
        torch.testing.assert_close(model(ids).logits, before, rtol=0, atol=1e-4)
