"""ftlib.distill: the KD loss against torch's kl_div and a float64 formula, the mixed loss, the layer-dropped student."""

import pytest
import torch
import torch.nn.functional as F

from ftlib.distill import distill_loss, drop_layers, kd_loss
from ftlib.loss import sft_loss


def batch(seed=0, B=3, T=7, V=11):
    gen = torch.Generator().manual_seed(seed)
    s, t = torch.randn(B, T, V, generator=gen) * 3, torch.randn(B, T, V, generator=gen) * 3
    labels = torch.randint(V, (B, T), generator=gen)
    labels[:, :3] = -100  # a prompt
    labels[1, 5:] = -100  # padding
    return s, t, labels


@pytest.mark.parametrize("temperature", [0.5, 1.0, 2.0, 4.0])
def test_kd_loss_equals_torch_kl_div(temperature):
    s, t, labels = batch()
    mask = labels[:, 1:] != -100
    log_s = F.log_softmax(s[:, :-1] / temperature, -1)[mask]
    log_t = F.log_softmax(t[:, :-1] / temperature, -1)[mask]
    reference = F.kl_div(log_s, log_t, reduction="batchmean", log_target=True) * temperature**2
    torch.testing.assert_close(kd_loss(s, t, labels, temperature), reference, rtol=0, atol=1e-5)


def test_kd_loss_equals_the_written_formula_in_float64():
    s, t, labels = batch(1)
    T = 2.0
    total, count = 0.0, 0
    for b in range(s.shape[0]):
        for pos in range(s.shape[1] - 1):
            if labels[b, pos + 1] == -100:
                continue
            p = torch.softmax(t[b, pos].double() / T, -1)
            q = torch.softmax(s[b, pos].double() / T, -1)
            total += float((p * (p.log() - q.log())).sum())
            count += 1
    assert kd_loss(s, t, labels, T).item() == pytest.approx(T**2 * total / count, abs=1e-5)


def test_kd_loss_is_zero_for_the_same_logits_and_positive_otherwise():
    s, t, labels = batch(2)
    assert kd_loss(s, s.clone(), labels).item() == pytest.approx(0.0, abs=1e-6)
    assert kd_loss(s, t, labels).item() > 0


def test_kd_loss_ignores_masked_positions():
    s, t, labels = batch(3)
    changed = t.clone()
    changed[:, :2] += 100.0  # positions 0 and 1 predict prompt tokens 1 and 2: masked
    assert kd_loss(s, changed, labels).item() == pytest.approx(kd_loss(s, t, labels).item(), abs=1e-6)


def test_distill_loss_mixes_the_two():
    s, t, labels = batch(4)
    sft, kd = sft_loss(s, labels), kd_loss(s, t, labels, 2.0)
    assert distill_loss(s, None, labels, alpha=0.0).item() == pytest.approx(sft.item(), abs=1e-6)
    assert distill_loss(s, t, labels, alpha=1.0).item() == pytest.approx(kd.item(), abs=1e-6)
    assert distill_loss(s, t, labels, alpha=0.25).item() == pytest.approx(0.75 * sft.item() + 0.25 * kd.item(), abs=1e-5)


def test_gradient_flows_to_the_student_only():
    s, t, labels = batch(5)
    s.requires_grad_(True)
    distill_loss(s, t, labels, alpha=0.5).backward()
    assert s.grad is not None and s.grad.abs().sum() > 0


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(temperature=0.0), "temperature"),
        (dict(alpha=1.5), "alpha"),
    ],
)
def test_bad_arguments(kwargs, message):
    s, t, labels = batch()
    with pytest.raises(ValueError, match=message):
        distill_loss(s, t, labels, **kwargs) if "alpha" in kwargs else kd_loss(s, t, labels, **kwargs)


def test_shapes_and_missing_teacher_are_reported():
    s, t, labels = batch()
    with pytest.raises(ValueError, match="differ"):
        kd_loss(s, t[:, :-1], labels)
    with pytest.raises(ValueError, match="teacher"):
        distill_loss(s, None, labels, alpha=0.5)
    with pytest.raises(ValueError, match="no answer token"):
        kd_loss(s, t, torch.full_like(labels, -100))


def test_drop_layers_keeps_everything_when_asked(smoke):
    model, tokenizer = smoke
    ids = tokenizer(["Date: 3 March 2021"], return_tensors="pt")
    same = drop_layers(model, range(model.config.num_hidden_layers))
    with torch.no_grad():
        torch.testing.assert_close(same(**ids).logits, model(**ids).logits, rtol=0, atol=0)


def test_drop_layers_makes_a_working_student(smoke):
    model, tokenizer = smoke
    student = drop_layers(model, [1])
    assert student.config.num_hidden_layers == 1 and len(student.model.layers) == 1
    assert model.config.num_hidden_layers == 2 and len(model.model.layers) == 2  # the teacher is untouched
    assert student.model.layers[0].self_attn.layer_idx == 0
    ids = tokenizer(["Date: 3 March 2021"], return_tensors="pt")
    # greedy generation with the key-value cache equals a loop of full forward passes (the cache is renumbered right)
    with torch.no_grad():
        cached = student.generate(**ids, max_new_tokens=5, do_sample=False, pad_token_id=tokenizer.pad_token_id)
        seq = ids["input_ids"]
        for _ in range(5):
            nxt = student(input_ids=seq, use_cache=False).logits[:, -1].argmax(-1, keepdim=True)
            seq = torch.cat([seq, nxt], dim=1)
    assert torch.equal(cached[:, : seq.shape[1]], seq[:, : cached.shape[1]])


@pytest.mark.parametrize("keep", [[], [0, 0], [5], [-1]])
def test_drop_layers_rejects_bad_indices(smoke, keep):
    with pytest.raises(ValueError):
        drop_layers(smoke[0], keep)


def test_train_student_stop_after_takes_the_first_steps(smoke):
    import copy

    from ftlib.data import tokenize_sft
    from ftlib.distill import train_student

    model, tokenizer = copy.deepcopy(smoke[0]), smoke[1]  # train_student freezes the teacher
    examples = [tokenize_sft({"prompt": f"Date: {d} May 2020", "answer": f"2020-05-{d:02d}"}, tokenizer) for d in range(1, 9)]
    runs = []
    for stop in (None, 2):
        student = drop_layers(model, [1])
        runs.append(train_student(student, model, examples, tokenizer.pad_token_id, num_steps=4, batch_size=2,
                                  alpha=0.5, progress=False, stop_after=stop))
    assert len(runs[1].loss) == 2 and runs[1].loss == runs[0].loss[:2]
    with pytest.raises(ValueError, match="stop_after"):
        train_student(drop_layers(model, [1]), model, examples, tokenizer.pad_token_id, num_steps=4, stop_after=5)
