"""Weight penalties, as Keras' ``kernel_regularizer``/``recurrent_regularizer``/``bias_regularizer``.

A regularizer maps a weight to a 0-dim, differentiable penalty that the training loss adds::

    L1(l1):       l1 · Σ |w|
    L2(l2):       l2 · Σ w²            (no 1/2 factor, as Keras)
    L1L2(l1, l2): l1 · Σ |w| + l2 · Σ w²

The penalty does not depend on the layout, so torch's ``(out, in)`` weight gives Keras' value
on its ``(in, out)`` kernel.

Names: ``"l1"`` is ``L1(0.01)``, ``"l2"`` is ``L2(0.01)``, ``"l1l2"`` (or ``"l1_l2"``) is
``L1L2(0.01, 0.01)`` as Keras documents for its string ``'l1_l2'``. (Keras 3.15's
``keras.regularizers.get`` does not do what it documents there: it rejects ``"l1_l2"`` and
turns ``"l1l2"`` into ``L1L2(0, 0)``, a penalty of zero. A user who names a combined penalty
wants one, so we follow the documentation.)

Example:
    >>> import torch
    >>> penalty = get_regularizer({"name": "l2", "l2": 0.5})
    >>> penalty(torch.tensor([[1.0, -2.0]]))
    tensor(2.5000)
    >>> get_regularizer(penalty.to_config()) == penalty
    True
"""

from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass
from typing import Any, ClassVar

from torch import Tensor

from rnnkit.nn.initializers import _build_from_spec, _check_number

__all__ = ["L1", "L1L2", "L2", "REGULARIZERS", "Regularizer", "get_regularizer"]

# Keras' coefficient for a penalty given by name.
_DEFAULT_FACTOR = 0.01


class Regularizer(ABC):
    """A weight penalty; subclasses are frozen dataclasses with a ``name``."""

    name: ClassVar[str]

    @abstractmethod
    def __call__(self, weight: Tensor) -> Tensor:
        """The penalty of ``weight``: a 0-dim tensor, differentiable with respect to it."""

    def to_config(self) -> dict[str, Any]:
        """``{"name": ..., **coefficients}``; ``get_regularizer`` rebuilds an equal object."""
        return {"name": self.name, **asdict(self)}  # type: ignore[call-overload]


@dataclass(frozen=True)
class L1(Regularizer):
    """l1 · Σ |w|, l1 ≥ 0."""

    l1: float = _DEFAULT_FACTOR
    name: ClassVar[str] = "l1"

    def __post_init__(self) -> None:
        object.__setattr__(self, "l1", _check_number(self, "l1", self.l1, minimum=0.0))

    def __call__(self, weight: Tensor) -> Tensor:
        return self.l1 * weight.abs().sum()


@dataclass(frozen=True)
class L2(Regularizer):
    """l2 · Σ w², l2 ≥ 0 (no 1/2 factor, as Keras)."""

    l2: float = _DEFAULT_FACTOR
    name: ClassVar[str] = "l2"

    def __post_init__(self) -> None:
        object.__setattr__(self, "l2", _check_number(self, "l2", self.l2, minimum=0.0))

    def __call__(self, weight: Tensor) -> Tensor:
        return self.l2 * weight.square().sum()


@dataclass(frozen=True)
class L1L2(Regularizer):
    """l1 · Σ |w| + l2 · Σ w², l1, l2 ≥ 0 (both 0 by default, as Keras' class)."""

    l1: float = 0.0
    l2: float = 0.0
    name: ClassVar[str] = "l1l2"

    def __post_init__(self) -> None:
        object.__setattr__(self, "l1", _check_number(self, "l1", self.l1, minimum=0.0))
        object.__setattr__(self, "l2", _check_number(self, "l2", self.l2, minimum=0.0))

    def __call__(self, weight: Tensor) -> Tensor:
        return self.l1 * weight.abs().sum() + self.l2 * weight.square().sum()


_BY_NAME: dict[str, type[Regularizer]] = {"l1": L1, "l2": L2, "l1l2": L1L2, "l1_l2": L1L2}

# A name alone means Keras' string defaults, which differ from L1L2's class defaults.
_FROM_NAME: dict[str, Regularizer] = {
    "l1": L1(),
    "l2": L2(),
    "l1l2": L1L2(_DEFAULT_FACTOR, _DEFAULT_FACTOR),
    "l1_l2": L1L2(_DEFAULT_FACTOR, _DEFAULT_FACTOR),
}

REGULARIZERS: tuple[str, ...] = tuple(sorted(_BY_NAME))
"""Every regularizer name accepted by :func:`get_regularizer` (sorted)."""


def get_regularizer(
    spec: None | str | dict[str, Any] | Regularizer,
    *,
    owner: str = "rnnkit",
    argument: str = "regularizer",
) -> Regularizer | None:
    """Build a regularizer from a name or config, pass ``None`` and regularizers through.

    Args:
        spec: ``None`` (no penalty), a name from :data:`REGULARIZERS` (Keras' string defaults:
            ``"l1l2"`` is ``L1L2(0.01, 0.01)``), a dict ``{"name": ..., **coefficients}`` as
            written by :meth:`Regularizer.to_config` (a coefficient left out takes the class
            default), or a :class:`Regularizer`.
        owner: the class or function asking, named in error messages.
        argument: the argument that carried ``spec``, named in error messages.

    Raises:
        ValueError: unknown name or key, missing ``"name"`` key, or a negative coefficient.
        TypeError: ``spec`` is of another type, or a coefficient is not a number.
    """
    if spec is None or isinstance(spec, Regularizer):
        return spec
    if isinstance(spec, str) and spec in _FROM_NAME:
        return _FROM_NAME[spec]
    if not isinstance(spec, (str, dict)):
        raise TypeError(
            f"{owner}: expected argument {argument!r} to be None, a regularizer name (str), a "
            f"config dict or a Regularizer, got {type(spec).__name__} instead"
        )
    return _build_from_spec("regularizer", _BY_NAME, spec, owner=owner, argument=argument)
