"""Translation: tab-separated pairs → separate source and target vocabularies → bucketed padded
batches → Seq2Seq with attention (teacher forcing); greedy or beam-search decoding; BLEU by
sacrebleu.

Pairs are read by :func:`rnnkit.data.read_pairs` (blank lines skipped; a line without the tab,
or with more columns than the first, is an error naming ``file:line``); a pair with an empty
side is an error naming the file and pair. Sources longer than ``max_source_length`` tokens
are cut to their first ones with a warning that counts them; targets longer than
``max_target_length`` are cut in training (the model learns to stop there).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, NamedTuple

import sacrebleu
import torch
from torch import Tensor, nn

from rnnkit.data import BucketBatchSampler, pad_sequences, read_pairs
from rnnkit.models.seq2seq import Seq2Seq, Seq2SeqConfig
from rnnkit.tasks.classification import ordered_batches, split_held_out
from rnnkit.tasks.selection import SELECT_LOSS, callbacks_for, check_select
from rnnkit.text import Tokenizer, Vocab, get_tokenizer
from rnnkit.train import StepOutput, TrainConfig, Trainer
from rnnkit.train.model_dir import (
    WEIGHTS_FILE,
    load_weights,
    read_config,
    require_files,
    write_config,
)

TASK = "translate"
SOURCE_VOCAB = "source_vocab.json"
TARGET_VOCAB = "target_vocab.json"
TOKENIZER_NAMES = ("word", "whitespace", "char", "chinese", "auto")
SELECT_CHOICES = ("loss", "bleu_greedy")


@dataclass(frozen=True)
class TranslationData:
    """Where the pairs come from and how they become batches (config.json ``data``).

    ``bleu_tokenize`` is sacrebleu's tokenizer for the references (``zh`` for Chinese, ``13a``
    for English-like targets). Without ``valid`` a seeded ``valid_fraction`` is held out.
    """

    train: str
    valid: str | None = None
    source_tokenizer: str = "word"
    target_tokenizer: str = "char"
    lowercase_source: bool = True
    max_source_length: int = 50
    max_target_length: int = 60
    min_freq: int = 1
    batch_size: int = 64
    valid_fraction: float = 0.1
    split_seed: int = 0
    bleu_tokenize: str = "zh"
    valid_bleu_sentences: int = 500

    def __post_init__(self) -> None:
        for name in ("source_tokenizer", "target_tokenizer"):
            if getattr(self, name) not in TOKENIZER_NAMES:
                raise ValueError(f"{name} must be one of {', '.join(TOKENIZER_NAMES)}, got "
                                 f"{getattr(self, name)!r}")
        for name in ("max_source_length", "max_target_length", "min_freq", "batch_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.valid is None and not 0 < self.valid_fraction < 1:
            raise ValueError(f"valid_fraction must be in (0, 1), got {self.valid_fraction}")

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


class Encoded(NamedTuple):
    sources: list[list[int]]
    targets: list[list[int]]  # without <s> and </s>
    references: list[str]  # the raw target texts, for BLEU


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


def _encode(pairs: Sequence[tuple[str, str]], vocabs: Vocabularies, data: TranslationData,
            name: str) -> Encoded:
    source_tokenizer, target_tokenizer = data.tokenizers()
    sources = encode_sources([s for s, _ in pairs], source_tokenizer, vocabs.source,
                             data.max_source_length, name)
    targets = [vocabs.target.encode(target_tokenizer.tokenize(t)[:data.max_target_length - 1])
               for _, t in pairs]
    return Encoded(sources, targets, [t for _, t in pairs])


class PairBatch(NamedTuple):
    source: Tensor  # (B, S)
    lengths: Tensor  # (B,)
    target_in: Tensor  # (B, T): <s> y_1 .. y_{T-1}
    targets: Tensor  # (B, T): y_1 .. y_T with </s> last, 0 after


def make_batch(sources: Sequence[list[int]], targets: Sequence[list[int]], bos: int,
               eos: int) -> PairBatch:
    lengths = torch.tensor([len(source) for source in sources])
    return PairBatch(pad_sequences(sources), lengths,
                     pad_sequences([[bos, *target] for target in targets]),
                     pad_sequences([[*target, eos] for target in targets]))


def translate_ids(model: Seq2Seq, sources: Sequence[list[int]], max_length: int,
                  beam_width: int = 1, length_penalty: float = 1.0,
                  batch_size: int = 64) -> list[list[int]]:
    """Target ids per source (greedy for ``beam_width=1``), in input order."""
    model.eval()
    outputs: list[list[int]] = [[] for _ in sources]
    for indices in ordered_batches(sources, batch_size):
        chosen = [sources[i] for i in indices]
        padded, lengths = pad_sequences(chosen), torch.tensor([len(s) for s in chosen])
        if beam_width == 1:
            decoded = model.greedy(padded, lengths, max_length)
        else:
            decoded = model.beam_search(padded, lengths, max_length, beam_width, length_penalty)
        for index, ids in zip(indices, decoded):
            outputs[index] = ids
    return outputs


def bleu(hypotheses: Sequence[str], references: Sequence[str], tokenize: str) -> float:
    """Corpus BLEU (sacrebleu) of detokenized hypotheses against one reference each."""
    return float(sacrebleu.corpus_bleu(list(hypotheses), [list(references)],
                                       tokenize=tokenize).score)


class TranslationTask:
    """The trainer's view of translation (see ``rnnkit.train.TrainingTask``)."""

    name = "seq2seq"
    unit = "tokens"  # target tokens

    def __init__(self, train: Encoded, valid: Encoded, vocabs: Vocabularies,
                 data: TranslationData, seed: int) -> None:
        self.train, self.valid, self.vocabs, self.data = train, valid, vocabs, data
        self.sampler = BucketBatchSampler([len(s) for s in train.sources], data.batch_size,
                                          seed=seed)

    def _batch(self, encoded: Encoded, indices: Sequence[int]) -> PairBatch:
        target = self.vocabs.target
        return make_batch([encoded.sources[i] for i in indices],
                          [encoded.targets[i] for i in indices], target.bos_id, target.eos_id)

    def train_batches(self, epoch: int) -> list[PairBatch]:
        self.sampler.set_epoch(epoch)
        return [self._batch(self.train, indices) for indices in self.sampler]

    def train_step(self, model: nn.Module, batch: PairBatch, carry: Any) -> StepOutput:
        output = model(batch.source, batch.lengths, batch.target_in, batch.targets)
        return StepOutput(output.loss, int((batch.targets != 0).sum()))

    @torch.no_grad()
    def evaluate(self, model: nn.Module) -> dict[str, float]:
        model.eval()
        total, count = 0.0, 0
        for indices in ordered_batches(self.valid.sources, self.data.batch_size):
            batch = self._batch(self.valid, indices)
            tokens = int((batch.targets != 0).sum())
            total += float(model(batch.source, batch.lengths, batch.target_in,
                                 batch.targets).loss) * tokens
            count += tokens
        shown = self.data.valid_bleu_sentences
        hypotheses = detokenize_all(translate_ids(model, self.valid.sources[:shown],
                                                  self.data.max_target_length),
                                    self.vocabs.target, self.data.tokenizers()[1])
        return {"loss": total / count,
                "bleu_greedy": bleu(hypotheses, self.valid.references[:shown],
                                    self.data.bleu_tokenize)}

    def describe(self, loss: float) -> dict[str, float]:
        return {}


def detokenize_all(outputs: Sequence[list[int]], vocab: Vocab,
                   tokenizer: Tokenizer) -> list[str]:
    return [tokenizer.detokenize(vocab.decode(ids)) for ids in outputs]


def _pairs(data: TranslationData) -> tuple[list, list]:
    pairs = read_translation_pairs(data.train)
    if data.valid is not None:
        return pairs, read_translation_pairs(data.valid)
    return split_held_out(pairs, data.valid_fraction, data.split_seed)


def train_translator(data: TranslationData, model_options: dict[str, Any], train: TrainConfig,
                     out_dir: str | Path, quiet: bool = False, callbacks=(),
                     select: str = "loss") -> Trainer:
    """Read the pairs, build both vocabularies, write the model directory and train.

    ``select="bleu_greedy"`` keeps the weights of the epoch with the best validation BLEU
    instead of the lowest validation loss."""
    check_select(select, SELECT_CHOICES)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    pairs, _ = _pairs(data)
    source_tokenizer, target_tokenizer = data.tokenizers()
    source = Vocab.build((source_tokenizer.tokenize(s) for s, _ in pairs),
                         min_freq=data.min_freq)
    target = Vocab.build((target_tokenizer.tokenize(t) for _, t in pairs),
                         min_freq=data.min_freq)
    config = Seq2SeqConfig(source_vocab_size=len(source), target_vocab_size=len(target),
                           pad_id=target.pad_id, bos_id=target.bos_id, eos_id=target.eos_id,
                           **model_options)
    source.save(out_dir / SOURCE_VOCAB)
    target.save(out_dir / TARGET_VOCAB)
    write_config(out_dir, TASK, {"model": config.to_dict(), "data": asdict(data),
                                 "train": train.to_dict(), "select": select})
    trainer = _trainer(out_dir, quiet, callbacks)
    trainer.fit()
    return trainer


def resume_translator(out_dir: str | Path, quiet: bool = False, callbacks=()) -> Trainer:
    """Continue an interrupted run of :func:`train_translator` exactly where it stopped."""
    trainer = _trainer(Path(out_dir), quiet, callbacks)
    trainer.fit(resume=True)
    return trainer


def _trainer(out_dir: Path, quiet: bool, callbacks) -> Trainer:
    config = read_config(out_dir, TASK)
    data = TranslationData(**config["data"])
    vocabs = Vocabularies(Vocab.load(out_dir / SOURCE_VOCAB), Vocab.load(out_dir / TARGET_VOCAB))
    train_pairs, valid_pairs = _pairs(data)
    valid_name = data.valid or f"{data.train} (held-out {data.valid_fraction:g})"
    train_config = TrainConfig.from_dict(config["train"])
    task = TranslationTask(_encode(train_pairs, vocabs, data, data.train),
                           _encode(valid_pairs, vocabs, data, valid_name), vocabs, data,
                           train_config.seed)
    torch.manual_seed(train_config.seed)
    model = Seq2Seq(Seq2SeqConfig.from_dict(config["model"]))
    return Trainer(model, task, train_config, out_dir, quiet=quiet,
                   callbacks=callbacks_for(config.get("select", SELECT_LOSS), out_dir, callbacks))


@dataclass
class LoadedTranslator:
    model: Seq2Seq
    vocabs: Vocabularies
    data: TranslationData
    config: dict[str, Any]


def load_translator(directory: str | Path) -> LoadedTranslator:
    """Load a model directory written by :func:`train_translator`."""
    directory = require_files(directory, "config.json", SOURCE_VOCAB, TARGET_VOCAB, WEIGHTS_FILE)
    config = read_config(directory, TASK)
    model = Seq2Seq(Seq2SeqConfig.from_dict(config["model"]))
    load_weights(directory, model)
    model.eval()
    vocabs = Vocabularies(Vocab.load(directory / SOURCE_VOCAB),
                          Vocab.load(directory / TARGET_VOCAB))
    return LoadedTranslator(model, vocabs, TranslationData(**config["data"]), config)


def translate_texts(loaded: LoadedTranslator, texts: Sequence[str], beam_width: int = 1,
                    length_penalty: float = 1.0, max_length: int | None = None,
                    source: str = "input") -> list[str]:
    """Translations of ``texts`` (greedy for ``beam_width=1``)."""
    if not texts:
        raise ValueError(f"{source}: no texts to translate (the input is empty)")
    data = loaded.data
    source_tokenizer, target_tokenizer = data.tokenizers()
    ids = encode_sources(texts, source_tokenizer, loaded.vocabs.source, data.max_source_length,
                         source)
    outputs = translate_ids(loaded.model, ids, max_length or data.max_target_length, beam_width,
                            length_penalty)
    return detokenize_all(outputs, loaded.vocabs.target, target_tokenizer)


def evaluate_translator(loaded: LoadedTranslator, path: str | Path, beam_width: int = 1,
                        length_penalty: float = 1.0) -> dict[str, Any]:
    """Corpus BLEU of the translations of a pairs file, and a few samples."""
    pairs = read_translation_pairs(path)
    hypotheses = translate_texts(loaded, [s for s, _ in pairs], beam_width, length_penalty,
                                 source=str(path))
    references = [t for _, t in pairs]
    return {"bleu": bleu(hypotheses, references, loaded.data.bleu_tokenize),
            "beam_width": beam_width, "length_penalty": length_penalty, "pairs": len(pairs),
            "samples": [{"source": s, "reference": r, "output": h}
                        for (s, r), h in list(zip(pairs, hypotheses))[:10]]}

