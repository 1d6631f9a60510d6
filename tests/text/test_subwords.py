"""SubwordHasher: fastText-style character n-grams, a stable hash, bucket range, errors."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rnnkit.text.subwords import SubwordHasher, fnv1a_32


def test_ngrams_of_the_wrapped_token_shortest_first():
    hasher = SubwordHasher(buckets=10, min_n=3, max_n=4)
    assert hasher.ngrams("cat") == ["<ca", "cat", "at>", "<cat", "cat>"]
    assert hasher.ngrams("a") == ["<a>"]
    assert hasher.ngrams("") == []


def test_fnv1a_matches_the_published_test_vectors():
    # FNV-1a 32-bit reference values (Fowler, Noll, Vo: test vectors for "", "a", "foobar").
    assert fnv1a_32(b"") == 0x811C9DC5
    assert fnv1a_32(b"a") == 0xE40C292C
    assert fnv1a_32(b"foobar") == 0xBF9CF968


def test_ids_are_stable_and_shared_by_shared_ngrams():
    hasher = SubwordHasher(buckets=100_000)
    assert hasher.ids("unhappily") == SubwordHasher(buckets=100_000).ids("unhappily")
    shared = set(hasher.ids("happily")) & set(hasher.ids("unhappily"))
    assert {fnv1a_32(gram.encode()) % 100_000 + 1 for gram in ("app", "ily>", "happ")} <= shared
    assert hasher.encode(["a", "cat"]) == [hasher.ids("a"), hasher.ids("cat")]


@given(st.text(max_size=12), st.integers(1, 50))
def test_every_id_lies_in_one_to_buckets(token, buckets):
    ids = SubwordHasher(buckets=buckets, min_n=1, max_n=3).ids(token)
    assert all(1 <= i <= buckets for i in ids)
    assert len(ids) == len(SubwordHasher(buckets, 1, 3).ngrams(token))


def test_non_ascii_tokens_hash_their_utf8_bytes():
    hasher = SubwordHasher(buckets=1 << 20, min_n=2, max_n=2)
    assert hasher.ngrams("酒店") == ["<酒", "酒店", "店>"]
    assert hasher.ids("酒店")[1] == fnv1a_32("酒店".encode()) % (1 << 20) + 1


@pytest.mark.parametrize("options,message", [
    ({"buckets": 0}, "buckets must be an int >= 1, got 0"),
    ({"buckets": 5, "min_n": 0}, "min_n must be an int >= 1, got 0"),
    ({"buckets": 5, "min_n": 4, "max_n": 3}, "min_n=4 must not exceed max_n=3"),
    ({"buckets": True}, "buckets must be an int >= 1, got True"),
])
def test_bad_settings_are_refused(options, message):
    with pytest.raises(ValueError, match=message):
        SubwordHasher(**options)


def test_the_cache_stays_bounded_and_the_ids_do_not_change(monkeypatch):
    from rnnkit.text import subwords

    monkeypatch.setattr(subwords, "CACHE_TOKENS", 4)
    hasher = SubwordHasher(buckets=1000)
    tokens = [f"word{i}" for i in range(10)] * 2
    for token in tokens:
        hasher.ids(token)
        assert len(hasher._cache) <= 4
    assert [hasher.ids(t) for t in tokens] == [SubwordHasher(buckets=1000).ids(t) for t in tokens]
