"""Batches: padded ``(ids, lengths, mask)`` from id lists, a bucketing batch sampler that
keeps padding low, and language-model windows over one contiguous id stream.

Shapes use the package's letters (see :mod:`rnnkit`): ``B``, ``T`` padded length (``bptt`` for
LM windows), ``N`` sequences of a data set or ids of a stream.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from typing import NamedTuple

import numpy as np
import torch
from torch.utils.data import Dataset, Sampler

from rnnkit.data.padding import lengths_to_mask, pad_sequences, sequence_lengths
from rnnkit.data.streams import LMWindows


class Batch(NamedTuple):
    """A padded batch: ``ids`` LongTensor ``(B, T)``, ``lengths`` LongTensor ``(B,)``,
    ``mask`` BoolTensor ``(B, T)`` (True at real tokens)."""

    ids: torch.Tensor
    lengths: torch.Tensor
    mask: torch.Tensor


def collate(
    seqs: Sequence[Sequence[int]],
    pad_id: int = 0,
    maxlen: int | None = None,
    padding: str = "post",
    truncating: str = "post",
) -> Batch:
    """Pad id lists into a :class:`Batch`; use ``functools.partial(collate, pad_id=...)`` as a
    DataLoader's ``collate_fn``."""
    ids = pad_sequences(seqs, maxlen, padding, truncating, pad_id)  # (B, T)
    lengths = sequence_lengths(seqs, maxlen)  # (B,)
    return Batch(ids, lengths, lengths_to_mask(lengths, ids.shape[1], padding))


class BucketBatchSampler(Sampler[list[int]]):
    """Batches of indices with similar lengths, so that little padding is needed.

    Each epoch the indices are shuffled, cut into buckets of ``batches_per_bucket *
    batch_size``, sorted by length inside each bucket and cut into batches; the batches are
    then shuffled. Every index appears in exactly one batch (``drop_last`` drops only the one
    short batch). ``set_epoch`` changes the shuffle, as with ``DistributedSampler``.
    """

    def __init__(
        self,
        lengths: Sequence[int],
        batch_size: int,
        batches_per_bucket: int = 50,
        shuffle: bool = True,
        drop_last: bool = False,
        seed: int = 0,
    ) -> None:
        for name, number in (
            ("batch_size", batch_size),
            ("batches_per_bucket", batches_per_bucket),
        ):
            if not isinstance(number, int) or number < 1:
                raise ValueError(f"BucketBatchSampler: {name} must be an int >= 1, got {number!r}")
        self._lengths = np.asarray(lengths, dtype=np.int64)  # (N,)
        if self._lengths.ndim != 1:
            raise ValueError(
                f"BucketBatchSampler: lengths must be 1-D, got shape {self._lengths.shape}"
            )
        self.batch_size = batch_size
        self.bucket_size = batch_size * batches_per_bucket
        self.shuffle = shuffle
        self.drop_last = drop_last
        self.seed = seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        count = len(self._lengths)
        return count // self.batch_size if self.drop_last else math.ceil(count / self.batch_size)

    def __iter__(self) -> Iterator[list[int]]:
        rng = np.random.default_rng([self.seed, self.epoch])
        count = len(self._lengths)
        order = rng.permutation(count) if self.shuffle else np.arange(count)
        batches = []
        for start in range(0, count, self.bucket_size):
            bucket = order[start : start + self.bucket_size]
            bucket = bucket[np.argsort(self._lengths[bucket], kind="stable")]
            batches += [
                bucket[i : i + self.batch_size] for i in range(0, len(bucket), self.batch_size)
            ]
        if self.drop_last and count % self.batch_size:
            batches.pop()  # buckets hold whole batches, so only the very last one is short
        if self.shuffle:
            batches = [batches[i] for i in rng.permutation(len(batches))]
        return (batch.tolist() for batch in batches)


class LMStream(LMWindows, Dataset):
    """:class:`rnnkit.data.streams.LMWindows` as LongTensors ``(B, bptt)``, a torch Dataset.

    >>> stream = LMStream(list(range(10)), batch_size=2, bptt=2)
    >>> x, y = stream[0]
    >>> len(stream), x.tolist(), y.tolist()
    (2, [[0, 1], [5, 6]], [[1, 2], [6, 7]])
    """

    def __init__(
        self, ids: Sequence[int] | np.ndarray | torch.Tensor, batch_size: int, bptt: int,
        rows: slice | None = None,
    ) -> None:
        super().__init__(ids.numpy() if isinstance(ids, torch.Tensor) else ids, batch_size,
                         bptt, rows)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        x, y = super().__getitem__(index)  # (B, T) each
        return torch.from_numpy(x), torch.from_numpy(y)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        return (self[index] for index in range(len(self)))
