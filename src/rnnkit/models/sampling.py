"""Text generation from a recurrent language model: greedy, temperature, top-k, top-p.

The prompt runs through the model once; after that each new token costs one recurrent step,
with the state carried (the prefix is never re-run).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from rnnkit.configs import ValidatedConfig, flag, number, positive_int
from rnnkit.models.language_model import LanguageModel


@dataclass(frozen=True)
class SamplingConfig(ValidatedConfig):
    """``temperature`` divides the logits; ``top_k`` keeps the k most likely tokens; ``top_p``
    keeps the smallest set whose probability reaches p (nucleus sampling); ``greedy`` takes
    the argmax. ``stop_id`` ends a sample (it is not returned); ``banned_ids`` are never drawn.
    """

    max_new_tokens: int = positive_int(100)
    temperature: float = number(1.0, above=0)
    top_k: int | None = positive_int(None, optional=True)
    top_p: float | None = number(None, above=0, maximum=1, optional=True)
    greedy: bool = flag(False)
    stop_id: int | None = None
    banned_ids: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        super().__post_init__()
        object.__setattr__(self, "banned_ids", tuple(self.banned_ids))


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


@torch.no_grad()
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
    if not prompt:
        raise ValueError("generate: prompt must hold at least one token id")
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    ids = torch.tensor([prompt] * num_samples, device=device)  # (B, T): a row per sample
    output = model(ids)
    logits, state = output.logits[:, -1], output.state  # (B, V)
    samples = torch.empty(num_samples, config.max_new_tokens, dtype=torch.long, device=device)
    finished = torch.zeros(num_samples, dtype=torch.bool, device=device)
    lengths = torch.full((num_samples,), config.max_new_tokens, device=device)
    for step in range(config.max_new_tokens):
        filtered = filter_logits(logits.float(), config)
        if config.greedy:
            token = filtered.argmax(dim=-1)
        else:
            token = torch.multinomial(filtered.softmax(dim=-1), 1, generator=generator).squeeze(1)
        samples[:, step] = token
        if config.stop_id is not None:
            stopping = (token == config.stop_id) & ~finished
            lengths[stopping] = step
            finished |= stopping
            if bool(finished.all()):
                break
        if step + 1 == config.max_new_tokens:
            break
        output = model(token.unsqueeze(1), state)  # one step: (B, 1) with the carried state
        logits, state = output.logits[:, -1], output.state
    model.train(was_training)
    return [samples[i, : int(lengths[i])].tolist() for i in range(num_samples)]
