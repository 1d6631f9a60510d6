"""Language modelling: corpus → prepared id stream → LanguageModel trained by truncated BPTT.

The training corpus is prepared once into ``DIR/corpus/`` (vocabulary + memory-mapped ids,
each line followed by ``</s>``), so corpora larger than memory train in bounded memory. Two
modes: ``stream`` (truncated BPTT: the hidden state is carried, detached, from one
``(batch, bptt)`` window to the next within an epoch) and ``sentences`` (each line is one
sequence ``<s> w_1 … w_n </s>``, padded into length-bucketed batches, padding masked out of
the loss, the state starting from zero for every sentence — the seed's setup). Word level
uses English rules, jieba or both (``lang``); character level keeps spaces, and ``</s>``
stands for the line break.

``format="abc"`` trains on folk tunes in ABC notation (:mod:`rnnkit.data.abc`), always at
character level: the tunes are read from a file or folder (or music21's bundled folk corpus),
split into training and held-out tunes, written to ``DIR/corpus/train.abc`` and
``DIR/corpus/valid.abc`` (tunes separated by one blank line, each starting with its ``X:``
line), and the training file is prepared like any text corpus.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from rnnkit.configs import (
    ValidatedConfig,
    checked,
    choice,
    choice_check,
    int_check,
    positive_int,
)
from rnnkit.data import BucketBatchSampler, LMStream, load_prepared, prepare
from rnnkit.data.abc import HEADER_CHOICES, music21_corpus_folder
from rnnkit.models import (
    LanguageModel,
    LanguageModelConfig,
    SamplingConfig,
    detach_state,
    map_state,
    sample_steps,
)
from rnnkit.tasks.arguments import add_recurrent_arguments, recurrent_options
from rnnkit.tasks.common import check_held_out_fraction, require_tokens
from rnnkit.tasks.contract import (
    Prepared,
    Task,
    TrainingDefaults,
    register,
    resolve_device,
)
from rnnkit.tasks.lm_abc import write_abc_corpus
from rnnkit.tasks.lm_pipeline import (
    CORPUS_DIR,
    FORMATS,
    IGNORE_INDEX,
    TASK,
    VALID_TUNES_FILE,
    LanguageModelPipeline,
    encode_file,
    loss_figures,
)
from rnnkit.tasks.pipeline import ModelBackend
from rnnkit.text import TOKENIZERS, Vocab, get_tokenizer
from rnnkit.train import StepOutput, TrainConfig, Trainer, distributed
from rnnkit.train.model_dir import VOCAB_FILE

LEVELS = ("word", "char")
MODES = ("stream", "sentences")
LANGS = ("en", "zh", "auto")


def tokenizer_name(level: str, lang: str) -> str:
    """The tokenizer for a level and language: chars for ``char``, else by language."""
    if level not in LEVELS:
        raise ValueError(f"level must be one of {', '.join(LEVELS)}, got {level!r}")
    if lang not in LANGS:
        raise ValueError(f"lang must be one of {', '.join(LANGS)}, got {lang!r}")
    if level == "char":
        return "char"
    return {"en": "word", "zh": "chinese", "auto": "auto"}[lang]


@dataclass(frozen=True)
class LMData(ValidatedConfig):
    """How the corpus becomes batches (stored in config.json under ``data``).

    ``tokenizer`` defaults to the one :func:`tokenizer_name` picks for ``level`` and ``lang``;
    ``"whitespace"`` suits pre-tokenized corpora such as PTB.

    ``format`` is ``"text"`` (a plain corpus, one line per line) or ``"abc"`` (tunes in ABC
    notation, see the module docstring). ABC is character level: ``level`` defaults to
    ``"char"`` for it (``"word"`` for text), and a word level or tokenizer is refused. It
    needs ``mode="stream"``: a tune is many lines, and ``"sentences"`` resets the state at
    every line end and stops generating at the first.
    ``corpus`` is then a ``.abc`` file or a folder of them, or None for music21's bundled folk
    tunes; ``abc_headers`` (``"strip"`` by default) keeps or strips the tunes' header fields
    (:data:`rnnkit.data.abc.PLAYER_FIELDS`), and ``split_seed`` (default 0) seeds the shuffle
    that picks the held-out tunes. Both apply to ABC only: a text model refuses them.
    """

    corpus: str | None
    valid: str | None = None
    level: str | None = checked(choice_check(LEVELS), None, optional=True)
    lang: str = choice(LANGS, "en")
    batch_size: int = positive_int(20)
    bptt: int = positive_int(35)
    eval_batch_size: int = positive_int(10)
    valid_fraction: float = 0.1
    max_vocab: int | None = positive_int(None, optional=True)
    min_freq: int = positive_int(1)
    tokenizer: str | None = checked(choice_check(TOKENIZERS), None, optional=True)
    mode: str = choice(MODES, "stream")
    format: str = choice(FORMATS, "text")
    abc_headers: str | None = checked(choice_check(HEADER_CHOICES), None, optional=True)
    split_seed: int | None = checked(int_check(0), None, optional=True)

    def __post_init__(self) -> None:
        super().__post_init__()
        check_held_out_fraction(self)
        self._resolve_format()
        if self.tokenizer is not None and (self.tokenizer == "char") != (self.level == "char"):
            raise ValueError(f"LMData: tokenizer {self.tokenizer!r} does not fit level "
                             f"{self.level!r}")
        if self.tokenizer is None:
            object.__setattr__(self, "tokenizer", tokenizer_name(self.level, self.lang))

    def _resolve_format(self) -> None:
        """Fill ``level``, ``abc_headers`` and ``split_seed`` from ``format``; refuse what
        does not fit it."""
        if self.format == "text":
            if self.corpus is None:
                raise ValueError("LMData: corpus is required for format 'text', got None")
            for name in ("abc_headers", "split_seed"):
                if getattr(self, name) is not None:
                    raise ValueError(f"LMData: {name} {getattr(self, name)!r} applies to "
                                     "format 'abc', got format 'text'")
            if self.level is None:
                object.__setattr__(self, "level", "word")
            return
        if self.level == "word":
            raise ValueError("LMData: format 'abc' is character level, got level 'word'")
        if self.tokenizer not in (None, "char"):
            raise ValueError(f"LMData: format 'abc' is character level, got tokenizer "
                             f"{self.tokenizer!r}")
        if self.mode != "stream":
            raise ValueError(f"LMData: format 'abc' needs mode 'stream', got {self.mode!r}")
        object.__setattr__(self, "level", "char")
        if self.abc_headers is None:
            object.__setattr__(self, "abc_headers", "strip")
        if self.split_seed is None:
            object.__setattr__(self, "split_seed", 0)


class SentenceBatches:
    """Padded ``(x, y)`` batches of the sentences of an id stream (the spans between ``</s>``).

    ``x = <s> w_1 … w_n`` and ``y = w_1 … w_n </s>``, LongTensors ``(B, T)``; ``x`` is padded
    with ``<pad>`` and ``y`` with ``IGNORE_INDEX``, so padding never counts in the loss.
    Batches group sentences of similar length (:class:`BucketBatchSampler`), shuffled by
    ``epoch`` when ``shuffle``; the same epoch always gives the same batches. ``shared``: each
    batch is this process's share of the global one (``distributed.share_batch``).
    """

    def __init__(self, ids: np.ndarray, vocab: Vocab, batch_size: int, shuffle: bool,
                 epoch: int = 0, seed: int = 0, part: str = "training",
                 shared: bool = False) -> None:
        ends = np.flatnonzero(np.asarray(ids) == vocab.eos_id)  # (N,) positions of </s>
        starts = np.concatenate([[0], ends[:-1] + 1])
        keep = ends > starts  # an empty line has no tokens to predict but </s>; keep it out
        self._ids, self._starts, self._ends = ids, starts[keep], ends[keep]
        if len(self._starts) == 0:
            raise ValueError(f"sentences mode: the {part} part of the corpus has no non-empty "
                             "sentence (without --valid, the last --valid-fraction of the "
                             "corpus is held out for validation)")
        sampler = BucketBatchSampler(self._ends - self._starts, batch_size, shuffle=shuffle,
                                     seed=seed)
        sampler.set_epoch(epoch)
        self._batches = list(sampler)
        self._bos, self._eos, self._pad = vocab.bos_id, vocab.eos_id, vocab.pad_id
        self._shared = shared

    def __len__(self) -> int:
        return len(self._batches)

    def __getitem__(self, index: int):
        if self._shared:
            return distributed.share_batch(self._batches[index], self._padded)
        return self._padded(self._batches[index])

    def _padded(self, indices: Sequence[int]) -> tuple[torch.Tensor, torch.Tensor]:
        sentences = [np.asarray(self._ids[self._starts[i]:self._ends[i]], dtype=np.int64)
                     for i in indices]
        width = max(len(sentence) for sentence in sentences) + 1
        x = torch.full((len(sentences), width), self._pad, dtype=torch.long)  # (B, T)
        y = torch.full((len(sentences), width), IGNORE_INDEX, dtype=torch.long)  # (B, T)
        for row, sentence in enumerate(sentences):
            tokens = torch.from_numpy(sentence)
            x[row, 0], x[row, 1:len(sentence) + 1] = self._bos, tokens
            y[row, :len(sentence)], y[row, len(sentence)] = tokens, self._eos
        return x, y

    def __iter__(self):
        return (self[index] for index in range(len(self)))


def own_rows(batch_size: int, argument: str) -> slice:
    """This process's rows of a stream of ``batch_size`` rows (all of them when alone); the
    global ``batch_size`` must give every process a row."""
    processes = distributed.world_size()
    if batch_size < processes:
        raise ValueError(f"{argument} {batch_size} is the global batch, split over "
                         f"{processes} processes: it must be at least {processes}")
    return distributed.share(batch_size)


class LanguageModelTraining:
    """The trainer's view of language modelling (see ``rnnkit.train.TrainingTask``).

    Under torchrun each process trains on its rows of the stream (stream mode) or its share
    of each batch of sentences, and evaluates its rows of the validation stream (or every
    N-th batch of its sentences); loss sums and token counts are summed over the processes.
    """

    name = "language model"
    unit = "tokens"
    every_parameter_used = True

    def __init__(self, train_ids, valid_ids, data: LMData, vocab: Vocab, seed: int = 0,
                 device: torch.device | str = "cpu") -> None:
        self.data, self.vocab, self.seed = data, vocab, seed
        self.level = data.level
        self.device = torch.device(device)
        self._train_ids = train_ids
        if data.mode == "stream":
            self.train = LMStream(train_ids, data.batch_size, data.bptt,
                                  rows=own_rows(data.batch_size, "--batch-size"))
            self.valid = None if valid_ids is None else LMStream(
                valid_ids, data.eval_batch_size, data.bptt,
                rows=own_rows(data.eval_batch_size, "--eval-batch-size"))
        else:
            self.train = None
            self.valid = None if valid_ids is None else SentenceBatches(
                valid_ids, vocab, data.eval_batch_size, shuffle=False, part="validation")

    def train_batches(self, epoch: int) -> LMStream | SentenceBatches:
        if self.train is not None:
            return self.train
        return SentenceBatches(self._train_ids, self.vocab, self.data.batch_size, shuffle=True,
                               epoch=epoch, seed=self.seed,
                               shared=distributed.world_size() > 1)

    def train_step(self, model: nn.Module, batch, carry) -> StepOutput:
        x, y = (t.to(self.device, non_blocking=True) for t in batch)  # (B, T) each
        if self.data.mode == "sentences":
            output = model(x, targets=y, ignore_index=IGNORE_INDEX)
            return StepOutput(output.loss, int((y != IGNORE_INDEX).sum()))
        carry = map_state(carry, lambda state: state.to(self.device))
        output = model(x, carry, targets=y)
        return StepOutput(output.loss, y.numel(), detach_state(output.state))

    def evaluate(self, model: nn.Module) -> dict[str, float] | None:
        if self.valid is None:
            return None
        batches = self.valid
        if self.data.mode == "sentences":
            batches = (self.valid[index] for index in range(
                distributed.rank(), len(self.valid), distributed.world_size()))
        total, count = stream_totals(model, batches, self.device,
                                     carry_state=self.data.mode == "stream")
        total, count = distributed.all_sum([total, count])
        return loss_figures(total / count, self.level)

    def join_carries(self, carries: list) -> Any:
        """Every process's carried state (rank order) as the global batch's: rows joined."""
        if isinstance(carries[0], tuple):
            return tuple(torch.cat(parts, dim=1) for parts in zip(*carries))  # (L, B, H)
        return torch.cat(carries, dim=1)  # (L, B, H)

    def share_carry(self, carry: Any) -> Any:
        """This process's rows of a carried state of the global batch ``(L, B, H)``."""
        rows = distributed.share(self.data.batch_size)
        return map_state(carry, lambda state: state[:, rows])

    def describe(self, loss: float) -> dict[str, float]:
        """Perplexity for words, bits per character for characters."""
        if self.level == "char":
            return {"bpc": loss / math.log(2)}
        return {"ppl": math.exp(min(loss, 50))}


@torch.no_grad()
def stream_totals(model: nn.Module, batches, device: torch.device | str = "cpu",
                  carry_state: bool = True) -> tuple[float, int]:
    """The summed loss (nats) over the target tokens of ``(x, y)`` batches, and their count.

    ``carry_state`` carries the recurrent state from batch to batch (stream windows);
    targets equal to ``IGNORE_INDEX`` (sentence padding) do not count.
    """
    model.eval()
    total, count, state = 0.0, 0, None
    for x, y in batches:
        x, y = x.to(device), y.to(device)
        output = model(x, state if carry_state else None, targets=y, ignore_index=IGNORE_INDEX)
        state = output.state
        targets = int((y != IGNORE_INDEX).sum())
        total += float(output.loss) * targets
        count += targets
    return total, count


class TorchLanguageModelBackend(ModelBackend):
    """A :class:`LanguageModel` as the backend of a :class:`LanguageModelPipeline`; seeded
    samples draw from a ``torch.Generator`` so seeded."""

    def __init__(self, model: LanguageModel) -> None:
        super().__init__(model)

    @torch.inference_mode()
    def sample_steps(self, prompt: list[int], config: SamplingConfig, num_samples: int,
                     seed: int | None) -> Iterator[np.ndarray]:
        generator = None if seed is None else torch.Generator(self.device).manual_seed(seed)
        steps = sample_steps(self.model, prompt, config, num_samples, generator)
        try:
            for token in steps:  # (B,)
                yield token.cpu().numpy()
        finally:
            steps.close()

    @torch.inference_mode()
    def window_loss(self, x: np.ndarray, y: np.ndarray, state: Any) -> tuple[float, Any]:
        output = self.model(torch.from_numpy(x).to(self.device), state,
                            targets=torch.from_numpy(y).to(self.device),
                            ignore_index=IGNORE_INDEX)
        return float(output.loss), output.state

    @torch.inference_mode()
    def trace_gates(self, ids: list[int], layer: int) -> dict[str, np.ndarray]:
        model = self.model
        if model.config.cell != "lstm":
            raise ValueError(f"inspect: gates are plotted for LSTM models, this one is a "
                             f"{model.config.cell}")
        if not 0 <= layer < model.config.num_layers:
            raise ValueError(f"inspect: layer must be in [0, {model.config.num_layers}), got "
                             f"{layer}")
        embedded = model.embedding(torch.tensor([ids], device=self.device))  # (1, T, E)
        _, _, gates = model.rnn(embedded, return_gates=True)
        return {name: gates[f"l{layer}"][name][0].cpu().numpy()
                for name in ("i", "f", "o", "c")}


class LanguageModeling(Task):
    """Language models over a corpus, trained by truncated BPTT (see the module docstring)."""

    name = TASK
    summary = "train a word- or character-level language model"
    description = ("Train a recurrent language model on a plain-text corpus (one sentence or "
                   "line per line; each line ends with </s>). Writes a model directory.")
    files = (VOCAB_FILE,)
    outputs = (CORPUS_DIR,)
    training_defaults = TrainingDefaults(optimizer="sgd", lr=1.0)
    predict_instead = "use 'rnnkit generate' for language models"

    def prepare(self, data: LMData, model_options: dict[str, Any], train: TrainConfig,
                out_dir: Path, *, quiet: bool, **options: Any) -> Prepared:
        """Prepare the corpus into ``out_dir/corpus`` (ids, memory-mapped) and the vocabulary;
        ABC tunes are first split and written there (:func:`write_abc_corpus`)."""
        corpus = data.corpus
        if data.format == "abc":
            corpus = str(write_abc_corpus(data.corpus, data.valid, data.abc_headers,
                                          data.valid_fraction, data.split_seed,
                                          out_dir / CORPUS_DIR))
        tokenizer = get_tokenizer(data.tokenizer)
        prepared = prepare(corpus, out_dir / CORPUS_DIR, tokenizer=tokenizer,
                           max_size=data.max_vocab, min_freq=data.min_freq, eos=True,
                           progress=not quiet)
        require_tokens(prepared.vocab, data.min_freq, corpus).save(out_dir / VOCAB_FILE)
        model_config = LanguageModelConfig(vocab_size=len(prepared.vocab), **model_options)
        return Prepared({"model": model_config.to_dict(),
                         "data": {**asdict(data), "tokenizer_config": tokenizer.config()}})

    def training(self, out_dir: Path, config: dict[str, Any], *, quiet: bool, device: str,
                 seed: int, reuse: dict[str, Any]) -> LanguageModelTraining:
        data_section = dict(config["data"])
        tokenizer_config = data_section.pop("tokenizer_config")
        data = LMData(**data_section)
        tokens = load_prepared(out_dir / CORPUS_DIR).tokens
        vocab = Vocab.load(out_dir / VOCAB_FILE)
        valid = data.valid
        if data.format == "abc":  # the held-out tunes, cleaned as the training tunes were
            valid = out_dir / CORPUS_DIR / VALID_TUNES_FILE
        if valid is not None:
            tokenizer = get_tokenizer(**tokenizer_config)
            train_ids, valid_ids = tokens, encode_file(valid, tokenizer, vocab)
        else:
            cut = int(len(tokens) * (1 - data.valid_fraction))
            train_ids, valid_ids = tokens[:cut], tokens[cut:]
        return LanguageModelTraining(train_ids, valid_ids, data, vocab, seed, device)

    required = (("model", None), ("train", None), ("data", "tokenizer_config"),
                ("data", "level"))

    def build_model(self, config: dict[str, Any]) -> LanguageModel:
        return LanguageModel(LanguageModelConfig.from_dict(config["model"]))

    def pipeline(self, directory: Path, config: dict[str, Any],
                 model: nn.Module) -> LanguageModelPipeline:
        return LanguageModelPipeline(directory, config, TorchLanguageModelBackend(model),
                                     Vocab.load(directory / VOCAB_FILE),
                                     get_tokenizer(**config["data"]["tokenizer_config"]))

    def add_train_arguments(self, parser: argparse.ArgumentParser) -> None:
        data = parser.add_argument_group("data")
        data.add_argument("--data", help="training corpus (UTF-8 text; with --format abc a "
                                         ".abc file or a folder of them, default: music21's "
                                         "bundled folk tunes); required unless --resume")
        data.add_argument("--valid", help="validation corpus; default: the last "
                                          "--valid-fraction of --data (abc: of its tunes)")
        data.add_argument("--valid-fraction", type=float, default=0.1,
                          help="share of the training stream held out when --valid is absent "
                               "(abc: of the tunes, drawn by a seeded shuffle)")
        data.add_argument("--format", choices=FORMATS, default="text",
                          help="text: a plain corpus; abc: tunes in ABC notation, character "
                               "level")
        data.add_argument("--abc-headers", choices=HEADER_CHOICES,
                          help="abc: keep every header field, or strip the tunes to what a "
                               "player needs (X M L Q K P V); None: strip")
        data.add_argument("--split-seed", type=int,
                          help="abc: seed of the shuffle that holds out tunes; None: 0")
        data.add_argument("--level", choices=LEVELS,
                          help="token unit; None: word, or char with --format abc")
        data.add_argument("--lang", choices=LANGS, default="en",
                          help="word tokenizer: English rules, jieba (zh), or both (auto)")
        data.add_argument("--tokenizer", choices=("word", "char", "chinese", "whitespace",
                                                  "auto"),
                          help="override the tokenizer --level/--lang pick (whitespace: "
                               "pre-tokenized text such as PTB)")
        data.add_argument("--max-vocab", type=int, help="vocabulary size cap, specials included")
        data.add_argument("--min-freq", type=int, default=1, help="drop rarer tokens (to <unk>)")
        data.add_argument("--mode", choices=MODES, default="stream",
                          help="stream: truncated BPTT over the running text; sentences: each "
                               "line is one padded sequence <s> … </s>")
        data.add_argument("--batch-size", type=int, default=20,
                          help="parallel streams (or sentences) per batch")
        data.add_argument("--bptt", type=int, default=35, help="steps per truncated-BPTT window")
        data.add_argument("--eval-batch-size", type=int, default=10, help="streams in validation")
        model = add_recurrent_arguments(
            parser, embed=200, hidden=200, layers=2, dropout=0.0,
            dropout_help="dropout on embeddings, between layers and on the output")
        model.add_argument("--tie-weights", action="store_true",
                           help="share the embedding and output matrices (needs --embed == "
                                "--hidden)")
        model.add_argument("--init-range", type=float, default=0.0,
                           help="draw all weights from U(-r, r); 0 keeps the default "
                                "initialisation")
        parser.add_argument("--device", default="cpu",
                            help="where to train: cpu, cuda or cuda:N (exact resume: CPU only)")

    def start(self, args: argparse.Namespace, train: TrainConfig) -> Trainer:
        data = LMData(
            corpus=args.data, valid=args.valid, level=args.level, lang=args.lang,
            batch_size=args.batch_size, bptt=args.bptt, eval_batch_size=args.eval_batch_size,
            valid_fraction=args.valid_fraction, max_vocab=args.max_vocab,
            min_freq=args.min_freq, tokenizer=args.tokenizer, mode=args.mode,
            format=args.format, abc_headers=args.abc_headers, split_seed=args.split_seed,
        )
        if data.format == "abc" and data.corpus is None:
            music21_corpus_folder()  # without music21, fail before the run directory exists
        model = {**recurrent_options(args), "tie_weights": args.tie_weights,
                 "init_range": args.init_range}
        device = str(resolve_device(args.device, "--device"))
        return self.train(data, model, train, args.out, quiet=args.quiet, device=device)

    def needs_data(self, args: argparse.Namespace) -> bool:
        """ABC tunes default to music21's bundled folk corpus; text needs ``--data``."""
        return args.format != "abc"

    def resume_options(self, args: argparse.Namespace) -> dict[str, Any]:
        return {"device": str(resolve_device(args.device, "--device"))}

    def describe_training(self, trainer: Trainer, out: str) -> str:
        rows = [row for row in trainer.history if "valid_loss" in row]
        if not rows:
            return f"model saved in {out}"
        best = min(rows, key=lambda row: row["valid_loss"])
        return (f"best validation loss {best['valid_loss']:.4f} (epoch {best['epoch']}); "
                f"model saved in {out}")

    def add_evaluate_arguments(self, group: argparse._ArgumentGroup) -> None:
        group.add_argument("--batch-size", type=int, default=1, help="LM: parallel streams")
        group.add_argument("--bptt", type=int, default=35, help="LM: steps per window")

    def evaluate_options(self, args: argparse.Namespace) -> dict[str, Any]:
        return {"batch_size": args.batch_size, "bptt": args.bptt, "argument": "--data"}

    def test_options(self, config: dict[str, Any]) -> dict[str, Any]:
        """``--test`` reads the test file as validation reads its own: ``eval_batch_size``
        streams in ``bptt``-step windows (``rnnkit evaluate --batch-size B --bptt T``); its
        errors name ``--test``."""
        return {"batch_size": config["data"]["eval_batch_size"],
                "bptt": config["data"]["bptt"], "argument": "--test"}


LANGUAGE_MODELING = register(LanguageModeling())
