import pytest
import torch
from safetensors.torch import load_file

from ftlib.data import tokenize_sft
from ftlib.models import tiny_llama
from ftlib.train import (
    History,
    draw_batches,
    lr_at,
    make_optimizer,
    save_trainable,
    train,
    train_with_trainer,
    validation_loss,
)

DATES = [
    ("Date: 1 May 2000", "2000-05-01"),
    ("Date: the 3rd of June, 1999", "1999-06-03"),
    ("Date: 12/25/2010", "2010-12-25"),
    ("Date: Monday, 7 March 2022", "2022-03-07"),
    ("Date: 30 Jan 1987", "1987-01-30"),
]


@pytest.fixture
def examples(smoke):
    _, tokenizer = smoke
    return [tokenize_sft({"prompt": p, "answer": a}, tokenizer) for p, a in DATES]


def test_train_lowers_the_loss_and_repeats(smoke, examples):
    _, tokenizer = smoke
    runs = []
    for _ in range(2):
        model = tiny_llama(len(tokenizer), seed=0)
        runs.append(train(model, examples, tokenizer.pad_token_id, num_steps=8, batch_size=2, lr=1e-2, progress=False))
    assert isinstance(runs[0], History) and len(runs[0]) == 8
    assert runs[1].loss == runs[0].loss  # same seed, same batches, same losses
    assert runs[0].loss[-1] < runs[0].loss[0]
    assert all(t > 0 for t in runs[0].tokens) and all(s > 0 for s in runs[0].seconds)
    assert not model.training


def test_train_refuses_bad_input(smoke):
    _, tokenizer = smoke
    model = tiny_llama(len(tokenizer)).requires_grad_(False)
    one = [{"input_ids": [1, 2], "attention_mask": [1, 1], "labels": [1, 2]}]
    with pytest.raises(ValueError, match="nothing to train"):
        train(model, one, 2, num_steps=1)
    with pytest.raises(ValueError, match="no training examples"):
        train(model, [], 2, num_steps=1)
    model.requires_grad_(True)
    with pytest.raises(ValueError, match="unknown schedule"):
        train(model, one, 2, num_steps=1, schedule="cosine-ish")
    with pytest.raises(ValueError, match="unknown optimizer"):
        train(model, one, 2, num_steps=1, optimizer="lion")
    with pytest.raises(ValueError, match=">= 1"):
        train(model, one, 2, num_steps=1, grad_accum=0)


def test_batches_of_k_micro_batches_concatenate_to_one_big_batch():
    small = draw_batches(50, 3, 4, seed=1)
    big = draw_batches(50, 1, 12, seed=1)
    assert sum(small, []) == big[0]


def test_gradient_accumulation_equals_one_larger_batch(smoke, examples):
    _, tokenizer = smoke
    after = []
    for batch_size, grad_accum in [(6, 1), (2, 3), (1, 6)]:
        model = tiny_llama(len(tokenizer), seed=0)
        history = train(model, examples, tokenizer.pad_token_id, num_steps=1, batch_size=batch_size, lr=0.5,
                        optimizer="sgd", grad_accum=grad_accum, max_grad_norm=1e9, progress=False)
        after.append((history.loss[0], history.grad_norm[0], [p.detach().clone() for p in model.parameters()]))
    for loss, norm, params in after[1:]:
        assert loss == pytest.approx(after[0][0], rel=1e-5)
        assert norm == pytest.approx(after[0][1], rel=1e-4)
        for p, q in zip(params, after[0][2]):
            torch.testing.assert_close(p, q, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("schedule", ["constant", "linear", "cosine"])
def test_schedules_match_transformers(schedule):
    from transformers import get_scheduler

    lr, num_steps, warmup = 1e-3, 20, 4
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=lr)
    hf_name = "constant_with_warmup" if schedule == "constant" else schedule
    sched = get_scheduler(hf_name, opt, num_warmup_steps=warmup, num_training_steps=num_steps)
    expected = []
    for _ in range(num_steps):
        expected.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    ours = [lr_at(s, lr, num_steps, schedule, warmup) for s in range(num_steps)]
    assert ours == pytest.approx(expected, abs=1e-12)
    assert ours[0] == 0.0 and ours[warmup] == pytest.approx(lr)


def test_lr_at_values_and_errors():
    assert lr_at(5, 1.0, 10, "linear") == pytest.approx(0.5)
    assert lr_at(5, 1.0, 10, "cosine") == pytest.approx(0.5)
    assert lr_at(0, 1.0, 10, "cosine") == pytest.approx(1.0)
    assert lr_at(9, 1.0, 10, "constant", warmup_steps=2) == 1.0
    with pytest.raises(ValueError):
        lr_at(-1, 1.0, 10)
    with pytest.raises(ValueError, match="unknown schedule"):
        lr_at(0, 1.0, 10, "step")


def test_train_records_the_schedule_and_clips(smoke, examples):
    _, tokenizer = smoke
    model = tiny_llama(len(tokenizer), seed=0)
    before = [p.detach().clone() for p in model.parameters()]
    h = train(model, examples, tokenizer.pad_token_id, num_steps=6, batch_size=2, lr=0.1, optimizer="sgd",
              schedule="cosine", warmup_steps=2, max_grad_norm=1e-3, progress=False)
    assert h.lr == pytest.approx([lr_at(s, 0.1, 6, "cosine", 2) for s in range(6)])
    # clipped to norm 1e-3 with momentum 0.9, step s moves the weights by at most lr_s * 1e-3 * (1 + 0.9 + ... + 0.9^s)
    bound = sum(h.lr[s] * 1e-3 * (1 - 0.9 ** (s + 1)) / 0.1 for s in range(6))
    moved = torch.sqrt(sum(((p - q) ** 2).sum() for p, q in zip(model.parameters(), before)))
    assert moved <= bound * (1 + 1e-4)
    assert all(n > 1e-3 for n in h.grad_norm)  # the recorded norm is the one before clipping


def test_validation_loss_is_recorded(smoke, examples):
    _, tokenizer = smoke
    model = tiny_llama(len(tokenizer), seed=0)
    start = validation_loss(model, examples, tokenizer.pad_token_id)
    h = train(model, examples, tokenizer.pad_token_id, num_steps=5, batch_size=2, lr=1e-2, val_examples=examples,
              eval_every=2, progress=False)
    assert h.val_step == [0, 2, 4, 5]
    assert h.val_loss[0] == pytest.approx(start)
    assert h.val_loss[-1] < h.val_loss[0]
    with pytest.raises(ValueError, match="no validation examples"):
        validation_loss(model, [], tokenizer.pad_token_id)


def test_make_optimizer():
    params = [torch.nn.Parameter(torch.zeros(2))]
    assert isinstance(make_optimizer(params, "adamw", 1e-3), torch.optim.AdamW)
    assert make_optimizer(params, "sgd", 1e-3).param_groups[0]["momentum"] == 0.9
    with pytest.raises(ValueError, match="unknown optimizer"):
        make_optimizer(params, "adam8bit")


def test_save_trainable_round_trip(smoke, tmp_path):
    _, tokenizer = smoke
    model = tiny_llama(len(tokenizer), seed=0)
    path = save_trainable(model, tmp_path / "sub" / "weights.safetensors")
    saved = load_file(str(path))
    assert len(saved) == len({p.data_ptr() for p in model.parameters()})
    for name, p in model.named_parameters():
        if name in saved:
            assert torch.equal(saved[name], p.detach())
    model.requires_grad_(False)
    with pytest.raises(ValueError, match="nothing to save"):
        save_trainable(model, tmp_path / "none.safetensors")


@pytest.mark.parametrize("grad_accum", [1, 2])
def test_trainer_gives_the_same_curve(smoke, examples, tmp_path, grad_accum):
    _, tokenizer = smoke
    kwargs = dict(num_steps=5, batch_size=2, lr=1e-2, schedule="cosine", warmup_steps=1, max_grad_norm=1.0,
                  grad_accum=grad_accum)
    ours = train(tiny_llama(len(tokenizer), seed=0), examples, tokenizer.pad_token_id, progress=False, **kwargs)
    model = tiny_llama(len(tokenizer), seed=0)
    theirs = train_with_trainer(model, examples, tokenizer.pad_token_id, output_dir=tmp_path, **kwargs)
    assert theirs.loss == pytest.approx(ours.loss, rel=1e-4)
    assert theirs.lr == pytest.approx(ours.lr)
    assert (tmp_path / "model.safetensors").exists()


def test_artifacts_dir_is_created_and_ignored(tmp_path, monkeypatch):
    import subprocess

    from ftlib.train import artifacts_dir

    monkeypatch.setenv("FTLIB_ARTIFACTS", str(tmp_path / "a"))
    assert artifacts_dir() == tmp_path / "a" and (tmp_path / "a").is_dir()
    monkeypatch.delenv("FTLIB_ARTIFACTS")
    default = artifacts_dir()
    assert default.name == "artifacts"
    ignored = subprocess.run(["git", "check-ignore", "-q", str(default / "x.safetensors")], cwd=default.parent)
    assert ignored.returncode == 0


def test_chapter4_settings_cell_matches_full_ft_settings():
    import json
    from pathlib import Path

    from ftlib.profile import get_profile
    from ftlib.train import full_ft_settings

    nb = json.loads((Path(__file__).resolve().parents[1] / "chapters" / "04_full_finetuning.ipynb").read_text())
    cell = next("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code" and "settings = dict(" in "".join(c["source"]))
    assignment = cell[cell.index("settings = dict(") : cell.index("\n)", cell.index("settings = dict(")) + 2]
    for name in ("gpu", "cpu", "smoke"):
        scope = {"P": get_profile(name)}
        exec(assignment, scope)
        assert scope["settings"] == full_ft_settings(get_profile(name))


def test_chapter4_checkpoint_trains_when_missing(monkeypatch, tmp_path):
    from safetensors import safe_open

    from ftlib.profile import get_profile
    from ftlib.train import chapter4_checkpoint, checkpoint_metadata, full_ft_settings

    monkeypatch.setenv("FTLIB_ARTIFACTS", str(tmp_path))
    smoke = get_profile("smoke")
    path = chapter4_checkpoint(smoke)
    assert path.exists() and path.parent == tmp_path
    with safe_open(str(path), "pt") as f:
        assert f.metadata() == checkpoint_metadata(smoke, full_ft_settings(smoke))
    stamp = path.stat().st_mtime_ns
    assert chapter4_checkpoint(smoke) == path and path.stat().st_mtime_ns == stamp  # found, not trained again


def test_chapter4_checkpoint_retrains_a_file_made_with_other_settings(monkeypatch, tmp_path, capsys):
    from safetensors import safe_open

    from ftlib.models import tiny_llama
    from ftlib.profile import get_profile
    from ftlib.train import chapter4_checkpoint, checkpoint_metadata, full_ft_settings, save_trainable

    monkeypatch.setenv("FTLIB_ARTIFACTS", str(tmp_path))
    smoke, cpu = get_profile("smoke"), get_profile("cpu")
    path = tmp_path / "ch04_full_ft.safetensors"
    for stale in [None, checkpoint_metadata(cpu, full_ft_settings(cpu)),  # none recorded; another profile
                  checkpoint_metadata(smoke, dict(full_ft_settings(smoke), lr=1.0))]:  # other settings
        save_trainable(tiny_llama(100, seed=1), path, metadata=stale)
        assert chapter4_checkpoint(smoke) == path
        with safe_open(str(path), "pt") as f:
            assert f.metadata() == checkpoint_metadata(smoke, full_ft_settings(smoke))
        assert "training it again" in capsys.readouterr().out
    path.write_bytes(b"not a safetensors file")
    chapter4_checkpoint(smoke)
    assert "training it again" in capsys.readouterr().out


def test_save_trainable_refuses_metadata_that_is_not_text(tmp_path, smoke):
    _, tokenizer = smoke
    with pytest.raises(TypeError, match="strings"):
        save_trainable(tiny_llama(len(tokenizer)), tmp_path / "x.safetensors", metadata={"steps": 10})


def test_the_fused_loss_equals_the_written_out_one(smoke, examples):
    import math

    from ftlib.data import collate
    from ftlib.loss import token_nll
    from ftlib.train import _summed_nll

    _, tokenizer = smoke
    batch = collate(examples, tokenizer.pad_token_id)
    logits = tiny_llama(len(tokenizer), seed=0)(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
    torch.testing.assert_close(_summed_nll(logits, batch["labels"]), token_nll(logits, batch["labels"])[0].sum())
    h = train(tiny_llama(len(tokenizer), seed=0), examples, tokenizer.pad_token_id, num_steps=1, progress=False)
    assert math.isnan(h.grad_norm[0])  # no clipping asked, no norm computed


def test_stop_after_runs_the_first_steps_of_the_same_run(smoke, examples):
    """A partial re-run (chapter 12 checks recorded runs this way) takes the full run's first steps exactly."""
    _, tokenizer = smoke
    kwargs = dict(num_steps=6, batch_size=2, lr=1e-2, schedule="cosine", warmup_steps=2, progress=False)
    full = train(tiny_llama(len(tokenizer), seed=0), examples, tokenizer.pad_token_id, **kwargs)
    part = train(tiny_llama(len(tokenizer), seed=0), examples, tokenizer.pad_token_id, stop_after=3, **kwargs)
    assert part.loss == full.loss[:3] and part.lr == full.lr[:3]
    for bad in (0, 7):
        with pytest.raises(ValueError, match="stop_after"):
            train(tiny_llama(len(tokenizer), seed=0), examples, tokenizer.pad_token_id, stop_after=bad, **kwargs)
