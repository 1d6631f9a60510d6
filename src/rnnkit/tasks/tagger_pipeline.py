"""The tagger's pipeline, torch-free: texts or token lists in, tags and entities out, and the
metrics of a CoNLL file. The numbers come from a :class:`TaggerBackend` — the torch model
(:class:`rnnkit.tasks.tagging.TorchTaggerBackend`) or an exported graph on onnxruntime with
Viterbi in numpy (:mod:`rnnkit.export.runtime_tagger`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple, Protocol

import numpy as np

from rnnkit.configs import ValidatedConfig, flag, positive_int
from rnnkit.data.arrays import lengths_array, pad_array, pad_nested_array
from rnnkit.data.readers import read_conll
from rnnkit.tasks.common import (
    check_held_out_fraction,
    label_ids,
    ordered_batches,
    read_string_list,
)
from rnnkit.tasks.pipeline import Pipeline
from rnnkit.text import Vocab, get_tokenizer
from rnnkit.train.directory import VOCAB_FILE

TASK = "tag"
CHARS_FILE = "chars.json"
TAGS_FILE = "tags.json"


@dataclass(frozen=True)
class TaggingData(ValidatedConfig):
    """Where the sentences come from and how they become batches (config.json ``data``).

    ``lowercase`` lowercases the word-embedding input (the characters keep their case).
    Without ``valid``, a ``valid_fraction`` of the sentences (seeded) is held out.
    """

    train: str
    valid: str | None = None
    token_column: int = 0
    tag_column: int = -1
    lowercase: bool = flag(False)
    max_word_length: int = positive_int(20)
    max_vocab: int | None = positive_int(None, optional=True)
    min_freq: int = positive_int(1)
    batch_size: int = positive_int(16)
    valid_fraction: float = 0.1
    split_seed: int = 0

    def __post_init__(self) -> None:
        super().__post_init__()
        check_held_out_fraction(self)


class Encoded(NamedTuple):
    """Sentences as ids: ``words`` and ``chars`` (per word) lists, ``tags`` (empty lists when
    the tags are unknown)."""

    words: list[list[int]]
    chars: list[list[list[int]]]
    tags: list[list[int]]


class Vocabularies(NamedTuple):
    words: Vocab
    chars: Vocab
    tags: list[str]


def read_vocabularies(directory: Path) -> Vocabularies:
    """A tagger directory's word and character vocabularies and its tags."""
    return Vocabularies(Vocab.load(directory / VOCAB_FILE), Vocab.load(directory / CHARS_FILE),
                        read_string_list(directory / TAGS_FILE, "tag"))


def encode_sentences(sentences: Sequence[Sequence[str]], vocabs: Vocabularies,
                     data: TaggingData) -> tuple[list[list[int]], list[list[list[int]]]]:
    """Word ids and per-word character ids of tokenized sentences."""
    words, chars = [], []
    for tokens in sentences:
        words.append(vocabs.words.encode([t.lower() if data.lowercase else t for t in tokens]))
        chars.append([vocabs.chars.encode(list(token[:data.max_word_length]))
                      for token in tokens])
    return words, chars


def encode_tagged(sentences: Sequence[tuple[list[str], list[str]]], vocabs: Vocabularies,
                  data: TaggingData, source: str) -> Encoded:
    """Tagged sentences as ids; a tag training never saw is an error naming ``source``."""
    words, chars = encode_sentences([tokens for tokens, _ in sentences], vocabs, data)
    tags = [label_ids(tags, vocabs.tags, source) for _, tags in sentences]
    return Encoded(words, chars, tags)


class TaggerBackend(Protocol):
    """What computes for a :class:`TaggerPipeline`, one padded batch at a time: ``words (B,
    T)`` and ``chars (B, T, W)`` padded with 0, ``lengths (B,)``."""

    device: Any
    parameter_count: int
    loss_unit: str
    """What the mean loss is over: ``sentences`` (a CRF) or ``tokens`` (a softmax)."""

    def decode(self, words: np.ndarray, lengths: np.ndarray,
               chars: np.ndarray) -> list[list[int]]:
        """The best tag ids of each sentence, cut to its length."""

    def loss(self, words: np.ndarray, lengths: np.ndarray, chars: np.ndarray,
             tags: np.ndarray) -> float:
        """The mean loss of gold ``tags (B, T)`` over :attr:`loss_unit`."""


def _batch(encoded: Encoded, indices: Sequence[int]
           ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    words = [encoded.words[i] for i in indices]
    return (pad_array(words), lengths_array(words),  # (B, T), (B,)
            pad_nested_array([encoded.chars[i] for i in indices]))  # (B, T, W)


def decode_all(backend: TaggerBackend, words: list[list[int]], chars: list[list[list[int]]],
               batch_size: int = 64) -> list[list[int]]:
    """Best tag ids of every sentence, in input order."""
    encoded = Encoded(words, chars, [])
    paths: list[list[int]] = [[] for _ in words]
    for indices in ordered_batches(words, batch_size):
        for index, path in zip(indices, backend.decode(*_batch(encoded, indices))):
            paths[index] = path
    return paths


def loss_sum(backend: TaggerBackend, encoded: Encoded,
             batch_size: int = 64) -> tuple[float, int]:
    """The loss summed over the sentences' :attr:`TaggerBackend.loss_unit` and how many
    there are (the mean loss is ``sum / count``), so that shares of a set can be added."""
    total, count = 0.0, 0
    for indices in ordered_batches(encoded.words, batch_size):
        words, lengths, chars = _batch(encoded, indices)
        gold = pad_array([encoded.tags[i] for i in indices])  # (B, T)
        items = len(indices) if backend.loss_unit == "sentences" else int(lengths.sum())
        total += backend.loss(words, lengths, chars, gold) * items  # mean * count = sum
        count += items
    return total, count


def report_of(gold: Sequence[Sequence[int]], predicted: Sequence[Sequence[int]], loss: float,
              tags: Sequence[str]) -> dict[str, Any]:
    """``loss``, token accuracy and entity-level precision/recall/F1 (seqeval, as conlleval)
    with the per-type report, of ``predicted`` tag ids against ``gold`` (one list a
    sentence)."""
    # seqeval imports scikit-learn (~1 s): loaded where a score is asked for, not with rnnkit
    from seqeval.metrics import classification_report as entity_report
    from seqeval.metrics import f1_score, precision_score, recall_score

    gold_names = [[tags[i] for i in sentence] for sentence in gold]
    predicted_names = [[tags[i] for i in sentence] for sentence in predicted]
    correct = sum(g == p for gs, ps in zip(gold, predicted) for g, p in zip(gs, ps))
    report = entity_report(gold_names, predicted_names, output_dict=True, zero_division=0)
    return {
        "loss": loss,
        "precision": float(precision_score(gold_names, predicted_names, zero_division=0)),
        "recall": float(recall_score(gold_names, predicted_names, zero_division=0)),
        "f1": float(f1_score(gold_names, predicted_names, zero_division=0)),
        "token_accuracy": correct / sum(map(len, gold)),
        "per_type": {name: {key: float(value) for key, value in row.items()}
                     for name, row in report.items()},
    }


def score(backend: TaggerBackend, encoded: Encoded, tags: Sequence[str],
          batch_size: int = 64) -> dict[str, Any]:
    """Mean loss, token accuracy and entity-level precision/recall/F1 (seqeval, as conlleval)
    with the per-type report."""
    total, count = loss_sum(backend, encoded, batch_size)
    predicted = decode_all(backend, encoded.words, encoded.chars, batch_size)
    return report_of(encoded.tags, predicted, total / count, tags)


class Entity(NamedTuple):
    """A tagged span: its type, its text, and where it stands — tokens ``[first, last]`` and
    characters ``[start, end)`` of the input text (``None`` where the tokens were given)."""

    type: str
    text: str
    first: int
    last: int
    start: int | None
    end: int | None


class TaggedText(NamedTuple):
    tokens: list[str]
    tags: list[str]
    entities: list[Entity]


def token_offsets(text: str, tokens: Sequence[str]) -> list[tuple[int, int]] | None:
    """``(start, end)`` of each token in ``text``, found left to right; None when a token
    is not in the text as it stands (a tokenizer that rewrote it)."""
    offsets, position = [], 0
    for token in tokens:
        start = text.find(token, position)
        if start < 0:
            return None
        position = start + len(token)
        offsets.append((start, position))
    return offsets


class TaggerPipeline(Pipeline):
    """Tag texts (split into words by the English word tokenizer) or token lists; the
    entities are the tags' spans (BIO/BIOES, seqeval's reading)."""

    task = TASK

    def __init__(self, directory: Path, config: dict[str, Any], backend: TaggerBackend,
                 vocabs: Vocabularies) -> None:
        super().__init__(directory, config, backend=backend)
        self.vocabs = vocabs
        self.data = TaggingData(**config["data"])
        self.tokenizer = get_tokenizer("word")

    @property
    def labels(self) -> list[str]:
        """The tags the model knows."""
        return list(self.vocabs.tags)

    @property
    def vocabulary_sizes(self) -> dict[str, int]:
        return {"words": len(self.vocabs.words), "chars": len(self.vocabs.chars)}

    def tag_tokens(self, sentences: Sequence[Sequence[str]], source: str = "input"
                   ) -> list[list[str]]:
        """The predicted tag of every token of each tokenized sentence."""
        if not sentences:
            raise ValueError(f"{source}: no sentences to tag (the input is empty)")
        empty = [number for number, tokens in enumerate(sentences, start=1) if not tokens]
        if empty:
            raise ValueError(f"{source}: sentence {empty[0]} has no tokens")
        words, chars = encode_sentences(sentences, self.vocabs, self.data)
        paths = decode_all(self.backend, words, chars)
        return [[self.vocabs.tags[i] for i in path] for path in paths]

    def tag(self, texts: str | Sequence[str] | Sequence[Sequence[str]], source: str = "input"
            ) -> TaggedText | list[TaggedText]:
        """Tokens, tags and entities: one :class:`TaggedText` for a string, a list for a list
        of strings (texts) or of token lists (each a list of strings)."""
        from seqeval.metrics.sequence_labeling import get_entities

        single = isinstance(texts, str)
        batch = [texts] if single else list(texts)
        token_lists = [self.tokenizer.tokenize(item) if isinstance(item, str) else list(item)
                       for item in batch]
        tagged = []
        for item, tokens, tags in zip(batch, token_lists,
                                      self.tag_tokens(token_lists, source)):
            text = item if isinstance(item, str) else " ".join(tokens)
            offsets = token_offsets(text, tokens) if isinstance(item, str) else None
            entities = []
            for kind, first, last in get_entities(tags):
                start, end = (offsets[first][0], offsets[last][1]) if offsets else (None, None)
                words = (text[start:end] if offsets else " ".join(tokens[first:last + 1]))
                entities.append(Entity(kind, words, first, last, start, end))
            tagged.append(TaggedText(tokens, tags, entities))
        return tagged[0] if single else tagged

    def evaluate(self, path: str | Path) -> dict[str, Any]:
        """Loss, token accuracy and entity-level P/R/F1 with the per-type report on a CoNLL
        file (tags in the training data's tag column)."""
        data = self.data
        sentences = list(read_conll(path, token_column=data.token_column,
                                    tag_column=data.tag_column))
        encoded = encode_tagged(sentences, self.vocabs, data, str(path))
        return {**score(self.backend, encoded, self.vocabs.tags), "sentences": len(sentences)}
