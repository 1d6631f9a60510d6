"""Single-step cells: drop-in for torch.nn.RNNCell, LSTMCell and GRUCell, with Keras' options.

Shapes: ``input (B, I)`` or ``(I,)`` unbatched; ``hx (B, H)`` (LSTM: a pair ``(h, c)``),
zeros when omitted. Parameters ``weight_ih (G*H, I)``, ``weight_hh (G*H, H)``,
``bias_ih``, ``bias_hh (G*H,)`` as in torch.nn.

Variational ``input_dropout``/``recurrent_dropout`` masks and the ``weight_drop`` mask are
drawn at the first training step of a sequence and reused until :meth:`reset_dropout_masks`
(call it before each new sequence, as Keras' RNN layer does) or a change of batch size.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from rnnkit.nn import parameters
from rnnkit.nn.config import CellConfig
from rnnkit.nn.functional import gru_step, input_projection, lstm_step, rnn_step, zoneout
from rnnkit.nn.noise import variational_mask, weight_mask
from rnnkit.nn.options import cell_config, merge_nonlinearity

_STEPS = {"rnn": rnn_step, "lstm": lstm_step, "gru": gru_step}


class RecurrentCell(nn.Module):
    """Base of the cells: parameters, checks, per-sequence masks and one step."""

    def __init__(self, config: CellConfig, device=None, dtype=None) -> None:
        super().__init__()
        self.config = config
        names = parameters.register_direction(self, config, "", {"device": device, "dtype": dtype})
        parameters.initialize(self, config, names)
        self.reset_dropout_masks()

    input_size = property(lambda self: self.config.input_size)
    hidden_size = property(lambda self: self.config.hidden_size)
    bias = property(lambda self: self.config.bias)

    def extra_repr(self) -> str:
        return f"{self.input_size}, {self.hidden_size}, bias={self.bias}"

    def reset_dropout_masks(self) -> None:
        """Forget the per-sequence masks; the next training step draws new ones."""
        self._masks: dict[str, Tensor] = {}

    def regularization_loss(self) -> Tensor:
        """Sum of the kernel, recurrent and bias regularizers' penalties."""
        return parameters.regularization_loss(self, self.config)

    def apply_constraints(self) -> None:
        """Project constrained weights back onto their sets; call after each optimizer step."""
        parameters.apply_constraints(self, self.config)

    def _mask(self, name: str, batch: int, size: int, p: float, like: Tensor) -> Tensor | None:
        if not self.training or p == 0.0:
            return None
        mask = self._masks.get(name)
        if mask is None or mask.shape[0] != batch:
            mask = variational_mask(batch, size, p, like)
            self._masks[name] = mask
        return mask

    def _recurrent_weight(self) -> Tensor:
        if not self.training or self.config.weight_drop == 0.0:
            return self.weight_hh
        mask = self._masks.get("weight_hh")
        if mask is None:
            mask = weight_mask(self.weight_hh.detach(), self.config.weight_drop)
            self._masks["weight_hh"] = mask
        return self.weight_hh * mask

    def _zoneout_keep(self, p: float, like: Tensor) -> Tensor | float:
        if p == 0.0 or not self.training:
            return p
        return torch.empty_like(like).bernoulli_(p)

    def _check(self, input: Tensor, hx, count: int) -> tuple[Tensor, list[Tensor], bool]:
        owner = self.config.owner
        if not isinstance(input, Tensor) or input.dim() not in (1, 2):
            got = f"{input.dim()}D" if isinstance(input, Tensor) else type(input).__name__
            raise ValueError(f"{owner}: Expected input to be 1D or 2D, got {got} instead")
        if input.shape[-1] != self.input_size:
            raise ValueError(
                f"{owner}: input.size(-1) must be equal to input_size. "
                f"Expected {self.input_size}, got {input.shape[-1]}"
            )
        batched = input.dim() == 2
        x = input if batched else input.unsqueeze(0)
        if hx is None:
            return x, [x.new_zeros(x.shape[0], self.hidden_size) for _ in range(count)], batched
        states = list(hx) if count == 2 else [hx]
        if len(states) != count:
            raise TypeError(f"{owner}: hx must be a pair (h, c), got {len(states)} tensors")
        expected = (x.shape[0], self.hidden_size) if batched else (self.hidden_size,)
        for name, state in zip(("h", "c"), states):
            if tuple(state.shape) != expected:
                raise ValueError(
                    f"{owner}: expected hidden state {name} of shape {expected}, "
                    f"got {tuple(state.shape)}"
                )
        return x, [s if batched else s.unsqueeze(0) for s in states], batched

    def _step(self, input: Tensor, hx, count: int) -> tuple[list[Tensor], bool]:
        config = self.config
        x, states, batched = self._check(input, hx, count)
        batch = x.shape[0]
        input_mask = self._mask("input", batch, config.input_size, config.input_dropout, x)
        if input_mask is not None:
            x = x * input_mask
        weights = parameters.direction_weights(self, config, "", self._recurrent_weight())
        recurrent_mask = self._mask(
            "recurrent", batch, config.hidden_size, config.recurrent_dropout, x
        )
        projected = input_projection(x, weights, config)  # (B, G*H)
        state = tuple(states) if count == 2 else states[0]
        new_state, _ = _STEPS[config.kind](projected, state, weights, config, recurrent_mask)
        new_states = list(new_state) if count == 2 else [new_state]
        probabilities = (config.zoneout_h, config.zoneout_c)
        new_states = [
            zoneout(old, new, self._zoneout_keep(p, new))
            for old, new, p in zip(states, new_states, probabilities)
        ]
        return new_states, batched

    def _unbatch(self, states: list[Tensor], batched: bool) -> list[Tensor]:
        return states if batched else [s.squeeze(0) for s in states]


class RNNCell(RecurrentCell):
    """Elman RNN cell: ``h' = act(W_ih x + b_ih + W_hh h + b_hh)``; drop-in for torch.nn.RNNCell.

    Example::

        >>> cell = RNNCell(10, 20)
        >>> cell(torch.randn(3, 10)).shape
        torch.Size([3, 20])
    """

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True,
                 nonlinearity: str | None = None, device=None, dtype=None,
                 **options: Any) -> None:
        merge_nonlinearity("RNNCell", nonlinearity, options)
        config = cell_config("rnn", "RNNCell", input_size, hidden_size, bias, options)
        super().__init__(config, device=device, dtype=dtype)

    nonlinearity = property(lambda self: self.config.activation.name)

    def forward(self, input: Tensor, hx: Tensor | None = None) -> Tensor:
        states, batched = self._step(input, hx, 1)
        return self._unbatch(states, batched)[0]


class LSTMCell(RecurrentCell):
    """LSTM cell (gates i, f, g, o); drop-in for torch.nn.LSTMCell; returns ``(h', c')``.

    Example::

        >>> cell = LSTMCell(10, 20, recurrent_activation="hard_sigmoid", layer_norm=True)
        >>> h, c = cell(torch.randn(3, 10))
        >>> h.shape, c.shape
        (torch.Size([3, 20]), torch.Size([3, 20]))
    """

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, device=None,
                 dtype=None, **options: Any) -> None:
        config = cell_config("lstm", "LSTMCell", input_size, hidden_size, bias, options)
        super().__init__(config, device=device, dtype=dtype)

    def forward(
        self, input: Tensor, hx: tuple[Tensor, Tensor] | None = None
    ) -> tuple[Tensor, Tensor]:
        states, batched = self._step(input, hx, 2)
        h, c = self._unbatch(states, batched)
        return h, c


class GRUCell(RecurrentCell):
    """GRU cell (gates r, z, n; ``reset_after`` picks torch's or Cho et al.'s form);
    drop-in for torch.nn.GRUCell.

    Example::

        >>> cell = GRUCell(10, 20, reset_after=False)
        >>> cell(torch.randn(3, 10)).shape
        torch.Size([3, 20])
    """

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, device=None,
                 dtype=None, **options: Any) -> None:
        config = cell_config("gru", "GRUCell", input_size, hidden_size, bias, options)
        super().__init__(config, device=device, dtype=dtype)

    def forward(self, input: Tensor, hx: Tensor | None = None) -> Tensor:
        states, batched = self._step(input, hx, 1)
        return self._unbatch(states, batched)[0]
