"""A sequence tagger: word embedding (+ a character-level word encoder) → BiLSTM → per-step tag
scores → CRF or softmax.

Shapes use the package's letters (see :mod:`rnnkit`): ``B``, ``T`` words per sentence
(padded), ``W`` characters per word (padded), ``E`` (``E_c``), ``F``, ``D*H`` the recurrent
output of both directions, ``C`` tags.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rnnkit import nn as rnn_layers
from rnnkit.configs import ValidatedConfig, at_least, choice, positive_int, probability
from rnnkit.models.crf import CRF, SCHEMES
from rnnkit.models.language_model import RECURRENT_LAYERS
from rnnkit.models.word_dropout import drop_words

CHAR_ENCODERS = ("none", "cnn", "lstm")
OUTPUTS = ("crf", "softmax")


@dataclass(frozen=True)
class TaggerConfig(ValidatedConfig):
    """Everything needed to rebuild a :class:`Tagger`.

    ``char_encoder``: ``cnn`` (Ma & Hovy 2016: char embeddings → convolution of width
    ``char_kernel`` → max over the word's characters) or ``lstm`` (Lample et al. 2016: a char
    BiLSTM's final states), giving ``char_features`` features per word; ``none`` uses words only.
    ``output``: ``crf`` scores whole tag paths (with ``scheme`` constraints), ``softmax``
    each step alone. ``tags`` are the tag names in id order (needed for the constraints).
    ``word_dropout`` turns each word into ``unk_id`` with that probability during training
    (:func:`drop_words`); the character encoder still sees the word.
    """

    vocab_size: int = positive_int()
    tags: tuple[str, ...]
    char_vocab_size: int = at_least(0, 0)
    cell: str = choice(tuple(RECURRENT_LAYERS), "lstm")
    embed_size: int = positive_int(100)
    hidden_size: int = positive_int(200)
    num_layers: int = positive_int(1)
    char_encoder: str = choice(CHAR_ENCODERS, "cnn")
    char_embed_size: int = positive_int(30)
    char_features: int = positive_int(50)
    char_kernel: int = positive_int(3)
    output: str = choice(OUTPUTS, "crf")
    scheme: str = choice(SCHEMES, "BIO")
    dropout: float = probability(0.5)
    word_dropout: float = probability(0.0)
    unk_id: int = 1
    rnn_options: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        super().__post_init__()
        object.__setattr__(self, "tags", tuple(self.tags))
        if len(self.tags) < 1:
            raise ValueError("TaggerConfig: tags must name at least one tag, got none")
        if self.char_encoder != "none" and self.char_vocab_size < 2:
            raise ValueError(f"TaggerConfig: char_encoder={self.char_encoder!r} needs "
                             f"char_vocab_size >= 2, got {self.char_vocab_size}")

    @property
    def loss_unit(self) -> str:
        """What the model's mean loss is over: ``sentences`` with a CRF, else ``tokens``."""
        return "sentences" if self.output == "crf" else "tokens"


class CharCNN(nn.Module):
    """``f_w = max_c ReLU(conv(E_char[w_1..w_C]))_c`` over the word's real characters."""

    def __init__(self, char_vocab_size: int, embed_size: int, features: int, kernel: int) -> None:
        super().__init__()
        self.embedding = nn.Embedding(char_vocab_size, embed_size, padding_idx=0)
        self.conv = nn.Conv1d(embed_size, features, kernel, padding=kernel // 2)

    def forward(self, chars: Tensor) -> Tensor:
        """``chars (B, T, W)`` (0 = padding) → ``(B, T, F)``; all-padding words give zeros."""
        batch, steps, width = chars.shape
        flat = chars.reshape(batch * steps, width)  # (B*T, W)
        embedded = self.embedding(flat).transpose(1, 2)  # (B*T, E_c, W)
        convolved = F.relu(self.conv(embedded))[..., :width]  # (B*T, F, W)
        convolved = convolved.masked_fill((flat == 0).unsqueeze(1), 0.0)  # ReLU ≥ 0: 0 is neutral
        return convolved.amax(dim=2).reshape(batch, steps, -1)  # (B, T, F)


class CharLSTM(nn.Module):
    """``f_w = [→h_C ; ←h_1]``: a character BiLSTM's final states over the word."""

    def __init__(self, char_vocab_size: int, embed_size: int, features: int) -> None:
        super().__init__()
        if features % 2:
            raise ValueError(f"Tagger: char_features must be even for the char BiLSTM, got "
                             f"{features}")
        self.embedding = nn.Embedding(char_vocab_size, embed_size, padding_idx=0)
        self.rnn = rnn_layers.LSTM(embed_size, features // 2, bidirectional=True,
                                   batch_first=True)

    def forward(self, chars: Tensor) -> Tensor:
        """``chars (B, T, W)`` (0 = padding) → ``(B, T, F)``."""
        batch, steps, width = chars.shape
        flat = chars.reshape(batch * steps, width)  # (B*T, W)
        lengths = (flat != 0).sum(dim=1).clamp(min=1)  # padding words run one pad character
        _, (h_n, _) = self.rnn(self.embedding(flat), lengths=lengths)  # h_n (2, B*T, F/2)
        return h_n.transpose(0, 1).reshape(batch, steps, -1)  # (B, T, F)


class TaggerOutput(NamedTuple):
    emissions: Tensor  # (B, T, C) per-step tag scores
    loss: Tensor | None  # CRF: mean negative log-likelihood per sentence; softmax: per token


class Tagger(nn.Module):
    """BiLSTM tagger with an optional character encoder and a CRF or softmax output."""

    def __init__(self, config: TaggerConfig) -> None:
        super().__init__()
        self.config = config
        self.embedding = nn.Embedding(config.vocab_size, config.embed_size, padding_idx=0)
        self.chars: nn.Module | None = None
        features = config.embed_size
        if config.char_encoder == "cnn":
            self.chars = CharCNN(config.char_vocab_size, config.char_embed_size,
                                 config.char_features, config.char_kernel)
        elif config.char_encoder == "lstm":
            self.chars = CharLSTM(config.char_vocab_size, config.char_embed_size,
                                  config.char_features)
        if self.chars is not None:
            features += config.char_features
        self.rnn = RECURRENT_LAYERS[config.cell](
            features, config.hidden_size, num_layers=config.num_layers, bidirectional=True,
            batch_first=True, dropout=config.dropout if config.num_layers > 1 else 0.0,
            **config.rnn_options,
        )
        self.drop = nn.Dropout(config.dropout)
        self.output = nn.Linear(2 * config.hidden_size, len(config.tags))
        self.crf = CRF(len(config.tags), config.tags, config.scheme) \
            if config.output == "crf" else None

    def forward(self, words: Tensor, lengths: Tensor, chars: Tensor | None = None,
                tags: Tensor | None = None) -> TaggerOutput:
        """``words (B, T)``, ``lengths (B,)``, ``chars (B, T, W)`` when the model has a char
        encoder, ``tags (B, T)`` for the loss → emissions ``(B, T, C)``."""
        words_in = drop_words(words, self.config.word_dropout, self.config.unk_id,
                              self.training)  # (B, T)
        features = self.embedding(words_in)  # (B, T, E)
        if self.chars is not None:
            if chars is None:
                raise ValueError("Tagger: this model has a character encoder; pass chars")
            features = torch.cat([features, self.chars(chars)], dim=-1)  # (B, T, E+F)
        outputs, _ = self.rnn(self.drop(features), lengths=lengths)  # (B, T, D*H)
        emissions = self.output(self.drop(outputs))  # (B, T, C)
        loss = None
        if tags is not None:
            mask = self.mask(lengths, words.shape[1])
            if self.crf is not None:
                loss = -self.crf.log_likelihood(emissions, tags, mask).mean()
            else:
                loss = F.cross_entropy(emissions[mask], tags[mask])
        return TaggerOutput(emissions, loss)

    @staticmethod
    def mask(lengths: Tensor, steps: int) -> Tensor:
        """BoolTensor ``(B, T)``, True at real words."""
        return torch.arange(steps, device=lengths.device).unsqueeze(0) < lengths.unsqueeze(1)

    @torch.no_grad()
    def decode(self, words: Tensor, lengths: Tensor,
               chars: Tensor | None = None) -> list[list[int]]:
        """The best tag ids of each sentence (Viterbi with a CRF, per-step argmax without)."""
        emissions = self(words, lengths, chars).emissions  # (B, T, C)
        if self.crf is not None:
            return self.crf.decode(emissions, self.mask(lengths, words.shape[1]))
        best = emissions.argmax(dim=-1).tolist()  # (B, T)
        return [row[:length] for row, length in zip(best, lengths.tolist())]

