"""The ABC corpus of a language model: whole tunes held out by a seeded shuffle, duplicates
kept once, a validation file taken as it is, both splits written to the model directory."""

import pytest

from rnnkit.data.abc import read_abc
from rnnkit.tasks import lm_abc


def _tunes(count: int) -> str:
    return "".join(f"X:{n}\nT:Tune {n}\nM:2/4\nL:1/8\nK:D\n{'ABcd' * n}|]\n\n"
                   for n in range(1, count + 1))


def test_held_out_tunes_are_whole_seeded_and_representative(tmp_path):
    corpus = tmp_path / "tunes.abc"
    corpus.write_text(_tunes(4) + _tunes(4).replace("ABcd", "fgab") + "X:99\nK:G\nGABc|]\n")
    train, held_out = lm_abc.tune_splits(str(corpus), None, "strip", 0.25, seed=3)
    assert len(train) + len(held_out) == 9 and len(held_out) == 2
    assert not set(train) & set(held_out)
    assert all(tune.startswith("X:") and tune.endswith("|]") for tune in train + held_out)
    assert lm_abc.tune_splits(str(corpus), None, "strip", 0.25, seed=3) == (train, held_out)
    others = {tuple(lm_abc.tune_splits(str(corpus), None, "strip", 0.25, seed)[1])
              for seed in range(8)}
    assert len(others) > 1  # the seed draws the held-out tunes, not a fixed tail


def test_duplicate_tunes_are_kept_once_whatever_their_number():
    first = "X:1\nK:C\nCDEF|]"
    assert lm_abc.distinct_tunes([first, "X:2\nK:C\nCDEF|]", "X:3\nK:G\nGABc|]"]) == [
        first, "X:3\nK:G\nGABc|]"]


def test_a_validation_file_is_used_as_it_is(tmp_path):
    corpus, valid = tmp_path / "train.abc", tmp_path / "valid.abc"
    corpus.write_text(_tunes(3))
    valid.write_text("% held out\nX:5\nT:Kept title\nK:A\nABcd|]\n")
    train, held_out = lm_abc.tune_splits(str(corpus), str(valid), "keep", 0.5, seed=0)
    assert len(train) == 3 and held_out == ["X:5\nT:Kept title\nK:A\nABcd|]"]


def test_one_tune_cannot_be_split(tmp_path):
    corpus = tmp_path / "one.abc"
    corpus.write_text(_tunes(1) + _tunes(1))
    with pytest.raises(ValueError, match="holds 1 distinct tune: a held-out share needs at "
                                         "least two"):
        lm_abc.tune_splits(str(corpus), None, "strip", 0.1, seed=0)


def test_both_splits_are_written_as_abc_files(tmp_path):
    corpus = tmp_path / "tunes.abc"
    corpus.write_text(_tunes(5))
    train_file = lm_abc.write_abc_corpus(str(corpus), None, "strip", 0.2, 0, tmp_path / "out")
    assert train_file == tmp_path / "out" / "train.abc"
    train, held_out = read_abc(train_file), read_abc(tmp_path / "out" / "valid.abc")
    assert (len(train), len(held_out)) == (4, 1)
    assert [tune.partition("\n")[0] for tune in train] == ["X:1", "X:2", "X:3", "X:4"]
    bodies = {tune.partition("\n")[2] for tune in read_abc(corpus, "strip")}
    assert {tune.partition("\n")[2] for tune in train + held_out} == bodies


def test_validation_tunes_are_kept_once_and_out_of_training(tmp_path):
    corpus, valid = tmp_path / "train.abc", tmp_path / "valid.abc"
    corpus.write_text(_tunes(3))
    valid.write_text(_tunes(3).split("\n\n")[1] + "\n\n" + _tunes(3).split("\n\n")[1]
                     .replace("X:2", "X:7"))  # tune 2 twice, numbered apart
    train, held_out = lm_abc.tune_splits(str(corpus), str(valid), "strip", 0.5, seed=0)
    assert [tune.partition("\n")[0] for tune in train] == ["X:1", "X:3"]
    assert held_out == ["X:2\nM:2/4\nL:1/8\nK:D\n" + "ABcd" * 2 + "|]"]


def test_a_validation_file_that_holds_every_tune_is_refused(tmp_path):
    corpus = tmp_path / "tunes.abc"
    corpus.write_text(_tunes(2))
    with pytest.raises(ValueError, match=r"--data '.*tunes.abc': every tune is also in "
                                         r"--valid '.*tunes.abc', so none is left to train"):
        lm_abc.tune_splits(str(corpus), str(corpus), "strip", 0.5, seed=0)
