"""Initializers: fill a parameter in torch's layout, in place, by name or from a config.

Tensors are in torch's layout: a weight is ``(out, in)`` (``weight_ih_l0`` is ``(G*H, I)``,
``weight_hh_l0`` is ``(G*H, H)``), a bias is 1-D ``(G*H,)``. Fans are read from that layout::

    2-D (out, in):  fan_in = in = size(1),  fan_out = out = size(0)
    1-D (n,):       fan_in = fan_out = n

which are Keras' fans on its transposed kernel ``(in, out)``, so ``glorot_uniform`` and friends
draw from the same distributions as in Keras. ``hidden_size`` (H) is passed on every call;
``torch_default`` (and ``uniform_fan_in`` on a bias) needs it.

=================  =========================================================================
name               distribution
=================  =========================================================================
torch_default      U(-1/√H, 1/√H): what torch.nn.RNN/LSTM/GRU do for every weight and bias
uniform_fan_in     U(-1/√fan_in, 1/√fan_in), with fan_in = H on a bias (the seed tutorial's)
glorot_uniform     U(-l, l), l = √(6 / (fan_in + fan_out))
glorot_normal      N(0, s²) truncated at ±2s, s = √(2 / (fan_in + fan_out)) / 0.8796…
he_uniform         U(-l, l), l = √(6 / fan_in)
he_normal          N(0, s²) truncated at ±2s, s = √(2 / fan_in) / 0.8796…
lecun_uniform      U(-l, l), l = √(3 / fan_in)
lecun_normal       N(0, s²) truncated at ±2s, s = √(1 / fan_in) / 0.8796…
orthogonal         gain · Q, Q with orthonormal columns (tall) or rows (wide); Orthogonal(gain)
zeros, ones        0, 1
uniform            U(-a, a); Uniform(a)
normal             N(mean, std²); Normal(std, mean=0)
constant           value; Constant(value)
=================  =========================================================================

(0.8796… is the standard deviation of a unit normal truncated at ±2, so the truncated draws
have standard deviation √(scale / n) as in Keras' ``VarianceScaling``.)

Example:
    >>> import torch
    >>> weight = torch.empty(8, 3)
    >>> init = get_initializer({"name": "uniform", "a": 0.1})
    >>> init(weight, hidden_size=2)
    >>> bool(weight.abs().max() <= 0.1)
    True
    >>> get_initializer(init.to_config()) == init
    True
"""

import math
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import MISSING, asdict, dataclass, fields
from numbers import Real
from typing import Any, ClassVar, TypeVar

import torch
from torch import Tensor

__all__ = [
    "INITIALIZERS",
    "Constant",
    "GlorotNormal",
    "GlorotUniform",
    "HeNormal",
    "HeUniform",
    "Initializer",
    "LecunNormal",
    "LecunUniform",
    "Normal",
    "Ones",
    "Orthogonal",
    "TorchDefault",
    "Uniform",
    "UniformFanIn",
    "Zeros",
    "get_initializer",
]

_Component = TypeVar("_Component")

# Standard deviation of a unit normal truncated to (-2, 2), as in Keras' VarianceScaling.
_TRUNCATED_NORMAL_STD = 0.87962566103423978


class Initializer(ABC):
    """Fills a parameter tensor in place; subclasses are frozen dataclasses with a ``name``."""

    name: ClassVar[str]

    @abstractmethod
    def __call__(self, tensor: Tensor, *, hidden_size: int) -> None:
        """Fill ``tensor`` in place (under ``torch.no_grad()``)."""

    def to_config(self) -> str | dict[str, Any]:
        """The name when the initializer has no parameters, else ``{"name": ..., **params}``.

        ``get_initializer(init.to_config())`` rebuilds an equal initializer.
        """
        params = asdict(self)  # type: ignore[call-overload]
        return {"name": self.name, **params} if params else self.name


def _check_hidden_size(initializer: Initializer, hidden_size: int) -> None:
    if isinstance(hidden_size, bool) or not isinstance(hidden_size, int) or hidden_size <= 0:
        raise ValueError(
            f"{type(initializer).__name__}: expected hidden_size to be a positive int, "
            f"got {hidden_size!r}"
        )


def _fans(initializer: Initializer, tensor: Tensor) -> tuple[int, int]:
    """``(fan_in, fan_out)`` of a tensor in torch's layout: (size(1), size(0)) or (n, n)."""
    if tensor.dim() == 1:
        return tensor.size(0), tensor.size(0)
    if tensor.dim() == 2:
        return tensor.size(1), tensor.size(0)
    raise ValueError(
        f"{type(initializer).__name__}: expected a 1-D or 2-D tensor, got {tensor.dim()}-D "
        f"with shape {tuple(tensor.shape)} instead"
    )


def _check_number(
    component: object,
    parameter: str,
    value: object,
    *,
    minimum: float | None = None,
    strict: bool = False,
    maximum: float | None = None,
) -> float:
    """``float(value)`` for a finite real number within the bounds, else TypeError/ValueError.

    The bounds are ``value > minimum`` (``strict``) or ``value >= minimum``, and
    ``value <= maximum``. Shared by the initializers, regularizers and constraints.
    """
    owner = type(component).__name__
    if isinstance(value, bool) or not isinstance(value, Real):
        raise TypeError(
            f"{owner}: expected parameter {parameter!r} to be a real number, "
            f"got {type(value).__name__}"
        )
    number = float(value)
    too_low = minimum is not None and (number <= minimum if strict else number < minimum)
    too_high = maximum is not None and number > maximum
    if not math.isfinite(number) or too_low or too_high:
        expected = "a finite number"
        if minimum is not None:
            expected += f" {'>' if strict else '>='} {minimum:g}"
        if maximum is not None:
            expected += f"{' and' if minimum is not None else ''} <= {maximum:g}"
        raise ValueError(
            f"{owner}: expected parameter {parameter!r} to be {expected}, got {value!r}"
        )
    return number


@dataclass(frozen=True)
class TorchDefault(Initializer):
    """U(-1/√H, 1/√H) with H = hidden_size, as torch.nn.RNN/LSTM/GRU.reset_parameters."""

    name: ClassVar[str] = "torch_default"

    def __call__(self, tensor: Tensor, *, hidden_size: int) -> None:
        _check_hidden_size(self, hidden_size)
        bound = 1.0 / math.sqrt(hidden_size)
        with torch.no_grad():
            tensor.uniform_(-bound, bound)


@dataclass(frozen=True)
class UniformFanIn(Initializer):
    """U(-1/√n, 1/√n), n = fan_in = size(1) of a weight, n = hidden_size for a bias."""

    name: ClassVar[str] = "uniform_fan_in"

    def __call__(self, tensor: Tensor, *, hidden_size: int) -> None:
        _check_hidden_size(self, hidden_size)
        fan_in, _ = _fans(self, tensor)
        n = hidden_size if tensor.dim() == 1 else fan_in
        bound = 1.0 / math.sqrt(max(1, n))
        with torch.no_grad():
            tensor.uniform_(-bound, bound)


@dataclass(frozen=True)
class _VarianceScaling(Initializer):
    """Keras' VarianceScaling: variance ``scale / n``, n = fan_in or (fan_in + fan_out) / 2.

    Uniform: U(-l, l) with l = √(3 scale / n). Normal: N(0, s²) truncated at ±2s with
    s = √(scale / n) / 0.8796…, so the draws have standard deviation √(scale / n).
    """

    scale: ClassVar[float]
    mode: ClassVar[str]  # "fan_in" or "fan_avg"
    distribution: ClassVar[str]  # "uniform" or "truncated_normal"

    def __call__(self, tensor: Tensor, *, hidden_size: int) -> None:
        fan_in, fan_out = _fans(self, tensor)
        n = fan_in if self.mode == "fan_in" else (fan_in + fan_out) / 2.0
        variance = self.scale / max(1.0, n)
        with torch.no_grad():
            if self.distribution == "uniform":
                limit = math.sqrt(3.0 * variance)
                tensor.uniform_(-limit, limit)
            else:
                std = math.sqrt(variance) / _TRUNCATED_NORMAL_STD
                torch.nn.init.trunc_normal_(tensor, mean=0.0, std=std, a=-2 * std, b=2 * std)


@dataclass(frozen=True)
class GlorotUniform(_VarianceScaling):
    """U(-l, l), l = √(6 / (fan_in + fan_out)) (Keras' glorot_uniform)."""

    name: ClassVar[str] = "glorot_uniform"
    scale: ClassVar[float] = 1.0
    mode: ClassVar[str] = "fan_avg"
    distribution: ClassVar[str] = "uniform"


@dataclass(frozen=True)
class GlorotNormal(_VarianceScaling):
    """N(0, s²) truncated at ±2s, s = √(2 / (fan_in + fan_out)) / 0.8796… (Keras')."""

    name: ClassVar[str] = "glorot_normal"
    scale: ClassVar[float] = 1.0
    mode: ClassVar[str] = "fan_avg"
    distribution: ClassVar[str] = "truncated_normal"


@dataclass(frozen=True)
class HeUniform(_VarianceScaling):
    """U(-l, l), l = √(6 / fan_in) (Keras' he_uniform)."""

    name: ClassVar[str] = "he_uniform"
    scale: ClassVar[float] = 2.0
    mode: ClassVar[str] = "fan_in"
    distribution: ClassVar[str] = "uniform"


@dataclass(frozen=True)
class HeNormal(_VarianceScaling):
    """N(0, s²) truncated at ±2s, s = √(2 / fan_in) / 0.8796… (Keras' he_normal)."""

    name: ClassVar[str] = "he_normal"
    scale: ClassVar[float] = 2.0
    mode: ClassVar[str] = "fan_in"
    distribution: ClassVar[str] = "truncated_normal"


@dataclass(frozen=True)
class LecunUniform(_VarianceScaling):
    """U(-l, l), l = √(3 / fan_in) (Keras' lecun_uniform)."""

    name: ClassVar[str] = "lecun_uniform"
    scale: ClassVar[float] = 1.0
    mode: ClassVar[str] = "fan_in"
    distribution: ClassVar[str] = "uniform"


@dataclass(frozen=True)
class LecunNormal(_VarianceScaling):
    """N(0, s²) truncated at ±2s, s = √(1 / fan_in) / 0.8796… (Keras' lecun_normal)."""

    name: ClassVar[str] = "lecun_normal"
    scale: ClassVar[float] = 1.0
    mode: ClassVar[str] = "fan_in"
    distribution: ClassVar[str] = "truncated_normal"


@dataclass(frozen=True)
class Orthogonal(Initializer):
    """gain · Q: orthonormal columns for a tall (out ≥ in) matrix (WᵀW = gain² I), rows for a wide.

    On the stacked ``(G*H, H)`` recurrent weight this is Keras' orthogonal ``recurrent_kernel``
    (its ``(H, G*H)`` kernel has orthonormal rows, i.e. ours has orthonormal columns).
    """

    gain: float = 1.0
    name: ClassVar[str] = "orthogonal"

    def __post_init__(self) -> None:
        object.__setattr__(
            self, "gain", _check_number(self, "gain", self.gain, minimum=0.0, strict=True)
        )

    def __call__(self, tensor: Tensor, *, hidden_size: int) -> None:
        if tensor.dim() != 2:
            raise ValueError(
                f"Orthogonal: expected a 2-D tensor, got {tensor.dim()}-D with shape "
                f"{tuple(tensor.shape)} instead"
            )
        torch.nn.init.orthogonal_(tensor, gain=self.gain)


@dataclass(frozen=True)
class Zeros(Initializer):
    """0."""

    name: ClassVar[str] = "zeros"

    def __call__(self, tensor: Tensor, *, hidden_size: int) -> None:
        with torch.no_grad():
            tensor.zero_()


@dataclass(frozen=True)
class Ones(Initializer):
    """1."""

    name: ClassVar[str] = "ones"

    def __call__(self, tensor: Tensor, *, hidden_size: int) -> None:
        with torch.no_grad():
            tensor.fill_(1.0)


@dataclass(frozen=True)
class Uniform(Initializer):
    """U(-a, a), a > 0."""

    a: float
    name: ClassVar[str] = "uniform"

    def __post_init__(self) -> None:
        object.__setattr__(self, "a", _check_number(self, "a", self.a, minimum=0.0, strict=True))

    def __call__(self, tensor: Tensor, *, hidden_size: int) -> None:
        with torch.no_grad():
            tensor.uniform_(-self.a, self.a)


@dataclass(frozen=True)
class Normal(Initializer):
    """N(mean, std²), std > 0 (not truncated, as Keras' RandomNormal)."""

    std: float
    mean: float = 0.0
    name: ClassVar[str] = "normal"

    def __post_init__(self) -> None:
        object.__setattr__(
            self, "std", _check_number(self, "std", self.std, minimum=0.0, strict=True)
        )
        object.__setattr__(self, "mean", _check_number(self, "mean", self.mean))

    def __call__(self, tensor: Tensor, *, hidden_size: int) -> None:
        with torch.no_grad():
            tensor.normal_(self.mean, self.std)


@dataclass(frozen=True)
class Constant(Initializer):
    """value, any finite number."""

    value: float
    name: ClassVar[str] = "constant"

    def __post_init__(self) -> None:
        object.__setattr__(self, "value", _check_number(self, "value", self.value))

    def __call__(self, tensor: Tensor, *, hidden_size: int) -> None:
        with torch.no_grad():
            tensor.fill_(self.value)


_BY_NAME: dict[str, type[Initializer]] = {
    cls.name: cls
    for cls in (
        TorchDefault,
        UniformFanIn,
        GlorotUniform,
        GlorotNormal,
        HeUniform,
        HeNormal,
        LecunUniform,
        LecunNormal,
        Orthogonal,
        Zeros,
        Ones,
        Uniform,
        Normal,
        Constant,
    )
}

INITIALIZERS: tuple[str, ...] = tuple(sorted(_BY_NAME))
"""Every initializer name accepted by :func:`get_initializer` (sorted)."""


def _build_from_spec(
    kind: str,
    registry: Mapping[str, type[_Component]],
    spec: str | Mapping[str, Any],
    *,
    owner: str,
    argument: str,
) -> _Component:
    """Build a component from a name or a ``{"name": ..., **params}`` config.

    Shared by :func:`get_initializer` and the regularizer and constraint getters: ``kind`` is
    the component's kind in messages ("initializer"), ``registry`` maps each name to its frozen
    dataclass. Unknown names, unknown keys and missing parameters are errors, never ignored.
    """
    if isinstance(spec, str):
        name: object = spec
        params: dict[str, Any] = {}
    else:
        if "name" not in spec:
            raise ValueError(
                f"{owner}: expected the {kind} config of argument {argument!r} to have a 'name' "
                f"key, got keys {sorted(spec)}"
            )
        params = dict(spec)
        name = params.pop("name")
    if not isinstance(name, str):
        raise TypeError(
            f"{owner}: expected the {kind} name of argument {argument!r} to be a str, "
            f"got {type(name).__name__}"
        )
    if name not in registry:
        raise ValueError(
            f"{owner}: unknown {kind} {name!r} for argument {argument!r}; "
            f"expected one of: {', '.join(sorted(registry))}"
        )
    cls = registry[name]
    cls_fields = fields(cls)  # type: ignore[arg-type]
    field_names = [field.name for field in cls_fields]
    unknown = sorted(set(params) - set(field_names))
    if unknown:
        raise ValueError(
            f"{owner}: unknown parameter(s) {unknown} for {kind} {name!r} of argument "
            f"{argument!r}; expected some of: {field_names}"
        )
    missing = [f.name for f in cls_fields if f.default is MISSING and f.name not in params]
    if missing:
        raise ValueError(
            f"{owner}: {kind} {name!r} for argument {argument!r} needs parameter(s) {missing}, "
            f"e.g. {{'name': {name!r}, {missing[0]!r}: ...}}; got {spec!r}"
        )
    try:
        return cls(**params)
    except (TypeError, ValueError) as error:
        raise type(error)(f"{owner}: argument {argument!r}: {error}") from error


def get_initializer(
    spec: str | dict[str, Any] | Initializer,
    *,
    owner: str = "rnnkit",
    argument: str = "initializer",
) -> Initializer:
    """Build an initializer from a name, a config dict, or return an :class:`Initializer` as is.

    Args:
        spec: a name from :data:`INITIALIZERS` (``"uniform"``, ``"normal"`` and ``"constant"``
            need parameters, so only as a dict), a dict ``{"name": ..., **params}`` as written
            by :meth:`Initializer.to_config`, or an :class:`Initializer`.
        owner: the class or function asking, named in error messages.
        argument: the argument that carried ``spec``, named in error messages.

    Raises:
        ValueError: unknown name, missing ``"name"`` key, unknown or missing parameter, or a
            parameter out of range.
        TypeError: ``spec`` is of another type, or a parameter is not a number.
    """
    if isinstance(spec, Initializer):
        return spec
    if not isinstance(spec, (str, dict)):
        raise TypeError(
            f"{owner}: expected argument {argument!r} to be an initializer name (str), a config "
            f"dict or an Initializer, got {type(spec).__name__} instead"
        )
    return _build_from_spec("initializer", _BY_NAME, spec, owner=owner, argument=argument)
