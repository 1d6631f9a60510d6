"""rnnkit.models: task models built from rnnkit.nn, and decoding."""

from rnnkit.models.attention import AttentionPooling, masked_softmax
from rnnkit.models.classifier import Classifier, ClassifierConfig, ClassifierOutput
from rnnkit.models.language_model import (
    LanguageModel,
    LanguageModelConfig,
    LMOutput,
    detach_state,
    map_state,
)
from rnnkit.models.sampling import SamplingConfig, filter_logits, generate

__all__ = [
    "AttentionPooling",
    "Classifier",
    "ClassifierConfig",
    "ClassifierOutput",
    "LMOutput",
    "LanguageModel",
    "LanguageModelConfig",
    "SamplingConfig",
    "detach_state",
    "filter_logits",
    "generate",
    "map_state",
]
