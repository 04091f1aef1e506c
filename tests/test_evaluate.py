import pytest

from ftlib.evaluate import exact_match, field_scores, generate, match_scores


def test_exact_match():
    assert exact_match(["2000-05-01", " 2000-05-02\n", "x"], ["2000-05-01", "2000-05-02", "y"]) == pytest.approx(2 / 3)
    with pytest.raises(ValueError, match="2 predictions but 1 references"):
        exact_match(["a", "b"], ["a"])
    with pytest.raises(ValueError):
        exact_match([], [])
    with pytest.raises(TypeError, match="not one string"):
        exact_match("2000-05-01", "2000-05-01")


def test_match_scores_are_the_items_of_exact_match():
    preds, refs = ["a", " b\n", "c", "d"], ["a", "b", "x", "d"]
    assert match_scores(preds, refs) == [1, 1, 0, 1]
    assert sum(match_scores(preds, refs)) / 4 == exact_match(preds, refs)
    with pytest.raises(ValueError, match="2 predictions but 1 references"):
        match_scores(["a", "b"], ["a"])


def test_generate_restores_state_and_checks_input(smoke):
    model, tokenizer = smoke
    model.train()
    answers = generate(model, tokenizer, ["Hi", "Hello there"], max_new_tokens=3)
    assert len(answers) == 2 and all(isinstance(a, str) for a in answers)
    assert model.training and tokenizer.padding_side == "right"
    model.eval()
    with pytest.raises(TypeError, match="list of strings"):
        generate(model, tokenizer, "Hi")


def test_generate_takes_conversations(smoke):
    """A few-shot prompt as chat turns: the same answer as the same conversation rendered by hand."""
    model, tokenizer = smoke
    turns = [
        {"role": "user", "content": "Date: 3 March 2021"},
        {"role": "assistant", "content": "2021-03-03"},
        {"role": "user", "content": "Date: 1 May 2000"},
    ]
    as_turns = generate(model, tokenizer, [turns, "Hi"], max_new_tokens=4)
    assert len(as_turns) == 2 and as_turns[1] == generate(model, tokenizer, ["Hi"], max_new_tokens=4)[0]
    assert as_turns[0] == generate(model, tokenizer, [turns], max_new_tokens=4)[0]
    with pytest.raises(ValueError, match="user turn"):
        generate(model, tokenizer, [turns[:2]], max_new_tokens=4)


def test_left_padding_batches_give_the_answers_of_single_prompts(real):
    """Batched greedy decoding equals one prompt at a time, so padding is on the correct (left) side."""
    model, tokenizer = real
    prompts = ["What is 2 + 2?", "Name a colour of the rainbow, in one word, please.", "Say hi."]
    one_by_one = generate(model, tokenizer, prompts, max_new_tokens=8, batch_size=1)
    batched = generate(model, tokenizer, prompts, max_new_tokens=8, batch_size=3)
    assert batched == one_by_one


def test_field_accuracy():
    from ftlib.evaluate import field_accuracy

    refs = ['{"name": "Mei", "party_size": 7, "seating": null}'] * 3
    preds = [
        '{"name": "Mei", "party_size": 7, "seating": null}',  # all right
        '{"name": "Mei", "party_size": 8}',  # size wrong, seating missing
        "Mei, 7 people",  # not JSON
    ]
    scores = field_accuracy(preds, refs)
    assert scores == pytest.approx(
        {"valid_json": 2 / 3, "all_fields": 1 / 3, "name": 2 / 3, "party_size": 1 / 3, "seating": 1 / 3}
    )
    assert field_accuracy(["[1, 2]"], refs[:1])["valid_json"] == 0.0
    with pytest.raises(ValueError):
        field_accuracy(["x"], [])


def test_field_scores_per_item_average_to_field_accuracy():
    from ftlib.evaluate import field_accuracy

    refs = ['{"name": "Mei", "seating": null}', '{"name": "Ana", "seating": "bar"}']
    preds = ['{"name": "Mei", "seating": null}', '{"name": "ana", "seating": "bar"}']
    scores = field_scores(preds, refs)
    assert scores == [
        {"valid_json": 1, "all_fields": 1, "name": 1, "seating": 1},
        {"valid_json": 1, "all_fields": 0, "name": 0, "seating": 1},
    ]
    assert field_accuracy(preds, refs) == {"valid_json": 1.0, "all_fields": 0.5, "name": 0.5, "seating": 1.0}
    with pytest.raises(ValueError, match="JSON object"):
        field_scores(["x"], ["[1]"])


def test_generate_samples_repeatably(smoke):
    """A positive temperature samples; the same seed gives the same answers, another seed others."""
    model, tokenizer = smoke
    prompts = ["Hi", "Tell me a story", "Date: 3 March 2021"]
    first = generate(model, tokenizer, prompts, max_new_tokens=6, temperature=1.0, seed=3)
    assert generate(model, tokenizer, prompts, max_new_tokens=6, temperature=1.0, seed=3) == first
    others = [generate(model, tokenizer, prompts, max_new_tokens=6, temperature=1.0, seed=s) for s in range(4, 7)]
    assert any(o != first for o in others)  # a random model at T=1 spreads over the vocabulary
    with pytest.raises(ValueError, match="temperature"):
        generate(model, tokenizer, prompts, temperature=-0.5)
