"""How a language model's next token is chosen (greedy, temperature, top-k, top-p, bans,
stop id): one frozen config that the torch sampler (:mod:`rnnkit.models.sampling`) and the
ONNX runtime's numpy sampler (:mod:`rnnkit.export.sampling`) both read. Torch-free."""

from __future__ import annotations

from dataclasses import dataclass

from rnnkit.configs import ValidatedConfig, flag, number, positive_int


@dataclass(frozen=True)
class SamplingConfig(ValidatedConfig):
    """``temperature`` divides the logits; ``top_k`` keeps the k most likely tokens; ``top_p``
    keeps the smallest set whose probability reaches p (nucleus sampling); ``greedy`` takes
    the argmax. ``stop_id`` ends a sample (it is not returned); ``banned_ids`` are never drawn.
    """

    max_new_tokens: int = positive_int(100)
    temperature: float = number(1.0, above=0)
    top_k: int | None = positive_int(None, optional=True)
    top_p: float | None = number(None, above=0, maximum=1, optional=True)
    greedy: bool = flag(False)
    stop_id: int | None = None
    banned_ids: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        super().__post_init__()
        object.__setattr__(self, "banned_ids", tuple(self.banned_ids))
