"""Collate, bucketing and language-model stream batches (with the WildML seed example)."""

import functools

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from torch.utils.data import DataLoader

from rnnkit.data import BucketBatchSampler, LMStream, collate, encode, pad_sequences
from rnnkit.text import Vocab, get_tokenizer


def test_collate_gives_ids_lengths_and_mask():
    ids, lengths, mask = collate([[5, 6, 7], [8]], pad_id=0)
    assert ids.tolist() == [[5, 6, 7], [8, 0, 0]]
    assert lengths.tolist() == [3, 1]
    assert mask.tolist() == [[True, True, True], [True, False, False]]


def test_collate_serves_a_dataloader():
    loader = DataLoader(
        [[1, 2], [3], [4, 5, 6]], batch_size=2, collate_fn=functools.partial(collate, pad_id=0)
    )
    shapes = [batch.ids.shape for batch in loader]
    assert shapes == [(2, 2), (1, 3)]


lengths_lists = st.lists(st.integers(0, 60), max_size=300)


@given(lengths_lists, st.integers(1, 16), st.integers(1, 5), st.booleans(), st.integers(0, 3))
def test_bucketing_loses_and_duplicates_no_example(lengths, batch_size, per_bucket, shuffle, epoch):
    sampler = BucketBatchSampler(lengths, batch_size, per_bucket, shuffle=shuffle)
    sampler.set_epoch(epoch)
    batches = list(sampler)
    assert sorted(index for batch in batches for index in batch) == list(range(len(lengths)))
    assert len(batches) == len(sampler)
    assert all(1 <= len(batch) <= batch_size for batch in batches)


@given(lengths_lists, st.integers(1, 16))
def test_drop_last_drops_only_the_short_batch(lengths, batch_size):
    sampler = BucketBatchSampler(lengths, batch_size, drop_last=True)
    batches = list(sampler)
    assert len(batches) == len(sampler) == len(lengths) // batch_size
    assert all(len(batch) == batch_size for batch in batches)
    assert len({index for batch in batches for index in batch}) == len(batches) * batch_size


def test_bucketing_cuts_padding_and_reshuffles_per_epoch():
    rng = np.random.default_rng(0)
    lengths = rng.integers(1, 100, size=2000).tolist()
    seqs = [[1] * n for n in lengths]

    def padding(batches):
        return sum(pad_sequences([seqs[i] for i in batch]).numel() for batch in batches) - sum(
            lengths
        )

    sampler = BucketBatchSampler(lengths, batch_size=32)
    random_batches = [rng.permutation(2000)[i : i + 32].tolist() for i in range(0, 2000, 32)]
    assert padding(sampler) < padding(random_batches) / 5
    first = list(sampler)
    assert first == list(sampler)
    sampler.set_epoch(1)
    assert first != list(sampler)


def test_bucket_sampler_rejects_bad_arguments():
    with pytest.raises(
        ValueError, match="BucketBatchSampler: batch_size must be an int >= 1, got 0"
    ):
        BucketBatchSampler([1, 2], batch_size=0)


def test_seed_wildml_example_x_and_y_shift_by_one():
    tokens = get_tokenizer("word").tokenize("what aren't you understanding about this?!")
    vocab = Vocab.build([tokens])
    ids = encode(tokens, vocab, bos=True, eos=True)
    stream = LMStream(ids, batch_size=1, bptt=len(ids) - 1)
    assert len(stream) == 1
    x, y = stream[0]
    assert vocab.decode(x[0].tolist()) == [
        "<s>",
        "what",
        "are",
        "n't",
        "you",
        "understanding",
        "about",
        "this",
        "?",
        "!",
    ]
    assert vocab.decode(y[0].tolist()) == [
        "what",
        "are",
        "n't",
        "you",
        "understanding",
        "about",
        "this",
        "?",
        "!",
        "</s>",
    ]
    assert torch.equal(x[0, 1:], y[0, :-1])


def test_stream_rows_are_contiguous_and_windows_continue_them():
    stream = LMStream(torch.arange(23), batch_size=2, bptt=4)  # rows 0..10, 11..21; 22 dropped
    assert len(stream) == 3  # 10 targets per row in windows of 4, 4, 2
    windows = list(stream)
    assert [x.shape for x, _ in windows] == [(2, 4), (2, 4), (2, 2)]
    xs = torch.cat([x for x, _ in windows], dim=1)
    ys = torch.cat([y for _, y in windows], dim=1)
    assert xs.tolist() == [list(range(10)), list(range(11, 21))]
    assert ys.tolist() == [list(range(1, 11)), list(range(12, 22))]
    assert torch.equal(stream[-1][0], windows[-1][0])


def test_stream_reads_a_memmap_window_by_window(tmp_path):
    path = tmp_path / "ids.bin"
    np.arange(100, dtype=np.uint16).tofile(path)
    ids = np.memmap(path, dtype=np.uint16, mode="r")
    x, y = LMStream(ids, batch_size=4, bptt=5)[1]
    assert (
        x.dtype == torch.long
        and x[0].tolist() == [5, 6, 7, 8, 9]
        and y[3].tolist() == [81, 82, 83, 84, 85]
    )


def test_stream_serves_a_dataloader_without_rebatching():
    loader = DataLoader(LMStream(list(range(50)), batch_size=2, bptt=6), batch_size=None)
    assert [x.shape for x, _ in loader] == [(2, 6)] * 4  # 25 steps per row: 24 targets


def test_corpus_smaller_than_one_window_is_a_clear_error():
    with pytest.raises(
        ValueError,
        match=r"LMStream: a stream of 10 ids cut into batch_size=2 rows gives 5 steps per row, but one window needs bptt \+ 1 = 6",
    ):
        LMStream(list(range(10)), batch_size=2, bptt=5)


def test_stream_rejects_bad_arguments():
    with pytest.raises(ValueError, match="LMStream: bptt must be an int >= 1, got 0"):
        LMStream(list(range(10)), batch_size=1, bptt=0)
    with pytest.raises(ValueError, match=r"ids must be a 1-D stream, got shape \(2, 5\)"):
        LMStream(np.zeros((2, 5), dtype=np.int64), batch_size=1, bptt=1)
    with pytest.raises(IndexError, match=r"window index must lie in \[0, 1\), got 1"):
        LMStream(list(range(10)), batch_size=1, bptt=9)[1]


def test_lm_stream_rows_are_the_rows_of_the_whole_batch():
    ids = np.arange(40)
    whole = LMStream(ids, batch_size=4, bptt=3)
    part = LMStream(ids, batch_size=4, bptt=3, rows=slice(1, 3))
    assert len(part) == len(whole) and part.batch_size == 2
    for (x, y), (x_part, y_part) in zip(whole, part):
        assert torch.equal(x[1:3], x_part) and torch.equal(y[1:3], y_part)
    with pytest.raises(ValueError, match="rows"):
        LMStream(ids, batch_size=4, bptt=3, rows=slice(4, 4))
