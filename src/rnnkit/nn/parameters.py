"""Creating, initialising, regularising and constraining a recurrent module's parameters.

Names, shapes and registration order follow torch.nn (``weight_ih_l0``, ``weight_hh_l0``,
``bias_ih_l0``, ``bias_hh_l0``, ``weight_hr_l0``, then ``…_reverse``), so torch state dicts
load as they are and, with the default initializer, a seeded module draws exactly the
numbers torch.nn's does. Layer-norm gains (``layer_norm_ih_l0``, ``layer_norm_hh_l0``,
``layer_norm_c_weight_l0``, ``layer_norm_c_bias_l0``) come after and draw no random numbers,
then an LSTM's peephole weights (``weight_ci_l0``, ``weight_cf_l0``, ``weight_co_l0``, each
``(H,)``), initialised to zeros so a peephole LSTM starts as the plain one and a seeded module
still draws torch.nn's numbers for the other parameters. Peephole weights have no Keras role:
no initializer, regularizer or constraint applies to them.

Roles (for initializers, regularizers and constraints, as Keras names them): ``weight_ih`` and
``weight_hr`` are kernels, ``weight_hh`` is the recurrent kernel, ``bias_*`` are biases.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from rnnkit.nn.config import CellConfig
from rnnkit.nn.functional import DirectionWeights

ROLES = {"weight_ih": "kernel", "weight_hh": "recurrent", "weight_hr": "kernel", "bias": "bias"}


def direction_suffix(layer: int | None, reverse: bool) -> str:
    """``_l{layer}`` plus ``_reverse`` for the backward direction; ``""`` for a cell."""
    return ("" if layer is None else f"_l{layer}") + ("_reverse" if reverse else "")


def _role(name: str) -> str | None:
    for prefix, role in ROLES.items():
        if name.startswith(prefix):
            return role
    return None


def direction_shapes(cell: CellConfig) -> dict[str, tuple[int, ...]]:
    """Base name (no suffix) → shape of every parameter one direction has, in torch's order."""
    gate_rows = cell.num_gates * cell.hidden_size
    shapes = {
        "weight_ih": (gate_rows, cell.input_size),
        "weight_hh": (gate_rows, cell.output_size),
    }
    if cell.bias:
        shapes |= {"bias_ih": (gate_rows,), "bias_hh": (gate_rows,)}
    if cell.proj_size:
        shapes["weight_hr"] = (cell.proj_size, cell.hidden_size)
    if cell.layer_norm:
        shapes |= {"layer_norm_ih": (gate_rows,), "layer_norm_hh": (gate_rows,)}
        if cell.kind == "lstm":
            shapes |= {
                "layer_norm_c_weight": (cell.hidden_size,),
                "layer_norm_c_bias": (cell.hidden_size,),
            }
    if cell.peephole:
        shapes |= {name: (cell.hidden_size,) for name in ("weight_ci", "weight_cf", "weight_co")}
    return shapes


def register_direction(
    module: nn.Module, cell: CellConfig, suffix: str, factory: dict
) -> list[str]:
    """Register one direction's parameters on ``module``; returns their names in order."""
    names = []
    for base, shape in direction_shapes(cell).items():
        name = base + suffix
        module.register_parameter(name, nn.Parameter(torch.empty(shape, **factory)))
        names.append(name)
    return names


def initialize(module: nn.Module, cell: CellConfig, names: list[str]) -> None:
    """Fill parameters in registration order with their role's initializer.

    ``unit_forget_bias`` (Keras) then sets the forget-gate slice of ``bias_ih`` to 1 and of
    ``bias_hh`` to 0, so the forget gate starts with a total bias of exactly 1.
    """
    initializers = {
        "kernel": cell.kernel_initializer,
        "recurrent": cell.recurrent_initializer,
        "bias": cell.bias_initializer,
    }
    with torch.no_grad():
        for name in names:
            parameter = getattr(module, name)
            role = _role(name)
            if role is not None:
                initializers[role](parameter, hidden_size=cell.hidden_size)
            elif name.startswith(("layer_norm_c_bias", "weight_c")):
                parameter.zero_()
            else:
                parameter.fill_(1.0)
            if cell.unit_forget_bias and role == "bias":
                forget = slice(cell.hidden_size, 2 * cell.hidden_size)
                parameter[forget] = 1.0 if name.startswith("bias_ih") else 0.0


# DirectionWeights field for each parameter base name.
_FIELDS = {
    "weight_ih": "w_ih", "weight_hh": "w_hh", "bias_ih": "b_ih", "bias_hh": "b_hh",
    "weight_hr": "w_hr", "layer_norm_ih": "ln_ih", "layer_norm_hh": "ln_hh",
    "layer_norm_c_weight": "ln_c_weight", "layer_norm_c_bias": "ln_c_bias",
    "weight_ci": "w_ci", "weight_cf": "w_cf", "weight_co": "w_co",
}


def direction_weights(
    module: nn.Module, cell: CellConfig, suffix: str, weight_hh: Tensor | None = None
) -> DirectionWeights:
    """Gather one direction's tensors; ``weight_hh`` overrides the stored one (weight drop).

    Only the parameters ``cell`` has are looked up (a missing-attribute lookup on a Module
    costs an exception), and through ``getattr`` so parametrized weights work too.
    """
    found = {_FIELDS[base]: getattr(module, base + suffix) for base in direction_shapes(cell)}
    if weight_hh is not None:
        found["w_hh"] = weight_hh
    return DirectionWeights(**found)


def regularization_loss(module: nn.Module, cell: CellConfig) -> Tensor:
    """Sum of the kernel, recurrent and bias regularizers' penalties (a 0-dim tensor)."""
    regularizers = {
        "kernel": cell.kernel_regularizer,
        "recurrent": cell.recurrent_regularizer,
        "bias": cell.bias_regularizer,
    }
    total = None
    for name, parameter in module.named_parameters(recurse=False):
        regularizer = regularizers.get(_role(name))
        if regularizer is not None:
            penalty = regularizer(parameter)
            total = penalty if total is None else total + penalty
    if total is None:
        reference = next(module.parameters())
        return reference.new_zeros(())
    return total


def apply_constraints(module: nn.Module, cell: CellConfig) -> None:
    """Project each constrained parameter back onto its constraint set, in place.

    Call after each optimizer step (as Keras does inside ``fit``).
    """
    constraints = {
        "kernel": cell.kernel_constraint,
        "recurrent": cell.recurrent_constraint,
        "bias": cell.bias_constraint,
    }
    with torch.no_grad():
        for name, parameter in module.named_parameters(recurse=False):
            constraint = constraints.get(_role(name))
            if constraint is not None:
                parameter.copy_(constraint(parameter))
