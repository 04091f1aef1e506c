"""ftlib.prune: magnitude pruning equal to torch's l1_unstructured, structured MLP pruning that keeps what matters."""

import pytest
import torch
from torch.nn.utils import prune as torch_prune

from ftlib.prune import (
    decoder_linears,
    keep_zeros_,
    magnitude_prune_,
    mlp_activation_norms,
    mlp_channel_scores,
    prune_mlp_channels,
    sparsity,
)


@pytest.fixture
def model(smoke):
    import copy

    return copy.deepcopy(smoke[0])


@pytest.mark.parametrize("amount", [0.0, 0.3, 0.5, 0.9])
def test_magnitude_pruning_equals_torch_l1_unstructured(model, amount):
    import copy

    reference = copy.deepcopy(model)
    magnitude_prune_(model, amount)
    for name, layer in decoder_linears(reference).items():
        torch_prune.l1_unstructured(layer, "weight", amount=amount)
        torch_prune.remove(layer, "weight")
        assert torch.equal(layer.weight, decoder_linears(model)[name].weight), name
    assert sparsity(model) == pytest.approx(amount, abs=1e-3)


def test_magnitude_pruning_leaves_embeddings_alone(model):
    before = model.model.embed_tokens.weight.clone()
    magnitude_prune_(model, 0.5)
    assert torch.equal(model.model.embed_tokens.weight, before)


def test_structured_pruning_at_zero_changes_nothing(model, smoke):
    ids = smoke[1](["Date: 3 March 2021"], return_tensors="pt")
    same = prune_mlp_channels(model, 0.0)
    with torch.no_grad():
        torch.testing.assert_close(same(**ids).logits, model(**ids).logits, rtol=0, atol=0)


def test_structured_pruning_removes_dead_channels_first_and_keeps_the_output(model, smoke):
    """Channels whose weights are zero contribute nothing: removing exactly those leaves the logits unchanged."""
    width = model.config.intermediate_size
    dead = torch.arange(0, width, 4)  # a quarter of the channels
    with torch.no_grad():
        for layer in model.model.layers:
            layer.mlp.down_proj.weight[:, dead] = 0.0
    ids = smoke[1](["Date: 3 March 2021", "Normalise 12/25/2010"], return_tensors="pt", padding=True)
    pruned = prune_mlp_channels(model, 0.25)
    assert pruned.config.intermediate_size == width - len(dead)
    assert pruned.model.layers[0].mlp.gate_proj.weight.shape == (width - len(dead), model.config.hidden_size)
    assert pruned.model.layers[0].mlp.down_proj.weight.shape == (model.config.hidden_size, width - len(dead))
    assert model.model.layers[0].mlp.gate_proj.out_features == width  # the original is untouched
    with torch.no_grad():
        torch.testing.assert_close(pruned(**ids).logits, model(**ids).logits, rtol=1e-5, atol=1e-5)


def test_channel_scores_are_zero_for_a_dead_channel(model):
    mlp = model.model.layers[0].mlp
    with torch.no_grad():
        mlp.up_proj.weight[3] = 0.0
    scores = mlp_channel_scores(mlp)
    assert scores.shape == (model.config.intermediate_size,) and scores[3] == 0 and (scores > 0).sum() == len(scores) - 1


def test_structured_pruning_makes_the_model_smaller(model):
    from ftlib.models import count_parameters

    pruned = prune_mlp_channels(model, 0.5)
    mlp_params = sum(p.numel() for layer in model.model.layers for p in layer.mlp.parameters())
    removed = count_parameters(model).total - count_parameters(pruned).total
    assert removed == mlp_params // 2


@pytest.mark.parametrize("amount", [-0.1, 1.0, 1.5])
def test_bad_amounts(model, amount):
    with pytest.raises(ValueError, match="amount"):
        magnitude_prune_(model, amount)
    with pytest.raises(ValueError, match="amount"):
        prune_mlp_channels(model, amount)


def test_not_a_decoder():
    with pytest.raises(ValueError, match="decoder"):
        decoder_linears(torch.nn.Sequential(torch.nn.Linear(3, 3)))


def test_keep_zeros_keeps_pruned_weights_at_zero_while_training(model, smoke):
    from ftlib.data import collate, tokenize_sft
    from ftlib.train import train

    tokenizer = smoke[1]
    examples = [tokenize_sft({"prompt": f"Date: {d} May 2020", "answer": f"2020-05-{d:02d}"}, tokenizer) for d in range(1, 9)]
    magnitude_prune_(model, 0.5)
    before = sparsity(model)
    model.requires_grad_(True)
    handles = keep_zeros_(model)
    train(model, examples, tokenizer.pad_token_id, num_steps=3, batch_size=4, lr=1e-2, progress=False)
    assert sparsity(model) == pytest.approx(before, abs=1e-9)  # every pruned weight is still zero
    for h in handles:
        h.remove()
    train(model, examples, tokenizer.pad_token_id, num_steps=1, batch_size=4, lr=1e-2, progress=False)
    assert sparsity(model) < before / 2  # without the hooks the zeros move


def _batches(tokenizer, texts):
    return [dict(tokenizer(texts, return_tensors="pt", padding=True))]


def test_activation_norms_leave_padding_out(model, smoke):
    """A padded batch gives the same norms as its sequences one at a time, and the norms are those of down_proj's input."""
    tokenizer = smoke[1]
    texts = ["Date: 3 March 2021", "Normalise 12/25/2010 to ISO, please"]
    together = mlp_activation_norms(model, _batches(tokenizer, texts))
    one_by_one = mlp_activation_norms(model, [b for t in texts for b in _batches(tokenizer, [t])])
    assert len(together) == model.config.num_hidden_layers
    for a, b in zip(together, one_by_one):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)
    seen = []
    hook = model.model.layers[0].mlp.down_proj.register_forward_pre_hook(lambda m, inp: seen.append(inp[0]))
    with torch.no_grad():
        model(**_batches(tokenizer, texts[:1])[0])
    hook.remove()
    single = mlp_activation_norms(model, _batches(tokenizer, texts[:1]))[0]
    torch.testing.assert_close(single, seen[0][0].float().norm(dim=0))


def test_activation_scores_prune_silent_channels_and_keep_the_output(model, smoke):
    """Channels whose up_proj row is zero never fire: the activation score is 0 and removing them changes nothing."""
    tokenizer = smoke[1]
    width = model.config.intermediate_size
    silent = torch.arange(1, width, 4)
    with torch.no_grad():
        for layer in model.model.layers:
            layer.mlp.up_proj.weight[silent] = 0.0
    batches = _batches(tokenizer, ["Date: 3 March 2021", "Normalise 12/25/2010"])
    norms = mlp_activation_norms(model, batches)
    assert all(float(n[silent].abs().max()) == 0.0 for n in norms)
    scores = mlp_channel_scores(model.model.layers[0].mlp, norms[0])
    assert float(scores[silent].abs().max()) == 0.0 and float(scores.min()) == 0.0
    pruned = prune_mlp_channels(model, 0.25, norms)
    assert pruned.config.intermediate_size == width - len(silent)
    with torch.no_grad():
        torch.testing.assert_close(pruned(**batches[0]).logits, model(**batches[0]).logits, rtol=1e-5, atol=1e-5)


def test_activation_norms_bad_input(model, smoke):
    with pytest.raises(ValueError, match="activation norms for"):
        prune_mlp_channels(model, 0.1, [torch.ones(model.config.intermediate_size)])
    with pytest.raises(ValueError, match="shape"):
        mlp_channel_scores(model.model.layers[0].mlp, torch.ones(3))
    with pytest.raises(ValueError, match="calibration"):
        mlp_activation_norms(model, [])
