"""Text generation from a recurrent language model: greedy, temperature, top-k, top-p.

The prompt runs through the model once; after that each new token costs one recurrent step,
with the state carried (the prefix is never re-run).
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch import Tensor

from rnnkit.models.language_model import LanguageModel
from rnnkit.sampling_config import SamplingConfig


def filter_logits(logits: Tensor, config: SamplingConfig) -> Tensor:
    """Apply temperature, bans, top-k and top-p to ``logits (B, V)``; removed entries are -inf."""
    logits = logits / config.temperature
    if config.banned_ids:
        logits[:, list(config.banned_ids)] = float("-inf")
    if config.top_k is not None and config.top_k < logits.shape[-1]:
        kth = logits.topk(config.top_k, dim=-1).values[:, -1:]  # (B, 1)
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if config.top_p is not None and config.top_p < 1:
        sorted_logits, order = logits.sort(dim=-1, descending=True)
        cumulative = sorted_logits.softmax(dim=-1).cumsum(dim=-1)
        # Drop a token when the tokens before it already reach top_p; the first always stays.
        drop_sorted = (cumulative - sorted_logits.softmax(dim=-1)) >= config.top_p
        drop = drop_sorted.scatter(-1, order, drop_sorted)
        logits = logits.masked_fill(drop, float("-inf"))
    return logits


def next_tokens(logits: Tensor, config: SamplingConfig,
                generator: torch.Generator | None = None) -> Tensor:
    """One step's choice from ``logits (B, V)``: the argmax, or a draw after
    :func:`filter_logits`; ``(B,)`` token ids."""
    filtered = filter_logits(logits.float(), config)
    if config.greedy:
        return filtered.argmax(dim=-1)
    return torch.multinomial(filtered.softmax(dim=-1), 1, generator=generator).squeeze(1)


@torch.no_grad()
def sample_steps(
    model: LanguageModel,
    prompt: list[int],
    config: SamplingConfig,
    num_samples: int = 1,
    generator: torch.Generator | None = None,
) -> Iterator[Tensor]:
    """The tokens ``(B,)`` that ``num_samples`` continuations of ``prompt`` (ids) draw at
    each step, one step at a time; the loop that :func:`generate` and streaming share.

    The prompt runs once, then each token costs one recurrent step with the state carried.
    It ends after ``max_new_tokens`` steps or once every sample has drawn ``stop_id`` (the
    step that draws it is yielded: cutting a sample there is the consumer's). Closing the
    iterator early stops the model where it is.
    """
    if not prompt:
        raise ValueError("generate: prompt must hold at least one token id")
    was_training = model.training
    model.eval()
    try:
        device = next(model.parameters()).device
        ids = torch.tensor([prompt] * num_samples, device=device)  # (B, T): a row per sample
        output = model(ids)
        logits, state = output.logits[:, -1], output.state  # (B, V)
        finished = torch.zeros(num_samples, dtype=torch.bool, device=device)
        for step in range(config.max_new_tokens):
            token = next_tokens(logits, config, generator)  # (B,)
            yield token
            if config.stop_id is not None:
                finished |= token == config.stop_id
                if bool(finished.all()):
                    return
            if step + 1 == config.max_new_tokens:
                return
            output = model(token.unsqueeze(1), state)  # one step: (B, 1) with the carried state
            logits, state = output.logits[:, -1], output.state
    finally:
        model.train(was_training)


def generate(
    model: LanguageModel,
    prompt: list[int],
    config: SamplingConfig,
    num_samples: int = 1,
    generator: torch.Generator | None = None,
) -> list[list[int]]:
    """``num_samples`` continuations of ``prompt`` (ids), sampled in one batch.

    Returns the new ids of each sample, without the prompt and without ``stop_id``.
    """
    steps = list(sample_steps(model, prompt, config, num_samples, generator))
    rows = torch.stack(steps, dim=1).tolist()  # (B, S)
    if config.stop_id is None:
        return rows
    return [row[: row.index(config.stop_id)] if config.stop_id in row else row for row in rows]
