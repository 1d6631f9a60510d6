"""Sequence to sequence with attention: a (bi)LSTM encoder, an LSTM decoder that attends over
the encoder's per-step states, teacher forcing for training, greedy and beam-search decoding.

Shapes use the package's letters (see :mod:`rnnkit`): ``B``, ``S`` source steps, ``T`` target
steps, ``E``, ``H`` (the encoder's and the decoder's), ``M = D*H`` the encoder's output size,
``V`` the target vocabulary size, ``K`` beam width.

One decoder step (Luong et al. 2015, with input feeding):

    h_t, c_t = LSTMCell([E y_{t-1} ; h̃_{t-1}], (h_{t-1}, c_{t-1}))
    c_ctx, α_t = attention(h_t, encoder states, source mask)      # padding gets α = 0
    h̃_t = tanh(W_c [h_t ; c_ctx]),   p(y_t | y_<t, x) = softmax(W_o h̃_t)

``attention="bahdanau"`` scores with the additive ``v^T tanh(W_q h_t + W_k m_s)``,
``"luong"`` with the multiplicative ``h_t^T W m_s``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rnnkit import nn as rnn_layers
from rnnkit.configs import ValidatedConfig, choice, flag, positive_int, probability
from rnnkit.decoding import Beams
from rnnkit.models.attention import AdditiveAttention, MultiplicativeAttention

ATTENTIONS = ("bahdanau", "luong")


@dataclass(frozen=True)
class Seq2SeqConfig(ValidatedConfig):
    """Everything needed to rebuild a :class:`Seq2Seq`; ``pad_id``, ``bos_id``, ``eos_id`` are
    the target vocabulary's (the source pads with 0 too)."""

    source_vocab_size: int = positive_int()
    target_vocab_size: int = positive_int()
    embed_size: int = positive_int(128)
    hidden_size: int = positive_int(256)
    encoder_layers: int = positive_int(1)
    bidirectional: bool = flag(True)
    attention: str = choice(ATTENTIONS, "bahdanau")
    attention_size: int = positive_int(128)
    dropout: float = probability(0.2)
    pad_id: int = 0
    bos_id: int = 2
    eos_id: int = 3

    @property
    def memory_size(self) -> int:
        """M: the encoder's output size per source step."""
        return self.hidden_size * (2 if self.bidirectional else 1)


class Memory(NamedTuple):
    """What the decoder attends to: encoder states ``(B, S, M)`` and the source mask ``(B, S)``."""

    states: Tensor
    mask: Tensor

    def repeat(self, times: int) -> Memory:
        """Each row ``times`` times in a row (for a beam): ``(B*times, ...)``."""
        return Memory(self.states.repeat_interleave(times, 0), self.mask.repeat_interleave(times, 0))


class DecoderState(NamedTuple):
    h: Tensor  # (B, H)
    c: Tensor  # (B, H)
    feed: Tensor  # (B, H) the previous attentional vector h̃_{t-1}

    def select(self, rows: Tensor) -> DecoderState:
        return DecoderState(self.h[rows], self.c[rows], self.feed[rows])


class Seq2SeqOutput(NamedTuple):
    logits: Tensor  # (B, T, V)
    loss: Tensor | None  # mean cross-entropy per target token (padding ignored), nats
    attention: Tensor  # (B, T, S) attention weights of every target step


class Seq2Seq(nn.Module):
    """Encoder–decoder with attention; see the module docstring for the equations."""

    def __init__(self, config: Seq2SeqConfig) -> None:
        super().__init__()
        self.config = config
        H, M = config.hidden_size, config.memory_size
        self.source_embedding = nn.Embedding(config.source_vocab_size, config.embed_size,
                                             padding_idx=0)
        self.target_embedding = nn.Embedding(config.target_vocab_size, config.embed_size,
                                             padding_idx=config.pad_id)
        self.encoder = rnn_layers.LSTM(
            config.embed_size, H, num_layers=config.encoder_layers,
            bidirectional=config.bidirectional, batch_first=True,
            dropout=config.dropout if config.encoder_layers > 1 else 0.0)
        self.bridge = nn.Linear(M, 2 * H)  # encoder's final states → decoder's (h_0, c_0)
        self.cell = rnn_layers.LSTMCell(config.embed_size + H, H)
        self.attention = (AdditiveAttention(H, M, config.attention_size)
                          if config.attention == "bahdanau" else MultiplicativeAttention(H, M))
        self.combine = nn.Linear(H + M, H, bias=False)
        self.drop = nn.Dropout(config.dropout)
        self.output = nn.Linear(H, config.target_vocab_size)

    def encode(self, source: Tensor, lengths: Tensor) -> tuple[Memory, DecoderState]:
        """``source (B, S)`` padded with 0, ``lengths (B,)`` → memory and the first state."""
        embedded = self.drop(self.source_embedding(source))  # (B, S, E)
        states, (h_n, _) = self.encoder(embedded, lengths=lengths)  # (B, S, M)
        directions = 2 if self.config.bidirectional else 1
        final = h_n[-directions:].transpose(0, 1).flatten(1)  # (B, M): top layer, each direction
        h_0, c_0 = torch.tanh(self.bridge(final)).chunk(2, dim=-1)  # (B, H) each
        steps = torch.arange(source.shape[1], device=source.device)  # (S,)
        mask = steps.unsqueeze(0) < lengths.to(source.device).unsqueeze(1)  # (B, S)
        return Memory(states, mask), DecoderState(h_0, c_0, torch.zeros_like(h_0))

    def step(self, previous: Tensor, state: DecoderState,
             memory: Memory) -> tuple[Tensor, DecoderState, Tensor]:
        """One decoder step: ``previous (B,)`` token ids → logits ``(B, V)``, the next state and
        the attention weights ``(B, S)``."""
        embedded = self.drop(self.target_embedding(previous))  # (B, E)
        h, c = self.cell(torch.cat([embedded, state.feed], dim=-1), (state.h, state.c))  # (B, H)
        context, weights = self.attention(h, memory.states, memory.mask)  # (B, M), (B, S)
        attentional = torch.tanh(self.combine(torch.cat([h, context], dim=-1)))  # (B, H)
        logits = self.output(self.drop(attentional))  # (B, V)
        return logits, DecoderState(h, c, attentional), weights

    def forward(self, source: Tensor, lengths: Tensor, target_in: Tensor,
                targets: Tensor | None = None) -> Seq2SeqOutput:
        """Teacher forcing: ``target_in (B, T)`` is ``<s> y_1 .. y_{T-1}``, ``targets (B, T)``
        is ``y_1 .. y_T`` (``</s>`` last, then padding)."""
        memory, state = self.encode(source, lengths)
        logits, weights = [], []
        for t in range(target_in.shape[1]):
            step_logits, state, step_weights = self.step(target_in[:, t], state, memory)
            logits.append(step_logits)
            weights.append(step_weights)
        logits = torch.stack(logits, dim=1)  # (B, T, V)
        loss = None
        if targets is not None:
            loss = F.cross_entropy(logits.flatten(0, 1), targets.flatten(),
                                   ignore_index=self.config.pad_id)
        return Seq2SeqOutput(logits, loss, torch.stack(weights, dim=1))

    @torch.no_grad()
    def greedy(self, source: Tensor, lengths: Tensor, max_length: int) -> list[list[int]]:
        """The most likely token at every step until ``</s>`` or ``max_length`` tokens; the
        outputs hold neither ``<s>`` nor ``</s>``."""
        memory, state = self.encode(source, lengths)
        batch = source.shape[0]
        previous = torch.full((batch,), self.config.bos_id, dtype=torch.long,
                              device=source.device)
        outputs: list[list[int]] = [[] for _ in range(batch)]
        done = [False] * batch
        for _ in range(max_length):
            logits, state, _ = self.step(previous, state, memory)
            previous = logits.argmax(dim=-1)  # (B,)
            for row, token in enumerate(previous.tolist()):
                if not done[row]:
                    done[row] = token == self.config.eos_id
                    if not done[row]:
                        outputs[row].append(token)
            if all(done):
                break
        return outputs

    @torch.no_grad()
    def beam_search(self, source: Tensor, lengths: Tensor, max_length: int, beam_width: int = 5,
                    length_penalty: float = 1.0) -> list[list[int]]:
        """Beam search over the whole batch at once (see :func:`beam_search`)."""
        return beam_search(self, source, lengths, max_length, beam_width, length_penalty)


def beam_search(model: Seq2Seq, source: Tensor, lengths: Tensor, max_length: int,
                beam_width: int, length_penalty: float) -> list[list[int]]:
    """The best hypothesis per source sentence by beam search, ``B * K`` rows decoded together,
    by the rule of :mod:`rnnkit.decoding` (which keeps the hypotheses): every step ranks the
    ``2K`` best extensions of each sentence's ``K`` live hypotheses; the winner maximises
    ``log p(y | x) / |y|^length_penalty``. With ``beam_width=1`` this is exactly greedy
    decoding.

    Raises:
        ValueError: ``beam_width`` below 1 or ``length_penalty`` below 0.
    """
    config, K = model.config, beam_width
    batch = source.shape[0]
    beams = Beams(batch, K, length_penalty, config.eos_id, config.pad_id)
    memory, state = model.encode(source, lengths)
    memory = memory.repeat(K)  # (B*K, S, M)
    state = DecoderState(*(part.repeat_interleave(K, 0) for part in state))  # (B*K, H) each
    scores = torch.full((batch, K), float("-inf"), device=source.device)  # (B, K)
    scores[:, 0] = 0.0  # one live hypothesis to start with
    previous = torch.full((batch * K,), config.bos_id, dtype=torch.long, device=source.device)
    for _ in range(max_length):
        logits, state, _ = model.step(previous, state, memory)
        log_probs = torch.log_softmax(logits, dim=-1)  # (B*K, V)
        vocab = log_probs.shape[1]
        total = (scores.view(-1, 1) + log_probs).view(batch, K * vocab)  # (B, K*V)
        top_scores, top_index = total.topk(beams.candidates(vocab), dim=1)  # (B, 2K)
        survivors = beams.advance(top_scores.tolist(), top_index.tolist(), vocab)
        state = state.select(torch.tensor(survivors.rows, device=source.device))
        previous = torch.tensor(survivors.tokens, device=source.device)
        scores = torch.tensor(survivors.scores, device=source.device).view(batch, K)
        if beams.done:
            break
    return beams.best(scores.tolist())
