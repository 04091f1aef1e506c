"""ftlib.llm_classify: label scoring with a shared cache equals one forward pass per label; the head."""

from __future__ import annotations

import pytest
import torch

from ftlib.data import chat_prompt
from ftlib.llm_classify import (
    classification_messages,
    label_logprobs,
    label_logprobs_naive,
    load_sequence_classifier,
)
from ftlib.models import load_model
from ftlib.profile import get_profile

LABELS = ["games", "graphics", "net", "science", "sound"]
INSTRUCTION = "Which section? Answer with one of: {labels}.\nPackage description: {text}"
TEXTS = ["2D tennis game", "IRC client for Emacs", "Molecular Dynamics Simulator for large systems", "x"]


@pytest.fixture(scope="module")
def smoke():
    return load_model(get_profile("smoke"))


@pytest.mark.parametrize("batch_size", [1, 3, 16])
@pytest.mark.parametrize("shots", [0, 2])
def test_cached_scores_equal_one_pass_per_label(smoke, batch_size, shots):
    """Shared prefix, left padding between it and each prompt, the cache repeated per label: same numbers."""
    model, tokenizer = smoke
    examples = [{"text": "Sudoku puzzle", "label": "games"}, {"text": "FTP client", "label": "net"}][:shots]
    prompts = [chat_prompt(classification_messages(t, LABELS, INSTRUCTION, examples), tokenizer) for t in TEXTS]
    fast = label_logprobs(model, tokenizer, prompts, LABELS, batch_size=batch_size)
    naive = torch.stack([label_logprobs_naive(model, tokenizer, p, LABELS) for p in prompts])
    assert fast.shape == (len(TEXTS), len(LABELS))
    torch.testing.assert_close(fast, naive, rtol=0, atol=1e-4)
    assert (fast < 0).all()


def test_scores_are_log_probabilities_of_the_whole_answer(smoke):
    """For one-token labels and no end token, exp(score) over the whole vocabulary sums to 1."""
    model, tokenizer = smoke
    vocab = [tokenizer.decode([i]) for i in range(200, 260)]
    vocab = [v for v in vocab if v.strip() and len(tokenizer(v, add_special_tokens=False)["input_ids"]) == 1]
    prompt = chat_prompt("Say a word.", tokenizer)
    one = label_logprobs(model, tokenizer, [prompt], list(dict.fromkeys(vocab)), end="")[0]
    assert one.exp().sum() < 1
    logits = model(**tokenizer(prompt, return_tensors="pt", add_special_tokens=False)).logits[0, -1]
    ids = [tokenizer(v, add_special_tokens=False)["input_ids"][0] for v in dict.fromkeys(vocab)]
    torch.testing.assert_close(one, logits.log_softmax(-1)[ids].detach(), rtol=0, atol=1e-5)


def test_bad_input(smoke):
    model, tokenizer = smoke
    with pytest.raises(ValueError, match="2 distinct labels"):
        label_logprobs(model, tokenizer, ["a"], ["games"])
    with pytest.raises(ValueError, match="2 distinct labels"):
        label_logprobs(model, tokenizer, [], LABELS)
    with pytest.raises(ValueError, match="empty"):
        classification_messages(" ", LABELS, INSTRUCTION)
    with pytest.raises(ValueError, match="not in"):
        classification_messages("x", LABELS, INSTRUCTION, [{"id": "e1", "text": "y", "label": "mail"}])


def test_few_shot_is_chat_native():
    messages = classification_messages("FTP client", LABELS, INSTRUCTION, [{"text": "Sudoku", "label": "games"}])
    assert [m["role"] for m in messages] == ["user", "assistant", "user"]
    assert messages[1]["content"] == "games"
    assert messages[2]["content"].endswith("Package description: FTP client")
    assert "games, graphics, net, science, sound" in messages[0]["content"]


def test_sequence_classifier_head_and_peft():
    """What peft does with the new head `score`, the behaviour chapter 9 relies on (peft 0.21).

    - task_type="SEQ_CLS": the head is copied into modules_to_save and trained in full;
    - no task type, explicit target modules: the head stays frozen at its random start;
    - no task type, "all-linear": the head is a linear layer like any other and gets a LoRA pair.
    """
    from peft import LoraConfig, get_peft_model

    model, tokenizer = load_sequence_classifier(5, get_profile("smoke"))
    batch = tokenizer(["a game", "an IRC client for X"], padding=True, return_tensors="pt")
    assert model(**batch).logits.shape == (2, 5)
    blocks = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
    trained = {}
    for name, targets, task_type in [("seq_cls", blocks, "SEQ_CLS"), ("none", blocks, None),
                                     ("all_linear", "all-linear", None)]:
        fresh, _ = load_sequence_classifier(5, get_profile("smoke"))
        peft_model = get_peft_model(fresh, LoraConfig(r=4, target_modules=targets, task_type=task_type))
        trained[name] = sorted(n.split("score.")[1] for n, p in peft_model.named_parameters()
                               if p.requires_grad and "score" in n)
    assert trained == {"seq_cls": ["modules_to_save.default.weight"], "none": [],
                       "all_linear": ["lora_A.default.weight", "lora_B.default.weight"]}
    a, _ = load_sequence_classifier(5, get_profile("smoke"), seed=1)
    b, _ = load_sequence_classifier(5, get_profile("smoke"), seed=1)
    torch.testing.assert_close(a.score.weight, b.score.weight, rtol=0, atol=0)
