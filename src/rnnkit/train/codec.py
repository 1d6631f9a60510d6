"""Nested Python state (dicts, lists, numbers, strings, tensors) as JSON plus named tensors.

Optimizer and scheduler state dicts, RNG states and carried hidden states go through this to
a safetensors file: no pickle anywhere. Dicts keep non-string keys (optimizers key their
state by int).
"""

from __future__ import annotations

from typing import Any

import torch

_TENSOR, _DICT, _TUPLE = "__tensor__", "__dict__", "__tuple__"


def encode(value: Any, tensors: dict[str, torch.Tensor], prefix: str) -> Any:
    """A JSON-able form of ``value``; tensors are moved into ``tensors`` under ``prefix…``."""
    if isinstance(value, torch.Tensor):
        name = f"{prefix}{len(tensors)}"
        tensors[name] = value
        return {_TENSOR: name}
    if isinstance(value, dict):
        return {_DICT: [[encode(k, tensors, prefix), encode(v, tensors, prefix)]
                        for k, v in value.items()]}
    if isinstance(value, tuple):
        return {_TUPLE: [encode(v, tensors, prefix) for v in value]}
    if isinstance(value, list):
        return [encode(v, tensors, prefix) for v in value]
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise TypeError(f"codec.encode: cannot store a {type(value).__name__}")


def decode(value: Any, tensors: dict[str, torch.Tensor]) -> Any:
    """Invert :func:`encode`."""
    if isinstance(value, dict):
        if _TENSOR in value:
            return tensors[value[_TENSOR]]
        if _DICT in value:
            return {decode(k, tensors): decode(v, tensors) for k, v in value[_DICT]}
        if _TUPLE in value:
            return tuple(decode(v, tensors) for v in value[_TUPLE])
    if isinstance(value, list):
        return [decode(v, tensors) for v in value]
    return value
