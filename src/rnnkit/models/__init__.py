"""rnnkit.models: task models built from rnnkit.nn, and decoding."""

from rnnkit.models.language_model import (
    LanguageModel,
    LanguageModelConfig,
    LMOutput,
    detach_state,
    map_state,
)
from rnnkit.models.sampling import SamplingConfig, filter_logits, generate

__all__ = [
    "LMOutput",
    "LanguageModel",
    "LanguageModelConfig",
    "SamplingConfig",
    "detach_state",
    "filter_logits",
    "generate",
    "map_state",
]
