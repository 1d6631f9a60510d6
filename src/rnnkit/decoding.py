"""The bookkeeping of decoding that the torch models and the onnxruntime path (numpy) share,
torch-free: each computes its scores with its own arrays and hands them here, so both decode
by one rule.

- :class:`Beams`: which beam-search hypotheses finish, which live on, and the winner
  (:func:`rnnkit.models.seq2seq.beam_search`, :func:`rnnkit.export.search.beam_search`);
- :func:`backtrack`: a Viterbi path from its back-pointers (:meth:`rnnkit.models.CRF.decode`,
  :func:`rnnkit.export.viterbi.viterbi`).

The beam rule: every step ranks the ``2K`` best extensions of a sentence's ``K`` live hypotheses;
those that end in ``</s>`` among the first ``K`` are finished, the best ``K`` others live on
(a sentence with fewer fills its ``K`` rows with dead ones, score ``-inf``). A sentence is done
when it has ``K`` finished hypotheses (or at ``max_length``, when its live ones count as
finished). The winner maximises the length-normalised log-probability
``log p(y | x) / |y|^length_penalty`` (``|y|`` counts ``</s>``; 0 means no normalisation).
Rows are ``B * K``: row ``b * K + k`` is beam ``k`` of sentence ``b``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

MINUS_INFINITY = float("-inf")


class Survivors(NamedTuple):
    """What lives on after a step, one entry per row ``(B*K,)``: the row each hypothesis
    extends, the token it adds, its total log-probability."""

    rows: list[int]
    tokens: list[int]
    scores: list[float]


class Beams:
    """The hypotheses and finished translations of ``batch`` sentences, ``width`` beams each.

    Raises:
        ValueError: ``width`` below 1 or ``length_penalty`` below 0, naming the value.
    """

    def __init__(self, batch: int, width: int, length_penalty: float, eos_id: int,
                 pad_id: int) -> None:
        if width < 1:
            raise ValueError(f"beam_search: beam_width must be >= 1, got {width}")
        if length_penalty < 0:
            raise ValueError(f"beam_search: length_penalty must be >= 0, got {length_penalty}")
        self.batch, self.width, self.length_penalty = batch, width, length_penalty
        self.eos_id, self.pad_id = eos_id, pad_id
        self.hypotheses: list[list[int]] = [[] for _ in range(batch * width)]
        self.finished: list[list[tuple[float, list[int]]]] = [[] for _ in range(batch)]

    def candidates(self, vocab_size: int) -> int:
        """How many extensions per sentence a step ranks: ``min(2K, K*V)``."""
        return min(2 * self.width, self.width * vocab_size)

    def _normalised(self, score: float, length: int) -> float:
        return score / (length ** self.length_penalty)

    def advance(self, top_scores: Sequence[Sequence[float]],
                top_index: Sequence[Sequence[int]], vocab_size: int) -> Survivors:
        """Take one step's ranking — per sentence, the best extensions' total scores and their
        indices ``beam * V + token`` into ``(K, V)``, best first — and return the survivors."""
        K = self.width
        survivors = Survivors([], [], [])
        hypotheses = []
        for b in range(self.batch):
            alive: list[tuple[int, int, float]] = []
            for rank, (score, index) in enumerate(zip(top_scores[b], top_index[b])):
                if len(self.finished[b]) >= K or score == MINUS_INFINITY:
                    break
                beam, token = divmod(index, vocab_size)
                history = self.hypotheses[b * K + beam]
                if token == self.eos_id:
                    if rank < K:
                        self.finished[b].append(
                            (self._normalised(score, len(history) + 1), history))
                elif len(alive) < K:
                    alive.append((b * K + beam, token, score))
            alive += [(b * K, self.pad_id, MINUS_INFINITY)] * (K - len(alive))  # dead slots
            for row, token, score in alive:
                survivors.rows.append(row)
                survivors.tokens.append(token)
                survivors.scores.append(score)
                hypotheses.append(self.hypotheses[row] + [token])
        self.hypotheses = hypotheses
        return survivors

    @property
    def done(self) -> bool:
        """Every sentence has ``K`` finished hypotheses."""
        return all(len(done) >= self.width for done in self.finished)

    def best(self, scores: Sequence[Sequence[float]]) -> list[list[int]]:
        """The winner of each sentence, given the live hypotheses' scores ``(B, K)``: the best
        finished one, or, where none finished, the best live one."""
        K = self.width
        results = []
        for b in range(self.batch):
            candidates = self.finished[b] or [
                (self._normalised(scores[b][k], len(self.hypotheses[b * K + k])),
                 self.hypotheses[b * K + k])
                for k in range(K) if scores[b][k] > MINUS_INFINITY]
            results.append(max(candidates, key=lambda candidate: candidate[0])[1])
        return results


def backtrack(last_tags: Sequence[int], pointers: Sequence[Any],
              lengths: Sequence[int]) -> list[list[int]]:
    """Each sequence's best tag path, cut to its length, from Viterbi's back-pointers:
    ``y_T`` = ``last_tags[b]`` (the best final tag at the sequence's own end),
    ``y_{t-1} = ψ_t(y_t)``, where ``pointers[t - 1]`` is ``ψ_{t+1}``, a ``(B, C)`` array or
    tensor for steps ``t = 1..T-1``."""
    paths = []
    for row, length in enumerate(lengths):
        tag = int(last_tags[row])
        path = [tag]
        for t in range(length - 1, 0, -1):  # ψ_t for t = length..2 is pointers[t - 1]
            tag = int(pointers[t - 1][row, tag])
            path.append(tag)
        paths.append(path[::-1])
    return paths
