"""Frozen configuration dataclasses ↔ plain dicts (what model directories store)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, TypeVar

Config = TypeVar("Config")


def config_from_dict(cls: type[Config], data: Mapping[str, Any]) -> Config:
    """Build ``cls(**data)``; a key that is not one of its fields is an error, never ignored."""
    known = {field.name for field in dataclasses.fields(cls)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ValueError(f"{cls.__name__}: unknown keys {unknown}; expected some of "
                         f"{sorted(known)}")
    return cls(**data)
