"""Frozen configuration dataclasses: declared field checks, and plain dicts (what model
directories store).

A config declares what each field accepts with a field helper, and :class:`ValidatedConfig`
checks them all on construction, so every config refuses bad values with the same words::

    @dataclass(frozen=True)
    class TaggingData(ValidatedConfig):
        batch_size: int = positive_int(16)
        valid_fraction: float = probability(0.1)
        scheme: str = choice(("auto", "BIO", "BIOES"), "auto")

    TaggingData(batch_size=0)
    # ValueError: TaggingData: batch_size must be an int >= 1, got 0

A wrong type (``True`` or ``2.0`` for an int, ``"0.1"`` for a number) is a ``TypeError``; a
value of the right type outside the range or the choices is a ``ValueError``. Checks that
involve several fields stay explicit code in the subclass's ``__post_init__``, after
``super().__post_init__()``.
"""

from __future__ import annotations

import dataclasses
import math
import operator
from collections.abc import Callable, Mapping, Sequence
from dataclasses import MISSING, dataclass
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from typing_extensions import Self  # typing.Self needs Python 3.11

Config = TypeVar("Config")

CHECK = "rnnkit.check"  # the key of a field's Check in its dataclass metadata
_COMPARE = {">": operator.gt, ">=": operator.ge, "<": operator.lt, "<=": operator.le}


@dataclass(frozen=True)
class Check:
    """What one field accepts: a type test, a value test, and the words that state both."""

    expected: str
    has_type: Callable[[Any], bool]
    is_valid: Callable[[Any], bool]

    def __call__(self, owner: str, name: str, value: Any) -> None:
        """Raise ``TypeError``/``ValueError`` naming ``owner``, ``name``, expected and given."""
        if not self.has_type(value):
            raise TypeError(self.message(owner, name, value))
        if not self.is_valid(value):
            raise ValueError(self.message(owner, name, value))

    def message(self, owner: str, name: str, value: Any) -> str:
        return f"{owner}: {name} must be {self.expected}, got {value!r}"

    def or_none(self) -> Check:
        """The same check that also accepts ``None`` (an unset option)."""
        return Check(f"{self.expected} or None",
                     lambda value: value is None or self.has_type(value),
                     lambda value: value is None or self.is_valid(value))


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def int_check(minimum: int) -> Check:
    """An int (never a bool) ``>= minimum``."""
    return Check(f"an int >= {minimum}", _is_int, lambda value: value >= minimum)


def number_check(*, above: float | None = None, minimum: float | None = None,
                 below: float | None = None, maximum: float | None = None) -> Check:
    """A finite int or float within the given bounds (``above``/``below`` exclude the bound,
    ``minimum``/``maximum`` include it; give at most one of each pair); NaN and ±inf are
    refused."""
    bounds = [(symbol, limit) for symbol, limit in
              ((">", above), (">=", minimum), ("<", below), ("<=", maximum)) if limit is not None]
    return Check(_describe_bounds(bounds), _is_number,
                 lambda value: math.isfinite(value)
                 and all(_COMPARE[symbol](value, limit) for symbol, limit in bounds))


def _describe_bounds(bounds: list[tuple[str, float]]) -> str:
    """``a number in (0, 1]`` for an interval, else ``a finite number > 0``."""
    if len(bounds) == 2:
        (low_symbol, low), (high_symbol, high) = bounds
        opening = "(" if low_symbol == ">" else "["
        closing = ")" if high_symbol == "<" else "]"
        return f"a number in {opening}{low:g}, {high:g}{closing}"
    return "a finite number" + "".join(f" {symbol} {limit:g}" for symbol, limit in bounds)


def choice_check(options: Sequence[Any]) -> Check:
    """One of ``options`` (listed in the given order)."""
    listed = ", ".join(str(option) for option in options)
    return Check(f"one of {listed}", lambda value: True, lambda value: value in options)


BOOL = Check("a bool", lambda value: isinstance(value, bool), lambda value: True)
PROBABILITY = number_check(minimum=0.0, below=1.0)


def checked(check: Check, default: Any = MISSING, *, optional: bool = False) -> Any:
    """A dataclass field whose values ``check`` accepts (also ``None`` when ``optional``)."""
    return dataclasses.field(default=default,
                             metadata={CHECK: check.or_none() if optional else check})


def positive_int(default: Any = MISSING, *, optional: bool = False) -> Any:
    """A field holding an int >= 1 (a size, a count)."""
    return checked(int_check(1), default, optional=optional)


def at_least(minimum: int, default: Any = MISSING, *, optional: bool = False) -> Any:
    """A field holding an int >= ``minimum`` (``at_least(0)``: a count where 0 means none)."""
    return checked(int_check(minimum), default, optional=optional)


def probability(default: Any = MISSING) -> Any:
    """A field holding a probability in [0, 1) (dropout rates: 1 would drop everything)."""
    return checked(PROBABILITY, default)


def number(default: Any = MISSING, *, above: float | None = None, minimum: float | None = None,
           below: float | None = None, maximum: float | None = None,
           optional: bool = False) -> Any:
    """A field holding a finite number within bounds (see :func:`number_check`)."""
    check = number_check(above=above, minimum=minimum, below=below, maximum=maximum)
    return checked(check, default, optional=optional)


def choice(options: Sequence[Any], default: Any = MISSING) -> Any:
    """A field holding one of ``options``."""
    return checked(choice_check(tuple(options)), default)


def flag(default: Any = MISSING) -> Any:
    """A field holding a bool (``1`` or ``"yes"`` are refused, not taken as true)."""
    return checked(BOOL, default)


def config_from_dict(cls: type[Config], data: Mapping[str, Any]) -> Config:
    """Build ``cls(**data)``; a key that is not one of its fields is an error, never ignored."""
    known = {field.name for field in dataclasses.fields(cls)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ValueError(f"{cls.__name__}: unknown keys {unknown}; expected some of "
                         f"{sorted(known)}")
    return cls(**data)


def _plain(value: Any) -> Any:
    """``value`` as JSON holds it: configs as dicts, tuples as lists, mappings as dicts."""
    if isinstance(value, ValidatedConfig):
        return value.to_dict()
    if isinstance(value, (tuple, list)):
        return [_plain(item) for item in value]
    if isinstance(value, Mapping):
        return {key: _plain(item) for key, item in value.items()}
    return value


class ValidatedConfig:
    """Base of frozen config dataclasses: checks every declared field on construction, and
    converts to and from plain dicts (``from_dict`` refuses unknown keys)."""

    def __post_init__(self) -> None:
        owner = self._owner()
        for field in dataclasses.fields(self):  # type: ignore[arg-type]
            check = field.metadata.get(CHECK)
            if check is not None:
                check(owner, field.name, getattr(self, field.name))

    def _owner(self) -> str:
        """The name errors start with: the class, unless a subclass speaks for another."""
        return type(self).__name__

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable form; ``from_dict`` rebuilds an equal config."""
        return {field.name: _plain(getattr(self, field.name))
                for field in dataclasses.fields(self)}  # type: ignore[arg-type]

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Self:
        """``cls(**data)``; a key that is not a field is an error, never ignored."""
        return config_from_dict(cls, data)
