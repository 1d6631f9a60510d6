"""Sampling: filters, reproducibility, stopping, and one step per new token."""

import pytest
import torch

from rnnkit.models import (
    LanguageModel,
    LanguageModelConfig,
    SamplingConfig,
    filter_logits,
    generate,
    sample_steps,
)


@pytest.fixture
def model():
    torch.manual_seed(0)
    return LanguageModel(LanguageModelConfig(vocab_size=12, embed_size=6, hidden_size=8,
                                             num_layers=1))


def test_top_k_keeps_the_k_largest():
    logits = torch.tensor([[1.0, 4.0, 3.0, 2.0]])
    kept = filter_logits(logits, SamplingConfig(top_k=2)).isfinite()
    assert kept.tolist() == [[False, True, True, False]]


def test_top_p_keeps_the_smallest_set_reaching_p():
    probabilities = torch.tensor([[0.5, 0.3, 0.15, 0.05]])
    kept = filter_logits(probabilities.log(), SamplingConfig(top_p=0.75)).isfinite()
    assert kept.tolist() == [[True, True, False, False]]
    kept = filter_logits(probabilities.log(), SamplingConfig(top_p=0.4)).isfinite()
    assert kept.tolist() == [[True, False, False, False]]


def test_temperature_sharpens():
    logits = torch.tensor([[1.0, 2.0]])
    cold = filter_logits(logits, SamplingConfig(temperature=0.5)).softmax(-1)
    assert cold[0, 1] > logits.softmax(-1)[0, 1]


@pytest.mark.parametrize("bad,message", [
    ({"temperature": 0.0}, "SamplingConfig: temperature must be a finite number > 0, got 0.0"),
    ({"temperature": -1.0}, "temperature must be a finite number > 0"),
    ({"top_k": 0}, "top_k must be an int >= 1 or None, got 0"),
    ({"top_p": 1.5}, "top_p must be a number in \\(0, 1\\] or None, got 1.5"),
])
def test_bad_sampling_settings(bad, message):
    with pytest.raises(ValueError, match=message):
        SamplingConfig(**bad)


def test_fixed_seed_reproduces_samples(model):
    config = SamplingConfig(max_new_tokens=15, temperature=0.9, top_k=8)
    first = generate(model, [1, 2], config, 3, torch.Generator().manual_seed(5))
    second = generate(model, [1, 2], config, 3, torch.Generator().manual_seed(5))
    assert first == second and len(first) == 3 and all(len(s) == 15 for s in first)


def test_greedy_follows_the_argmax_chain(model):
    samples = generate(model, [3], SamplingConfig(max_new_tokens=6, greedy=True))[0]
    ids = [3]
    for _ in range(6):
        ids.append(int(model(torch.tensor([ids])).logits[0, -1].argmax()))
    assert samples == ids[1:]


def test_stop_id_ends_a_sample_and_banned_ids_never_appear(model):
    config = SamplingConfig(max_new_tokens=40, stop_id=4, banned_ids=(0, 7))
    samples = generate(model, [1], config, 8, torch.Generator().manual_seed(0))
    assert all(4 not in s and 0 not in s and 7 not in s for s in samples)
    assert any(len(s) < 40 for s in samples)


def test_each_new_token_costs_one_step(model):
    seen = []
    handle = model.rnn.register_forward_hook(lambda m, args, out: seen.append(args[0].shape[1]))
    generate(model, [1, 2, 3, 4], SamplingConfig(max_new_tokens=5))
    handle.remove()
    assert seen == [4, 1, 1, 1, 1]


def test_the_steps_are_the_tokens_generate_returns(model):
    config = SamplingConfig(max_new_tokens=12, temperature=0.8, top_p=0.9)
    steps = sample_steps(model, [1, 2], config, 2, torch.Generator().manual_seed(7))
    rows = torch.stack(list(steps), dim=1).tolist()  # (B, S)
    assert rows == generate(model, [1, 2], config, 2, torch.Generator().manual_seed(7))


def test_closing_the_steps_early_stops_the_model(model):
    seen = []
    handle = model.rnn.register_forward_hook(lambda m, args, out: seen.append(args[0].shape[1]))
    model.train()
    steps = sample_steps(model, [1, 2, 3], SamplingConfig(max_new_tokens=50))
    next(steps), next(steps)
    assert not model.training
    steps.close()
    handle.remove()
    assert seen == [3, 1] and model.training
