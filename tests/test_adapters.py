"""ftlib.adapters: a bottleneck adapter starts as the identity, counts 2dm + d + m, and trains alone."""

import pytest
import torch
from torch import nn

from ftlib.adapters import (
    ADAPTER_TARGETS,
    BottleneckAdapter,
    adapter_parameters,
    adapter_state_dict,
    add_adapters,
)
from ftlib.models import count_parameters, tiny_llama


def _model(seed=0):
    return tiny_llama(64, seed=seed)


def test_a_fresh_adapter_leaves_the_output_unchanged():
    base, adapted = _model(), add_adapters(_model(), bottleneck=4)
    ids = torch.randint(0, 64, (2, 7), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        torch.testing.assert_close(adapted(input_ids=ids).logits, base(input_ids=ids).logits, rtol=0, atol=0)


def test_the_formula_by_hand():
    layer = nn.Linear(6, 5)
    a = BottleneckAdapter(layer, 5, 3, activation="relu")
    nn.init.normal_(a.up.weight), nn.init.normal_(a.up.bias)  # leave the zero start
    x = torch.randn(4, 6)
    h = x @ layer.weight.T + layer.bias
    expected = h + torch.relu(h @ a.down.weight.T + a.down.bias) @ a.up.weight.T + a.up.bias
    torch.testing.assert_close(a(x), expected)


def test_parameter_count_is_2dm_plus_d_plus_m_per_insertion():
    model = _model()
    d, n_layers, m = model.config.hidden_size, model.config.num_hidden_layers, 4
    add_adapters(model, bottleneck=m)
    per_insertion = 2 * d * m + d + m  # o_proj and down_proj both write the hidden size d
    assert adapter_parameters(model) == len(ADAPTER_TARGETS) * n_layers * per_insertion
    assert count_parameters(model).trainable == adapter_parameters(model)
    state = adapter_state_dict(model)
    assert sum(t.numel() for t in state.values()) == adapter_parameters(model)
    assert all(".base." not in k for k in state)


def test_only_the_adapters_get_gradients_and_training_moves_the_output():
    model = add_adapters(_model(), bottleneck=4)
    ids = torch.randint(0, 64, (2, 7), generator=torch.Generator().manual_seed(1))
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    before = model(input_ids=ids).logits.detach()
    for _ in range(2):
        loss = model(input_ids=ids, labels=ids).loss
        loss.backward()
        opt.step()
        opt.zero_grad()
    for name, p in model.named_parameters():
        assert p.requires_grad == (".down." in name or ".up." in name), name
    assert not torch.allclose(model(input_ids=ids).logits, before)


def test_bad_input():
    with pytest.raises(ValueError, match="bottleneck size"):
        add_adapters(_model(), bottleneck=0)
    with pytest.raises(TypeError, match="one string"):
        add_adapters(_model(), targets="o_proj")
    with pytest.raises(ValueError, match=r"match no linear layer.*'down_proj'"):
        add_adapters(_model(), targets=["o_proj", "out_proj"])
    with pytest.raises(ValueError, match="unknown activation"):
        add_adapters(_model(), activation="tanh")
    with pytest.raises(ValueError, match="already has"):
        add_adapters(add_adapters(_model()))
