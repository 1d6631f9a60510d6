"""Weight interop with Keras 3: build an rnnkit layer from a Keras one, and back.

:func:`from_keras` turns a built ``keras.layers.SimpleRNN``, ``LSTM`` or ``GRU`` (or a
``keras.layers.RNN`` over one ``SimpleRNNCell``, ``LSTMCell`` or ``GRUCell``), or a
``keras.layers.Bidirectional`` wrapping one of those with ``merge_mode="concat"``, into the
equivalent :class:`~rnnkit.nn.RNN`, :class:`~rnnkit.nn.LSTM` or :class:`~rnnkit.nn.GRU` with
``batch_first=True`` (Keras is batch-major) and copies the weights; given the same input it
returns the same sequence and final states. :func:`to_keras_weights` is the inverse: the list
``keras_layer.set_weights`` takes. :func:`keras_to_torch_layout` and
:func:`torch_to_keras_layout` are the pure array conversions both are built on.

Shapes use the package's letters (see :mod:`rnnkit`): ``I`` input features, ``H`` units,
``G`` gates (SimpleRNN 1, LSTM 4, GRU 3).

Weight layout (read from ``keras/src/layers/rnn/{simple_rnn,lstm,gru}.py``, Keras 3): Keras
computes ``x @ kernel``, so its matrices are the transposes of torch's, with the gates side by
side along the columns, in Keras' gate order:

==========================  =========================  ========================================
Keras                       shape                      rnnkit (torch.nn layout)
==========================  =========================  ========================================
``kernel``                  ``(I, G*H)``               ``weight_ih_l0 (G*H, I)``: transposed
``recurrent_kernel``        ``(H, G*H)``               ``weight_hh_l0 (G*H, H)``: transposed
SimpleRNN, LSTM ``bias``    ``(G*H,)``                 ``bias_ih_l0``; ``bias_hh_l0 = 0``
GRU ``bias``, reset_after   ``(2, 3H)``                row 0 → ``bias_ih_l0``, row 1 →
                                                       ``bias_hh_l0``
GRU ``bias``, reset_before  ``(3H,)``                  ``bias_ih_l0``; ``bias_hh_l0 = 0``
==========================  =========================  ========================================

Gate blocks: LSTM columns are ``i, f, c, o``, the same order as torch's rows ``i, f, g, o``
(Keras' ``c`` is torch's ``g``), so no reordering; GRU columns are ``z, r, h`` and torch's rows
are ``r, z, n`` (Keras' ``h`` is torch's ``n``), so the first two blocks swap; a SimpleRNN has
one block. In the other direction a single Keras bias is ``bias_ih + bias_hh``: both are added
to the same pre-activation (for a reset-before GRU too, whose ``b_hn`` sits outside ``r ⊙``).
Keras' GRU update ``h' = z ⊙ h + (1 - z) ⊙ hh`` is rnnkit's ``(1 - z) ⊙ n + z ⊙ h``.

What :func:`from_keras` maps (cell, then layer options):

- ``units`` → ``hidden_size``; ``kernel.shape[0]`` → ``input_size``; ``use_bias`` → ``bias``;
  the weights' dtype → ``dtype``.
- ``activation``, ``recurrent_activation`` → the rnnkit activation of the same name:
  ``sigmoid``, ``tanh``, ``relu``, ``linear`` (also ``activation=None``), ``softsign``,
  ``hard_sigmoid``. Keras 3's ``hard_sigmoid`` is ``relu6(x + 3) / 6``, rnnkit's
  ``hard_sigmoid``; Keras 2's was ``clip(0.2 x + 0.5, 0, 1)``, rnnkit's ``hard_sigmoid_v2``
  (pass ``recurrent_activation="hard_sigmoid_v2"`` to reproduce a Keras 2 model). Any other
  activation raises ``ValueError``.
- ``reset_after`` (GRU), ``unit_forget_bias`` (LSTM, when ``use_bias``), ``go_backwards``,
  ``dropout`` → ``input_dropout`` and ``recurrent_dropout`` (the same variational masks; the
  random draws differ, so only evaluation outputs are equal).
- ``Bidirectional``: the forward layer's weights → ``*_l0``, the backward layer's →
  ``*_l0_reverse``, ``bidirectional=True``. ``merge_mode`` must be ``"concat"``, the forward
  layer must not go backwards, and both layers must map to the same options.

What does not map, because it changes neither the weights nor the math: ``return_sequences``
and ``return_state`` (rnnkit always returns the sequence and the final state), ``stateful``
(pass the returned state back as ``hx``), ``unroll``, ``use_cudnn``, ``implementation``,
``zero_output_for_mask`` and masking (use ``lengths=``), ``seed``; and the initializers,
regularizers and constraints (the weights are copied; pass rnnkit's as ``overrides`` if the
layer is to be re-initialised or trained with them).

Example::

    >>> import keras, numpy as np
    >>> keras_lstm = keras.layers.LSTM(4, return_sequences=True)
    >>> keras_lstm.build((None, None, 5))
    >>> lstm = from_keras(keras_lstm)
    >>> lstm
    LSTM(5, 4, batch_first=True)
    >>> keras_lstm.set_weights(to_keras_weights(lstm))
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Any

import numpy as np
import torch

from rnnkit.extras import require
from rnnkit.nn import parameters
from rnnkit.nn.config import GATES
from rnnkit.nn.layers import GRU, LSTM, RNN, RecurrentLayer

__all__ = [
    "KERAS_ACTIVATIONS",
    "KERAS_GATES",
    "from_keras",
    "keras_to_torch_layout",
    "to_keras_weights",
    "torch_to_keras_layout",
]

# Keras' gate order per cell kind, along the columns of its kernels, named as torch names the
# gates (Keras calls the LSTM candidate "c" where torch says "g", the GRU candidate "h" where
# torch says "n"). rnnkit's order is GATES; every reordering below is derived from the two.
KERAS_GATES: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {"rnn": ("h",), "lstm": ("i", "f", "g", "o"), "gru": ("z", "r", "n")}
)

# Keras activations whose rnnkit namesake computes the same function.
KERAS_ACTIVATIONS = ("sigmoid", "tanh", "relu", "linear", "softsign", "hard_sigmoid")

# Constructor arguments that the Keras layer's weights fix: overriding them would not fit the
# copied weights (or, for reset_after, would change what the GRU biases mean).
_FIXED_BY_WEIGHTS = (
    "input_size",
    "hidden_size",
    "num_layers",
    "proj_size",
    "bias",
    "use_bias",
    "bidirectional",
    "layer_norm",
    "reset_after",
    "nonlinearity",
)
_LAYER_CLASSES = {"rnn": RNN, "lstm": LSTM, "gru": GRU}
_TORCH_NAMES = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")


def _check_kind(function: str, kind: Any) -> None:
    if kind not in GATES:
        raise ValueError(
            f"{function}: expected kind to be one of: {', '.join(GATES)}, got {kind!r}"
        )


def _check_shape(function: str, argument: str, array: np.ndarray, expected: tuple) -> None:
    if array.shape != expected:
        raise ValueError(
            f"{function}: expected {argument} of shape {expected}, got {array.shape}"
        )


def _reorder(
    array: np.ndarray, source: Sequence[str], target: Sequence[str], axis: int
) -> np.ndarray:
    """Restack ``array``'s gate blocks along ``axis`` from ``source``'s order to ``target``'s.

    Returns a new array (a copy even for a single gate).
    """
    blocks = np.split(array, len(source), axis=axis)
    return np.concatenate([blocks[source.index(gate)] for gate in target], axis=axis)


def keras_to_torch_layout(
    kind: str, keras_weights: Sequence[Any], *, reset_after: bool = True
) -> dict[str, np.ndarray]:
    """Convert one Keras cell's weights to rnnkit's (torch.nn's) layout.

    Args:
        kind: ``"rnn"`` (SimpleRNN), ``"lstm"`` or ``"gru"``.
        keras_weights: ``[kernel (I, G*H), recurrent_kernel (H, G*H)]`` plus ``bias`` when the
            layer uses one, as ``cell.get_weights()`` returns them (anything ``np.asarray``
            takes).
        reset_after: the GRU's ``reset_after``, which decides the bias shape; ignored otherwise.

    Returns:
        ``{"weight_ih": (G*H, I), "weight_hh": (G*H, H)}`` plus ``"bias_ih"`` and
        ``"bias_hh"`` ``(G*H,)`` with a bias, in rnnkit's gate order; new arrays, no views.

    Raises:
        ValueError: an unknown ``kind``, or a count or shape that does not fit it.
    """
    function = "keras_to_torch_layout"
    _check_kind(function, kind)
    arrays = [np.asarray(weight) for weight in keras_weights]
    if len(arrays) not in (2, 3):
        raise ValueError(
            f"{function}: expected keras_weights to be [kernel, recurrent_kernel] or "
            f"[kernel, recurrent_kernel, bias], got {len(arrays)} arrays"
        )
    kernel, recurrent_kernel = arrays[0], arrays[1]
    source, target = KERAS_GATES[kind], GATES[kind]
    num_gates = len(target)
    if kernel.ndim != 2 or kernel.shape[1] % num_gates:
        raise ValueError(
            f"{function}: expected kernel of shape (I, {num_gates}*H) for kind {kind!r}, "
            f"got {kernel.shape}"
        )
    hidden = kernel.shape[1] // num_gates
    _check_shape(function, "recurrent_kernel", recurrent_kernel, (hidden, num_gates * hidden))
    torch_weights = {
        "weight_ih": _reorder(kernel, source, target, axis=1).T,  # (I, G*H) -> (G*H, I)
        "weight_hh": _reorder(recurrent_kernel, source, target, axis=1).T,  # (G*H, H)
    }
    if len(arrays) == 3:
        bias = arrays[2]
        if kind == "gru" and reset_after:
            _check_shape(function, "bias (GRU, reset_after=True)", bias, (2, num_gates * hidden))
            bias_ih, bias_hh = bias[0], bias[1]
        else:
            _check_shape(function, "bias", bias, (num_gates * hidden,))
            bias_ih, bias_hh = bias, np.zeros_like(bias)
        torch_weights["bias_ih"] = _reorder(bias_ih, source, target, axis=0)
        torch_weights["bias_hh"] = _reorder(bias_hh, source, target, axis=0)
    return torch_weights


def torch_to_keras_layout(
    kind: str, torch_weights: Mapping[str, Any], *, reset_after: bool = True
) -> list[np.ndarray]:
    """Convert one direction's weights from rnnkit's (torch.nn's) layout to Keras'.

    Args:
        kind: ``"rnn"``, ``"lstm"`` or ``"gru"``.
        torch_weights: ``"weight_ih" (G*H, I)``, ``"weight_hh" (G*H, H)`` and, for a layer with
            a bias, both ``"bias_ih"`` and ``"bias_hh" (G*H,)`` (anything ``np.asarray`` takes).
        reset_after: the GRU's ``reset_after``; ignored otherwise.

    Returns:
        ``[kernel (I, G*H), recurrent_kernel (H, G*H)]`` plus the bias: ``(2, 3H)`` rows
        ``bias_ih, bias_hh`` for a reset-after GRU, else ``bias_ih + bias_hh (G*H,)``.

    Raises:
        ValueError: an unknown ``kind`` or key, one bias without the other, or a bad shape.
    """
    function = "torch_to_keras_layout"
    _check_kind(function, kind)
    unknown = sorted(set(torch_weights) - set(_TORCH_NAMES))
    missing = [name for name in ("weight_ih", "weight_hh") if name not in torch_weights]
    if unknown or missing:
        raise ValueError(
            f"{function}: expected torch_weights keys weight_ih, weight_hh and optionally "
            f"bias_ih with bias_hh, got {sorted(torch_weights)}"
        )
    if ("bias_ih" in torch_weights) != ("bias_hh" in torch_weights):
        raise ValueError(
            f"{function}: expected both bias_ih and bias_hh in torch_weights or neither, "
            f"got {sorted(torch_weights)}"
        )
    arrays = {name: np.asarray(value) for name, value in torch_weights.items()}
    source, target = GATES[kind], KERAS_GATES[kind]
    num_gates = len(source)
    weight_ih, weight_hh = arrays["weight_ih"], arrays["weight_hh"]
    if weight_ih.ndim != 2 or weight_ih.shape[0] % num_gates:
        raise ValueError(
            f"{function}: expected weight_ih of shape ({num_gates}*H, I) for kind {kind!r}, "
            f"got {weight_ih.shape}"
        )
    hidden = weight_ih.shape[0] // num_gates
    _check_shape(function, "weight_hh", weight_hh, (num_gates * hidden, hidden))
    keras_weights = [
        _reorder(weight_ih, source, target, axis=0).T,  # (G*H, I) -> (I, G*H)
        _reorder(weight_hh, source, target, axis=0).T,  # (H, G*H)
    ]
    if "bias_ih" in arrays:
        for name in ("bias_ih", "bias_hh"):
            _check_shape(function, name, arrays[name], (num_gates * hidden,))
        bias_ih = _reorder(arrays["bias_ih"], source, target, axis=0)
        bias_hh = _reorder(arrays["bias_hh"], source, target, axis=0)
        if kind == "gru" and reset_after:
            keras_weights.append(np.stack([bias_ih, bias_hh]))  # (2, 3H)
        else:
            keras_weights.append(bias_ih + bias_hh)  # (G*H,)
    return keras_weights


def _cell_kind(keras: Any, layer: Any) -> str:
    """``"rnn"``, ``"lstm"`` or ``"gru"`` for a Keras RNN layer over one supported cell."""
    expected = (
        "keras.layers.SimpleRNN, LSTM or GRU (or keras.layers.RNN over one SimpleRNNCell, "
        "LSTMCell or GRUCell), or a keras.layers.Bidirectional wrapping one"
    )
    if not isinstance(layer, keras.layers.RNN):
        raise TypeError(
            f"from_keras: expected keras_layer to be {expected}, got {type(layer).__name__}"
        )
    cells = {
        keras.layers.SimpleRNNCell: "rnn",
        keras.layers.LSTMCell: "lstm",
        keras.layers.GRUCell: "gru",
    }
    for cell_class, kind in cells.items():
        if isinstance(layer.cell, cell_class):
            return kind
    raise TypeError(
        f"from_keras: expected keras_layer to be {expected}, got {type(layer).__name__} "
        f"over a {type(layer.cell).__name__}"
    )


def _activation_name(keras: Any, function: Any, argument: str) -> str:
    for name in KERAS_ACTIVATIONS:
        if function is keras.activations.get(name):
            return name
    got = getattr(function, "__name__", repr(function))
    raise ValueError(
        f"from_keras: unsupported Keras {argument} {got!r}; expected one of: "
        f"{', '.join(KERAS_ACTIVATIONS)}"
    )


def _layer_options(keras: Any, layer: Any, kind: str) -> dict[str, Any]:
    """The rnnkit constructor keywords that one Keras RNN layer determines."""
    cell = layer.cell
    if getattr(cell, "kernel", None) is None:
        raise ValueError(
            f"from_keras: keras_layer {layer.name!r} is not built, so it has no weights yet; "
            "call it on an input or build it with layer.build((None, None, input_size))"
        )
    options = {
        "input_size": int(cell.kernel.shape[0]),
        "hidden_size": int(cell.units),
        "bias": bool(cell.use_bias),
        "activation": _activation_name(keras, cell.activation, "activation"),
        "go_backwards": bool(layer.go_backwards),
        "input_dropout": float(cell.dropout),
        "recurrent_dropout": float(cell.recurrent_dropout),
    }
    if kind != "rnn":
        options["recurrent_activation"] = _activation_name(
            keras, cell.recurrent_activation, "recurrent_activation"
        )
    if kind == "lstm":
        options["unit_forget_bias"] = bool(cell.unit_forget_bias and cell.use_bias)
    if kind == "gru":
        options["reset_after"] = bool(cell.reset_after)
    return options


def _bidirectional_parts(keras: Any, wrapper: Any) -> tuple[Any, Any, str, dict[str, Any]]:
    """Validate a Keras Bidirectional; returns its two layers, their kind and options."""
    if wrapper.merge_mode != "concat":
        raise ValueError(
            f"from_keras: expected a Bidirectional with merge_mode='concat' (rnnkit "
            f"concatenates the directions' features), got merge_mode={wrapper.merge_mode!r}"
        )
    forward, backward = wrapper.forward_layer, wrapper.backward_layer
    kind = _cell_kind(keras, forward)
    backward_kind = _cell_kind(keras, backward)
    if backward_kind != kind:
        raise ValueError(
            f"from_keras: expected the Bidirectional's backward layer to be a {kind} layer "
            f"like its forward layer, got {type(backward).__name__}"
        )
    options = _layer_options(keras, forward, kind)
    backward_options = _layer_options(keras, backward, kind)
    if options["go_backwards"] or not backward_options["go_backwards"]:
        raise ValueError(
            "from_keras: expected a Bidirectional whose forward layer has go_backwards=False "
            "and backward layer go_backwards=True, got "
            f"{options['go_backwards']} and {backward_options['go_backwards']}"
        )
    backward_options["go_backwards"] = False
    differing = sorted(name for name in options if options[name] != backward_options[name])
    if differing:
        pairs = ", ".join(f"{n}={options[n]!r} vs {backward_options[n]!r}" for n in differing)
        raise ValueError(
            "from_keras: expected the Bidirectional's forward and backward layers to share "
            f"their options (rnnkit has one configuration for both directions), got {pairs}"
        )
    return forward, backward, kind, options


def _cell_weights(keras: Any, layer: Any) -> list[np.ndarray]:
    cell = layer.cell
    variables = [cell.kernel, cell.recurrent_kernel] + ([cell.bias] if cell.use_bias else [])
    return [keras.ops.convert_to_numpy(variable) for variable in variables]


def _copy_direction(
    layer: RecurrentLayer, reverse: bool, weights: Mapping[str, np.ndarray]
) -> None:
    suffix = parameters.direction_suffix(0, reverse)
    with torch.no_grad():
        for name, array in weights.items():
            getattr(layer, name + suffix).copy_(torch.as_tensor(array))


def from_keras(keras_layer: Any, **overrides: Any) -> RecurrentLayer:
    """Build the rnnkit layer equivalent to a built Keras recurrent layer, with its weights.

    Args:
        keras_layer: a built ``keras.layers.SimpleRNN``, ``LSTM``, ``GRU`` (or
            ``keras.layers.RNN`` over one such cell), or a ``keras.layers.Bidirectional``
            wrapping one with ``merge_mode="concat"``.
        **overrides: rnnkit constructor keywords that replace the mapped ones or add to them
            (``batch_first``, ``impl``, ``dtype``, ``device``, initializers, ...); the
            arguments the weights fix (``input_size``, ``hidden_size``, ``bias``/``use_bias``,
            ``num_layers``, ``proj_size``, ``bidirectional``, ``layer_norm``, ``reset_after``,
            ``nonlinearity``) cannot be overridden.

    Returns:
        An :class:`~rnnkit.nn.RNN`, :class:`~rnnkit.nn.LSTM` or :class:`~rnnkit.nn.GRU` with
        ``batch_first=True`` and the Keras weights' dtype (unless overridden) whose
        ``(output, state)`` equal Keras' ``return_sequences=True, return_state=True`` outputs;
        see the module docstring for what maps.

    Raises:
        TypeError: ``keras_layer`` is not a supported Keras layer.
        ValueError: an unsupported option (activation, merge_mode, mismatched Bidirectional
            directions), an unbuilt layer, or an override of an argument the weights fix.
    """
    keras = require("keras", "keras", "from_keras")
    fixed = sorted(name for name in overrides if name in _FIXED_BY_WEIGHTS)
    if fixed:
        raise ValueError(
            f"from_keras: cannot override {', '.join(fixed)}: read from the Keras layer's "
            f"weights and options; expected overrides other than {', '.join(_FIXED_BY_WEIGHTS)}"
        )
    if isinstance(keras_layer, keras.layers.Bidirectional):
        forward, backward, kind, options = _bidirectional_parts(keras, keras_layer)
    else:
        forward, backward = keras_layer, None
        kind = _cell_kind(keras, keras_layer)
        options = _layer_options(keras, keras_layer, kind)
    reset_after = options.get("reset_after", True)
    directions = [
        keras_to_torch_layout(kind, _cell_weights(keras, direction), reset_after=reset_after)
        for direction in (forward, backward)
        if direction is not None
    ]
    dtype = torch.from_numpy(directions[0]["weight_ih"][:0]).dtype
    options.update(batch_first=True, bidirectional=backward is not None, dtype=dtype)
    options.update(overrides)
    layer = _LAYER_CLASSES[kind](**options)
    for reverse, weights in enumerate(directions):
        _copy_direction(layer, bool(reverse), weights)
    return layer


def to_keras_weights(layer: RecurrentLayer) -> list[np.ndarray]:
    """The weights of a single-layer rnnkit layer as ``keras_layer.set_weights`` takes them.

    For a unidirectional layer: ``[kernel, recurrent_kernel]`` plus ``bias`` (see the module
    docstring for shapes); for a bidirectional one, the forward direction's list followed by
    the backward one's, the order ``keras.layers.Bidirectional.set_weights`` takes. Only
    weights are converted: the Keras layer must be built with the matching options
    (``units``, ``use_bias``, activations, ``reset_after``, ``go_backwards``).

    Raises:
        TypeError: ``layer`` is not an rnnkit ``RNN``, ``LSTM`` or ``GRU``.
        ValueError: ``num_layers > 1``, ``proj_size > 0`` or ``layer_norm=True``, which no
            single Keras layer holds.
    """
    if not isinstance(layer, RecurrentLayer):
        raise TypeError(
            "to_keras_weights: expected layer to be an rnnkit.nn RNN, LSTM or GRU, "
            f"got {type(layer).__name__}"
        )
    config, cell = layer.config, layer.config.cell
    unsupported = {
        "num_layers": (config.num_layers, 1, "stack Keras layers instead"),
        "proj_size": (cell.proj_size, 0, "Keras' LSTM has no projection"),
        "layer_norm": (cell.layer_norm, False, "Keras' cells have no layer norm"),
    }
    for argument, (got, expected, why) in unsupported.items():
        if got != expected:
            raise ValueError(
                f"to_keras_weights: expected {argument}={expected} ({why}), got {got}"
            )
    keras_weights = []
    for direction in range(config.num_directions):
        suffix = parameters.direction_suffix(0, reverse=direction == 1)
        torch_weights = {
            name: getattr(layer, name + suffix).detach().cpu().numpy()
            for name in _TORCH_NAMES
            if hasattr(layer, name + suffix)
        }
        keras_weights += torch_to_keras_layout(
            cell.kind, torch_weights, reset_after=cell.reset_after
        )
    return keras_weights
