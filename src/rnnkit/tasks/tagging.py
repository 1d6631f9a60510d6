"""Sequence tagging (NER): CoNLL file → word, character and tag vocabularies → bucketed padded
batches → Tagger (BiLSTM + char features + CRF or softmax); entity-level P/R/F1 by seqeval.

Input and output are CoNLL column files (``token ... tag`` per line, blank line between
sentences, ``-DOCSTART-`` skipped; a line with a different number of columns is an error
naming ``file:line``). Words are never cut (a sentence is as long as it is); a word longer
than ``max_word_length`` characters keeps its first ones for the character encoder. A tag in
an evaluation file that training never saw is an error listing the known tags.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, NamedTuple

import torch
from torch import Tensor, nn

from rnnkit.configs import ValidatedConfig, flag, positive_int
from rnnkit.data import (
    BucketBatchSampler,
    pad_nested,
    pad_sequences,
    read_conll,
    read_conll_tokens,
)
from rnnkit.models.tagger import CHAR_ENCODERS, OUTPUTS, Tagger, TaggerConfig
from rnnkit.tasks.arguments import (
    add_data_files,
    add_recurrent_arguments,
    add_select_argument,
    recurrent_options,
)
from rnnkit.tasks.common import (
    check_held_out_fraction,
    label_ids,
    ordered_batches,
    read_string_list,
    require_tokens,
    split_held_out,
    validation_source,
)
from rnnkit.tasks.contract import Pipeline, Prepared, Task, register
from rnnkit.tasks.selection import check_select
from rnnkit.text import Vocab, get_tokenizer
from rnnkit.train import StepOutput, TrainConfig, Trainer
from rnnkit.train.model_dir import VOCAB_FILE, write_json

TASK = "tag"
CHARS_FILE = "chars.json"
TAGS_FILE = "tags.json"
SCHEME_CHOICES = ("auto", "BIO", "BIOES", "none")
SELECT_CHOICES = ("f1", "loss")


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


def detect_scheme(tags: Sequence[str]) -> str:
    """``BIOES`` when any tag starts with ``E-``/``S-``, ``BIO`` when any starts with ``B-``/
    ``I-``, else ``none``."""
    prefixes = {tag.split("-", 1)[0] for tag in tags if "-" in tag}
    if prefixes & {"E", "S"}:
        return "BIOES"
    return "BIO" if prefixes & {"B", "I"} else "none"


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


def encode_sentences(sentences: Sequence[Sequence[str]], vocabs: Vocabularies,
                     data: TaggingData) -> tuple[list[list[int]], list[list[list[int]]]]:
    """Word ids and per-word character ids of tokenized sentences."""
    words, chars = [], []
    for tokens in sentences:
        words.append(vocabs.words.encode([t.lower() if data.lowercase else t for t in tokens]))
        chars.append([vocabs.chars.encode(list(token[:data.max_word_length]))
                      for token in tokens])
    return words, chars


def _encode(sentences: Sequence[tuple[list[str], list[str]]], vocabs: Vocabularies,
            data: TaggingData, source: str) -> Encoded:
    words, chars = encode_sentences([tokens for tokens, _ in sentences], vocabs, data)
    tags = [label_ids(tags, vocabs.tags, source) for _, tags in sentences]
    return Encoded(words, chars, tags)


class TagBatch(NamedTuple):
    words: Tensor  # (B, T)
    lengths: Tensor  # (B,)
    chars: Tensor  # (B, T, C)
    tags: Tensor | None  # (B, T), 0 past each length


def make_batch(words: Sequence[list[int]], chars: Sequence[list[list[int]]],
               tags: Sequence[list[int]] | None = None) -> TagBatch:
    """Pad a list of sentences into a :class:`TagBatch`."""
    padded = pad_sequences(words)  # (B, T)
    lengths = torch.tensor([len(sentence) for sentence in words])  # (B,)
    return TagBatch(padded, lengths, pad_nested(chars),  # chars (B, T, C)
                    pad_sequences(tags) if tags is not None else None)


def _subset(encoded: Encoded, indices: Sequence[int]) -> TagBatch:
    return make_batch([encoded.words[i] for i in indices], [encoded.chars[i] for i in indices],
                      [encoded.tags[i] for i in indices])


def _count(model: Tagger, batch: TagBatch) -> int:
    """How many of ``model.config.loss_unit`` the batch holds (the mean loss's divisor)."""
    if model.config.loss_unit == "sentences":
        return len(batch.lengths)
    return int(batch.lengths.sum())


@torch.no_grad()
def decode_all(model: Tagger, words: list[list[int]], chars: list[list[list[int]]],
               batch_size: int = 64) -> list[list[int]]:
    """Best tag ids of every sentence, in input order."""
    model.eval()
    device = next(model.parameters()).device
    paths: list[list[int]] = [[] for _ in words]
    for indices in ordered_batches(words, batch_size):
        batch = make_batch([words[i] for i in indices], [chars[i] for i in indices])
        for index, path in zip(indices, model.decode(batch.words.to(device), batch.lengths,
                                                     batch.chars.to(device))):
            paths[index] = path
    return paths


@torch.no_grad()
def score(model: Tagger, encoded: Encoded, tags: Sequence[str],
          batch_size: int = 64) -> dict[str, Any]:
    """Mean loss, token accuracy and entity-level precision/recall/F1 (seqeval, as conlleval)
    with the per-type report."""
    # seqeval imports scikit-learn (~1 s): loaded where a score is asked for, not with rnnkit
    from seqeval.metrics import classification_report as entity_report
    from seqeval.metrics import f1_score, precision_score, recall_score

    model.eval()
    total, count = 0.0, 0
    device = next(model.parameters()).device
    for indices in ordered_batches(encoded.words, batch_size):
        batch = _subset(encoded, indices)
        loss = model(batch.words.to(device), batch.lengths, batch.chars.to(device),
                     batch.tags.to(device)).loss
        total += float(loss) * _count(model, batch)
        count += _count(model, batch)
    predicted = decode_all(model, encoded.words, encoded.chars, batch_size)
    gold_names = [[tags[i] for i in sentence] for sentence in encoded.tags]
    predicted_names = [[tags[i] for i in sentence] for sentence in predicted]
    correct = sum(g == p for gs, ps in zip(encoded.tags, predicted) for g, p in zip(gs, ps))
    report = entity_report(gold_names, predicted_names, output_dict=True, zero_division=0)
    return {
        "loss": total / count,
        "precision": float(precision_score(gold_names, predicted_names, zero_division=0)),
        "recall": float(recall_score(gold_names, predicted_names, zero_division=0)),
        "f1": float(f1_score(gold_names, predicted_names, zero_division=0)),
        "token_accuracy": correct / sum(map(len, encoded.tags)),
        "per_type": {name: {key: float(value) for key, value in row.items()}
                     for name, row in report.items()},
    }


class TaggingTraining:
    """The trainer's view of tagging (see ``rnnkit.train.TrainingTask``)."""

    name = "tagger"

    def __init__(self, train: Encoded, valid: Encoded, tags: Sequence[str], batch_size: int,
                 seed: int, unit: str) -> None:
        self.unit = unit  # the model's TaggerConfig.loss_unit
        self.train = train
        self.valid = valid
        self.tags = list(tags)
        self.batch_size = batch_size
        self.sampler = BucketBatchSampler([len(words) for words in train.words], batch_size,
                                          seed=seed)

    def train_batches(self, epoch: int) -> list[TagBatch]:
        self.sampler.set_epoch(epoch)
        return [_subset(self.train, indices) for indices in self.sampler]

    def train_step(self, model: nn.Module, batch: TagBatch, carry: Any) -> StepOutput:
        output = model(batch.words, batch.lengths, batch.chars, batch.tags)
        return StepOutput(output.loss, _count(model, batch))

    def evaluate(self, model: nn.Module) -> dict[str, float]:
        report = score(model, self.valid, self.tags, 64)
        return {name: report[name] for name in ("loss", "precision", "recall", "f1")}

    def describe(self, loss: float) -> dict[str, float]:
        return {}


def _sentences(data: TaggingData) -> tuple[list, list]:
    def read(path: str) -> list:
        return list(read_conll(path, token_column=data.token_column, tag_column=data.tag_column))

    train = read(data.train)
    if data.valid is not None:
        return train, read(data.valid)
    return split_held_out(train, data.valid_fraction, data.split_seed)


def _vocabularies(directory: Path) -> Vocabularies:
    return Vocabularies(Vocab.load(directory / VOCAB_FILE), Vocab.load(directory / CHARS_FILE),
                        read_string_list(directory / TAGS_FILE, "tag"))


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

    def __init__(self, directory: Path, config: dict[str, Any], model: Tagger,
                 vocabs: Vocabularies) -> None:
        super().__init__(directory, config, model)
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

    @torch.inference_mode()
    def tag_tokens(self, sentences: Sequence[Sequence[str]], source: str = "input"
                   ) -> list[list[str]]:
        """The predicted tag of every token of each tokenized sentence."""
        if not sentences:
            raise ValueError(f"{source}: no sentences to tag (the input is empty)")
        empty = [number for number, tokens in enumerate(sentences, start=1) if not tokens]
        if empty:
            raise ValueError(f"{source}: sentence {empty[0]} has no tokens")
        words, chars = encode_sentences(sentences, self.vocabs, self.data)
        paths = decode_all(self.model, words, chars)
        return [[self.vocabs.tags[i] for i in path] for path in paths]

    def tag(self, texts: str | Sequence[str] | Sequence[Sequence[str]], source: str = "input"
            ) -> TaggedText | list[TaggedText]:
        """Tokens, tags and entities: one :class:`TaggedText` for a string, a list for a list
        of strings (texts) or of token lists (each a list of strings)."""
        from seqeval.metrics.sequence_labeling import get_entities  # see score()

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

    @torch.inference_mode()
    def evaluate(self, path: str | Path) -> dict[str, Any]:
        """Loss, token accuracy and entity-level P/R/F1 with the per-type report on a CoNLL
        file (tags in the training data's tag column)."""
        data = self.data
        sentences = list(read_conll(path, token_column=data.token_column,
                                    tag_column=data.tag_column))
        encoded = _encode(sentences, self.vocabs, data, str(path))
        return {**score(self.model, encoded, self.vocabs.tags), "sentences": len(sentences)}


class Tagging(Task):
    """Sequence taggers (NER): BiLSTM + character features + CRF or softmax."""

    name = TASK
    summary = "train a sequence tagger (NER: BiLSTM + char features + CRF)"
    description = ("Train a BiLSTM tagger on a CoNLL column file (token first, tag last; "
                   "blank lines between sentences). Writes a model directory.")
    files = (VOCAB_FILE, CHARS_FILE, TAGS_FILE)
    outputs = (CHARS_FILE, TAGS_FILE)
    metric = "f1"
    predict_instead = None

    def prepare(self, data: TaggingData, model_options: dict[str, Any], train: TrainConfig,
                out_dir: Path, *, quiet: bool, select: str = "f1") -> Prepared:
        """Read the CoNLL files and build the word, character and tag vocabularies.
        ``model_options`` are :class:`TaggerConfig` fields; ``scheme="auto"`` (the default
        here) takes the scheme from the training tags (:func:`detect_scheme`). ``select`` is
        the validation figure whose best epoch's weights are kept (``loss``: the trainer's
        choice)."""
        check_select(select, SELECT_CHOICES)
        examples = _sentences(data)
        sentences = examples[0]
        words = require_tokens(
            Vocab.build(([t.lower() if data.lowercase else t for t in tokens]
                         for tokens, _ in sentences),
                        max_size=data.max_vocab, min_freq=data.min_freq),
            data.min_freq, data.train)
        chars = Vocab.build(list(token) for tokens, _ in sentences for token in tokens)
        tags = sorted({tag for _, sentence_tags in sentences for tag in sentence_tags})
        options = dict(model_options)
        scheme = options.pop("scheme", "auto")
        if scheme not in SCHEME_CHOICES:
            raise ValueError(f"scheme must be one of {', '.join(SCHEME_CHOICES)}, got "
                             f"{scheme!r}")
        model_config = TaggerConfig(
            vocab_size=len(words), unk_id=words.unk_id, tags=tuple(tags),
            char_vocab_size=len(chars),
            scheme=detect_scheme(tags) if scheme == "auto" else scheme, **options)
        words.save(out_dir / VOCAB_FILE)
        chars.save(out_dir / CHARS_FILE)
        write_json(out_dir / TAGS_FILE, tags)
        return Prepared({"model": model_config.to_dict(), "data": asdict(data),
                         "select": select}, {"examples": examples})

    def training(self, out_dir: Path, config: dict[str, Any], *, quiet: bool, device: str,
                 seed: int, reuse: dict[str, Any]) -> TaggingTraining:
        data = TaggingData(**config["data"])
        vocabs = _vocabularies(out_dir)
        train_sentences, valid_sentences = reuse.get("examples") or _sentences(data)
        train_ids = _encode(train_sentences, vocabs, data, data.train)
        valid_ids = _encode(valid_sentences, vocabs, data,
                            validation_source(data.train, data.valid, data.valid_fraction))
        return TaggingTraining(train_ids, valid_ids, vocabs.tags, data.batch_size,
                               seed,
                               unit=TaggerConfig.from_dict(config["model"]).loss_unit)

    def build_model(self, config: dict[str, Any]) -> Tagger:
        return Tagger(TaggerConfig.from_dict(config["model"]))

    def pipeline(self, directory: Path, config: dict[str, Any],
                 model: nn.Module) -> TaggerPipeline:
        return TaggerPipeline(directory, config, model, _vocabularies(directory))

    def add_train_arguments(self, parser: argparse.ArgumentParser) -> None:
        data = add_data_files(parser, "CoNLL file")
        data.add_argument("--tag-column", type=int, default=-1, help="column of the tags")
        data.add_argument("--lowercase", action="store_true",
                          help="lowercase the word-embedding input (characters keep their "
                               "case)")
        data.add_argument("--max-word-length", type=int, default=20,
                          help="characters per word seen by the character encoder")
        data.add_argument("--max-vocab", type=int, help="word vocabulary cap, specials included")
        data.add_argument("--min-freq", type=int, default=1, help="rarer words become <unk>")
        data.add_argument("--batch-size", type=int, default=16)
        model = add_recurrent_arguments(parser, embed=100, hidden=200, layers=1, dropout=0.5)
        model.add_argument("--char-encoder", choices=CHAR_ENCODERS, default="cnn",
                           help="character-level word features: CNN, BiLSTM or none")
        model.add_argument("--char-embed", type=int, default=30,
                           help="character embedding size")
        model.add_argument("--char-features", type=int, default=50,
                           help="features per word from the character encoder")
        model.add_argument("--output", choices=OUTPUTS, default="crf",
                           help="CRF over tag paths, or an independent softmax per token")
        model.add_argument("--scheme", choices=SCHEME_CHOICES, default="auto",
                           help="CRF transition constraints (auto: from the training tags)")
        model.add_argument("--word-dropout", type=float, default=0.0,
                           help="probability of turning a training word into <unk>")
        add_select_argument(parser, SELECT_CHOICES, default="f1")

    def start(self, args: argparse.Namespace, train: TrainConfig) -> Trainer:
        data = TaggingData(
            train=args.data, valid=args.valid, tag_column=args.tag_column,
            lowercase=args.lowercase, max_word_length=args.max_word_length,
            max_vocab=args.max_vocab, min_freq=args.min_freq, batch_size=args.batch_size,
            valid_fraction=args.valid_fraction, split_seed=args.split_seed,
        )
        model = {**recurrent_options(args), "char_encoder": args.char_encoder,
                 "char_embed_size": args.char_embed, "char_features": args.char_features,
                 "output": args.output, "scheme": args.scheme,
                 "word_dropout": args.word_dropout}
        return self.train(data, model, train, args.out, quiet=args.quiet, select=args.select)

    def format_report(self, pipeline: Pipeline, report: dict[str, Any],
                      args: argparse.Namespace) -> str:
        """Entity-level precision, recall and F1 (seqeval), token accuracy and the
        per-type report."""
        lines = [f"sentences\t{report['sentences']}"]
        lines += [f"{name}\t{report[name]:.4f}"
                  for name in ("loss", "precision", "recall", "f1", "token_accuracy")]
        lines.append("type\tprecision\trecall\tf1\tsupport")
        lines += [f"{name}\t{row['precision']:.4f}\t{row['recall']:.4f}\t"
                  f"{row['f1-score']:.4f}\t{int(row['support'])}"
                  for name, row in report["per_type"].items()]
        return "\n".join(lines)

    def predict_lines(self, pipeline: Pipeline, texts: list[str] | None, path: str | None,
                      output_format: str) -> Iterable[str]:
        """A CoNLL file in, the same lines with the predicted tag appended out (``--text``:
        English word tokens, one ``token<TAB>tag`` line each); JSON lines ``{"tokens",
        "tags", "entities"}`` with ``--output-format json``."""
        if texts is not None:
            tagged = pipeline.tag(texts, "--text")
            sentences, separator = [(item.tokens, item.tokens) for item in tagged], "\t"
        else:
            sentences, separator = read_conll_tokens(path), " "
            tagged = pipeline.tag([tokens for tokens, _ in sentences], path)
        lines = []
        for (_, originals), item in zip(sentences, tagged):
            if output_format == "json":
                lines.append(json.dumps({"tokens": item.tokens, "tags": item.tags,
                                         "entities": [entity._asdict()
                                                      for entity in item.entities]},
                                        ensure_ascii=False))
            else:
                lines.append("\n".join(f"{line}{separator}{tag}"
                                       for line, tag in zip(originals, item.tags)) + "\n")
        return lines


TAGGING = register(Tagging())
