"""The native kernel: torch's own fused recurrent ops (oneDNN on CPU, cuDNN on CUDA).

Serves exactly torch.nn's configurations (see ``CellConfig.is_torch_standard``), with our
parameters passed in torch's flat-weight order. Weight drop is served: it only replaces the
recurrent weight for the pass, as AWD-LSTM does with cuDNN.
"""

from __future__ import annotations

from torch import _VF, Tensor
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from rnnkit.nn.config import LayerConfig
from rnnkit.nn.functional import DirectionWeights


def _op(config: LayerConfig):
    cell = config.cell
    if cell.kind == "rnn":
        return _VF.rnn_tanh if cell.activation.name == "tanh" else _VF.rnn_relu
    return _VF.lstm if cell.kind == "lstm" else _VF.gru


def _flat(weights: list[list[DirectionWeights]]) -> list[Tensor]:
    flat = []
    for layer in weights:
        for direction in layer:
            flat += [direction.w_ih, direction.w_hh]
            if direction.b_ih is not None:
                flat += [direction.b_ih, direction.b_hh]
            if direction.w_hr is not None:
                flat.append(direction.w_hr)
    return flat


def run_stack(
    config: LayerConfig,
    weights: list[list[DirectionWeights]],
    x: Tensor,
    lengths: Tensor | None,
    h_0: Tensor,
    c_0: Tensor | None,
    training: bool,
) -> tuple[Tensor, Tensor, Tensor | None]:
    """Same contract as ``stack.run_stack`` (without noise or gates), via torch's fused op.

    Variable lengths go through a PackedSequence, as torch.nn does.
    """
    op = _op(config)
    hx = h_0 if c_0 is None else (h_0, c_0)
    flat = _flat(weights)
    common = (flat, config.cell.bias, config.num_layers, config.dropout, training,
              config.bidirectional)
    if lengths is None:
        result = op(x, hx, *common, False)
        output = result[0]
    else:
        packed = pack_padded_sequence(x, lengths.cpu(), enforce_sorted=False)
        order = packed.sorted_indices
        hx = h_0[:, order] if c_0 is None else (h_0[:, order], c_0[:, order])
        result = op(packed.data, packed.batch_sizes, hx, *common)
        packed_out = packed._replace(data=result[0])
        output, _ = pad_packed_sequence(packed_out, total_length=x.shape[0])
        undo = packed.unsorted_indices
        result = (output, *(state[:, undo] for state in result[1:]))
    if c_0 is None:
        return output, result[1], None
    return output, result[1], result[2]
