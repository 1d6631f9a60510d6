"""Keyword options shared by every cell and layer, turned into a :class:`CellConfig`.

torch.nn's arguments keep torch's meaning and defaults; Keras' cell options come as keywords.
Where the two name the same thing, both spellings are accepted (``bias``/``use_bias``,
``nonlinearity``/``activation``) and must agree when both are given.
"""

from __future__ import annotations

from typing import Any

from rnnkit.nn.config import CellConfig

KERAS_OPTIONS = (
    "activation",
    "recurrent_activation",
    "use_bias",
    "kernel_initializer",
    "recurrent_initializer",
    "bias_initializer",
    "unit_forget_bias",
    "kernel_regularizer",
    "recurrent_regularizer",
    "bias_regularizer",
    "kernel_constraint",
    "recurrent_constraint",
    "bias_constraint",
    "input_dropout",
    "recurrent_dropout",
    "layer_norm",
    "zoneout",
    "weight_drop",
    "reset_after",
    "peephole",
)
_ONLY_FOR = {
    "recurrent_activation": ("lstm", "gru"),
    "unit_forget_bias": ("lstm",),
    "reset_after": ("gru",),
    "peephole": ("lstm",),
}


def cell_config(
    kind: str,
    owner: str,
    input_size: int,
    hidden_size: int,
    bias: bool,
    options: dict[str, Any],
    **fixed: Any,
) -> CellConfig:
    """Validate keyword ``options`` and build the cell configuration.

    Raises ``TypeError`` for a keyword the class does not take, as Python would.
    """
    for name in options:
        if name not in KERAS_OPTIONS or kind not in _ONLY_FOR.get(name, (kind,)):
            raise TypeError(f"{owner}.__init__() got an unexpected keyword argument {name!r}")
    values = dict(options)
    use_bias = values.pop("use_bias", None)
    if use_bias is not None and use_bias != bias:
        raise ValueError(
            f"{owner}: bias={bias} and use_bias={use_bias} disagree; pass only one of them"
        )
    return CellConfig(
        kind=kind,
        input_size=input_size,
        hidden_size=hidden_size,
        bias=bias if use_bias is None else use_bias,
        owner=owner,
        **fixed,
        **values,
    )


def merge_nonlinearity(owner: str, nonlinearity: str | None, options: dict[str, Any]) -> None:
    """Fold torch's ``nonlinearity`` into Keras' ``activation`` (a vanilla RNN has both)."""
    if nonlinearity is None:
        return
    activation = options.get("activation")
    if activation is not None and activation != nonlinearity:
        raise ValueError(
            f"{owner}: nonlinearity={nonlinearity!r} and activation={activation!r} disagree; "
            "pass only one of them"
        )
    options["activation"] = nonlinearity
