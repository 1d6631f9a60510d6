"""Hand-written backwards that cannot be differentiated again, and say so.

``torch.autograd.function.once_differentiable`` raises on a second differentiation only when
the incoming gradients themselves require grad; for ``grad(f(x).sum(), x, create_graph=True)``
they do not, so the second derivative silently leaves out every path through the Function
(wrong values, or "appears to not have been used in the graph"). A backward wrapped here
raises instead whenever autograd asks it to build a graph (``create_graph=True``), naming what
serves that.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import torch

BPTT_FIX = "run the layer with impl='reference' for higher-order gradients"


def first_order(owner: str, fix: str) -> Callable[[Callable], Callable]:
    """Decorate a ``torch.autograd.Function.backward``: it runs without grad as usual, and
    raises ``RuntimeError`` naming ``owner`` and ``fix`` under ``create_graph=True``."""

    def wrap(backward: Callable) -> Callable:
        @functools.wraps(backward)
        def checked(ctx, *grads):
            if torch.is_grad_enabled():  # the engine enables grad only for create_graph=True
                raise RuntimeError(
                    f"{owner}: its backward cannot be differentiated again (create_graph=True "
                    f"asked for that); {fix}")
            return backward(ctx, *grads)
        return checked
    return wrap
