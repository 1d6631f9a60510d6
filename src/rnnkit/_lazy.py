"""Lazy exports of a package (PEP 562): :func:`lazy_exports` makes the module-level
``__getattr__`` and ``__dir__`` that import a name's module on first use, so a package can
list its public names without importing what they need (torch, onnx) until one is used.

It imports only the standard library, so every layer of the package may use it.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from importlib import import_module
from typing import Any

__all__ = ["lazy_exports"]


def lazy_exports(
    package: str,
    module_of: Mapping[str, str],
    computed: Mapping[str, Callable[[], Any]] | None = None,
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``(__getattr__, __dir__)`` for the package named ``package``.

    Args:
        package: the package's ``__name__``.
        module_of: each lazy name → the submodule (relative to ``package``) defining it;
            ``package.NAME`` is ``getattr(import_module(f"{package}.{module}"), NAME)``.
        computed: names whose value a function makes on first use (a submodule itself, a
            value built from several modules).

    A name is looked up once: its value is stored in the package's namespace, where Python
    finds it without calling ``__getattr__`` again. Any other name raises the
    AttributeError Python gives for a missing module attribute. ``__dir__`` lists the
    namespace, ``__all__`` and every lazy name.
    """
    computed = dict(computed or {})
    overlap = sorted(set(module_of) & set(computed))
    if overlap:
        raise ValueError(f"lazy_exports: {package}: names {overlap} are both in module_of "
                         "and in computed")

    def __getattr__(name: str) -> Any:
        if name in module_of:
            value = getattr(import_module(f"{package}.{module_of[name]}"), name)
        elif name in computed:
            value = computed[name]()
        else:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        setattr(sys.modules[package], name, value)
        return value

    def __dir__() -> list[str]:
        namespace = vars(sys.modules[package])
        return sorted(set(namespace) | set(namespace.get("__all__", ())) | set(module_of)
                      | set(computed))

    return __getattr__, __dir__
