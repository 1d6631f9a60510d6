"""Multi-layer, bidirectional recurrent layers: drop-in for torch.nn.RNN, LSTM and GRU.

Shapes use the package's letters (see :mod:`rnnkit`; torch.nn's docs write ``N``, ``L``,
``H_in`` and ``H_cell`` for ``B``, ``T``, ``I`` and ``H``): ``T`` steps, ``B`` batch, ``I``
input_size, ``H`` hidden_size, ``H_out`` proj_size if > 0 else hidden_size, ``D`` 2 if
bidirectional else 1, ``L`` num_layers.

Inputs: ``input`` ``(T, B, I)``, ``(B, T, I)`` with ``batch_first``, ``(T, I)``
unbatched, or a PackedSequence; ``hx`` ``(D*L, B, H_out)`` (LSTM: a pair with
``c_0 (D*L, B, H)``), zeros when omitted; ``lengths`` ``(B,)`` true lengths of
a padded batch (any order), as an alternative to packing.

Outputs: ``output`` ``(T, B, D*H_out)`` (batch-first and unbatched like the input, packed if
the input was), zero past each sequence's length; ``h_n`` ``(D*L, B, H_out)``, the
state at each sequence's own last token (LSTM: ``(h_n, c_n)``). For a bidirectional layer
``h_n[2k]`` is layer k's forward state after the last token and ``h_n[2k+1]`` its backward
state after the first token.
"""

from __future__ import annotations

import warnings
from typing import Any

import torch
from torch import Tensor, nn
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence, pad_packed_sequence

from rnnkit.nn import kernels, parameters
from rnnkit.nn.config import LayerConfig
from rnnkit.nn.functional import reverse_padded
from rnnkit.nn.kernels import bptt, native, reference, stack
from rnnkit.nn.noise import drop_weight, sample_noise
from rnnkit.nn.options import cell_config, merge_nonlinearity


class RecurrentLayer(nn.Module):
    """Base of :class:`RNN`, :class:`LSTM` and :class:`GRU`: parameters, checks, dispatch."""

    kind = ""

    def __init__(self, config: LayerConfig, device=None, dtype=None) -> None:
        super().__init__()
        self.config = config
        factory = {"device": device, "dtype": dtype}
        self._suffixes: list[list[str]] = []
        for layer in range(config.num_layers):
            cell = config.layer_cell(layer)
            suffixes = []
            for direction in range(config.num_directions):
                suffix = parameters.direction_suffix(layer, reverse=direction == 1)
                names = parameters.register_direction(self, cell, suffix, factory)
                parameters.initialize(self, cell, names)
                suffixes.append(suffix)
            self._suffixes.append(suffixes)

    @classmethod
    def from_config(cls, config: LayerConfig, device=None, dtype=None) -> RecurrentLayer:
        """Rebuild a layer from its configuration (e.g. ``LayerConfig.from_dict(saved)``)."""
        if config.cell.kind != cls.kind:
            raise ValueError(f"{cls.__name__}.from_config: got a {config.cell.kind} config")
        layer = cls.__new__(cls)
        RecurrentLayer.__init__(layer, config, device=device, dtype=dtype)
        return layer

    # torch.nn attribute names, read from the configuration.
    input_size = property(lambda self: self.config.cell.input_size)
    hidden_size = property(lambda self: self.config.cell.hidden_size)
    proj_size = property(lambda self: self.config.cell.proj_size)
    num_layers = property(lambda self: self.config.num_layers)
    bias = property(lambda self: self.config.cell.bias)
    batch_first = property(lambda self: self.config.batch_first)
    dropout = property(lambda self: self.config.dropout)
    bidirectional = property(lambda self: self.config.bidirectional)

    @property
    def _owner(self) -> str:
        return self.config.cell.owner

    def extra_repr(self) -> str:
        config, cell = self.config, self.config.cell
        text = f"{cell.input_size}, {cell.hidden_size}"
        if config.num_layers != 1:
            text += f", num_layers={config.num_layers}"
        for name in ("batch_first", "bidirectional", "go_backwards"):
            if getattr(config, name):
                text += f", {name}=True"
        if config.dropout:
            text += f", dropout={config.dropout}"
        if cell.proj_size:
            text += f", proj_size={cell.proj_size}"
        return text

    def regularization_loss(self) -> Tensor:
        """Sum of the kernel, recurrent and bias regularizers' penalties over all layers."""
        return parameters.regularization_loss(self, self.config.cell)

    def apply_constraints(self) -> None:
        """Project constrained weights back onto their sets; call after each optimizer step."""
        parameters.apply_constraints(self, self.config.cell)

    def forward(
        self,
        input: Tensor | PackedSequence,
        hx: Tensor | tuple[Tensor, Tensor] | None = None,
        lengths: Tensor | list[int] | None = None,
        return_gates: bool = False,
    ):
        """Run the layer; see the module docstring for shapes.

        With ``return_gates=True`` a third value is returned: a dict keyed by direction suffix
        (``"l0"``, ``"l0_reverse"``, …) of dicts gate name → tensor laid out like ``output``
        with ``H`` (or ``H_out`` for ``"h"``) features: LSTM ``i, f, g, o, c, h``; GRU
        ``r, z, n, h``; RNN ``h``. Steps past a sequence's length are zero.
        """
        packed = isinstance(input, PackedSequence)
        if packed:
            if lengths is not None:
                raise ValueError(f"{self._owner}: pass lengths or a PackedSequence, not both")
            x, lengths = pad_packed_sequence(input)  # (T, B, I), lengths in input order
            batched = True
        else:
            x, batched = self._time_major(input)
            lengths = self._check_lengths(lengths, x.shape[1], x.shape[0], batched)
        self._check_features(x)
        h_0, c_0 = self._initial_state(hx, x, batched)
        # Lengths that all equal T pad nothing: the kernels run as without them (faster).
        pads = lengths is not None and bool((lengths != x.shape[0]).any())  # before the move
        if lengths is not None:
            lengths = lengths.to(x.device)
        run_lengths = lengths if pads else None
        if self.config.go_backwards:
            x = reverse_padded(x, run_lengths)
        output, h_n, c_n, gates = self._run(x, run_lengths, h_0, c_0, return_gates)
        output = self._restore_layout(output, input, lengths, packed, batched)
        if not batched:
            h_n = h_n.squeeze(1)
            c_n = None if c_n is None else c_n.squeeze(1)
        state = h_n if c_n is None else (h_n, c_n)
        if return_gates:
            return output, state, self._gate_dict(gates, batched)
        return output, state

    def _run(self, x, lengths, h_0, c_0, return_gates):
        config = self.config
        builds_graph = torch.is_grad_enabled() and (
            x.requires_grad or h_0.requires_grad
            or (c_0 is not None and c_0.requires_grad)
            or any(parameter.requires_grad for parameter in self.parameters())
        )
        impl = kernels.choose_impl(config, config.impl, return_gates, x.device.type,
                                   builds_graph, x.shape[1], x.dtype,  # x: (T, B, I)
                                   lengths is not None)
        weights = [
            [
                parameters.direction_weights(
                    self,
                    config.cell,
                    suffix,
                    drop_weight(
                        getattr(self, "weight_hh" + suffix), config.cell.weight_drop, self.training
                    ),
                )
                for suffix in suffixes
            ]
            for suffixes in self._suffixes
        ]
        if impl == "native":
            output, h_n, c_n = native.run_stack(config, weights, x, lengths, h_0, c_0,
                                                self.training)
            return output, h_n, c_n, None
        if impl == "bptt" and torch.is_autocast_enabled(x.device.type):
            # The bptt kernel writes into preallocated buffers (``out=`` ops), which autocast
            # does not cast: it runs in the weights' dtype, as the reference's steps end up.
            dtype = weights[0][0].w_hh.dtype
            with torch.autocast(x.device.type, enabled=False):
                return self._run_loop(impl, weights, x.to(dtype), lengths, h_0.to(dtype),
                                      None if c_0 is None else c_0.to(dtype), return_gates)
        return self._run_loop(impl, weights, x, lengths, h_0, c_0, return_gates)

    def _run_loop(self, impl, weights, x, lengths, h_0, c_0, return_gates):
        """The ``bptt`` or ``reference`` kernel over every layer and direction."""
        steps, batch = x.shape[0], x.shape[1]
        noise = [
            [sample_noise(self.config.layer_cell(layer), steps, batch, self.training, x)
             for _ in suffixes]
            for layer, suffixes in enumerate(self._suffixes)
        ]
        run_direction = bptt.run_direction if impl == "bptt" else reference.run_direction
        return stack.run_stack(self.config, run_direction, weights, noise, x, lengths,
                               h_0, c_0, self.training, return_gates)

    def _time_major(self, input: Tensor) -> tuple[Tensor, bool]:
        if not isinstance(input, Tensor):
            raise TypeError(
                f"{self._owner}: input must be a Tensor or PackedSequence, "
                f"got {type(input).__name__}"
            )
        if input.dim() not in (2, 3):
            raise ValueError(
                f"{self._owner}: expected input to be 2D or 3D, got {input.dim()}D instead"
            )
        if input.dim() == 2:
            return input.unsqueeze(1), False  # (T, 1, I)
        return (input.transpose(0, 1) if self.config.batch_first else input), True

    def _check_features(self, x: Tensor) -> None:
        if x.shape[-1] != self.input_size:
            raise ValueError(
                f"{self._owner}: input.size(-1) must be equal to input_size. "
                f"Expected {self.input_size}, got {x.shape[-1]}"
            )
        if not x.is_floating_point():
            raise TypeError(f"{self._owner}: input must be floating point, got {x.dtype}")

    def _check_lengths(self, lengths, batch: int, steps: int, batched: bool) -> Tensor | None:
        if lengths is None:
            return None
        if not batched:
            raise ValueError(
                f"{self._owner}: lengths applies to batched (3-D) input; "
                "an unbatched sequence is its own length"
            )
        lengths = torch.as_tensor(lengths)
        if lengths.dim() != 1 or lengths.shape[0] != batch:
            raise ValueError(
                f"{self._owner}: lengths must have one entry per sequence: expected shape "
                f"({batch},), got {tuple(lengths.shape)}"
            )
        if lengths.is_floating_point() or lengths.dtype == torch.bool:
            raise TypeError(f"{self._owner}: lengths must be integers, got {lengths.dtype}")
        bad = ((lengths < 1) | (lengths > steps)).nonzero()
        if len(bad):
            index = int(bad[0])
            raise ValueError(
                f"{self._owner}: lengths must be in [1, {steps}] (the sequence length), "
                f"got {int(lengths[index])} at index {index}"
            )
        return lengths.long()

    def _initial_state(self, hx, x: Tensor, batched: bool) -> tuple[Tensor, Tensor | None]:
        cell, batch = self.config.cell, x.shape[1]
        layers = self.config.num_layers * self.config.num_directions
        is_lstm = cell.kind == "lstm"
        if hx is None:
            h_0 = x.new_zeros(layers, batch, cell.output_size)
            c_0 = x.new_zeros(layers, batch, cell.hidden_size) if is_lstm else None
            return h_0, c_0
        if is_lstm:
            if not isinstance(hx, (tuple, list)) or len(hx) != 2:
                raise TypeError(f"{self._owner}: hx must be a tuple (h_0, c_0), got {type(hx)}")
            pairs = (("h_0", hx[0], cell.output_size), ("c_0", hx[1], cell.hidden_size))
        else:
            if not isinstance(hx, Tensor):
                raise TypeError(f"{self._owner}: hx must be a Tensor, got {type(hx).__name__}")
            pairs = (("h_0", hx, cell.output_size),)
        states = []
        for name, state, size in pairs:
            expected = (layers, batch, size) if batched else (layers, size)
            if not isinstance(state, Tensor) or tuple(state.shape) != expected:
                got = tuple(state.shape) if isinstance(state, Tensor) else type(state).__name__
                raise ValueError(
                    f"{self._owner}: expected hidden state {name} of shape {expected}, got {got}"
                )
            if state.dtype != x.dtype:
                raise TypeError(
                    f"{self._owner}: {name} dtype {state.dtype} does not match input {x.dtype}"
                )
            states.append(state if batched else state.unsqueeze(1))
        return states[0], (states[1] if is_lstm else None)

    def _restore_layout(self, output, input, lengths, packed: bool, batched: bool):
        if packed:
            order = input.sorted_indices
            ordered = output if order is None else output[:, order]
            sorted_lengths = lengths if order is None else lengths[order]
            data = pack_padded_sequence(ordered, sorted_lengths.cpu()).data
            return PackedSequence(data, input.batch_sizes, input.sorted_indices,
                                  input.unsorted_indices)
        if not batched:
            return output.squeeze(1)
        return output.transpose(0, 1) if self.config.batch_first else output

    def _gate_dict(self, gates, batched: bool) -> dict[str, dict[str, Tensor]]:
        names = self.config.cell.gates if self.kind != "rnn" else ()
        names = names + (("c",) if self.kind == "lstm" else ()) + ("h",)
        result = {}
        for layer, suffixes in enumerate(self._suffixes):
            for direction, suffix in enumerate(suffixes):
                per_gate = {}
                for name, value in zip(names, gates[layer][direction]):
                    if not batched:
                        value = value.squeeze(1)
                    elif self.config.batch_first:
                        value = value.transpose(0, 1)
                    per_gate[name] = value
                result[suffix.lstrip("_")] = per_gate
        return result


def _layer_config(owner, kind, input_size, hidden_size, num_layers, bias, batch_first, dropout,
                  bidirectional, options, proj_size=0) -> LayerConfig:
    layer_options = {
        name: options.pop(name) for name in ("go_backwards", "impl") if name in options
    }
    cell = cell_config(kind, owner, input_size, hidden_size, bias, options, proj_size=proj_size)
    if dropout > 0 and num_layers == 1:
        warnings.warn(
            f"{owner}: dropout option adds dropout after all but last recurrent layer, so "
            f"non-zero dropout expects num_layers greater than 1, but got dropout={dropout} "
            f"and num_layers={num_layers}",
            stacklevel=3,
        )
    return LayerConfig(cell=cell, num_layers=num_layers, batch_first=batch_first,
                       dropout=dropout, bidirectional=bidirectional, **layer_options)


_OPTIONS_DOC = """
    Keyword options (Keras' cell options and rnnkit's extras; torch.nn's defaults win):
    ``activation`` (tanh), ``recurrent_activation`` (sigmoid; LSTM/GRU), ``use_bias`` (alias of
    ``bias``), ``kernel_initializer``/``recurrent_initializer``/``bias_initializer``
    ("torch_default": U(±1/√hidden_size)), ``unit_forget_bias`` (LSTM), ``*_regularizer``
    (see :meth:`regularization_loss`), ``*_constraint`` (see :meth:`apply_constraints`),
    ``input_dropout`` (Keras' ``dropout``: a variational mask on each layer's input),
    ``recurrent_dropout`` (variational mask on ``h`` before ``W_hh``), ``go_backwards``
    (process each sequence from its end; outputs stay in processing order, as Keras),
    ``layer_norm``, ``zoneout`` (p, or (p_h, p_c) for an LSTM), ``weight_drop`` (DropConnect
    on ``W_hh``), ``reset_after`` (GRU), ``peephole`` (LSTM: cell-state connections to the gates,
    parameters ``weight_c{i,f,o}_l{k}``, zeros at first), ``impl`` ("auto", "native", "bptt" or
    "reference"; see :mod:`rnnkit.nn.kernels`).
"""


class RNN(RecurrentLayer):
    """Elman RNN: ``h_t = act(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh)``, act tanh or relu.

    Drop-in for ``torch.nn.RNN`` (same arguments, parameters, shapes and numbers).

    Example::

        >>> rnn = RNN(10, 20)
        >>> output, h_n = rnn(torch.randn(5, 3, 10), torch.randn(1, 3, 20))
        >>> output.shape, h_n.shape
        (torch.Size([5, 3, 20]), torch.Size([1, 3, 20]))
        >>> bool(torch.all(output[-1] == h_n))
        True
    """ + _OPTIONS_DOC

    kind = "rnn"

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1,
                 nonlinearity: str | None = None, bias: bool = True, batch_first: bool = False,
                 dropout: float = 0.0, bidirectional: bool = False, device=None, dtype=None,
                 **options: Any) -> None:
        merge_nonlinearity("RNN", nonlinearity, options)
        config = _layer_config("RNN", "rnn", input_size, hidden_size, num_layers, bias,
                               batch_first, dropout, bidirectional, options)
        super().__init__(config, device=device, dtype=dtype)

    nonlinearity = property(lambda self: self.config.cell.activation.name)


class LSTM(RecurrentLayer):
    """Long short-term memory layer; drop-in for ``torch.nn.LSTM``.

    Per step (gate order i, f, g, o, as the rows of ``weight_ih_l{k}``)::

        i = σ(W_ii x + b_ii + W_hi h + b_hi)      f = σ(W_if x + b_if + W_hf h + b_hf)
        g = tanh(W_ig x + b_ig + W_hg h + b_hg)   o = σ(W_io x + b_io + W_ho h + b_ho)
        c' = f ⊙ c + i ⊙ g                        h' = o ⊙ tanh(c')   (then W_hr h' if proj)

    Returns ``output, (h_n, c_n)``.

    Example::

        >>> lstm = LSTM(10, 20, num_layers=2, batch_first=True)
        >>> output, (h_n, c_n) = lstm(torch.randn(3, 5, 10), lengths=[5, 2, 4])
        >>> output.shape, h_n.shape, c_n.shape
        (torch.Size([3, 5, 20]), torch.Size([2, 3, 20]), torch.Size([2, 3, 20]))
    """ + _OPTIONS_DOC

    kind = "lstm"

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True,
                 batch_first: bool = False, dropout: float = 0.0, bidirectional: bool = False,
                 proj_size: int = 0, device=None, dtype=None, **options: Any) -> None:
        config = _layer_config("LSTM", "lstm", input_size, hidden_size, num_layers, bias,
                               batch_first, dropout, bidirectional, options, proj_size=proj_size)
        super().__init__(config, device=device, dtype=dtype)


class GRU(RecurrentLayer):
    """Gated recurrent unit layer; drop-in for ``torch.nn.GRU``.

    Per step (gate order r, z, n)::

        r = σ(W_ir x + b_ir + W_hr h + b_hr)      z = σ(W_iz x + b_iz + W_hz h + b_hz)
        n = tanh(W_in x + b_in + r ⊙ (W_hn h + b_hn))          (reset_after=True, torch)
        n = tanh(W_in x + b_in + W_hn (r ⊙ h) + b_hn)          (reset_after=False, Cho 2014)
        h' = (1 - z) ⊙ n + z ⊙ h

    Example::

        >>> gru = GRU(10, 20, bidirectional=True, reset_after=False)
        >>> output, h_n = gru(torch.randn(5, 3, 10))
        >>> output.shape, h_n.shape
        (torch.Size([5, 3, 40]), torch.Size([2, 3, 20]))
    """ + _OPTIONS_DOC

    kind = "gru"

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True,
                 batch_first: bool = False, dropout: float = 0.0, bidirectional: bool = False,
                 device=None, dtype=None, **options: Any) -> None:
        config = _layer_config("GRU", "gru", input_size, hidden_size, num_layers, bias,
                               batch_first, dropout, bidirectional, options)
        super().__init__(config, device=device, dtype=dtype)
