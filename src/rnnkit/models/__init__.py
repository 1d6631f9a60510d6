"""rnnkit.models: task models built from rnnkit.nn, and decoding."""

from rnnkit.models.attention import AttentionPooling, masked_softmax
from rnnkit.models.classifier import Classifier, ClassifierConfig, ClassifierOutput
from rnnkit.models.crf import CRF, allowed_transitions
from rnnkit.models.language_model import (
    LanguageModel,
    LanguageModelConfig,
    LMOutput,
    detach_state,
    map_state,
)
from rnnkit.models.sampling import SamplingConfig, filter_logits, generate
from rnnkit.models.tagger import Tagger, TaggerConfig, TaggerOutput

__all__ = [
    "CRF",
    "AttentionPooling",
    "Classifier",
    "ClassifierConfig",
    "ClassifierOutput",
    "LMOutput",
    "LanguageModel",
    "LanguageModelConfig",
    "SamplingConfig",
    "Tagger",
    "TaggerConfig",
    "TaggerOutput",
    "allowed_transitions",
    "detach_state",
    "filter_logits",
    "generate",
    "map_state",
    "masked_softmax",
]
