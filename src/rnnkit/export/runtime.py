"""Pipelines over an export directory: each task's onnxruntime backend, and
:func:`load_export`, which :func:`rnnkit.load` calls for a directory with ``export.json``.

The pipelines are the task's own (:mod:`rnnkit.tasks.lm_pipeline` …): only the numbers come
from onnxruntime here, so text handling, batching and metrics are the torch path's. Nothing
here imports torch. Loading checks config.json and the vocabularies against the graphs'
fixed sizes and refuses a mismatch naming the file and the two values.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from rnnkit.data.arrays import lengths_array, pad_array, pad_nested_array
from rnnkit.export.manifest import ExportDirectoryError, Manifest, read_manifest
from rnnkit.export.sampling import next_tokens
from rnnkit.export.search import DecoderState, Memory, beam_search, greedy
from rnnkit.export.sessions import Graph
from rnnkit.export.viterbi import negative_log_likelihood, viterbi
from rnnkit.sampling_config import SamplingConfig
from rnnkit.tasks.classification_data import data_from_section
from rnnkit.tasks.classifier_pipeline import ClassifierMember, ClassifierPipeline
from rnnkit.tasks.common import ordered_batches, read_string_list
from rnnkit.tasks.lm_pipeline import IGNORE_INDEX, LanguageModelPipeline
from rnnkit.tasks.pipeline import Pipeline
from rnnkit.tasks.tagger_pipeline import TaggerPipeline, read_vocabularies
from rnnkit.tasks.translator_pipeline import TranslatorPipeline
from rnnkit.tasks.translator_pipeline import read_vocabularies as read_translation_vocabularies
from rnnkit.text import SubwordHasher, Vocab, get_tokenizer
from rnnkit.train.directory import VOCAB_FILE, read_config

DEVICE = "cpu (onnxruntime)"


class ExportBackend:
    """What every onnxruntime backend shares: where it runs, its weights, no torch model."""

    device = DEVICE

    def __init__(self, graphs: Sequence[Graph]) -> None:
        self.graphs = list(graphs)

    @property
    def parameter_count(self) -> int:
        return sum(graph.parameter_count for graph in self.graphs)

    @property
    def model(self) -> Any:
        raise AttributeError("an export directory's pipeline runs ONNX graphs on onnxruntime "
                             "and has no PyTorch model; load the source model directory for it")


class OnnxLanguageModelBackend(ExportBackend):
    """A language model's ``step`` graph (generation) and ``score`` graph (losses)."""

    def __init__(self, manifest: Manifest) -> None:
        self.step, self.scorer = Graph(manifest, "step"), Graph(manifest, "score")
        super().__init__([self.step, self.scorer])
        self.has_cell = "c" in self.step.inputs

    def _zeros(self, graph: Graph, name: str, batch: int) -> np.ndarray:
        layers, _, size = graph.inputs[name].shape  # (L, B, H)
        return np.zeros((layers, batch, size), dtype=np.float32)

    def _state(self, graph: Graph, state: Any, batch: int) -> dict[str, np.ndarray]:
        if state is not None:
            return state
        names = ("h", "c") if self.has_cell else ("h",)
        return {name: self._zeros(graph, name, batch) for name in names}

    def sample_steps(self, prompt: list[int], config: SamplingConfig, num_samples: int,
                     seed: int | None) -> Iterator[np.ndarray]:
        if not prompt:
            raise ValueError("generate: prompt must hold at least one token id")
        generator = np.random.default_rng(seed)
        ids = np.asarray([prompt] * num_samples, dtype=np.int64)  # (B, T)
        output = self.step.run(ids=ids, **self._state(self.step, None, num_samples))
        finished = np.zeros(num_samples, dtype=bool)
        for step in range(config.max_new_tokens):
            token = next_tokens(output["logits"][:, -1], config, generator)  # (B,)
            yield token
            if config.stop_id is not None:
                finished |= token == config.stop_id
                if finished.all():
                    return
            if step + 1 == config.max_new_tokens:
                return
            state = {"h": output["h_out"]}
            if self.has_cell:
                state["c"] = output["c_out"]
            output = self.step.run(ids=token[:, None], **state)  # one step: (B, 1)

    def window_loss(self, x: np.ndarray, y: np.ndarray, state: Any) -> tuple[float, Any]:
        lengths = np.full(len(x), x.shape[1], dtype=np.int64)  # (B,)
        valid = y != IGNORE_INDEX  # (B, T)
        output = self.scorer.run(ids=x, targets=np.where(valid, y, 0), lengths=lengths,
                                 **self._state(self.scorer, state, len(x)))
        log_probs = output["log_probs"] * valid  # (B, T)
        state = {"h": output["h_out"]}
        if self.has_cell:
            state["c"] = output["c_out"]
        return float(-log_probs.sum() / valid.sum()), state

    def trace_gates(self, ids: list[int], layer: int) -> dict[str, np.ndarray]:
        raise ValueError("inspect: an export directory's graphs give no gate values; load the "
                         "source model directory to trace gates")


class OnnxClassifierBackend(ExportBackend):
    """A classifier's graph: ids, lengths (and subwords) → probabilities."""

    def __init__(self, manifest: Manifest) -> None:
        self.graph = Graph(manifest, "classifier")
        super().__init__([self.graph])

    def probabilities(self, ids: Sequence[Sequence[int]],
                      subwords: Sequence[Sequence[Sequence[int]]] | None,
                      batch_size: int = 64) -> np.ndarray:
        probabilities = None
        for indices in ordered_batches(ids, batch_size):
            chosen = [ids[index] for index in indices]
            inputs = {"ids": pad_array(chosen), "lengths": lengths_array(chosen)}  # (B, T), (B,)
            if subwords is not None:
                inputs["subwords"] = pad_nested_array([subwords[i] for i in indices])
            rows = self.graph.run(**inputs)["probabilities"]  # (B, C)
            if probabilities is None:
                probabilities = np.empty((len(ids), rows.shape[1]), dtype=np.float32)
            probabilities[indices] = rows
        return probabilities


class OnnxTaggerBackend(ExportBackend):
    """A tagger's emissions graph, decoded by Viterbi in numpy (a CRF) or the argmax."""

    def __init__(self, manifest: Manifest) -> None:
        self.graph = Graph(manifest, "tagger")
        super().__init__([self.graph])
        self.crf = manifest.crf() if manifest.decoder == "viterbi" else None
        self.loss_unit = "sentences" if self.crf is not None else "tokens"

    def _emissions(self, words: np.ndarray, lengths: np.ndarray,
                   chars: np.ndarray) -> np.ndarray:
        return self.graph.run(ids=words, lengths=lengths, chars=chars)["emissions"]  # (B, T, C)

    def decode(self, words: np.ndarray, lengths: np.ndarray,
               chars: np.ndarray) -> list[list[int]]:
        emissions = self._emissions(words, lengths, chars)
        if self.crf is not None:
            return viterbi(emissions, lengths, **self.crf)
        best = emissions.argmax(axis=-1)  # (B, T)
        return [best[row, :length].tolist() for row, length in enumerate(lengths.tolist())]

    def loss(self, words: np.ndarray, lengths: np.ndarray, chars: np.ndarray,
             tags: np.ndarray) -> float:
        emissions = self._emissions(words, lengths, chars).astype(np.float64)  # (B, T, C)
        if self.crf is not None:
            crf = {name: value.astype(np.float64) for name, value in self.crf.items()}
            return float(negative_log_likelihood(emissions, lengths, tags, **crf).mean())
        mask = np.arange(words.shape[1])[None, :] < lengths[:, None]  # (B, T)
        peak = emissions.max(axis=-1, keepdims=True)
        log_z = np.log(np.exp(emissions - peak).sum(axis=-1)) + peak[..., 0]  # (B, T)
        gold = np.take_along_axis(emissions, tags[..., None], axis=-1)[..., 0]  # (B, T)
        return float((log_z - gold)[mask].mean())


class OnnxTranslatorBackend(ExportBackend):
    """A translator's encoder and decoder-step graphs, searched in numpy."""

    def __init__(self, manifest: Manifest, model: dict[str, Any]) -> None:
        self.encoder, self.decoder = Graph(manifest, "encoder"), Graph(manifest, "decoder_step")
        super().__init__([self.encoder, self.decoder])
        self.bos_id, self.eos_id = model.get("bos_id", 2), model.get("eos_id", 3)
        self.pad_id = model.get("pad_id", 0)

    def _encode(self, source: np.ndarray, lengths: np.ndarray
                ) -> tuple[Memory, DecoderState]:
        output = self.encoder.run(source=source, lengths=lengths)
        return (Memory(output["memory"], lengths),
                DecoderState(output["h"], output["c"], output["feed"]))

    def _step(self, previous: np.ndarray, state: DecoderState, memory: Memory
              ) -> tuple[np.ndarray, DecoderState, np.ndarray]:
        output = self.decoder.run(previous=previous, h=state.h, c=state.c, feed=state.feed,
                                  memory=memory.states, lengths=memory.lengths)
        return (output["log_probs"],
                DecoderState(output["h_out"], output["c_out"], output["feed_out"]),
                output.get("attention"))

    def decode(self, source: np.ndarray, lengths: np.ndarray, max_length: int,
               beam_width: int, length_penalty: float) -> list[list[int]]:
        memory, state = self._encode(source, lengths)
        if beam_width == 1:
            return greedy(self._step, memory, state, max_length, self.bos_id, self.eos_id)
        return beam_search(self._step, memory, state, max_length, beam_width, length_penalty,
                           self.bos_id, self.eos_id, self.pad_id)

    def attention(self, source_ids: list[int], output: list[int]) -> np.ndarray:
        if "attention" not in self.decoder.outputs:
            raise ValueError("translate: this export's decoder graph gives no attention "
                             "weights; return_attention needs them")
        memory, state = self._encode(np.asarray([source_ids], dtype=np.int64),
                                     np.asarray([len(source_ids)], dtype=np.int64))
        rows = []
        for previous in [self.bos_id, *output]:  # teacher-forced on what decoding fed it
            _, state, weights = self._step(np.asarray([previous], dtype=np.int64), state,
                                           memory)
            rows.append(weights[0])
        return np.stack(rows)  # (T + 1, S)


def _language_model(manifest: Manifest, config: dict[str, Any]) -> Pipeline:
    vocab = Vocab.load(manifest.directory / VOCAB_FILE)
    backend = OnnxLanguageModelBackend(manifest)
    backend.step.expect("logits", -1, len(vocab), "the vocabulary size",
                        str(manifest.directory / VOCAB_FILE))
    hidden = config["model"].get("hidden_size")
    if hidden is not None and not config["model"].get("rnn_options", {}).get("proj_size"):
        backend.step.expect("h", -1, hidden, "model.hidden_size",
                            str(manifest.directory / "config.json"))
    return LanguageModelPipeline(manifest.directory, config, backend, vocab,
                                 get_tokenizer(**config["data"]["tokenizer_config"]))


def _classifier_member(manifest: Manifest, config: dict[str, Any]) -> ClassifierMember:
    labels_path = manifest.directory / "labels.json"
    labels = read_string_list(labels_path, "label")
    backend = OnnxClassifierBackend(manifest)
    backend.graph.expect("probabilities", -1, len(labels), "the number of labels",
                         str(labels_path))
    vocab = Vocab.load(manifest.directory / VOCAB_FILE)
    model = manifest.model
    hasher = (SubwordHasher(model["subword_buckets"], model["subword_min_n"],
                            model["subword_max_n"]) if model.get("subword_buckets") else None)
    return ClassifierMember(manifest.directory, backend, vocab, labels,
                            get_tokenizer(**config["data"]["tokenizer_config"]),
                            data_from_section(config["data"]), hasher)


def _tagger(manifest: Manifest, config: dict[str, Any]) -> Pipeline:
    vocabs = read_vocabularies(manifest.directory)
    backend = OnnxTaggerBackend(manifest)
    backend.graph.expect("emissions", -1, len(vocabs.tags), "the number of tags",
                         str(manifest.directory / "tags.json"))
    if backend.crf is not None and len(backend.crf["start"]) != len(vocabs.tags):
        raise ExportDirectoryError(
            f"{manifest.directory / 'crf.npz'} does not match "
            f"{manifest.directory / 'tags.json'}: {len(vocabs.tags)} tags there but "
            f"{len(backend.crf['start'])} CRF scores; re-export the model directory")
    return TaggerPipeline(manifest.directory, config, backend, vocabs)


def _translator(manifest: Manifest, config: dict[str, Any]) -> Pipeline:
    vocabs = read_translation_vocabularies(manifest.directory)
    backend = OnnxTranslatorBackend(manifest, config["model"])
    backend.decoder.expect("log_probs", -1, len(vocabs.target), "the target vocabulary size",
                           str(manifest.directory / "target_vocab.json"))
    hidden = config["model"].get("hidden_size")
    if hidden is not None:
        backend.decoder.expect("h", -1, hidden, "model.hidden_size",
                               str(manifest.directory / "config.json"))
    return TranslatorPipeline(manifest.directory, config, backend, vocabs)


def load_export(path: str | Path | Sequence[str | Path], device: str | None = None
                ) -> Pipeline:
    """The task's pipeline over the export directory ``path`` on onnxruntime (a list of
    classifier export directories is an ensemble). ``device`` must be cpu (or None)."""
    if device is not None and str(device) != "cpu":
        raise ValueError(f"device {str(device)!r}: an export directory runs on onnxruntime's "
                         "CPU provider; use device='cpu' or load the source model directory")
    paths = [path] if isinstance(path, str | Path) else list(path)
    if not paths:
        raise ValueError("load: expected an export directory or a list of them, got an empty "
                         "list")
    manifests = [read_manifest(item) for item in paths]
    configs = [read_config(manifest.directory, manifest.task) for manifest in manifests]
    if len(manifests) > 1:
        if any(manifest.task != "classify" for manifest in manifests):
            found = ", ".join(f"{m.directory}: {m.task}" for m in manifests)
            raise ValueError(f"load: several export directories form an ensemble of "
                             f"classifiers only; got {found}")
        members = [_classifier_member(m, c) for m, c in zip(manifests, configs)]
        return ClassifierPipeline(members, configs[0])
    manifest, config = manifests[0], configs[0]
    if manifest.task == "classify":
        return ClassifierPipeline([_classifier_member(manifest, config)], config)
    build = {"lm": _language_model, "tag": _tagger, "translate": _translator}[manifest.task]
    return build(manifest, config)
