"""Language modelling: corpus → prepared id stream → LanguageModel trained by truncated BPTT.

The training corpus is prepared once into ``DIR/corpus/`` (vocabulary + memory-mapped ids,
each line followed by ``</s>``), so corpora larger than memory train in bounded memory. Two
modes: ``stream`` (truncated BPTT: the hidden state is carried, detached, from one
``(batch, bptt)`` window to the next within an epoch) and ``sentences`` (each line is one
sequence ``<s> w_1 … w_n </s>``, padded into length-bucketed batches, padding masked out of
the loss, the state starting from zero for every sentence — the seed's setup). Word level uses English rules, jieba or both (``lang``); character level keeps spaces,
and ``</s>`` stands for the line break.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from rnnkit.data import BucketBatchSampler, LMStream, encode, load_prepared, prepare, read_corpus
from rnnkit.models import (
    LanguageModel,
    LanguageModelConfig,
    SamplingConfig,
    detach_state,
    generate,
    map_state,
)
from rnnkit.text import TOKENIZERS, Tokenizer, Vocab, get_tokenizer
from rnnkit.train import StepOutput, TrainConfig, Trainer
from rnnkit.train.model_dir import (
    VOCAB_FILE,
    ModelDirectoryError,
    load_weights,
    read_config,
    require_files,
    write_config,
)

TASK = "lm"
CORPUS_DIR = "corpus"
LEVELS = ("word", "char")
MODES = ("stream", "sentences")
IGNORE_INDEX = -100
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
class LMData:
    """How the corpus becomes batches (stored in config.json under ``data``).

    ``tokenizer`` defaults to the one :func:`tokenizer_name` picks for ``level`` and ``lang``;
    ``"whitespace"`` suits pre-tokenized corpora such as PTB.
    """

    corpus: str
    valid: str | None = None
    level: str = "word"
    lang: str = "en"
    batch_size: int = 20
    bptt: int = 35
    eval_batch_size: int = 10
    valid_fraction: float = 0.1
    max_vocab: int | None = None
    min_freq: int = 1
    tokenizer: str | None = None
    mode: str = "stream"

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}, got {self.mode!r}")
        name = tokenizer_name(self.level, self.lang)
        if self.tokenizer is not None and self.tokenizer not in TOKENIZERS:
            raise ValueError(f"tokenizer must be one of {', '.join(TOKENIZERS)}, "
                             f"got {self.tokenizer!r}")
        if self.tokenizer is not None and (self.tokenizer == "char") != (self.level == "char"):
            raise ValueError(f"tokenizer {self.tokenizer!r} does not fit level {self.level!r}")
        if self.tokenizer is None:
            object.__setattr__(self, "tokenizer", name)
        for name in ("batch_size", "bptt", "eval_batch_size", "min_freq"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.valid is None and not 0 < self.valid_fraction < 1:
            raise ValueError(f"valid_fraction must be in (0, 1), got {self.valid_fraction}")


def encode_file(path: str | Path, tokenizer: Tokenizer, vocab: Vocab) -> np.ndarray:
    """Ids of a corpus file, each line followed by ``</s>``, as the training stream."""
    ids: list[int] = []
    for line in read_corpus(path):
        ids += encode(tokenizer.tokenize(line), vocab, eos=True)
    return np.asarray(ids, dtype=np.int64)


class SentenceBatches:
    """Padded ``(x, y)`` batches of the sentences of an id stream (the spans between ``</s>``).

    ``x = <s> w_1 … w_n`` and ``y = w_1 … w_n </s>``, LongTensors ``(B, T)``; ``x`` is padded
    with ``<pad>`` and ``y`` with ``IGNORE_INDEX``, so padding never counts in the loss.
    Batches group sentences of similar length (:class:`BucketBatchSampler`), shuffled by
    ``epoch`` when ``shuffle``; the same epoch always gives the same batches.
    """

    def __init__(self, ids: np.ndarray, vocab: Vocab, batch_size: int, shuffle: bool,
                 epoch: int = 0, seed: int = 0) -> None:
        ends = np.flatnonzero(np.asarray(ids) == vocab.eos_id)  # (N,) positions of </s>
        starts = np.concatenate([[0], ends[:-1] + 1])
        keep = ends > starts  # an empty line has no tokens to predict but </s>; keep it out
        self._ids, self._starts, self._ends = ids, starts[keep], ends[keep]
        if len(self._starts) == 0:
            raise ValueError("sentences mode: the corpus has no non-empty sentence")
        sampler = BucketBatchSampler(self._ends - self._starts, batch_size, shuffle=shuffle,
                                     seed=seed)
        sampler.set_epoch(epoch)
        self._batches = list(sampler)
        self._bos, self._eos, self._pad = vocab.bos_id, vocab.eos_id, vocab.pad_id

    def __len__(self) -> int:
        return len(self._batches)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        sentences = [np.asarray(self._ids[self._starts[i]:self._ends[i]], dtype=np.int64)
                     for i in self._batches[index]]
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


class LanguageModelingTask:
    """The trainer's view of language modelling (see ``rnnkit.train.TrainingTask``)."""

    name = "language model"
    unit = "tokens"

    def __init__(self, train_ids, valid_ids, data: LMData, vocab: Vocab, seed: int = 0,
                 device: torch.device | str = "cpu") -> None:
        self.data, self.vocab, self.seed = data, vocab, seed
        self.level = data.level
        self.device = torch.device(device)
        self._train_ids = train_ids
        if data.mode == "stream":
            self.train = LMStream(train_ids, data.batch_size, data.bptt)
            self.valid = None if valid_ids is None else LMStream(
                valid_ids, data.eval_batch_size, data.bptt)
        else:
            self.train = None
            self.valid = None if valid_ids is None else SentenceBatches(
                valid_ids, vocab, data.eval_batch_size, shuffle=False)

    def train_batches(self, epoch: int) -> LMStream | SentenceBatches:
        if self.train is not None:
            return self.train
        return SentenceBatches(self._train_ids, self.vocab, self.data.batch_size, shuffle=True,
                               epoch=epoch, seed=self.seed)

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
        return stream_metrics(model, self.valid, self.level, self.device,
                              carry_state=self.data.mode == "stream")

    def describe(self, loss: float) -> dict[str, float]:
        """Perplexity for words, bits per character for characters."""
        if self.level == "char":
            return {"bpc": loss / math.log(2)}
        return {"ppl": math.exp(min(loss, 50))}


@torch.no_grad()
def stream_metrics(
    model: nn.Module, batches, level: str, device: torch.device | str = "cpu",
    carry_state: bool = True,
) -> dict[str, float]:
    """Mean loss (nats per target token) over ``(x, y)`` batches, plus ppl (and bpc).

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
    loss = total / count
    metrics = {"loss": loss, "ppl": math.exp(min(loss, 50))}
    if level == "char":
        metrics["bpc"] = loss / math.log(2)
    return metrics


def train_language_model(
    data: LMData,
    model_options: dict[str, Any],
    train: TrainConfig,
    out_dir: str | Path,
    quiet: bool = False,
    callbacks=(),
    device: str = "cpu",
) -> Trainer:
    """Prepare the corpus, write the model directory and train; returns the finished trainer."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    tokenizer = get_tokenizer(data.tokenizer)
    prepared = prepare(data.corpus, out_dir / CORPUS_DIR, tokenizer=tokenizer,
                       max_size=data.max_vocab, min_freq=data.min_freq, eos=True,
                       progress=not quiet)
    prepared.vocab.save(out_dir / VOCAB_FILE)
    model_config = LanguageModelConfig(vocab_size=len(prepared.vocab), **model_options)
    write_config(out_dir, TASK, {
        "model": model_config.to_dict(),
        "data": {**data.__dict__, "tokenizer_config": tokenizer.config()},
        "train": train.to_dict(),
    })
    trainer = _trainer(out_dir, quiet, callbacks, device)
    trainer.fit()
    return trainer


RESUME_LIMITS = ("epochs", "max_steps", "max_minutes")


def resume_language_model(
    out_dir: str | Path,
    quiet: bool = False,
    callbacks=(),
    device: str = "cpu",
    limits: dict[str, Any] | None = None,
) -> Trainer:
    """Continue an interrupted run of :func:`train_language_model` exactly where it stopped.

    ``limits`` may replace the stored stopping limits (``epochs``, ``max_steps``,
    ``max_minutes``), e.g. to go on after a ``max_steps`` stop; nothing else can change.
    """
    out_dir = Path(out_dir)
    if limits:
        unknown = sorted(set(limits) - set(RESUME_LIMITS))
        if unknown:
            raise ValueError(f"resume: only {', '.join(RESUME_LIMITS)} can change, "
                             f"got {unknown}")
        config = _read_lm_config(out_dir)
        train = TrainConfig.from_dict({**config["train"], **limits})
        write_config(out_dir, TASK, {key: value for key, value in config.items()
                                     if key in ("model", "data")} | {"train": train.to_dict()})
    trainer = _trainer(out_dir, quiet, callbacks, device)
    trainer.fit(resume=True)
    return trainer


def _read_lm_config(directory: Path) -> dict[str, Any]:
    """config.json of an LM directory, with its sections checked."""
    config = read_config(directory, TASK)
    for section, key in (("model", None), ("train", None), ("data", "tokenizer_config"),
                         ("data", "level")):
        if section not in config or (key is not None and key not in config[section]):
            missing = section if key is None else f"{section}.{key}"
            raise ModelDirectoryError(f"{directory / 'config.json'} is incomplete: no {missing}")
    return config


def _trainer(out_dir: Path, quiet: bool, callbacks, device: str) -> Trainer:
    config = _read_lm_config(out_dir)
    data_section = dict(config["data"])
    tokenizer_config = data_section.pop("tokenizer_config")
    data = LMData(**data_section)
    tokens = _prepared_tokens(out_dir)
    vocab = Vocab.load(out_dir / VOCAB_FILE)
    if data.valid is not None:
        tokenizer = get_tokenizer(**tokenizer_config)
        train_ids, valid_ids = tokens, encode_file(data.valid, tokenizer, vocab)
    else:
        cut = int(len(tokens) * (1 - data.valid_fraction))
        train_ids, valid_ids = tokens[:cut], tokens[cut:]
    seed = TrainConfig.from_dict(config["train"]).seed
    task = LanguageModelingTask(train_ids, valid_ids, data, vocab, seed, device)
    torch.manual_seed(seed)
    model = LanguageModel(LanguageModelConfig.from_dict(config["model"])).to(device)
    return Trainer(model, task, TrainConfig.from_dict(config["train"]), out_dir, quiet=quiet,
                   callbacks=callbacks)


def _prepared_tokens(out_dir: Path) -> np.ndarray:
    return load_prepared(out_dir / CORPUS_DIR).tokens


@dataclass
class LoadedLanguageModel:
    """A trained model directory, ready to generate and evaluate."""

    model: LanguageModel
    vocab: Vocab
    tokenizer: Tokenizer
    level: str
    config: dict[str, Any]
    mode: str = "stream"

    def encode_prompt(self, prompt: str) -> list[int]:
        """The line start the model was trained with (``</s>`` after the previous line in
        stream mode, ``<s>`` in sentence mode) followed by the prompt's ids."""
        tokens = self.tokenizer.tokenize(prompt) if prompt else []
        start = self.vocab.bos_id if self.mode == "sentences" else self.vocab.eos_id
        return [start, *self.vocab.encode(tokens)]

    def detokenize(self, ids: list[int]) -> str:
        tokens = self.vocab.decode(ids)
        if self.level == "char":
            eos = self.vocab.decode([self.vocab.eos_id])[0]
            return "".join("\n" if token == eos else token for token in tokens)
        return self.tokenizer.detokenize(tokens)


def load_language_model(directory: str | Path) -> LoadedLanguageModel:
    """Load a model directory written by :func:`train_language_model`."""
    directory = require_files(directory, "config.json", VOCAB_FILE, "model.safetensors")
    config = _read_lm_config(directory)
    vocab = Vocab.load(directory / VOCAB_FILE)
    model = LanguageModel(LanguageModelConfig.from_dict(config["model"]))
    load_weights(directory, model)
    model.eval()
    tokenizer = get_tokenizer(**config["data"]["tokenizer_config"])
    return LoadedLanguageModel(model, vocab, tokenizer, config["data"]["level"], config,
                               config["data"].get("mode", "stream"))


def generate_text(
    loaded: LoadedLanguageModel,
    prompt: str = "",
    num_samples: int = 1,
    max_new_tokens: int = 100,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    greedy: bool = False,
    seed: int | None = None,
) -> list[str]:
    """Continue ``prompt`` ``num_samples`` times; words (and sentence-mode models) stop at
    ``</s>``, stream characters at the token budget (``</s>`` there is a line break).
    Returns prompt + continuation texts."""
    vocab = loaded.vocab
    banned = tuple(vocab.encode([token])[0] for token in vocab.specials
                   if token not in ("</s>", "<unk>"))
    config = SamplingConfig(
        max_new_tokens=max_new_tokens, temperature=temperature, top_k=top_k, top_p=top_p,
        greedy=greedy,
        stop_id=vocab.eos_id if loaded.level == "word" or loaded.mode == "sentences" else None,
        banned_ids=banned,
    )
    generator = torch.Generator().manual_seed(seed) if seed is not None else None
    prompt_ids = loaded.encode_prompt(prompt)
    samples = generate(loaded.model, prompt_ids, config, num_samples, generator)
    return [loaded.detokenize(prompt_ids[1:] + sample) for sample in samples]


def evaluate_language_model(
    loaded: LoadedLanguageModel, path: str | Path, batch_size: int = 1, bptt: int = 35
) -> dict[str, float]:
    """Loss (nats/token), perplexity and, for characters, bits per character on a file."""
    ids = encode_file(path, loaded.tokenizer, loaded.vocab)
    stream = LMStream(ids, batch_size, bptt)
    metrics = stream_metrics(loaded.model, stream, loaded.level)
    metrics["tokens"] = float(len(ids))
    metrics["oov_rate"] = float(np.mean(ids == loaded.vocab.unk_id))
    return metrics


@torch.no_grad()
def trace_gates(
    loaded: LoadedLanguageModel, text: str, layer: int = 0
) -> tuple[list[str], dict[str, np.ndarray]]:
    """Run ``text`` through an LSTM model; the tokens and each step's gates of ``layer``.

    Returns the tokens (``</s>`` first, the line start the model reads) and ``i, f, o, c`` as
    ``(T, H)`` arrays.
    """
    model = loaded.model
    if model.config.cell != "lstm":
        raise ValueError(f"inspect: gates are plotted for LSTM models, this one is a "
                         f"{model.config.cell}")
    if not 0 <= layer < model.config.num_layers:
        raise ValueError(f"inspect: layer must be in [0, {model.config.num_layers}), got {layer}")
    ids = loaded.encode_prompt(text)
    embedded = model.embedding(torch.tensor([ids]))  # (1, T, E)
    _, _, gates = model.rnn(embedded, return_gates=True)
    tokens = loaded.vocab.decode(ids)
    return tokens, {name: gates[f"l{layer}"][name][0].numpy() for name in ("i", "f", "o", "c")}
