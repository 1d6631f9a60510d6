"""Greedy and beam-search decoding in numpy over a decoder-step function, reproducing
``Seq2Seq.greedy`` and :func:`rnnkit.models.seq2seq.beam_search` token for token (the
onnxruntime translator drives them with its encoder and decoder-step sessions).

Shapes use the package's letters (see :mod:`rnnkit`): ``B``, ``S`` source steps, ``M``,
``H``, ``V`` target vocabulary, ``K`` beam width, ``N`` rows decoded together (``B`` or
``B*K``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import numpy as np

from rnnkit.decoding import Beams


class DecoderState(NamedTuple):
    h: np.ndarray  # (N, H)
    c: np.ndarray  # (N, H)
    feed: np.ndarray  # (N, H) the previous attentional vector

    def select(self, rows: np.ndarray) -> DecoderState:
        return DecoderState(self.h[rows], self.c[rows], self.feed[rows])

    def repeat(self, times: int) -> DecoderState:
        """Each row ``times`` times in a row (for a beam)."""
        return DecoderState(*(np.repeat(part, times, axis=0) for part in self))


class Memory(NamedTuple):
    states: np.ndarray  # (N, S, M) the encoder's states
    lengths: np.ndarray  # (N,) source lengths

    def repeat(self, times: int) -> Memory:
        return Memory(np.repeat(self.states, times, axis=0),
                      np.repeat(self.lengths, times, axis=0))


Step = Callable[[np.ndarray, DecoderState, Memory],
                tuple[np.ndarray, DecoderState, np.ndarray]]
"""``(previous (N,), state, memory) → (log_probs (N, V), next state, attention (N, S))``."""


def greedy(step: Step, memory: Memory, state: DecoderState, max_length: int, bos_id: int,
           eos_id: int) -> list[list[int]]:
    """The most likely token at every step until ``</s>`` or ``max_length`` tokens; the
    outputs hold neither ``<s>`` nor ``</s>``."""
    batch = len(memory.lengths)
    previous = np.full(batch, bos_id, dtype=np.int64)
    outputs: list[list[int]] = [[] for _ in range(batch)]
    done = [False] * batch
    for _ in range(max_length):
        log_probs, state, _ = step(previous, state, memory)
        previous = log_probs.argmax(axis=-1).astype(np.int64)  # (B,)
        for row, token in enumerate(previous.tolist()):
            if not done[row]:
                done[row] = token == eos_id
                if not done[row]:
                    outputs[row].append(token)
        if all(done):
            break
    return outputs


def beam_search(step: Step, memory: Memory, state: DecoderState, max_length: int,
                beam_width: int, length_penalty: float, bos_id: int, eos_id: int,
                pad_id: int) -> list[list[int]]:
    """The best hypothesis per source sentence, ``B * K`` rows decoded together, by the rule
    of :mod:`rnnkit.decoding`, as :func:`rnnkit.models.seq2seq.beam_search` decodes: the ranking
    of each step's extensions here breaks ties as ``torch.topk`` does on CPU (the lower beam,
    then the lower token id).

    Raises:
        ValueError: ``beam_width`` below 1 or ``length_penalty`` below 0.
    """
    K = beam_width
    batch = len(memory.lengths)
    beams = Beams(batch, K, length_penalty, eos_id, pad_id)
    memory, state = memory.repeat(K), state.repeat(K)  # (B*K, …)
    scores = np.full((batch, K), -np.inf, dtype=np.float32)  # (B, K)
    scores[:, 0] = 0.0  # one live hypothesis to start with
    previous = np.full(batch * K, bos_id, dtype=np.int64)
    for _ in range(max_length):
        log_probs, state, _ = step(previous, state, memory)  # (B*K, V)
        vocab = log_probs.shape[1]
        total = (scores.reshape(-1, 1) + log_probs).reshape(batch, K * vocab)  # (B, K*V)
        top_index = np.argsort(-total, axis=1, kind="stable")[:, :beams.candidates(vocab)]
        top_scores = np.take_along_axis(total, top_index, axis=1)  # (B, 2K)
        survivors = beams.advance(top_scores.tolist(), top_index.tolist(), vocab)
        state = state.select(np.asarray(survivors.rows))
        previous = np.asarray(survivors.tokens, dtype=np.int64)
        scores = np.asarray(survivors.scores, dtype=np.float32).reshape(batch, K)
        if beams.done:
            break
    return beams.best(scores.tolist())
