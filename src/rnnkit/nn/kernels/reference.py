"""The reference kernel: a Python loop over the step functions, differentiated by autograd.

Always correct and serves every option; the yardstick every faster kernel is tested against.
"""

from __future__ import annotations

import torch
from torch import Tensor

from rnnkit.nn.config import CellConfig
from rnnkit.nn.functional import (
    DirectionWeights,
    gru_step,
    input_projection,
    lstm_step,
    rnn_step,
    zoneout,
)
from rnnkit.nn.noise import DirectionNoise

_STEPS = {"rnn": rnn_step, "lstm": lstm_step, "gru": gru_step}


def _at(mask: Tensor | float, step: int) -> Tensor | float:
    return mask[step] if isinstance(mask, Tensor) else mask


def run_direction(
    cell: CellConfig,
    weights: DirectionWeights,
    x: Tensor,
    lengths: Tensor | None,
    state: tuple[Tensor, ...],
    noise: DirectionNoise,
    return_gates: bool = False,
) -> tuple[Tensor, tuple[Tensor, ...], tuple[Tensor, ...] | None]:
    """Run one layer in one direction over a time-major batch.

    Args:
        x: ``(T, B, I)``, already reversed per sequence for a backward direction.
        lengths: ``(B,)`` true lengths, or ``None`` when every sequence has ``T`` steps.
            Past its length a sequence's state is frozen and its output is zero.
        state: ``(h_0,)`` or, for an LSTM, ``(h_0, c_0)``; ``h_0 (B, H_out)``, ``c_0 (B, H)``.
    Returns:
        output ``(T, B, H_out)``, the final state (same structure as ``state``), and with
        ``return_gates`` the per-step gates stacked to ``(T, B, ·)`` each (LSTM: i, f, g, o, c,
        h; GRU: r, z, n, h; RNN: h), else ``None``.
    """
    if noise.input_mask is not None:
        x = x * noise.input_mask  # (T, B, I), one mask for every step
    projected = input_projection(x, weights, cell)  # (T, B, G*H)
    active = None if lengths is None else torch.arange(x.shape[0], device=x.device)
    step_fn = _STEPS[cell.kind]
    outputs, traces = [], []
    for t in range(x.shape[0]):
        if cell.kind == "lstm":
            new_state, gates = step_fn(projected[t], state, weights, cell, noise.recurrent_mask)
            new_state = (
                zoneout(state[0], new_state[0], _at(noise.zoneout_h, t)),
                zoneout(state[1], new_state[1], _at(noise.zoneout_c, t)),
            )
        else:
            h_new, gates = step_fn(projected[t], state[0], weights, cell, noise.recurrent_mask)
            new_state = (zoneout(state[0], h_new, _at(noise.zoneout_h, t)),)
        if active is None:
            state, output = new_state, new_state[0]
        else:
            running = (active[t] < lengths).unsqueeze(1)  # (B, 1)
            state = tuple(torch.where(running, n, s) for n, s in zip(new_state, state))
            output = torch.where(running, new_state[0], 0.0)
        outputs.append(output)
        if return_gates:
            traces.append((*gates, *new_state[1:], new_state[0]))
    output = torch.stack(outputs)  # (T, B, H_out)
    gates = None
    if return_gates:
        gates = tuple(torch.stack(per_gate) for per_gate in zip(*traces))  # each (T, B, H)
        if lengths is not None:
            running = (active.unsqueeze(1) < lengths).unsqueeze(-1)  # (T, B, 1)
            gates = tuple(torch.where(running, g, 0.0) for g in gates)
    return output, state, gates
