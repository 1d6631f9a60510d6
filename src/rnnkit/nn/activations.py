"""Element-wise activations of the recurrent cells, each with its derivative written from its output.

A cell's forward pass calls ``activation(x)``; the hand-written backward through time
(``bptt`` kernel) keeps only the outputs ``y`` of each step and needs ``dy/dx`` from ``y``
alone, which ``grad_from_output(y)`` gives. Away from the kinks of ``relu`` and the hard
sigmoids the two agree with autograd exactly.

Names follow Keras; ``hard_sigmoid_v2`` is Keras 2's hard sigmoid (also the seed article's):

================  ============================  =====================================
name              y = f(x)                      dy/dx from y
================  ============================  =====================================
sigmoid           1 / (1 + e^(-x))              y (1 - y)
tanh              tanh(x)                       1 - y²
relu              max(x, 0)                     1 if y > 0 else 0
linear            x                             1
softsign          x / (1 + |x|)                 (1 - |y|)²
hard_sigmoid      relu6(x + 3) / 6              1/6 if 0 < y < 1 else 0
hard_sigmoid_v2   clip(0.2 x + 0.5, 0, 1)       0.2 if 0 < y < 1 else 0
================  ============================  =====================================

Example:
    >>> import torch
    >>> act = get_activation("tanh")
    >>> y = act(torch.zeros(2))
    >>> act.grad_from_output(y)
    tensor([1., 1.])
"""

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["ACTIVATIONS", "Activation", "builtin_name", "get_activation"]


@dataclass(frozen=True)
class Activation:
    """A named element-wise function ``y = fn(x)`` and its derivative written from ``y``.

    Attributes:
        name: the key of the activation in :data:`ACTIVATIONS`.
        fn: ``y = f(x)``, built from torch ops so autograd differentiates it.
        grad_from_output: ``dy/dx`` as a function of ``y`` alone, for hand-written BPTT.
    """

    name: str
    fn: Callable[[Tensor], Tensor]
    grad_from_output: Callable[[Tensor], Tensor]

    def __call__(self, x: Tensor) -> Tensor:
        """Apply ``fn`` to ``x``."""
        return self.fn(x)


def _sigmoid_grad(y: Tensor) -> Tensor:
    """σ'(x) = y (1 - y) with y = σ(x) = 1 / (1 + e^(-x))."""
    return y * (1.0 - y)


def _tanh_grad(y: Tensor) -> Tensor:
    """tanh'(x) = 1 - y² with y = tanh(x)."""
    return 1.0 - y * y


def _relu_grad(y: Tensor) -> Tensor:
    """relu'(x) = 1 where y > 0 else 0, with y = max(x, 0)."""
    return (y > 0).to(y.dtype)


def _linear(x: Tensor) -> Tensor:
    """y = x."""
    return x


def _linear_grad(y: Tensor) -> Tensor:
    """linear'(x) = 1."""
    return torch.ones_like(y)


def _softsign_grad(y: Tensor) -> Tensor:
    """softsign'(x) = 1 / (1 + |x|)² = (1 - |y|)² with y = x / (1 + |x|)."""
    return (1.0 - y.abs()).square()


def _hard_sigmoid(x: Tensor) -> Tensor:
    """y = relu6(x + 3) / 6 = clip(x / 6 + 1/2, 0, 1) (Keras 3's hard_sigmoid).

    Not ``F.hardsigmoid``: its values are the same, but its backward multiplies by a float32
    1/6 even in float64, 3e-8 off the exact derivative that ``grad_from_output`` gives.
    """
    return F.relu6(x + 3.0) / 6.0


def _hard_sigmoid_grad(y: Tensor) -> Tensor:
    """hard_sigmoid'(x) = 1/6 where 0 < y < 1 (i.e. -3 < x < 3) else 0."""
    return ((y > 0) & (y < 1)).to(y.dtype) / 6.0


def _hard_sigmoid_v2(x: Tensor) -> Tensor:
    """y = clip(0.2 x + 0.5, 0, 1) (Keras 2's hard_sigmoid, the seed article's)."""
    return torch.clamp(0.2 * x + 0.5, 0.0, 1.0)


def _hard_sigmoid_v2_grad(y: Tensor) -> Tensor:
    """hard_sigmoid_v2'(x) = 0.2 where 0 < y < 1 (i.e. -2.5 < x < 2.5) else 0."""
    return ((y > 0) & (y < 1)).to(y.dtype) * 0.2


ACTIVATIONS: Mapping[str, Activation] = MappingProxyType(
    {
        activation.name: activation
        for activation in (
            Activation("sigmoid", torch.sigmoid, _sigmoid_grad),
            Activation("tanh", torch.tanh, _tanh_grad),
            Activation("relu", torch.relu, _relu_grad),
            Activation("linear", _linear, _linear_grad),
            Activation("softsign", F.softsign, _softsign_grad),
            Activation("hard_sigmoid", _hard_sigmoid, _hard_sigmoid_grad),
            Activation("hard_sigmoid_v2", _hard_sigmoid_v2, _hard_sigmoid_v2_grad),
        )
    }
)
"""Every activation by name (read-only)."""


def get_activation(
    name: str | Activation, *, owner: str = "rnnkit", argument: str = "activation"
) -> Activation:
    """Resolve an activation given by name, or return an :class:`Activation` unchanged.

    Args:
        name: a key of :data:`ACTIVATIONS` or an :class:`Activation`.
        owner: the class or function asking, named in error messages.
        argument: the argument that carried ``name``, named in error messages.

    Raises:
        ValueError: ``name`` is a string that is not a key of :data:`ACTIVATIONS`.
        TypeError: ``name`` is neither a string nor an :class:`Activation`.
    """
    if isinstance(name, Activation):
        return name
    if not isinstance(name, str):
        raise TypeError(
            f"{owner}: expected argument {argument!r} to be an activation name (str) or an "
            f"Activation, got {type(name).__name__} instead"
        )
    try:
        return ACTIVATIONS[name]
    except KeyError:
        raise ValueError(
            f"{owner}: unknown activation {name!r} for argument {argument!r}; "
            f"expected one of: {', '.join(sorted(ACTIVATIONS))}"
        ) from None


def builtin_name(activation: Activation) -> str | None:
    """``activation``'s name when it is the built-in one of that name, else ``None``.

    A user's :class:`Activation` may reuse a built-in's name with other functions; code that
    specialises by name (fused kernels, saving a config) must ask this, not ``.name``.
    """
    return activation.name if ACTIVATIONS.get(activation.name) == activation else None
