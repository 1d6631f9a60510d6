"""Optional extras: :func:`require` imports a package that an extra of rnnkit installs, or
raises :class:`MissingExtra`, whose message names what needed it, the package and the
``pip install 'rnnkit[EXTRA]'`` that brings it. The command line prints that message as one
line (an ImportError of any other kind is a bug, and keeps its traceback).

It imports only the standard library, so every layer of the package may use it.
"""

from __future__ import annotations

import importlib
from types import ModuleType

__all__ = ["MissingExtra", "require"]


class MissingExtra(ImportError):
    """A package of an optional extra is not installed (or does not import).

    Attributes:
        purpose: what needed it ("ONNX export").
        package: the top-level package that did not import ("onnx").
        extra: the extra of rnnkit that installs it ("onnx").
    """

    def __init__(self, purpose: str, package: str, extra: str, reason: str = "") -> None:
        problem = f"which does not import ({reason})" if reason else "which is not installed"
        super().__init__(f"{purpose} needs {package}, {problem}: "
                         f"pip install 'rnnkit[{extra}]'", name=package)
        self.purpose = purpose
        self.package = package
        self.extra = extra


def require(module: str, extra: str, purpose: str) -> ModuleType:
    """``module`` imported (a package of the extra ``extra``, or a submodule of one), or a
    :class:`MissingExtra` saying that ``purpose`` needs it.

    The top-level package is imported first, so a package made unimportable
    (``sys.modules[name] = None``) is missing even where its submodules were loaded before.
    An installed package that fails to import (one of its own dependencies missing) is
    reported with that failure: reinstalling the extra is the fix for both.
    """
    package = module.partition(".")[0]
    try:
        importlib.import_module(package)
        return importlib.import_module(module)
    except ImportError as error:
        absent = isinstance(error, ModuleNotFoundError) and error.name is not None and \
            error.name.partition(".")[0] == package
        reason = "" if absent else str(error).splitlines()[0]
        raise MissingExtra(purpose, package, extra, reason) from error
