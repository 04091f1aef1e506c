"""ftlib.dpo: the DPO loss by hand and against TRL's DPOTrainer, answer log-probabilities, near-miss dates, the loop."""

import copy
import datetime
import math

import pytest
import torch

from ftlib.data import IGNORE_INDEX, collate, tokenize_sft
from ftlib.dpo import (
    LOG2,
    DPOHistory,
    dpo_loss,
    near_miss_date,
    pair_batch,
    pair_logps,
    preference_pairs,
    sequence_logps,
    train_dpo,
)
from ftlib.loss import token_nll
from ftlib.models import tiny_llama

DATES = [
    ("Date: 1 May 2000", "2000-05-01"),
    ("Date: the 3rd of June, 1999", "1999-06-03"),
    ("Date: 12/25/2010", "2010-12-25"),
    ("Date: Monday, 7 March 2022", "2022-03-07"),
    ("Date: 30 Jan 1987", "1987-01-30"),
]
RECORDS = [{"id": f"d{i}", "prompt": p, "answer": a} for i, (p, a) in enumerate(DATES)]


@pytest.fixture
def pairs(smoke):
    _, tokenizer = smoke
    return preference_pairs(RECORDS, tokenizer)


def random_logps(n=4, seed=0):
    gen = torch.Generator().manual_seed(seed)
    return [
        torch.randn(n, generator=gen, dtype=torch.float64) * 5 - 20 for _ in range(4)
    ]


# dpo_loss


def test_dpo_loss_by_hand():
    pc, pr, rc, rr = random_logps(5)
    beta = 0.3
    loss, chosen_rewards, rejected_rewards = dpo_loss(pc, pr, rc, rr, beta)
    margins = [beta * ((pc[i] - rc[i]) - (pr[i] - rr[i])).item() for i in range(5)]
    by_hand = (
        sum(math.log(1 + math.exp(-m)) for m in margins) / 5
    )  # -log sigmoid(m) = log(1 + e^-m)
    assert loss.item() == pytest.approx(by_hand, rel=1e-12)
    torch.testing.assert_close(chosen_rewards, beta * (pc - rc))
    torch.testing.assert_close(rejected_rewards, beta * (pr - rr))


def test_dpo_loss_gradient_is_beta_sigmoid_of_minus_the_margin():
    beta, n = 0.5, 6
    pc, pr, rc, rr = (t.requires_grad_(True) for t in random_logps(n, seed=1))
    loss, _, _ = dpo_loss(pc, pr, rc, rr, beta)
    loss.backward()
    margin = beta * ((pc - rc) - (pr - rr)).detach()
    weight = (
        beta * torch.sigmoid(-margin) / n
    )  # pairs already ordered right (margin > 0) weigh less
    torch.testing.assert_close(pc.grad, -weight)
    torch.testing.assert_close(pr.grad, weight)
    torch.testing.assert_close(rc.grad, weight)
    torch.testing.assert_close(rr.grad, -weight)


def test_dpo_loss_is_log_2_when_the_policy_is_the_reference():
    pc, pr, _, _ = random_logps(7, seed=2)
    for beta in (0.01, 0.1, 1.0, 10.0):
        loss, chosen_rewards, rejected_rewards = dpo_loss(
            pc, pr, pc.clone(), pr.clone(), beta
        )
        assert loss.item() == pytest.approx(LOG2, abs=1e-12)
        assert chosen_rewards.abs().max() == 0 and rejected_rewards.abs().max() == 0
    assert LOG2 == math.log(2)


def test_dpo_loss_is_stable_for_large_margins():
    zero = torch.zeros(2)
    loss, _, _ = dpo_loss(torch.tensor([-1e4, 1e4]), zero, zero, zero, beta=1.0)
    assert loss.item() == pytest.approx(
        1e4 / 2
    )  # -log sigmoid(-1e4) = 1e4, -log sigmoid(1e4) = 0


@pytest.mark.parametrize("beta", [0.0, -0.1, float("nan")])
def test_dpo_loss_refuses_a_beta_that_is_not_positive(beta):
    t = torch.zeros(3)
    with pytest.raises(ValueError, match="beta"):
        dpo_loss(t, t, t, t, beta)


def test_dpo_loss_refuses_tensors_of_different_shapes():
    t = torch.zeros(3)
    with pytest.raises(ValueError, match="one shape"):
        dpo_loss(t, t, t, torch.zeros(4))
    with pytest.raises(ValueError, match="one shape"):
        dpo_loss(t, t, t.unsqueeze(0), t)


# sequence_logps, pair_batch, pair_logps


def summed_logps_one_by_one(model, examples):
    """The answer log-probability of each example from its own unpadded forward pass and ftlib.loss.token_nll."""
    out = []
    for e in examples:
        logits = model(input_ids=torch.tensor([e["input_ids"]])).logits
        nll, mask = token_nll(logits, torch.tensor([e["labels"]]))
        assert mask.sum() > 0
        out.append(-nll.sum())
    return torch.stack(out)


@torch.no_grad()
def test_sequence_logps_is_the_sum_of_the_answer_token_log_probs(smoke, pairs):
    model, tokenizer = smoke
    examples = [p["chosen"] for p in pairs] + [p["rejected"] for p in pairs]
    assert (
        len({len(e["input_ids"]) for e in examples}) > 1
    )  # the batch really is padded
    ours = sequence_logps(model, collate(examples, tokenizer.pad_token_id))
    assert ours.shape == (len(examples),) and (ours < 0).all()
    torch.testing.assert_close(
        ours, summed_logps_one_by_one(model, examples), rtol=0, atol=1e-4
    )


@torch.no_grad()
def test_sequence_logps_ignores_right_padding_and_unlabelled_tokens(smoke, pairs):
    model, tokenizer = smoke
    batch = pair_batch(pairs, tokenizer.pad_token_id)
    wider = {
        "input_ids": torch.nn.functional.pad(
            batch["input_ids"], (0, 9), value=tokenizer.pad_token_id
        ),
        "attention_mask": torch.nn.functional.pad(
            batch["attention_mask"], (0, 9), value=0
        ),
        "labels": torch.nn.functional.pad(batch["labels"], (0, 9), value=IGNORE_INDEX),
    }
    torch.testing.assert_close(
        sequence_logps(model, wider), sequence_logps(model, batch), rtol=1e-6, atol=1e-6
    )
    nothing = {**batch, "labels": torch.full_like(batch["labels"], IGNORE_INDEX)}
    assert (sequence_logps(model, nothing) == 0).all()


def test_pair_batch_puts_the_chosen_answers_first(smoke, pairs):
    _, tokenizer = smoke
    batch = pair_batch(pairs, tokenizer.pad_token_id)
    n = len(pairs)
    assert set(batch) == {"input_ids", "attention_mask", "labels"}
    assert batch["input_ids"].shape[0] == 2 * n
    for i, p in enumerate(pairs):
        for row, e in ((i, p["chosen"]), (n + i, p["rejected"])):
            length = len(e["input_ids"])
            assert batch["input_ids"][row, :length].tolist() == e["input_ids"]
            assert batch["labels"][row, :length].tolist() == e["labels"]
            assert (batch["labels"][row, length:] == IGNORE_INDEX).all()
            assert (batch["attention_mask"][row, length:] == 0).all()


def test_pair_logps_matches_sequence_logps_in_any_batch_size(smoke, pairs):
    model, tokenizer = smoke
    with torch.no_grad():
        logps = sequence_logps(model, pair_batch(pairs, tokenizer.pad_token_id))
    for batch_size in (2, 16):
        chosen, rejected = pair_logps(
            model, pairs, tokenizer.pad_token_id, batch_size=batch_size
        )
        assert chosen.shape == rejected.shape == (len(pairs),)
        assert not chosen.requires_grad
        torch.testing.assert_close(chosen, logps[: len(pairs)], rtol=0, atol=1e-4)
        torch.testing.assert_close(rejected, logps[len(pairs) :], rtol=0, atol=1e-4)


def test_pair_logps_restores_the_training_mode(smoke, pairs):
    _, tokenizer = smoke
    model = tiny_llama(len(tokenizer), seed=0)
    model.train()
    pair_logps(model, pairs[:1], tokenizer.pad_token_id)
    assert model.training
    model.eval()
    pair_logps(model, pairs[:1], tokenizer.pad_token_id)
    assert not model.training


# near_miss_date


def is_valid(iso):
    try:
        return datetime.date.fromisoformat(iso).isoformat() == iso
    except ValueError:
        return False


@pytest.mark.parametrize(
    "iso, expected",
    [
        ("2000-05-01", "2000-01-05"),  # day <= 12: month and day swapped
        ("1999-06-03", "1999-03-06"),
        (
            "2021-12-12",
            "2021-12-11",
        ),  # day == month: swapping changes nothing, so the day moves
        ("2022-03-03", "2022-03-02"),
        (
            "1987-01-01",
            "1987-01-02",
        ),  # day 1 == month 1: the day moves up, not to day 0
        ("2010-12-25", "2010-12-24"),  # day > 12: no month 25, so the day moves
        ("2000-02-29", "2000-02-28"),
        ("2001-01-13", "2001-01-12"),
        ("1999-12-31", "1999-12-30"),
    ],
)
def test_near_miss_date_cases(iso, expected):
    assert near_miss_date(iso) == expected
    assert is_valid(expected) and expected != iso


def test_near_miss_date_is_a_valid_other_date_for_every_day_of_two_years():
    day, end = (
        datetime.date(2000, 1, 1),
        datetime.date(2001, 12, 31),
    )  # a leap year and a common one
    while day <= end:
        iso = day.isoformat()
        wrong = near_miss_date(iso)
        assert is_valid(wrong) and wrong != iso, iso
        other = datetime.date.fromisoformat(wrong)
        swapped = (other.month, other.day) == (day.day, day.month)
        assert other.year == day.year and (swapped or abs((other - day).days) == 1), iso
        day += datetime.timedelta(days=1)


# preference_pairs


def test_preference_pairs_tokenizes_the_answer_and_its_near_miss(smoke, pairs):
    _, tokenizer = smoke
    assert len(pairs) == len(RECORDS)
    for r, p in zip(RECORDS, pairs):
        assert p["chosen"] == tokenize_sft(r, tokenizer)
        assert p["rejected"] == tokenize_sft(
            {**r, "answer": near_miss_date(r["answer"])}, tokenizer
        )
        prompt_len = p["chosen"]["labels"].count(IGNORE_INDEX)
        assert (
            p["rejected"]["input_ids"][:prompt_len]
            == p["chosen"]["input_ids"][:prompt_len]
        )  # the same prompt


def test_preference_pairs_uses_the_rejected_function(smoke):
    _, tokenizer = smoke
    [pair] = preference_pairs(RECORDS[:1], tokenizer, rejected=lambda answer: "no idea")
    assert pair["rejected"] == tokenize_sft(
        {**RECORDS[0], "answer": "no idea"}, tokenizer
    )


def test_preference_pairs_refuses_a_rejected_answer_equal_to_the_chosen_one(smoke):
    _, tokenizer = smoke
    with pytest.raises(ValueError, match="'d2'.*equals the chosen one"):
        preference_pairs(
            RECORDS,
            tokenizer,
            rejected=lambda answer: answer if answer.startswith("2010") else "x",
        )
    with pytest.raises(
        ValueError, match="Date: 1 May"
    ):  # no id: the start of the prompt names the record
        preference_pairs(
            [{"prompt": "Date: 1 May 2000", "answer": "2000-05-01"}],
            tokenizer,
            rejected=str,
        )


# train_dpo


def test_train_dpo_starts_at_log_2_and_lowers_the_loss(smoke, pairs):
    _, tokenizer = smoke
    model = tiny_llama(len(tokenizer), seed=0)
    ref = pair_logps(
        model, pairs, tokenizer.pad_token_id
    )  # the reference is the model before training
    h = train_dpo(
        model,
        pairs,
        ref,
        tokenizer.pad_token_id,
        num_steps=6,
        batch_size=4,
        lr=1e-3,
        beta=0.5,
        progress=False,
    )
    assert isinstance(h, DPOHistory)
    assert len(h.loss) == len(h.margin) == len(h.accuracy) == len(h.seconds) == 6
    assert h.loss[0] == pytest.approx(LOG2, abs=1e-6) and h.margin[0] == pytest.approx(
        0.0, abs=1e-5
    )
    assert sum(h.loss[-3:]) / 3 < LOG2 - 0.05
    assert all(0.0 <= a <= 1.0 for a in h.accuracy) and all(s > 0 for s in h.seconds)
    assert not model.training
    chosen, rejected = pair_logps(model, pairs, tokenizer.pad_token_id)
    margins = (chosen - ref[0]) - (rejected - ref[1])
    assert margins.mean() > 0  # the chosen answers gained on the rejected ones


def test_train_dpo_stop_after_gives_the_first_steps_of_the_same_run(smoke, pairs):
    _, tokenizer = smoke
    kwargs = {
        "num_steps": 4,
        "batch_size": 2,
        "lr": 1e-3,
        "beta": 0.5,
        "progress": False,
    }
    runs = []
    for stop_after in (None, 2):
        model = tiny_llama(len(tokenizer), seed=0)
        ref = pair_logps(
            tiny_llama(len(tokenizer), seed=1), pairs, tokenizer.pad_token_id
        )
        runs.append(
            train_dpo(
                model,
                pairs,
                ref,
                tokenizer.pad_token_id,
                stop_after=stop_after,
                **kwargs,
            )
        )
    full, part = runs
    assert len(full.loss) == 4 and len(part.loss) == 2
    assert part.loss == full.loss[:2] and part.margin == full.margin[:2]
    assert full.loss[0] != pytest.approx(
        LOG2, abs=1e-3
    )  # another reference: the first loss is not log 2
    with pytest.raises(ValueError, match="stop_after"):
        train_dpo(model, pairs, ref, tokenizer.pad_token_id, stop_after=5, **kwargs)


def test_train_dpo_refuses_bad_input(smoke, pairs):
    _, tokenizer = smoke
    model = tiny_llama(len(tokenizer), seed=0)
    ref = (torch.zeros(len(pairs)), torch.zeros(len(pairs)))
    with pytest.raises(ValueError, match="no preference pairs"):
        train_dpo(
            model,
            [],
            (torch.zeros(0), torch.zeros(0)),
            tokenizer.pad_token_id,
            num_steps=1,
        )
    with pytest.raises(ValueError, match="reference log-probabilities"):
        train_dpo(
            model,
            pairs,
            (ref[0][:-1], ref[1][:-1]),
            tokenizer.pad_token_id,
            num_steps=1,
        )
    with pytest.raises(ValueError, match="reference log-probabilities"):
        train_dpo(
            model, pairs, (ref[0], ref[1][:-1]), tokenizer.pad_token_id, num_steps=1
        )
    model.requires_grad_(False)
    with pytest.raises(ValueError, match="nothing to train"):
        train_dpo(model, pairs, ref, tokenizer.pad_token_id, num_steps=1)


# against TRL


@pytest.mark.filterwarnings(
    "ignore:.*gradient_checkpointing.*:FutureWarning"
)  # TRL's default, not ours
@pytest.mark.parametrize("precompute_ref_log_probs", [False, True])
def test_dpo_loss_and_gradient_equal_trl_dpo_trainer(
    smoke, pairs, tmp_path, precompute_ref_log_probs
):
    """TRL's DPOTrainer (loss_type "sigmoid", reverse KL) gives ftlib's loss and gradient on the same pairs.

    TRL is given the records as conversations; it renders them with the chat template, as
    ``tokenize_sft`` does, and the test first checks that every row of its batch is token for token
    one of ``preference_pairs``' examples, with its completion mask on exactly ftlib's answer labels.
    TRL computes the log-probabilities with a fused LM head that it patches onto the model's forward
    (``fused_lm_head=True``); ftlib's side uses separate, unpatched copies of the same two models,
    so the two log-probability computations share only the Llama backbone. The reference is
    another random model, so the loss is not log 2. ``bf16=False``: TRL's configs default to bf16
    autocast, even on the CPU, which moves its loss by about 3e-4 here. With
    ``precompute_ref_log_probs`` the reference log-probabilities come from the dataset columns that
    TRL computes before training (``compute_ref_log_probs``).
    """
    pytest.importorskip("trl")
    from datasets import Dataset
    from trl import DPOConfig, DPOTrainer

    _, tokenizer = smoke
    records = RECORDS[:4]
    pairs, beta = pairs[:4], 0.5
    dataset = Dataset.from_dict(
        {
            "prompt": [[{"role": "user", "content": r["prompt"]}] for r in records],
            "chosen": [
                [{"role": "assistant", "content": r["answer"]}] for r in records
            ],
            "rejected": [
                [{"role": "assistant", "content": near_miss_date(r["answer"])}]
                for r in records
            ],
        }
    )
    args = DPOConfig(
        output_dir=str(tmp_path),
        report_to="none",
        save_strategy="no",
        use_cpu=True,
        bf16=False,
        beta=beta,
        loss_type=["sigmoid"],
        per_device_train_batch_size=len(records),
        precompute_ref_log_probs=precompute_ref_log_probs,
        seed=0,
    )
    trainer = DPOTrainer(
        model=tiny_llama(len(tokenizer), seed=0),
        ref_model=tiny_llama(len(tokenizer), seed=1),
        args=args,
        train_dataset=dataset,
        processing_class=copy.deepcopy(tokenizer),
    )
    assert trainer.f_divergence_type == "reverse_kl" and trainer.loss_types == [
        "sigmoid"
    ]
    batch = next(iter(trainer.get_train_dataloader()))
    assert ("ref_chosen_logps" in batch) == precompute_ref_log_probs

    # TRL's rows are ftlib's examples (in the sampler's order): chosen rows first, then the rejected ones
    by_ids = {
        tuple(e["input_ids"]): e for p in pairs for e in (p["chosen"], p["rejected"])
    }
    n = len(records)
    order = []
    for row in range(2 * n):
        length = int(batch["attention_mask"][row].sum())
        e = by_ids[tuple(batch["input_ids"][row, :length].tolist())]
        assert batch["completion_mask"][row, :length].tolist() == [
            int(x != IGNORE_INDEX) for x in e["labels"]
        ]
        if row < n:
            order.append(next(i for i, p in enumerate(pairs) if p["chosen"] is e))
        else:
            assert e is pairs[order[row - n]]["rejected"]
    assert sorted(order) == list(range(n))

    theirs = trainer.compute_loss(trainer.model, batch)
    theirs.backward()
    their_grads = dict(trainer.model.named_parameters())

    policy, reference = (
        tiny_llama(len(tokenizer), seed=0),
        tiny_llama(len(tokenizer), seed=1),
    )
    ref_chosen, ref_rejected = pair_logps(reference, pairs, tokenizer.pad_token_id)
    logps = sequence_logps(policy, pair_batch(pairs, tokenizer.pad_token_id))
    ours, _, _ = dpo_loss(logps[:n], logps[n:], ref_chosen, ref_rejected, beta)
    ours.backward()

    assert abs(ours.item() - LOG2) > 0.01
    assert theirs.item() == pytest.approx(ours.item(), abs=1e-5)
    for name, p in policy.named_parameters():
        g = their_grads[name].grad
        assert (g - p.grad).abs().max() <= 1e-4 * p.grad.abs().max(), name
