"""rnnkit.models: task models built from rnnkit.nn, and decoding."""

from rnnkit.models.attention import (
    AdditiveAttention,
    AttentionPooling,
    MultiplicativeAttention,
    masked_softmax,
)
from rnnkit.models.classifier import Classifier, ClassifierConfig, ClassifierOutput
from rnnkit.models.crf import CRF, allowed_transitions
from rnnkit.models.language_model import (
    LanguageModel,
    LanguageModelConfig,
    LMOutput,
    detach_state,
    map_state,
)
from rnnkit.models.sampling import (
    SamplingConfig,
    filter_logits,
    generate,
    next_tokens,
    sample_steps,
)
from rnnkit.models.seq2seq import Seq2Seq, Seq2SeqConfig, Seq2SeqOutput, beam_search
from rnnkit.models.tagger import Tagger, TaggerConfig, TaggerOutput

__all__ = [
    "CRF",
    "AdditiveAttention",
    "AttentionPooling",
    "Classifier",
    "ClassifierConfig",
    "ClassifierOutput",
    "LMOutput",
    "LanguageModel",
    "LanguageModelConfig",
    "MultiplicativeAttention",
    "SamplingConfig",
    "Seq2Seq",
    "Seq2SeqConfig",
    "Seq2SeqOutput",
    "Tagger",
    "TaggerConfig",
    "TaggerOutput",
    "allowed_transitions",
    "beam_search",
    "detach_state",
    "filter_logits",
    "generate",
    "map_state",
    "masked_softmax",
    "next_tokens",
    "sample_steps",
]
