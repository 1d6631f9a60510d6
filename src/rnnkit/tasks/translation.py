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

import argparse
import json
from collections.abc import Iterable, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import torch
from torch import Tensor, nn

from rnnkit.data import BucketBatchSampler, pad_sequences, read_corpus
from rnnkit.models.seq2seq import ATTENTIONS, Seq2Seq, Seq2SeqConfig
from rnnkit.tasks.arguments import add_data_files, add_select_argument
from rnnkit.tasks.common import (
    ordered_batches,
    require_tokens,
    split_held_out,
    validation_source,
)
from rnnkit.tasks.contract import Pipeline, Prepared, Task, register
from rnnkit.tasks.pipeline import ModelBackend
from rnnkit.tasks.selection import check_select
from rnnkit.tasks.translator_pipeline import (
    SOURCE_VOCAB,
    TARGET_VOCAB,
    TASK,
    TOKENIZER_NAMES,
    Translation,
    TranslationData,
    TranslatorPipeline,
    Vocabularies,
    bleu,
    detokenize_all,
    encode_sources,
    read_translation_pairs,
    read_vocabularies,
)
from rnnkit.tasks.translator_pipeline import translate_ids as translate_backend
from rnnkit.text import Vocab
from rnnkit.train import StepOutput, TrainConfig, Trainer, distributed

__all__ = [  # the pipeline's names stay importable from here
    "TRANSLATION",
    "TorchTranslatorBackend",
    "Translating",
    "Translation",
    "TranslationData",
    "TranslatorPipeline",
    "read_translation_pairs",
    "translate_ids",
]

SELECT_CHOICES = ("loss", "bleu_greedy")


class Encoded(NamedTuple):
    sources: list[list[int]]
    targets: list[list[int]]  # without <s> and </s>
    references: list[str]  # the raw target texts, for BLEU


class TorchTranslatorBackend(ModelBackend):
    """A :class:`Seq2Seq` as the backend of a :class:`TranslatorPipeline`."""

    def __init__(self, model: Seq2Seq) -> None:
        super().__init__(model)

    @torch.inference_mode()
    def decode(self, source: np.ndarray, lengths: np.ndarray, max_length: int,
               beam_width: int, length_penalty: float) -> list[list[int]]:
        self.model.eval()
        padded = torch.from_numpy(source).to(self.device)  # (B, S)
        lengths_tensor = torch.from_numpy(lengths)  # (B,)
        if beam_width == 1:
            return self.model.greedy(padded, lengths_tensor, max_length)
        return self.model.beam_search(padded, lengths_tensor, max_length, beam_width,
                                      length_penalty)

    @torch.inference_mode()
    def attention(self, source_ids: list[int], output: list[int]) -> np.ndarray:
        target = self.model.config
        batch = make_batch([source_ids], [output], target.bos_id, target.eos_id)
        weights = self.model(batch.source.to(self.device), batch.lengths,
                             batch.target_in.to(self.device)).attention  # (1, T + 1, S)
        return weights[0].cpu().numpy()


def translate_ids(model: Seq2Seq, sources: Sequence[list[int]], max_length: int,
                  beam_width: int = 1, length_penalty: float = 1.0,
                  batch_size: int = 64) -> list[list[int]]:
    """:func:`rnnkit.tasks.translator_pipeline.translate_ids` of a torch model (training's
    validation BLEU)."""
    return translate_backend(TorchTranslatorBackend(model), sources, max_length, beam_width,
                             length_penalty, batch_size)


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


class TranslationTraining:
    """The trainer's view of translation (see ``rnnkit.train.TrainingTask``).

    Under torchrun each process trains on its share of each bucketed global batch and
    validates on its share of the validation pairs.
    """

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
        return [distributed.share_batch(indices, lambda own: self._batch(self.train, own))
                for indices in self.sampler]

    def train_step(self, model: nn.Module, batch: PairBatch, carry: Any) -> StepOutput:
        output = model(batch.source, batch.lengths, batch.target_in, batch.targets)
        return StepOutput(output.loss, int((batch.targets != 0).sum()))

    @torch.no_grad()
    def evaluate(self, model: nn.Module) -> dict[str, float]:
        """Each process takes its share of the validation pairs (for the loss) and of the
        first ``valid_bleu_sentences`` sources (for BLEU); the loss sums are added and the
        translations gathered in pair order, so that every process reports the figures of
        the whole set."""
        model.eval()
        own = range(len(self.valid.sources))[distributed.share(len(self.valid.sources))]
        sources = [self.valid.sources[i] for i in own]
        total, count = 0.0, 0
        for batch_indices in ordered_batches(sources, self.data.batch_size):
            batch = self._batch(self.valid, [own[i] for i in batch_indices])
            tokens = int((batch.targets != 0).sum())
            total += float(model(batch.source, batch.lengths, batch.target_in,
                                 batch.targets).loss) * tokens  # mean * count = sum
            count += tokens
        total, count = distributed.all_sum([total, count])
        shown = self.valid.sources[:self.data.valid_bleu_sentences]
        translated = translate_ids(model, shown[distributed.share(len(shown))],
                                   self.data.max_target_length)
        hypotheses = detokenize_all(distributed.gather_shares(translated),
                                    self.vocabs.target, self.data.tokenizers()[1])
        return {"loss": total / count,
                "bleu_greedy": bleu(hypotheses, self.valid.references[:len(shown)],
                                    self.data.bleu_tokenize)}

    def describe(self, loss: float) -> dict[str, float]:
        return {}


def _pairs(data: TranslationData) -> tuple[list, list]:
    pairs = read_translation_pairs(data.train)
    if data.valid is not None:
        return pairs, read_translation_pairs(data.valid)
    return split_held_out(pairs, data.valid_fraction, data.split_seed)


class Translating(Task):
    """Attention encoder–decoders trained on tab-separated sentence pairs."""

    name = TASK
    summary = "train an attention seq2seq translator on tab-separated pairs"
    description = ("Train an LSTM encoder-decoder with attention on 'source<TAB>target' "
                   "lines. Writes a model directory.")
    files = (SOURCE_VOCAB, TARGET_VOCAB)
    outputs = (SOURCE_VOCAB, TARGET_VOCAB)
    metric = "bleu_greedy"
    predict_instead = None

    def prepare(self, data: TranslationData, model_options: dict[str, Any],
                train: TrainConfig, out_dir: Path, *, quiet: bool,
                select: str = "loss") -> Prepared:
        """Read the pairs and build both vocabularies. ``select="bleu_greedy"`` keeps the
        weights of the epoch with the best validation BLEU instead of the lowest validation
        loss."""
        check_select(select, SELECT_CHOICES)
        examples = _pairs(data)
        pairs = examples[0]
        source_tokenizer, target_tokenizer = data.tokenizers()
        source = require_tokens(Vocab.build((source_tokenizer.tokenize(s) for s, _ in pairs),
                                            min_freq=data.min_freq),
                                data.min_freq, f"{data.train} (sources)")
        target = require_tokens(Vocab.build((target_tokenizer.tokenize(t) for _, t in pairs),
                                            min_freq=data.min_freq),
                                data.min_freq, f"{data.train} (targets)")
        config = Seq2SeqConfig(source_vocab_size=len(source), target_vocab_size=len(target),
                               pad_id=target.pad_id, bos_id=target.bos_id,
                               eos_id=target.eos_id, **model_options)
        source.save(out_dir / SOURCE_VOCAB)
        target.save(out_dir / TARGET_VOCAB)
        return Prepared({"model": config.to_dict(), "data": asdict(data), "select": select},
                        {"examples": examples})

    def training(self, out_dir: Path, config: dict[str, Any], *, quiet: bool, device: str,
                 seed: int, reuse: dict[str, Any]) -> TranslationTraining:
        data = TranslationData(**config["data"])
        vocabs = read_vocabularies(out_dir)
        train_pairs, valid_pairs = reuse.get("examples") or _pairs(data)
        valid_name = validation_source(data.train, data.valid, data.valid_fraction)
        return TranslationTraining(_encode(train_pairs, vocabs, data, data.train),
                                   _encode(valid_pairs, vocabs, data, valid_name), vocabs, data,
                                   seed)

    def build_model(self, config: dict[str, Any]) -> Seq2Seq:
        return Seq2Seq(Seq2SeqConfig.from_dict(config["model"]))

    def pipeline(self, directory: Path, config: dict[str, Any],
                 model: nn.Module) -> TranslatorPipeline:
        return TranslatorPipeline(directory, config, TorchTranslatorBackend(model),
                                  read_vocabularies(directory))

    def add_train_arguments(self, parser: argparse.ArgumentParser) -> None:
        data = add_data_files(parser, "pairs file")
        data.add_argument("--source-tokenizer", choices=TOKENIZER_NAMES, default="word")
        data.add_argument("--target-tokenizer", choices=TOKENIZER_NAMES, default="char",
                          help="char suits Chinese targets; chinese uses jieba words")
        data.add_argument("--keep-case", action="store_true", help="do not lowercase the source")
        data.add_argument("--max-source-length", type=int, default=50,
                          help="source tokens kept (longer sources are cut, with a warning)")
        data.add_argument("--max-target-length", type=int, default=60,
                          help="target tokens in training and the decoding limit")
        data.add_argument("--min-freq", type=int, default=1, help="rarer tokens become <unk>")
        data.add_argument("--batch-size", type=int, default=64)
        data.add_argument("--bleu-tokenize", default="zh",
                          help="sacrebleu tokenizer of the target (zh, 13a, ...)")
        model = parser.add_argument_group("model")
        model.add_argument("--embed", type=int, default=128)
        model.add_argument("--hidden", type=int, default=256)
        model.add_argument("--encoder-layers", type=int, default=1)
        model.add_argument("--unidirectional", action="store_true",
                           help="a one-direction encoder instead of a bidirectional one")
        model.add_argument("--attention", choices=ATTENTIONS, default="bahdanau",
                           help="additive (Bahdanau) or multiplicative (Luong) scores")
        model.add_argument("--attention-size", type=int, default=128)
        model.add_argument("--dropout", type=float, default=0.2)
        add_select_argument(parser, SELECT_CHOICES, default="loss")

    def start(self, args: argparse.Namespace, train: TrainConfig) -> Trainer:
        data = TranslationData(
            train=args.data, valid=args.valid, source_tokenizer=args.source_tokenizer,
            target_tokenizer=args.target_tokenizer, lowercase_source=not args.keep_case,
            max_source_length=args.max_source_length,
            max_target_length=args.max_target_length, min_freq=args.min_freq,
            batch_size=args.batch_size, valid_fraction=args.valid_fraction,
            split_seed=args.split_seed, bleu_tokenize=args.bleu_tokenize,
        )
        model = {"embed_size": args.embed, "hidden_size": args.hidden,
                 "encoder_layers": args.encoder_layers,
                 "bidirectional": not args.unidirectional, "attention": args.attention,
                 "attention_size": args.attention_size, "dropout": args.dropout}
        return self.train(data, model, train, args.out, quiet=args.quiet, select=args.select)

    def add_evaluate_arguments(self, group: argparse._ArgumentGroup) -> None:
        group.add_argument("--beam-width", type=int, default=1, help="translate: 1 is greedy")
        group.add_argument("--length-penalty", type=float, default=1.0,
                           help="translate: beam scores are log p / length^this")

    def evaluate_options(self, args: argparse.Namespace) -> dict[str, Any]:
        return {"beam_width": args.beam_width, "length_penalty": args.length_penalty}

    def format_report(self, pipeline: Pipeline, report: dict[str, Any],
                      args: argparse.Namespace) -> str:
        """Corpus BLEU (greedy, or beam with ``--beam-width``) and the samples."""
        lines = [f"{name}\t{report[name]}"
                 for name in ("pairs", "beam_width", "length_penalty", "bleu")]
        lines += [f"{sample['source']}\t{sample['output']}\t(reference: "
                  f"{sample['reference']})" for sample in report["samples"]]
        return "\n".join(lines)

    def predict_lines(self, pipeline: Pipeline, texts: list[str] | None, path: str | None,
                      output_format: str) -> Iterable[str]:
        """One translation per text (greedy; ``rnnkit translate`` offers beam search)."""
        if texts is None:
            texts, source = list(read_corpus(path)), path
        else:
            source = "--text"
        outputs = pipeline.translate(texts, source=source)
        if output_format == "json":
            return [json.dumps({"text": text, "translation": output}, ensure_ascii=False)
                    for text, output in zip(texts, outputs)]
        return outputs


TRANSLATION = register(Translating())
