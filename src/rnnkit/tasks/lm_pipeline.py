"""The language model's pipeline, torch-free: prompts and texts in, generated texts, scores
and corpus metrics out. The numbers come from a :class:`LanguageModelBackend` — the torch
model (:class:`rnnkit.tasks.language_modeling.TorchLanguageModelBackend`) or an exported step
and score graph on onnxruntime (:mod:`rnnkit.export.runtime_lm`)."""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from rnnkit.data.abc import read_abc
from rnnkit.data.encoding import encode
from rnnkit.data.readers import read_corpus
from rnnkit.data.streams import LMWindows
from rnnkit.sampling_config import SamplingConfig
from rnnkit.tasks.pipeline import Pipeline
from rnnkit.text import Tokenizer, Vocab
from rnnkit.text.tunes import TUNE_CHARS, GeneratedTune, cut_tune, may_end_tune

TASK = "lm"
CORPUS_DIR = "corpus"
"""The model directory's folder of the prepared training corpus."""
FORMATS = ("text", "abc")
"""What a language model is trained on: plain text, or tunes in ABC notation."""
TRAIN_TUNES_FILE = "train.abc"
"""An ABC model's training tunes, in ``DIR/corpus/`` (one blank line between tunes)."""
VALID_TUNES_FILE = "valid.abc"
"""An ABC model's held-out tunes, in ``DIR/corpus/`` (one blank line between tunes)."""
IGNORE_INDEX = -100
"""A target that counts in no loss (sentence padding)."""
MAX_TOKENS = 1_000_000
"""The most new tokens one generation may ask for (each a step of the model)."""
DEFAULT_MAX_TOKENS = 100
"""New tokens per sample of a text model when a caller does not say (see
:attr:`LanguageModelPipeline.default_max_tokens`)."""
MAX_SAMPLES = 1_000
"""The most samples one generation may ask for (they run as one batch)."""


class LanguageModelBackend(Protocol):
    """What computes for a :class:`LanguageModelPipeline`."""

    device: Any
    parameter_count: int

    def sample_steps(self, prompt: list[int], config: SamplingConfig, num_samples: int,
                     seed: int | None) -> Iterator[np.ndarray]:
        """The tokens ``(B,)`` that ``num_samples`` continuations of ``prompt`` draw at each
        step (see :func:`rnnkit.models.sample_steps`); closing it stops the model."""

    def window_loss(self, x: np.ndarray, y: np.ndarray, state: Any) -> tuple[float, Any]:
        """Mean loss (nats) of targets ``y (B, T)`` (``IGNORE_INDEX`` not counted) after
        ``x (B, T)`` from ``state`` (None: zeros), and the state after the window."""

    def trace_gates(self, ids: list[int], layer: int) -> dict[str, np.ndarray]:
        """An LSTM's gates ``i, f, o, c`` of ``layer`` over ``ids``, each ``(T, H)``."""


def encode_lines(lines: Iterable[str], tokenizer: Tokenizer, vocab: Vocab) -> np.ndarray:
    """Ids of ``lines``, each followed by ``</s>``, as the training stream."""
    ids: list[int] = []
    for line in lines:
        ids += encode(tokenizer.tokenize(line), vocab, eos=True)
    return np.asarray(ids, dtype=np.int64)


def encode_file(path: str | Path, tokenizer: Tokenizer, vocab: Vocab) -> np.ndarray:
    """Ids of a corpus file (its non-blank lines, stripped), as the training stream."""
    return encode_lines(read_corpus(path), tokenizer, vocab)


def encode_tunes(path: str | Path, headers: str, tokenizer: Tokenizer, vocab: Vocab,
                 argument: str = "path") -> np.ndarray:
    """Ids of the ABC tunes of ``path`` (a file or folder) read as an ABC model's training
    tunes were (:func:`rnnkit.data.abc.read_abc` with ``headers``), their lines as a stream;
    errors name ``path`` as ``argument``."""
    tunes = read_abc(path, headers, argument=argument)
    return encode_lines((line for tune in tunes for line in tune.splitlines()), tokenizer,
                        vocab)


def loss_figures(loss: float, level: str) -> dict[str, float]:
    """``loss`` (nats per token), ``ppl = exp(loss)`` and for characters ``bpc = loss /
    ln 2``."""
    figures = {"loss": loss, "ppl": math.exp(min(loss, 50))}
    if level == "char":
        figures["bpc"] = loss / math.log(2)
    return figures


def cut_at_stop(rows: list[list[int]], stop_id: int | None) -> list[list[int]]:
    """Each sample's ids up to (without) its first ``stop_id``."""
    if stop_id is None:
        return rows
    return [row[: row.index(stop_id)] if stop_id in row else row for row in rows]


def _check_samples(n: int, method: str) -> None:
    if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= MAX_SAMPLES:
        raise ValueError(f"{method}: n must be an int from 1 to {MAX_SAMPLES:,}, got {n!r}")


class LanguageModelPipeline(Pipeline):
    """A trained language model: :meth:`generate` text, :meth:`score` texts, :meth:`evaluate`
    a corpus, :meth:`trace_gates` of an LSTM."""

    task = TASK

    def __init__(self, directory: Path, config: dict[str, Any], backend: LanguageModelBackend,
                 vocab: Vocab, tokenizer: Tokenizer) -> None:
        super().__init__(directory, config, backend=backend)
        self.vocab, self.tokenizer = vocab, tokenizer
        self.level = config["data"]["level"]
        self.mode = config["data"].get("mode", "stream")

    @property
    def text_format(self) -> str:
        """What the model was trained on: ``"text"`` or ``"abc"`` (tunes in ABC notation;
        directories written before the format existed hold text)."""
        return self.config["data"].get("format", "text")

    @property
    def held_out_tunes(self) -> Path:
        """An ABC model's held-out tunes (``DIR/corpus/valid.abc``); other models have none
        (a ValueError)."""
        if self.text_format != "abc":
            raise ValueError(f"held_out_tunes: {self.directory} holds a {self.text_format} "
                             "model; only ABC models keep held-out tunes")
        return Path(self.directory) / CORPUS_DIR / VALID_TUNES_FILE

    @property
    def vocabulary_sizes(self) -> dict[str, int]:
        return {"tokens": len(self.vocab)}

    def encode_prompt(self, prompt: str) -> list[int]:
        """The line start the model was trained with (``</s>`` after the previous line in
        stream mode, ``<s>`` in sentence mode) followed by the prompt's ids.

        A character stream learnt each line break as the ``</s>`` that ends a line (and
        :meth:`detokenize` writes it back as one), so a line break in its prompt (an ABC
        tune's header fields, a poem's first lines) is that ``</s>``, not an unknown token.
        """
        start = self.vocab.bos_id if self.mode == "sentences" else self.vocab.eos_id
        by_line = self.level == "char" and self.mode == "stream"
        ids = [start]
        for number, line in enumerate(prompt.split("\n") if by_line else [prompt]):
            if number:
                ids.append(self.vocab.eos_id)
            ids += self.vocab.encode(self.tokenizer.tokenize(line)) if line else []
        return ids

    def detokenize(self, ids: list[int]) -> str:
        tokens = self.vocab.decode(ids)
        if self.level == "char":
            eos = self.vocab.decode([self.vocab.eos_id])[0]
            return "".join("\n" if token == eos else token for token in tokens)
        return self.tokenizer.detokenize(tokens)

    def sampling_config(self, max_tokens: int, temperature: float, top_k: int | None,
                        top_p: float | None, greedy: bool) -> SamplingConfig:
        """The sampling settings of :meth:`generate` and :meth:`generate_stream`, checked:
        words (and sentence-mode models) stop at ``</s>``, and specials other than ``</s>``
        and ``<unk>`` are never drawn."""
        if isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or \
                not 1 <= max_tokens <= MAX_TOKENS:
            raise ValueError(f"generate: max_tokens must be an int from 1 to {MAX_TOKENS:,}, "
                             f"got {max_tokens!r}")
        ignored = {name: value for name, value in (("temperature", temperature),
                                                   ("top_k", top_k), ("top_p", top_p))
                   if value is not None and (name != "temperature" or value != 1.0)}
        if greedy and ignored:
            raise ValueError(f"generate: greedy decoding takes the most likely token; "
                             f"{', '.join(f'{k}={v}' for k, v in ignored.items())} would not "
                             "apply")
        vocab = self.vocab
        banned = tuple(vocab.encode([token])[0] for token in vocab.specials
                       if token not in ("</s>", "<unk>"))
        return SamplingConfig(
            max_new_tokens=max_tokens, temperature=temperature, top_k=top_k, top_p=top_p,
            greedy=greedy,
            stop_id=vocab.eos_id if self.level == "word" or self.mode == "sentences" else None,
            banned_ids=banned,
        )

    @property
    def default_max_tokens(self) -> int:
        """New tokens per sample when a caller does not say: 100, or :data:`TUNE_CHARS` for
        an ABC model, whose samples are whole tunes of a few hundred characters."""
        return TUNE_CHARS if self.text_format == "abc" else DEFAULT_MAX_TOKENS

    def _max_tokens(self, max_tokens: int | None) -> int:
        return self.default_max_tokens if max_tokens is None else max_tokens

    def generate(self, prompt: str | Sequence[str] = "", n: int = 1,
                 max_tokens: int | None = None,
                 temperature: float = 1.0, top_k: int | None = None,
                 top_p: float | None = None, greedy: bool = False,
                 seed: int | None = None) -> list[str] | list[list[str]]:
        """``n`` continuations of ``prompt`` (prompt + continuation texts); for a list of
        prompts, such a list per prompt. Words (and sentence-mode models) stop at ``</s>``,
        stream characters at ``max_tokens`` (None: :attr:`default_max_tokens`; ``</s>``
        there is a line break). An ABC model's
        sample is one tune: it stops at the tune's end and is the tune alone (see
        :meth:`sample_tunes`). ``seed`` makes the samples reproducible (each prompt sampled
        from its own generator so seeded): a torch generator for a model directory, numpy's
        for an export directory, so the two draw from the same distribution but not the same
        samples (greedy decoding gives the same tokens on both)."""
        _check_samples(n, "generate")
        config = self.sampling_config(self._max_tokens(max_tokens), temperature, top_k, top_p,
                                      greedy)
        prompts = [prompt] if isinstance(prompt, str) else list(prompt)
        results = []
        for text in prompts:
            prompt_ids = self.encode_prompt(text)
            if self.text_format == "abc":
                results.append([tune.abc for tune in self._tunes(prompt_ids, config, n, seed)])
                continue
            steps = list(self.backend.sample_steps(prompt_ids, config, n, seed))
            rows = np.stack(steps, axis=1).tolist()  # (B, S)
            samples = cut_at_stop(rows, config.stop_id)
            results.append([self.detokenize(prompt_ids[1:] + sample) for sample in samples])
        return results[0] if isinstance(prompt, str) else results

    def sample_tunes(self, prompt: str = "X:", n: int = 1, max_tokens: int = TUNE_CHARS,
                     temperature: float = 1.0, top_k: int | None = None,
                     top_p: float | None = None, seed: int | None = None
                     ) -> list[GeneratedTune]:
        """``n`` tunes in ABC notation continuing ``prompt``, sampled as one batch of at most
        ``max_tokens`` new characters each (the settings as in :meth:`generate`). Each stops
        at its tune's end (:func:`~rnnkit.text.tunes.cut_tune`: from its ``X:`` line to a
        blank line or the next ``X:``) and says whether it got there within ``max_tokens``.

        Any character model trained in stream mode can write tunes (an ABC model, or one that
        read a plain file of tunes); a word model or a sentence-mode one (each line a sample
        of its own) is a ValueError naming its level or mode.
        """
        if self.level != "char" or self.mode != "stream":
            setting = f"level={self.level!r}" if self.level != "char" else \
                f"mode={self.mode!r}"
            raise ValueError(f"sample_tunes: ABC tunes need a character-level model trained "
                             f"in stream mode, got {setting}")
        _check_samples(n, "sample_tunes")
        config = self.sampling_config(max_tokens, temperature, top_k, top_p, greedy=False)
        return self._tunes(self.encode_prompt(prompt), config, n, seed)

    def _tunes(self, prompt_ids: list[int], config: SamplingConfig, n: int,
               seed: int | None) -> list[GeneratedTune]:
        """The tunes of ``n`` samples after ``prompt_ids``; the model stops once every sample
        has ended its tune (or at ``config.max_new_tokens``)."""
        # characters: each sample's text grows by one token's text per step
        texts = [self.detokenize(prompt_ids[1:])] * n
        finished: list[GeneratedTune | None] = [None] * n
        steps = self.backend.sample_steps(prompt_ids, config, n, seed)
        try:
            for tokens in steps:  # (B,)
                for index, token in enumerate(tokens.tolist()):
                    if finished[index] is None:
                        piece = self.detokenize([int(token)])
                        texts[index] += piece
                        if may_end_tune(piece):
                            tune = cut_tune(texts[index])
                            finished[index] = tune if tune.ended else None
                if None not in finished:
                    break
        finally:
            steps.close()
        return [tune or cut_tune(text) for tune, text in zip(finished, texts)]

    def generate_stream(self, prompt: str = "", max_tokens: int | None = None,
                        temperature: float = 1.0, top_k: int | None = None,
                        top_p: float | None = None, greedy: bool = False,
                        seed: int | None = None) -> Iterator[str]:
        """One continuation of ``prompt``, token by token: the text so far (prompt +
        continuation) after each new token. The last text is ``generate(prompt, n=1, …)``'s
        with the same arguments and seed: ``</s>`` ends it where ``generate`` stops, and an
        ABC model's ends at its tune's end, the last text being the tune alone (its lead-in
        and the end's blank line or ``X:`` dropped).

        The settings are checked when this is called; the model runs as the texts are
        taken, and closing the iterator stops it (a client that went away).
        """
        if not isinstance(prompt, str):
            raise TypeError(f"generate_stream: prompt must be a str, got "
                            f"{type(prompt).__name__}")
        config = self.sampling_config(self._max_tokens(max_tokens), temperature, top_k, top_p,
                                      greedy)
        return self._stream(self.encode_prompt(prompt), config, seed)

    def _stream(self, prompt_ids: list[int], config: SamplingConfig,
                seed: int | None) -> Iterator[str]:
        new_ids: list[int] = []
        steps = self.backend.sample_steps(prompt_ids, config, 1, seed)
        try:
            for token in steps:
                token_id = int(token[0])
                if token_id == config.stop_id:
                    return
                new_ids.append(token_id)
                text = self.detokenize(prompt_ids[1:] + new_ids)
                last = len(new_ids) == config.max_new_tokens
                if self.text_format == "abc" and (
                        last or may_end_tune(self.detokenize([token_id]))):
                    tune = cut_tune(text)
                    if tune.ended or last:
                        yield tune.abc
                        return
                yield text
        finally:
            steps.close()

    def score(self, texts: str | Sequence[str]) -> dict[str, float] | list[dict[str, float]]:
        """Per text (each read as one line, from the line start to its ``</s>``): ``loss``
        (nats per token), ``ppl`` (and ``bpc`` for characters) and ``tokens``."""
        lines = [texts] if isinstance(texts, str) else list(texts)
        if not lines:
            raise ValueError("score: no texts to score (an empty list)")
        scores = []
        for line in lines:
            ids = np.asarray([self.encode_prompt(line) + [self.vocab.eos_id]])  # (1, T + 1)
            loss, _ = self.backend.window_loss(ids[:, :-1], ids[:, 1:], None)
            scores.append({**loss_figures(loss, self.level), "tokens": ids.shape[1] - 1})
        return scores[0] if isinstance(texts, str) else scores

    def evaluate(self, path: str | Path, batch_size: int = 1, bptt: int = 35,
                 argument: str = "path") -> dict[str, float]:
        """Loss (nats/token), perplexity and, for characters, bits per character on a
        corpus file, its lines read as one stream of ``batch_size`` rows in ``bptt``-step
        windows (the state carried from window to window); plus the token count and the
        share of unknown tokens. An ABC model reads the file's tunes as its training tunes
        were read (comments and free text dropped, headers kept or stripped alike), so its
        ``DIR/corpus/valid.abc`` scores what validation scored; a path that holds no tune is
        a ValueError naming it as ``argument`` (``--data`` on the command line)."""
        if self.text_format == "abc":
            ids = encode_tunes(path, self.config["data"]["abc_headers"], self.tokenizer,
                               self.vocab, argument)
        else:
            ids = encode_file(path, self.tokenizer, self.vocab)
        total, count, state = 0.0, 0, None
        for x, y in LMWindows(ids, batch_size, bptt):  # (B, T) each
            loss, state = self.backend.window_loss(x, y, state)
            targets = int((y != IGNORE_INDEX).sum())
            total += loss * targets
            count += targets
        metrics = loss_figures(total / count, self.level)
        metrics["tokens"] = float(len(ids))
        metrics["oov_rate"] = float(np.mean(ids == self.vocab.unk_id))
        return metrics

    def trace_gates(self, text: str, layer: int = 0) -> tuple[list[str], dict[str, np.ndarray]]:
        """Run ``text`` through an LSTM model; the tokens and each step's gates of ``layer``.

        Returns the tokens (the line start first) and ``i, f, o, c`` as ``(T, H)`` arrays.
        """
        ids = self.encode_prompt(text)
        return self.vocab.decode(ids), self.backend.trace_gates(ids, layer)
