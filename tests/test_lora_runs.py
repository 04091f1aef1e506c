"""ftlib.lora_runs: one run of a sweep; fit equals chapter 4's loop; LoRA+ keeps its ratio; saved adapters."""

import json

import pytest
import torch

from ftlib.lora_budget import ALL_LINEAR, lora_parameter_count
from ftlib.data import collate
from ftlib.lora_runs import (
    Budget,
    adapter_file_bytes,
    adapter_settings,
    apply_method,
    chapter7_adapters,
    fit,
    make_model,
    run,
    task_examples,
)
from ftlib.models import count_parameters, tiny_llama
from ftlib.profile import get_profile
from ftlib.answer_eval import answer_scores
from ftlib.train import train, validation_loss

SMOKE = get_profile("smoke")
LORA = {"kind": "lora", "target_modules": ["q_proj", "v_proj"], "r": 4, "lora_alpha": 8}


@pytest.fixture(scope="module")
def data(smoke):
    tokenizer = smoke[1]
    return task_examples(tokenizer, "dates", "train", limit=8), task_examples(tokenizer, "dates", "validation", limit=4)


def test_fit_without_optimizer_is_train(smoke, data):
    tokenizer, (examples, _) = smoke[1], data
    budget = Budget(num_steps=3, batch_size=2, lr=1e-3, schedule="cosine", warmup_steps=1)
    a, b = tiny_llama(len(tokenizer), seed=1), tiny_llama(len(tokenizer), seed=1)
    h1 = fit(a, examples, tokenizer.pad_token_id, budget, seed=3, progress=False)
    h2 = train(b, examples, tokenizer.pad_token_id, 3, 2, 1e-3, 3, schedule="cosine", warmup_steps=1,
               max_grad_norm=1.0, progress=False)  # fmt: skip
    assert h1.loss == h2.loss


def test_fit_with_an_optimizer_runs_the_same_loop(smoke, data):
    """Given plain AdamW at the budget's rate, the second loop reproduces train() to float rounding."""
    tokenizer, (examples, _) = smoke[1], data
    budget = Budget(num_steps=4, batch_size=2, lr=1e-3, schedule="cosine", warmup_steps=1)
    a, b = tiny_llama(len(tokenizer), seed=1), tiny_llama(len(tokenizer), seed=1)
    h1 = fit(a, examples, tokenizer.pad_token_id, budget, seed=3, progress=False)
    opt = torch.optim.AdamW(b.parameters(), lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0)
    h2 = fit(b, examples, tokenizer.pad_token_id, budget, seed=3, optimizer=opt, progress=False)
    torch.testing.assert_close(torch.tensor(h2.loss), torch.tensor(h1.loss), rtol=1e-5, atol=1e-6)
    assert h2.lr == pytest.approx(h1.lr)
    for p, q in zip(a.parameters(), b.parameters()):
        torch.testing.assert_close(p, q, rtol=1e-4, atol=1e-6)


def test_loraplus_gives_B_a_larger_learning_rate(data):
    model, tokenizer, opt = make_model(SMOKE, {**LORA, "loraplus_lr_ratio": 16, "lr": 1e-3})
    rates = {round(g["lr"], 9) for g in opt.param_groups if g["params"]}
    assert rates == {1e-3, 16e-3}
    fit(model, data[0], tokenizer.pad_token_id, Budget(2, 2, 1e-3, schedule="linear"), optimizer=opt, progress=False)
    assert {round(g["lr"], 9) for g in opt.param_groups if g["params"]} == {5e-4, 8e-3}  # step 2 of 2: half way


@pytest.mark.parametrize(
    "extra", [{}, {"use_rslora": True}, {"use_dora": True}, {"init_lora_weights": "pissa"}, {"init_lora_weights": "olora"}]
)
def test_make_model_variants(extra):
    model, _, opt = make_model(SMOKE, {**LORA, **extra})
    assert opt is None and any(p.requires_grad for p in model.parameters())
    if extra.get("use_dora"):
        assert any("lora_magnitude_vector" in n for n, _ in model.named_parameters())


def test_make_model_bad_input():
    with pytest.raises(ValueError, match="kind must be"):
        make_model(SMOKE, {"kind": "prefix"})
    with pytest.raises(ValueError, match="unknown peft config"):
        make_model(SMOKE, {"kind": "peft", "config": "PrefixConfig"})
    with pytest.raises(ValueError, match="leaves no room for the input"):  # the tiny model reads 1024 positions
        make_model(SMOKE, {"kind": "peft", "config": "PromptTuningConfig", "num_virtual_tokens": 1024})
    with pytest.raises(ValueError, match="unknown LoRA settings"):
        make_model(SMOKE, {**LORA, "rank": 8})
    with pytest.raises(ValueError, match="match no linear layer"):
        make_model(SMOKE, {**LORA, "target_modules": ["q_proj", "value"]})
    with pytest.raises(ValueError, match="unknown task"):
        task_examples(None, "poems", "train")


def test_run_record(smoke, data):
    examples, val = data
    record = run(SMOKE, LORA, Budget(2, 2, 1e-3), seed=0, train_examples=examples, evals={"val": val})
    assert record["trainable"] == lora_parameter_count(tiny_llama(len(smoke[1])), LORA["target_modules"], 4)
    assert len(record["val"]["exact"]) == 4 and len(record["val"]["example_loss"]) == 4
    assert record["val"]["loss"] > 0 and record["seconds_per_step"] > 0
    json.dumps(record)  # ready for ftlib.records.save_results
    again = run(SMOKE, LORA, Budget(2, 2, 1e-3), seed=0, train_examples=examples, evals={"val": val})
    assert again["val"]["example_loss"] == record["val"]["example_loss"]  # a seed repeats exactly
    full = run(SMOKE, {"kind": "full"}, Budget(1, 2, 1e-4), seed=0, train_examples=examples, evals={})
    assert full["trainable"] == count_parameters(tiny_llama(len(smoke[1]))).total


def test_chapter7_adapters_are_saved_and_reused(tmp_path, monkeypatch):
    monkeypatch.setenv("FTLIB_ARTIFACTS", str(tmp_path))
    folders = chapter7_adapters(SMOKE)
    assert set(folders) == {"dates", "requests"}
    settings = json.loads((folders["dates"] / "ftlib-settings.json").read_text())
    assert settings == adapter_settings(SMOKE, "dates") and settings["method"]["target_modules"] == list(ALL_LINEAR)
    stamp = (folders["requests"] / "adapter_model.safetensors").stat().st_mtime_ns
    assert chapter7_adapters(SMOKE) == folders
    assert (folders["requests"] / "adapter_model.safetensors").stat().st_mtime_ns == stamp  # reused, not retrained
    (folders["requests"] / "ftlib-settings.json").write_text(json.dumps({**settings, "profile": "cpu"}))
    chapter7_adapters(SMOKE)  # settings differ: trained again
    assert json.loads((folders["requests"] / "ftlib-settings.json").read_text())["task"] == "requests"


CHAPTER8 = [
    {"kind": "peft", "config": "PromptTuningConfig", "num_virtual_tokens": 4},
    {"kind": "peft", "config": "PrefixTuningConfig", "num_virtual_tokens": 4},
    {"kind": "peft", "config": "PromptEncoderConfig", "num_virtual_tokens": 4, "encoder_hidden_size": 16},
    {"kind": "peft", "config": "IA3Config"},
    {"kind": "peft", "config": "LoHaConfig", "r": 2, "target_modules": ["q_proj", "v_proj"]},
    {"kind": "peft", "config": "LNTuningConfig"},
    {"kind": "adapter", "bottleneck": 4},
]


@pytest.mark.parametrize("method", CHAPTER8, ids=lambda m: m.get("config", m["kind"]))
def test_every_chapter8_method_is_scored_with_the_loss_peft_computes(method, data):
    """Prompt and P-tuning put virtual tokens before the input: the book's losses must skip their logits."""
    model, tokenizer, optimizer = make_model(SMOKE, method)
    examples, val = data
    pad = tokenizer.pad_token_id
    fit(model, examples, pad, Budget(2, 2, 1e-2), progress=False)  # away from the start, which may be exact
    batch = collate(val, pad)
    with torch.no_grad():
        theirs = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], labels=batch["labels"])
    ours = validation_loss(model, val, pad)
    assert ours == pytest.approx(theirs.loss.item(), rel=1e-5)
    scores = answer_scores(model, val, pad, tokenizer.eos_token_id)  # shared prefix: off for virtual tokens
    assert scores.loss == pytest.approx(ours, rel=1e-5)
    assert optimizer is None and 0 < count_parameters(model).trainable < count_parameters(model).total
    saved = count_parameters(model).trainable
    if method.get("config") == "PromptEncoderConfig":  # peft saves the prompts the encoder made, not the encoder
        saved = method["num_virtual_tokens"] * model.config.hidden_size
    assert 4 * saved <= adapter_file_bytes(model) <= 4 * saved + 4096  # float32 weights, plus a header


def test_adapter_file_bytes_needs_an_adapter(smoke):
    with pytest.raises(ValueError, match="no peft adapter"):
        adapter_file_bytes(tiny_llama(len(smoke[1])))


def test_run_records_a_validation_curve_with_training_seconds(data):
    examples, val = data
    method = {"kind": "peft", "config": "PromptTuningConfig", "num_virtual_tokens": 4}
    record = run(SMOKE, method, Budget(4, 2, 1e-2), seed=0, train_examples=examples, evals={}, curve=(val, 2))
    curve = record["curve"]
    assert curve["step"] == [0, 2, 4] and len(curve["val_loss"]) == 3
    assert curve["seconds"][0] == 0 and curve["seconds"] == sorted(curve["seconds"])
    assert curve["seconds"][-1] == pytest.approx(record["train_seconds"], abs=0.02)
    assert record["adapter_bytes"] > 0
    with pytest.raises(ValueError, match="default optimizer"):
        fit(None, examples, 0, Budget(2, 2, 1e-3), optimizer=torch.optim.SGD([torch.zeros(1, requires_grad=True)]),
            val_examples=val, eval_every=1)  # fmt: skip


@pytest.mark.parametrize("method", [LORA, *CHAPTER8], ids=lambda m: m.get("config", m["kind"]))
def test_apply_method_counts_the_same_on_the_meta_device(method, smoke):
    """Chapter 8 counts every method's parameters on a shell without weights: the count must not change."""
    with torch.device("meta"):
        shell = tiny_llama(len(smoke[1]))
    counted = count_parameters(apply_method(shell, method)[0])
    real = count_parameters(make_model(SMOKE, method)[0])
    assert counted == real
