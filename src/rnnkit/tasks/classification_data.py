"""Classification data: labelled files → ``(text, label)`` examples → ids (with subword ids)
→ padded batches.

Texts longer than ``max_length`` tokens are cut to their first ``max_length`` tokens, with a
warning that counts them. A text with no tokens is an error at prediction time (naming the
source and example); in training and evaluation files it is skipped with a warning (the
ChnSentiCorp file has one empty review). A label in an evaluation file that training never
saw is an error listing the known labels.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, NamedTuple

from rnnkit.configs import ValidatedConfig, at_least, choice, flag, number, positive_int
from rnnkit.data.labelled import LABELLED_FORMATS, read_examples
from rnnkit.tasks.common import check_held_out_fraction, label_ids, split_held_out
from rnnkit.text import SubwordHasher, Tokenizer, Vocab, get_tokenizer

if TYPE_CHECKING:
    from torch import Tensor

TOKENIZER_NAMES = ("word", "whitespace", "char", "chinese", "auto")


@dataclass(frozen=True)
class ClassificationData(ValidatedConfig):
    """Where the examples come from and how they become batches (config.json ``data``).

    Without ``valid``, a ``valid_fraction`` of the training examples, drawn with
    ``split_seed``, is held out for validation.

    ``teachers`` (trained classification directories with this run's tokenizer and labels)
    distil them into the new model: ``span_samples`` random spans of each training text
    (:func:`rnnkit.data.sample_spans`, seeded by the training seed) join the training
    examples, each with the teachers' averaged class probabilities as its target; the
    texts themselves keep their gold labels. The spans stand in for the phrase-level labels
    a treebank would give. A text of ``n`` tokens gives at most ``min(span_samples, n(n-1)/2
    - 1)`` spans, one of 2 tokens or fewer none. ``masked_copies`` copies of each training
    text, each token masked with probability ``mask_prob``
    (:func:`rnnkit.data.sample_masked_copies`, seeded by the training seed + 1), join them
    the same way: a masked token is the unknown word, without subword features, for the
    teachers and the new model alike (Tang et al., 2019); a copy that happens to mask
    nothing is the text itself, with the teachers' target. ``--resume`` labels the same
    spans and copies again, so it needs the teachers' directories where they were. The
    logged training loss then averages over them too, so it does not compare with a run
    without teachers.
    """

    train: str
    valid: str | None = None
    format: str = choice(LABELLED_FORMATS, "auto")
    text_column: str | int | None = None
    label_column: str | int | None = None
    tokenizer: str = choice(TOKENIZER_NAMES, "word")
    lowercase: bool = flag(False)
    max_length: int = positive_int(400)
    max_vocab: int | None = positive_int(None, optional=True)
    min_freq: int = positive_int(1)
    batch_size: int = positive_int(32)
    valid_fraction: float = 0.1
    split_seed: int = 0
    vectors: str | None = None
    teachers: tuple[str, ...] = ()
    span_samples: int = positive_int(8)
    masked_copies: int = at_least(0, 0)
    mask_prob: float = number(0.15, above=0.0, maximum=1.0)

    def __post_init__(self) -> None:
        super().__post_init__()
        check_held_out_fraction(self)
        if isinstance(self.teachers, str):
            raise TypeError(f"ClassificationData: teachers must be a sequence of model "
                            f"directories, got the string {self.teachers!r}")
        object.__setattr__(self, "teachers", tuple(str(path) for path in self.teachers))

    def make_tokenizer(self) -> Tokenizer:
        if self.tokenizer in ("word", "auto"):
            return get_tokenizer(self.tokenizer, lowercase=self.lowercase)
        return get_tokenizer(self.tokenizer)

class EncodedTexts(NamedTuple):
    ids: list[list[int]]  # word ids of each kept text
    kept: list[int]  # index of each kept text in the input
    subwords: list[list[tuple[int, ...]]] | None  # each token's subword ids, with a hasher
    tokens: list[list[str]]  # the (cut) tokens of each kept text


def encode_texts(
    texts: Sequence[str], tokenizer: Tokenizer, vocab: Vocab, max_length: int, source: str,
    skip_empty: bool = False, hasher: SubwordHasher | None = None,
) -> EncodedTexts:
    """Ids of each text cut to ``max_length`` (one warning counts the cut texts), the
    indices of the texts kept, with a ``hasher`` each token's subword ids, and the kept
    texts' cut tokens.

    A text with no tokens is a ValueError naming ``source`` and the example number, or, with
    ``skip_empty``, left out with a warning (training and evaluation files).
    """
    encoded, kept, subwords, kept_tokens, empty, cut = [], [], [], [], [], 0
    for index, text in enumerate(texts):
        tokens = tokenizer.tokenize(text)
        if not tokens:
            if not skip_empty:
                raise ValueError(f"{source}: example {index + 1} has no tokens (empty text)")
            empty.append(index + 1)
            continue
        cut += len(tokens) > max_length
        tokens = tokens[:max_length]
        encoded.append(vocab.encode(tokens))
        kept.append(index)
        kept_tokens.append(tokens)
        if hasher is not None:
            subwords.append(hasher.encode(tokens))
    if empty:
        warnings.warn(f"{source}: skipped {len(empty)} examples with no tokens (empty text), "
                      f"the first is example {empty[0]}", stacklevel=2)
    if cut:
        warnings.warn(f"{source}: {cut} of {len(texts)} texts are longer than max_length="
                      f"{max_length} tokens and were cut to their first {max_length}",
                      stacklevel=2)
    return EncodedTexts(encoded, kept, subwords if hasher is not None else None, kept_tokens)


class LabelledIds(NamedTuple):
    ids: list[list[int]]
    labels: list[int]
    subwords: list[list[tuple[int, ...]]] | None = None  # per token, for subword features
    soft: Tensor | None = None  # (N, C) target probabilities that replace labels in training

    def subset(self, indices: Sequence[int]) -> LabelledIds:
        return LabelledIds([self.ids[i] for i in indices], [self.labels[i] for i in indices],
                           None if self.subwords is None else [self.subwords[i] for i in indices],
                           None if self.soft is None else self.soft[list(indices)])


def data_section(data: ClassificationData) -> dict[str, Any]:
    """config.json's ``data`` section: the fields and the tokenizer's own config."""
    return {**asdict(data), "tokenizer_config": data.make_tokenizer().config()}


def data_from_section(section: dict[str, Any]) -> ClassificationData:
    """The :class:`ClassificationData` of a config.json ``data`` section."""
    fields = dict(section)
    fields.pop("tokenizer_config")
    return ClassificationData(**fields)


def encode_labelled(examples: Sequence[tuple[str, str]], tokenizer: Tokenizer, vocab: Vocab,
                    labels: Sequence[str], data: ClassificationData, source: str,
                    hasher: SubwordHasher | None) -> tuple[LabelledIds, EncodedTexts]:
    """The examples' ids, label ids and subwords, and their encoding (the cut tokens behind
    each, the indices of the examples kept)."""
    encoded = encode_texts([text for text, _ in examples], tokenizer, vocab, data.max_length,
                           source, skip_empty=True, hasher=hasher)
    if not encoded.ids:
        raise ValueError(f"{source}: no example has any tokens")
    return LabelledIds(encoded.ids,
                       label_ids([examples[index][1] for index in encoded.kept], labels, source),
                       encoded.subwords), encoded


def _read(data: ClassificationData, path: str) -> list[tuple[str, str]]:
    return read_examples(path, data.format, data.text_column, data.label_column)


def run_examples(data: ClassificationData) -> tuple[list, list]:
    """The run's (train, valid) examples: its validation file's, or a held-out split."""
    train = _read(data, data.train)
    if data.valid is not None:
        return train, _read(data, data.valid)
    return split_held_out(train, data.valid_fraction, data.split_seed)


def training_examples(data: ClassificationData) -> list:
    """The examples the run trains on (without reading a validation file it has)."""
    return _read(data, data.train) if data.valid is not None else run_examples(data)[0]
