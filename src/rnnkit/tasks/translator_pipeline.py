"""The translator's pipeline, torch-free: texts in, translations (with attention) and BLEU
out. The numbers come from a :class:`TranslatorBackend` — the torch model's greedy and beam
search (:class:`rnnkit.tasks.translation.TorchTranslatorBackend`) or the same searches in numpy
over an exported encoder and decoder-step graph on onnxruntime
(:mod:`rnnkit.export.runtime_translator`)."""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple, Protocol

import numpy as np

from rnnkit.configs import ValidatedConfig, choice, flag, positive_int
from rnnkit.data.arrays import lengths_array, pad_array
from rnnkit.data.readers import read_pairs
from rnnkit.tasks.common import check_held_out_fraction, ordered_batches
from rnnkit.tasks.pipeline import Pipeline
from rnnkit.text import Tokenizer, Vocab, get_tokenizer

TASK = "translate"
SOURCE_VOCAB = "source_vocab.json"
TARGET_VOCAB = "target_vocab.json"
TOKENIZER_NAMES = ("word", "whitespace", "char", "chinese", "auto")


@dataclass(frozen=True)
class TranslationData(ValidatedConfig):
    """Where the pairs come from and how they become batches (config.json ``data``).

    ``bleu_tokenize`` is sacrebleu's tokenizer for the references (``zh`` for Chinese, ``13a``
    for English-like targets). Without ``valid`` a seeded ``valid_fraction`` is held out.
    """

    train: str
    valid: str | None = None
    source_tokenizer: str = choice(TOKENIZER_NAMES, "word")
    target_tokenizer: str = choice(TOKENIZER_NAMES, "char")
    lowercase_source: bool = flag(True)
    max_source_length: int = positive_int(50)
    max_target_length: int = positive_int(60)
    min_freq: int = positive_int(1)
    batch_size: int = positive_int(64)
    valid_fraction: float = 0.1
    split_seed: int = 0
    bleu_tokenize: str = "zh"
    valid_bleu_sentences: int = positive_int(500)

    def __post_init__(self) -> None:
        super().__post_init__()
        check_held_out_fraction(self)

    def tokenizers(self) -> tuple[Tokenizer, Tokenizer]:
        source = (get_tokenizer(self.source_tokenizer, lowercase=self.lowercase_source)
                  if self.source_tokenizer in ("word", "auto")
                  else get_tokenizer(self.source_tokenizer))
        return source, get_tokenizer(self.target_tokenizer)


def read_translation_pairs(path: str | Path) -> list[tuple[str, str]]:
    """The ``(source, target)`` pairs of a file; an empty side is an error."""
    pairs = list(read_pairs(path))
    for number, (source, target) in enumerate(pairs, start=1):
        if not source.strip() or not target.strip():
            side = "source" if not source.strip() else "target"
            raise ValueError(f"{path}: pair {number} has an empty {side}")
    return pairs


def encode_sources(texts: Sequence[str], tokenizer: Tokenizer, vocab: Vocab,
                   max_length: int, source: str) -> list[list[int]]:
    """Source ids, cut to ``max_length`` tokens with a warning; an empty text is an error."""
    encoded, cut = [], 0
    for number, text in enumerate(texts, start=1):
        tokens = tokenizer.tokenize(text)
        if not tokens:
            raise ValueError(f"{source}: text {number} has no tokens (empty text)")
        cut += len(tokens) > max_length
        encoded.append(vocab.encode(tokens[:max_length]))
    if cut:
        warnings.warn(f"{source}: {cut} of {len(texts)} source texts are longer than "
                      f"max_source_length={max_length} tokens and were cut", stacklevel=2)
    return encoded


class Vocabularies(NamedTuple):
    source: Vocab
    target: Vocab


def bleu(hypotheses: Sequence[str], references: Sequence[str], tokenize: str) -> float:
    """Corpus BLEU (sacrebleu) of detokenized hypotheses against one reference each."""
    # sacrebleu imports lxml, portalocker and more (~0.1 s): loaded where BLEU is asked for,
    # not by every command that imports the tasks
    import sacrebleu

    return float(sacrebleu.corpus_bleu(list(hypotheses), [list(references)],
                                       tokenize=tokenize).score)


def detokenize_all(outputs: Sequence[list[int]], vocab: Vocab,
                   tokenizer: Tokenizer) -> list[str]:
    """The texts of target id lists."""
    return [tokenizer.detokenize(vocab.decode(ids)) for ids in outputs]


def read_vocabularies(directory: Path) -> Vocabularies:
    """A translator directory's source and target vocabularies."""
    return Vocabularies(Vocab.load(directory / SOURCE_VOCAB),
                        Vocab.load(directory / TARGET_VOCAB))


class TranslatorBackend(Protocol):
    """What computes for a :class:`TranslatorPipeline`."""

    device: Any
    parameter_count: int

    def decode(self, source: np.ndarray, lengths: np.ndarray, max_length: int,
               beam_width: int, length_penalty: float) -> list[list[int]]:
        """Target ids (without ``<s>`` and ``</s>``) of each row of ``source (B, S)`` padded
        with 0, ``lengths (B,)``: greedy for ``beam_width=1``, else beam search, as
        ``Seq2Seq.greedy`` and ``Seq2Seq.beam_search`` decode."""

    def attention(self, source_ids: list[int], output: list[int]) -> np.ndarray:
        """``(T + 1, S)``: the decoder's attention while it produces ``output`` then
        ``</s>`` (teacher-forced on ``output``, which is what decoding fed it)."""


def translate_ids(backend: TranslatorBackend, sources: Sequence[list[int]], max_length: int,
                  beam_width: int = 1, length_penalty: float = 1.0,
                  batch_size: int = 64) -> list[list[int]]:
    """Target ids per source (greedy for ``beam_width=1``), in input order."""
    outputs: list[list[int]] = [[] for _ in sources]
    for indices in ordered_batches(sources, batch_size):
        chosen = [sources[i] for i in indices]
        decoded = backend.decode(pad_array(chosen), lengths_array(chosen),  # (B, S), (B,)
                                 max_length, beam_width, length_penalty)
        for index, ids in zip(indices, decoded):
            outputs[index] = ids
    return outputs


class Translation(NamedTuple):
    """A translation with what produced it: the target tokens, the source tokens, and the
    attention weights ``(T, S)`` (row t: the weights while producing target token t, the
    last row for ``</s>``)."""

    text: str
    tokens: list[str]
    source_tokens: list[str]
    attention: np.ndarray


class TranslatorPipeline(Pipeline):
    """Translate texts (greedy or beam search), optionally with the attention weights."""

    task = TASK

    def __init__(self, directory: Path, config: dict[str, Any], backend: TranslatorBackend,
                 vocabs: Vocabularies) -> None:
        super().__init__(directory, config, backend=backend)
        self.vocabs = vocabs
        self.data = TranslationData(**config["data"])

    @property
    def vocabulary_sizes(self) -> dict[str, int]:
        return {"source": len(self.vocabs.source), "target": len(self.vocabs.target)}

    def translate(self, texts: str | Sequence[str], beam_width: int = 1,
                  length_penalty: float = 1.0, max_length: int | None = None,
                  return_attention: bool = False, source: str = "input"
                  ) -> str | Translation | list[str] | list[Translation]:
        """Translations of ``texts`` (greedy for ``beam_width=1``), at most ``max_length``
        target tokens (default: the training limit); with ``return_attention``, each as a
        :class:`Translation`. A string gives one result, a list a list."""
        batch = [texts] if isinstance(texts, str) else list(texts)
        if not batch:
            raise ValueError(f"{source}: no texts to translate (the input is empty)")
        if isinstance(beam_width, bool) or not isinstance(beam_width, int) or beam_width < 1:
            raise ValueError(f"translate: beam_width must be an int >= 1, got {beam_width!r}")
        if max_length is not None and (isinstance(max_length, bool) or
                                       not isinstance(max_length, int) or max_length < 1):
            raise ValueError(f"translate: max_length must be an int >= 1 (or None for the "
                             f"training limit), got {max_length!r}")
        if isinstance(length_penalty, bool) or not isinstance(length_penalty, int | float) or \
                not math.isfinite(length_penalty) or length_penalty < 0:
            raise ValueError(f"translate: length_penalty must be a finite number >= 0, got "
                             f"{length_penalty!r}")
        data = self.data
        source_tokenizer, target_tokenizer = data.tokenizers()
        ids = encode_sources(batch, source_tokenizer, self.vocabs.source,
                             data.max_source_length, source)
        limit = data.max_target_length if max_length is None else max_length
        outputs = translate_ids(self.backend, ids, limit,
                                beam_width, length_penalty)
        texts_out = detokenize_all(outputs, self.vocabs.target, target_tokenizer)
        if not return_attention:
            return texts_out[0] if isinstance(texts, str) else texts_out
        results = [Translation(text, self.vocabs.target.decode(output),
                               self.vocabs.source.decode(source_ids),
                               self.backend.attention(source_ids, output))
                   for text, output, source_ids in zip(texts_out, outputs, ids)]
        return results[0] if isinstance(texts, str) else results

    def evaluate(self, path: str | Path, beam_width: int = 1,
                 length_penalty: float = 1.0) -> dict[str, Any]:
        """Corpus BLEU of the translations of a pairs file, and a few samples."""
        pairs = read_translation_pairs(path)
        hypotheses = self.translate([s for s, _ in pairs], beam_width, length_penalty,
                                    source=str(path))
        references = [t for _, t in pairs]
        return {"bleu": bleu(hypotheses, references, self.data.bleu_tokenize),
                "beam_width": beam_width, "length_penalty": length_penalty,
                "pairs": len(pairs),
                "samples": [{"source": s, "reference": r, "output": h}
                            for (s, r), h in list(zip(pairs, hypotheses))[:10]]}
