"""The server's settings (limits, batching, the API key) and the models it serves."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rnnkit.tasks.contract import Pipeline

_POSITIVE_INTS = ("max_body_bytes", "max_texts", "max_text_chars", "max_n", "max_tokens",
                  "max_beam_width", "max_batch")


@dataclass(frozen=True)
class ServeSettings:
    """What one server accepts and how it batches; every limit is a flag of ``rnnkit serve``.

    A request over a limit is refused with a 4xx naming the limit, before it reaches a model.
    """

    api_key: str | None = None
    """A bearer token every request must carry (``Authorization: Bearer …``); None: open."""
    max_body_bytes: int = 1_000_000
    """The largest request body, in bytes."""
    max_texts: int = 64
    """The most texts (or prompts) in one request."""
    max_text_chars: int = 5_000
    """The longest text (or prompt), in characters."""
    max_n: int = 8
    """The most samples per prompt (generate's ``n``)."""
    max_tokens: int = 1000
    """The most tokens one output may have (generate's ``max_tokens``, translate's
    ``max_length``). A character model's token is a character: a tune in ABC runs to 200-600
    of them and ``rnnkit generate`` gives it 1,000, so the server allows as many (a tune's
    sample stops at its end; only one that runs on uses them all)."""
    max_beam_width: int = 8
    """The widest beam (translate's ``beam_width``)."""
    max_batch: int = 32
    """The most texts one batched pipeline call takes."""
    max_wait_ms: float = 5.0
    """How long a batch waits for more requests after its first, in milliseconds."""

    def __post_init__(self) -> None:
        for name in _POSITIVE_INTS:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"ServeSettings: {name} must be an int >= 1, got {value!r}")
        if isinstance(self.max_wait_ms, bool) or not isinstance(self.max_wait_ms, int | float) \
                or not math.isfinite(self.max_wait_ms) or not 0 <= self.max_wait_ms <= 10_000:
            raise ValueError(f"ServeSettings: max_wait_ms must be from 0 to 10000, got "
                             f"{self.max_wait_ms!r}")
        if self.api_key is not None and (not isinstance(self.api_key, str)
                                         or not self.api_key.strip()
                                         or not self.api_key.isascii()):
            raise ValueError("ServeSettings: api_key must be a non-empty ASCII string "
                             "(or None for no key)")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def model_names(directories: Sequence[str | Path]) -> list[str]:
    """The name each model directory is served under: its basename. Two directories with
    one basename are a ValueError naming both."""
    if not directories:
        raise ValueError("serve: expected at least one model directory, got none")
    seen: dict[str, Path] = {}
    for directory in map(Path, directories):
        name = directory.resolve().name if directory.name in ("", ".", "..") else directory.name
        if name in seen:
            raise ValueError(f"serve: {seen[name]} and {directory} would both be served as "
                             f"{name!r}; models are named after their directories' basenames, "
                             "so give them different names")
        seen[name] = directory
    return list(seen)


def load_models(directories: Sequence[str | Path], device: str | None = None
                ) -> dict[str, Pipeline]:
    """The pipeline of each model or export directory, by the name it is served under."""
    from rnnkit.loading import load

    names = model_names(directories)
    return {name: load(directory, device) for name, directory in zip(names, directories)}
