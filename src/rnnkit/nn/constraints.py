"""Weight constraints, as Keras' ``kernel_constraint``/``recurrent_constraint``/``bias_constraint``.

A constraint maps a weight to its projection (a new tensor; the caller copies it back after
the optimizer step). The norm constraints act on each output unit's incoming weights: for a
2-D weight in torch's layout ``(out, in)`` that is the norm over dim 1 of each row, which is
Keras' default ``axis=0`` on its ``(in, out)`` kernel; for a 1-D tensor it is the norm of the
whole vector. With ``n = ‖w_row‖₂`` and ε = 1e-7 (Keras' ``epsilon()``)::

    MaxNorm(m):              w · clip(n, 0, m) / (ε + n)
    NonNeg():                max(w, 0)
    UnitNorm():              w / (ε + n)
    MinMaxNorm(lo, hi, r):   w · (r · clip(n, lo, hi) + (1 - r) · n) / (ε + n)

Example:
    >>> import torch
    >>> constraint = get_constraint({"name": "max_norm", "max_value": 1.0})
    >>> constraint(torch.tensor([[3.0, 4.0], [0.3, 0.4]]))
    tensor([[0.6000, 0.8000],
            [0.3000, 0.4000]])
    >>> get_constraint(constraint.to_config()) == constraint
    True
"""

from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass
from typing import Any, ClassVar

import torch
from torch import Tensor

from rnnkit.nn.initializers import _build_from_spec, _check_number

__all__ = [
    "CONSTRAINTS",
    "EPSILON",
    "Constraint",
    "MaxNorm",
    "MinMaxNorm",
    "NonNeg",
    "UnitNorm",
    "get_constraint",
]

EPSILON = 1e-7
"""Added to the norms before dividing, as Keras' ``backend.epsilon()``."""


class Constraint(ABC):
    """A projection of a weight; subclasses are frozen dataclasses with a ``name``."""

    name: ClassVar[str]

    @abstractmethod
    def __call__(self, weight: Tensor) -> Tensor:
        """The constrained weight, a new tensor (``weight`` is left as it is)."""

    def to_config(self) -> dict[str, Any]:
        """``{"name": ..., **params}``; ``get_constraint`` rebuilds an equal object."""
        return {"name": self.name, **asdict(self)}  # type: ignore[call-overload]


def _unit_norms(constraint: Constraint, weight: Tensor) -> Tensor:
    """‖·‖₂ of each output unit's incoming weights: ``(out, 1)`` for ``(out, in)``, ``(1,)``
    for a 1-D tensor, broadcastable against ``weight``."""
    if weight.dim() not in (1, 2):
        raise ValueError(
            f"{type(constraint).__name__}: expected a 1-D or 2-D weight, got {weight.dim()}-D "
            f"with shape {tuple(weight.shape)} instead"
        )
    return weight.square().sum(dim=-1, keepdim=True).sqrt()


@dataclass(frozen=True)
class MaxNorm(Constraint):
    """w · clip(n, 0, max_value) / (ε + n), n the norm of each unit's incoming weights."""

    max_value: float = 2.0
    name: ClassVar[str] = "max_norm"

    def __post_init__(self) -> None:
        object.__setattr__(
            self,
            "max_value",
            _check_number(self, "max_value", self.max_value, minimum=0.0, strict=True),
        )

    def __call__(self, weight: Tensor) -> Tensor:
        norms = _unit_norms(self, weight)  # (out, 1) or (1,)
        desired = norms.clamp(0.0, self.max_value)
        return weight * (desired / (EPSILON + norms))


@dataclass(frozen=True)
class NonNeg(Constraint):
    """max(w, 0)."""

    name: ClassVar[str] = "non_neg"

    def __call__(self, weight: Tensor) -> Tensor:
        return torch.clamp(weight, min=0.0)


@dataclass(frozen=True)
class UnitNorm(Constraint):
    """w / (ε + n), n the norm of each unit's incoming weights."""

    name: ClassVar[str] = "unit_norm"

    def __call__(self, weight: Tensor) -> Tensor:
        norms = _unit_norms(self, weight)  # (out, 1) or (1,)
        return weight / (EPSILON + norms)


@dataclass(frozen=True)
class MinMaxNorm(Constraint):
    """w · (rate · clip(n, min_value, max_value) + (1 - rate) · n) / (ε + n).

    ``0 <= min_value <= max_value``, ``max_value > 0`` and ``0 < rate <= 1``: rate 1 enforces
    the bounds at once, a smaller rate moves the norms part of the way each call.
    """

    min_value: float = 0.0
    max_value: float = 1.0
    rate: float = 1.0
    name: ClassVar[str] = "min_max_norm"

    def __post_init__(self) -> None:
        min_value = _check_number(self, "min_value", self.min_value, minimum=0.0)
        max_value = _check_number(self, "max_value", self.max_value, minimum=0.0, strict=True)
        rate = _check_number(self, "rate", self.rate, minimum=0.0, strict=True, maximum=1.0)
        if min_value > max_value:
            raise ValueError(
                f"MinMaxNorm: expected min_value <= max_value, got min_value={min_value!r} and "
                f"max_value={max_value!r}"
            )
        object.__setattr__(self, "min_value", min_value)
        object.__setattr__(self, "max_value", max_value)
        object.__setattr__(self, "rate", rate)

    def __call__(self, weight: Tensor) -> Tensor:
        norms = _unit_norms(self, weight)  # (out, 1) or (1,)
        desired = self.rate * norms.clamp(self.min_value, self.max_value) + (1 - self.rate) * norms
        return weight * (desired / (EPSILON + norms))


_BY_NAME: dict[str, type[Constraint]] = {
    cls.name: cls for cls in (MaxNorm, NonNeg, UnitNorm, MinMaxNorm)
}

CONSTRAINTS: tuple[str, ...] = tuple(sorted(_BY_NAME))
"""Every constraint name accepted by :func:`get_constraint` (sorted)."""


def get_constraint(
    spec: None | str | dict[str, Any] | Constraint,
    *,
    owner: str = "rnnkit",
    argument: str = "constraint",
) -> Constraint | None:
    """Build a constraint from a name or config, pass ``None`` and constraints through.

    Args:
        spec: ``None`` (unconstrained), a name from :data:`CONSTRAINTS` (Keras' defaults), a
            dict ``{"name": ..., **params}`` as written by :meth:`Constraint.to_config` (a
            parameter left out takes its default), or a :class:`Constraint`.
        owner: the class or function asking, named in error messages.
        argument: the argument that carried ``spec``, named in error messages.

    Raises:
        ValueError: unknown name or key, missing ``"name"`` key, or a parameter out of range.
        TypeError: ``spec`` is of another type, or a parameter is not a number.
    """
    if spec is None or isinstance(spec, Constraint):
        return spec
    if not isinstance(spec, (str, dict)):
        raise TypeError(
            f"{owner}: expected argument {argument!r} to be None, a constraint name (str), a "
            f"config dict or a Constraint, got {type(spec).__name__} instead"
        )
    return _build_from_spec("constraint", _BY_NAME, spec, owner=owner, argument=argument)
