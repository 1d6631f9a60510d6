"""A recurrent text classifier: embedding → (bi)RNN/LSTM/GRU → pooling → dropout → linear.

Shapes use the package's letters (see :mod:`rnnkit`): ``B``, ``T``, ``E``, ``H``, ``D``, ``C``,
and ``W`` subword ids per token (padded with 0).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rnnkit.configs import (
    ValidatedConfig,
    at_least,
    choice,
    flag,
    positive_int,
    probability,
)
from rnnkit.models.attention import AttentionPooling
from rnnkit.models.language_model import RECURRENT_LAYERS
from rnnkit.models.word_dropout import drop_words
from rnnkit.text import SubwordHasher

POOLINGS = ("last", "mean", "max", "attention")


@dataclass(frozen=True)
class ClassifierConfig(ValidatedConfig):
    """Everything needed to rebuild a :class:`Classifier`.

    ``pooling``: ``last`` concatenates the final state at each sequence's true end (for a
    bidirectional layer: the forward state after the last token and the backward state after
    the first); ``mean`` and ``max`` pool the outputs over the valid steps only; ``attention``
    is additive self-attention (:class:`AttentionPooling`). ``dropout`` applies to the
    embeddings, between recurrent layers and to the pooled vector. ``freeze_embeddings`` keeps
    the (pretrained) embedding matrix fixed. ``word_dropout`` turns each token into ``unk_id``
    with that probability during training (:func:`drop_words`).

    ``subword_buckets > 0`` adds fastText-style subword features: each token's vector is its
    word vector plus the mean of its character n-grams' vectors (``subword_min_n`` to
    ``subword_max_n`` characters, hashed into that many buckets by
    :class:`rnnkit.text.subwords.SubwordHasher`), so rare and unseen words are not all
    ``<unk>``.
    """

    vocab_size: int = positive_int()
    num_classes: int = at_least(2)
    cell: str = choice(tuple(RECURRENT_LAYERS), "lstm")
    embed_size: int = positive_int(128)
    hidden_size: int = positive_int(128)
    num_layers: int = positive_int(1)
    bidirectional: bool = flag(True)
    pooling: str = choice(POOLINGS, "max")
    attention_size: int = positive_int(64)
    dropout: float = probability(0.0)
    word_dropout: float = probability(0.0)
    unk_id: int = 1
    freeze_embeddings: bool = flag(False)
    subword_buckets: int = at_least(0, 0)
    subword_min_n: int = positive_int(3)
    subword_max_n: int = positive_int(5)
    rnn_options: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.subword_buckets:
            self.subword_hasher()  # checks the n-gram range
        if "proj_size" in self.rnn_options:
            raise ValueError("ClassifierConfig: rnn_options proj_size is not supported")

    def subword_hasher(self) -> SubwordHasher | None:
        """The hasher that turns tokens into this model's subword ids (``None`` without
        subword features)."""
        if not self.subword_buckets:
            return None
        return SubwordHasher(self.subword_buckets, self.subword_min_n, self.subword_max_n)

    @property
    def output_size(self) -> int:
        """``D*H``: the recurrent output size of all directions together."""
        return self.hidden_size * (2 if self.bidirectional else 1)


class ClassifierOutput(NamedTuple):
    logits: Tensor  # (B, C)
    loss: Tensor | None  # mean cross-entropy over the batch, nats
    attention: Tensor | None  # (B, T) pooling weights with attention pooling, else None


class Classifier(nn.Module):
    """``p(y | w_1..w_T) = softmax(W_o pool(h_1..h_T) + b_o)``.

    ``embeddings`` (FloatTensor ``(V, E)``, e.g. ``load_vectors(...).weights``) initialises
    the embedding matrix; it is then saved with the other weights, so loading a trained model
    never needs the vector file.

    >>> model = Classifier(ClassifierConfig(vocab_size=10, num_classes=2, embed_size=4,
    ...                                     hidden_size=3))
    >>> model(torch.tensor([[4, 5, 0]]), torch.tensor([2])).logits.shape
    torch.Size([1, 2])
    """

    def __init__(self, config: ClassifierConfig, embeddings: Tensor | None = None) -> None:
        super().__init__()
        self.config = config
        self.embedding = nn.Embedding(config.vocab_size, config.embed_size, padding_idx=0)
        if embeddings is not None:
            if tuple(embeddings.shape) != (config.vocab_size, config.embed_size):
                raise ValueError(
                    f"Classifier: embeddings must have shape ({config.vocab_size}, "
                    f"{config.embed_size}), got {tuple(embeddings.shape)}"
                )
            with torch.no_grad():
                self.embedding.weight.copy_(embeddings)
        self.embedding.weight.requires_grad_(not config.freeze_embeddings)
        self.subword_embedding = (
            nn.EmbeddingBag(config.subword_buckets + 1, config.embed_size, mode="mean",
                            padding_idx=0)
            if config.subword_buckets else None
        )
        self.rnn = RECURRENT_LAYERS[config.cell](
            config.embed_size,
            config.hidden_size,
            num_layers=config.num_layers,
            bidirectional=config.bidirectional,
            batch_first=True,
            dropout=config.dropout if config.num_layers > 1 else 0.0,
            **config.rnn_options,
        )
        self.attention = (
            AttentionPooling(config.output_size, config.attention_size)
            if config.pooling == "attention" else None
        )
        self.drop = nn.Dropout(config.dropout)
        self.output = nn.Linear(config.output_size, config.num_classes)

    def forward(
        self, ids: Tensor, lengths: Tensor, targets: Tensor | None = None,
        subwords: Tensor | None = None,
    ) -> ClassifierOutput:
        """``ids (B, T)`` padded with 0, ``lengths (B,)`` ≥ 1 → logits ``(B, C)``; with
        ``targets`` also the mean cross-entropy, ``-Σ_c q_c log p_c`` against class ids
        ``(B,)`` (one-hot ``q``) or target probabilities ``q (B, C)`` (a teacher's).
        ``subwords (B, T, W)``: each token's subword ids (``config.subword_hasher()``),
        required with subword features."""
        ids_in = drop_words(ids, self.config.word_dropout, self.config.unk_id,
                            self.training)  # (B, T)
        embedded = self.drop(self._embed(ids_in, subwords))  # (B, T, E)
        outputs, state = self.rnn(embedded, lengths=lengths)  # (B, T, D*H), zero past each length
        steps = torch.arange(ids.shape[1], device=ids.device)  # (T,)
        mask = steps.unsqueeze(0) < lengths.to(ids.device).unsqueeze(1)  # (B, T), True at tokens
        pooled, weights = self._pool(outputs, state, mask, lengths)  # (B, D*H)
        logits = self.output(self.drop(pooled))  # (B, C)
        loss = F.cross_entropy(logits, targets) if targets is not None else None
        return ClassifierOutput(logits, loss, weights)

    def _embed(self, ids: Tensor, subwords: Tensor | None) -> Tensor:
        """``e_t = E_word[w_t] (+ mean_{g ∈ n-grams(w_t)} E_gram[g])``: ``(B, T, E)``."""
        embedded = self.embedding(ids)  # (B, T, E)
        if self.subword_embedding is None:
            if subwords is not None:
                raise ValueError("Classifier: subwords were given but the model has no "
                                 "subword features (subword_buckets=0)")
            return embedded
        if subwords is None or subwords.shape[:2] != ids.shape:
            raise ValueError(f"Classifier: subwords must be (B, T, G) ids with (B, T) = "
                             f"{tuple(ids.shape)} for a model with subword features, got "
                             f"{None if subwords is None else tuple(subwords.shape)}")
        if subwords.shape[2] == 0:  # no token of the batch has n-grams (all masked)
            return embedded
        bags = self.subword_embedding(subwords.flatten(0, 1))  # (B*T, E); 0 for no n-grams
        return embedded + bags.view_as(embedded)

    def _pool(
        self, outputs: Tensor, state: Any, mask: Tensor, lengths: Tensor
    ) -> tuple[Tensor, Tensor | None]:
        pooling = self.config.pooling
        if pooling == "attention":
            return self.attention(outputs, mask)
        if pooling == "mean":
            # Outputs past each length are zero, so the sum runs over the valid steps only.
            count = lengths.to(outputs.dtype).unsqueeze(1)  # (B, 1)
            return outputs.sum(dim=1) / count, None  # (B, D*H)
        if pooling == "max":
            return outputs.masked_fill(~mask.unsqueeze(-1), float("-inf")).amax(dim=1), None
        h_n = state[0] if isinstance(state, tuple) else state  # (D*L, B, H)
        directions = 2 if self.config.bidirectional else 1
        last = h_n[-directions:]  # (D, B, H): the top layer's directions
        return last.transpose(0, 1).flatten(1), None  # (B, D*H)

    def regularization_loss(self) -> Tensor:
        """The recurrent layer's weight penalties (zero when it has no regularizers)."""
        return self.rnn.regularization_loss()

    def apply_constraints(self) -> None:
        self.rnn.apply_constraints()
