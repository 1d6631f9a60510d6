"""A recurrent language model: embedding → stacked RNN/LSTM/GRU → dropout → linear → softmax.

Shapes use the package's letters (see :mod:`rnnkit`): ``B``, ``T``, ``E``, ``H_out`` the
recurrent output size, ``V``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rnnkit import nn as rnn_layers
from rnnkit.configs import ValidatedConfig, choice, flag, number, positive_int, probability
from rnnkit.models.losses import linear_cross_entropy
from rnnkit.nn.noise import Dropout

RECURRENT_LAYERS = {"rnn": rnn_layers.RNN, "lstm": rnn_layers.LSTM, "gru": rnn_layers.GRU}


@dataclass(frozen=True)
class LanguageModelConfig(ValidatedConfig):
    """Everything needed to rebuild a :class:`LanguageModel`.

    ``rnn_options`` are keyword options of the recurrent layer (any of ``rnnkit.nn``'s, e.g.
    ``{"recurrent_activation": "hard_sigmoid", "layer_norm": True}``). ``dropout`` is applied
    to the embeddings, between recurrent layers and to the recurrent output (Zaremba et al.
    2014). ``init_range > 0`` draws every weight from U(-init_range, init_range), as the
    classic PTB recipe does; ``0`` keeps each module's default initialisation.
    """

    vocab_size: int = positive_int()
    cell: str = choice(tuple(RECURRENT_LAYERS), "lstm")
    embed_size: int = positive_int(200)
    hidden_size: int = positive_int(200)
    num_layers: int = positive_int(2)
    dropout: float = probability(0.0)
    tie_weights: bool = flag(False)
    init_range: float = number(0.0, minimum=0)
    rnn_options: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.tie_weights and self.output_size != self.embed_size:
            raise ValueError(
                "LanguageModelConfig: tie_weights needs the recurrent output size to equal "
                f"embed_size, got {self.output_size} and {self.embed_size}"
            )

    @property
    def output_size(self) -> int:
        return self.rnn_options.get("proj_size", 0) or self.hidden_size


class LMOutput(NamedTuple):
    logits: Tensor | None  # (B, T, V); None when the loss was computed fused
    loss: Tensor | None  # mean cross-entropy over the target tokens, nats
    state: Any  # the recurrent state after the last step, to carry into the next window


class LanguageModel(nn.Module):
    """Predicts each next token: ``p(w_{t+1} | w_1..w_t) = softmax(W_o h_t + b_o)``."""

    def __init__(self, config: LanguageModelConfig) -> None:
        super().__init__()
        self.config = config
        self.embedding = nn.Embedding(config.vocab_size, config.embed_size)
        self.rnn = RECURRENT_LAYERS[config.cell](
            config.embed_size,
            config.hidden_size,
            num_layers=config.num_layers,
            batch_first=True,
            dropout=config.dropout if config.num_layers > 1 else 0.0,
            **config.rnn_options,
        )
        self.drop = Dropout(config.dropout)  # torch.nn.Dropout's distribution, cheaper masks
        self.decoder = nn.Linear(config.output_size, config.vocab_size)
        if config.tie_weights:
            self.decoder.weight = self.embedding.weight
        if config.init_range > 0:
            with torch.no_grad():
                for parameter in self.parameters():
                    parameter.uniform_(-config.init_range, config.init_range)

    def forward(
        self,
        ids: Tensor,
        state: Any = None,
        targets: Tensor | None = None,
        ignore_index: int = -100,
        return_logits: bool = False,
    ) -> LMOutput:
        """``ids (B, T)`` → logits ``(B, T, V)``; with ``targets (B, T)`` the mean loss instead.

        With targets the decoder and the loss run fused (``linear_cross_entropy``) and
        ``logits`` is ``None``: the logits are never kept, which took PTB training from
        0.97–1.00× torch.nn's throughput to 1.06–1.17× (``benchmarks/RESULTS.md``).
        ``return_logits=True`` returns both, computed the plain way.
        """
        embedded = self.drop(self.embedding(ids))  # (B, T, E)
        hidden, state = self.rnn(embedded, state)  # (B, T, H_out)
        hidden = self.drop(hidden)
        if targets is not None and not return_logits:
            loss = linear_cross_entropy(hidden.flatten(0, 1), self.decoder.weight,
                                        self.decoder.bias, targets.flatten(), ignore_index)
            return LMOutput(None, loss, state)
        logits = self.decoder(hidden)  # (B, T, V)
        loss = None
        if targets is not None:
            loss = F.cross_entropy(
                logits.flatten(0, 1), targets.flatten(), ignore_index=ignore_index
            )
        return LMOutput(logits, loss, state)

    def regularization_loss(self) -> Tensor:
        """The recurrent layer's weight penalties (zero when it has no regularizers)."""
        return self.rnn.regularization_loss()

    def apply_constraints(self) -> None:
        self.rnn.apply_constraints()


def map_state(state: Any, function) -> Any:
    """Apply ``function`` to each tensor of a recurrent state (a tensor, a tuple, or None)."""
    if state is None:
        return None
    if isinstance(state, tuple):
        return tuple(function(s) for s in state)
    return function(state)


def detach_state(state: Any) -> Any:
    """Cut the graph behind a carried state (truncated BPTT); keeps its structure."""
    return map_state(state, Tensor.detach)
