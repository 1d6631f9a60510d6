"""Stacking one-direction kernels into multi-layer, bidirectional layers."""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor

from rnnkit.nn.config import LayerConfig
from rnnkit.nn.functional import DirectionWeights, reverse_padded
from rnnkit.nn.noise import DirectionNoise

DirectionKernel = Callable[..., tuple[Tensor, tuple[Tensor, ...], tuple[Tensor, ...] | None]]


def run_stack(
    config: LayerConfig,
    run_direction: DirectionKernel,
    weights: list[list[DirectionWeights]],
    noise: list[list[DirectionNoise]],
    x: Tensor,
    lengths: Tensor | None,
    h_0: Tensor,
    c_0: Tensor | None,
    training: bool,
    return_gates: bool,
) -> tuple[Tensor, Tensor, Tensor | None, list[list[tuple[Tensor, ...]]] | None]:
    """Run ``num_layers`` × ``D`` directions with a one-direction kernel.

    Args:
        weights, noise: indexed ``[layer][direction]``.
        x: ``(T, B, I)``; lengths: ``(B,)`` or ``None``.
        h_0: ``(L*D, B, H_out)``; c_0: ``(L*D, B, H)`` for an LSTM, else ``None``.
    Returns:
        output ``(T, B, D*H_out)`` of the last layer, ``h_n (L*D, B, H_out)``,
        ``c_n (L*D, B, H)`` or ``None``, and the gates ``[layer][direction]`` or ``None``.

    The backward direction reverses each sequence within its own length, so it starts at
    that sequence's last true token, and its outputs are put back in input order.
    """
    directions = config.num_directions
    final_h, final_c, all_gates = [], [], []
    layer_input = x
    for layer in range(config.num_layers):
        cell = config.layer_cell(layer)
        outputs, layer_gates = [], []
        for direction in range(directions):
            index = layer * directions + direction
            state = (h_0[index],) if c_0 is None else (h_0[index], c_0[index])
            sequence = layer_input if direction == 0 else reverse_padded(layer_input, lengths)
            output, state, gates = run_direction(
                cell, weights[layer][direction], sequence, lengths, state,
                noise[layer][direction], return_gates,
            )
            if direction == 1:
                output = reverse_padded(output, lengths)
                if gates is not None:
                    gates = tuple(reverse_padded(g, lengths) for g in gates)
            outputs.append(output)
            layer_gates.append(gates)
            final_h.append(state[0])
            if c_0 is not None:
                final_c.append(state[1])
        layer_input = outputs[0] if directions == 1 else torch.cat(outputs, dim=-1)
        if config.dropout > 0 and layer < config.num_layers - 1:
            layer_input = F.dropout(layer_input, config.dropout, training)
        all_gates.append(layer_gates)
    h_n = torch.stack(final_h)  # (L*D, B, H_out)
    c_n = torch.stack(final_c) if c_0 is not None else None  # (L*D, B, H)
    return layer_input, h_n, c_n, all_gates if return_gates else None
