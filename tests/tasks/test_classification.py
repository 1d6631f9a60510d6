"""Classification end to end on tiny inline data: readers, overfitting, save/load/predict,
evaluation, deterministic batches and bad input."""

import dataclasses
import json
import warnings

import pytest
import torch

from rnnkit.data import read_examples, sample_masked_copies, sample_spans
from rnnkit.tasks import classification as cls
from rnnkit.tasks import classification_data, classifier_pipeline, classifier_scoring, distillation
from rnnkit.tasks.classifier_pipeline import ClassifierPipeline
from rnnkit.tasks.common import split_held_out
from rnnkit.text import SubwordHasher, Vocab
from rnnkit.train import TrainConfig
from rnnkit.train.model_dir import ModelDirectoryError

POSITIVE = ["a great fun movie", "wonderful and great", "i loved it", "great acting , fun plot"]
NEGATIVE = ["a boring bad movie", "terrible and dull", "i hated it", "bad acting , dull plot"]


def _member(directory):
    """The classifier a directory holds, as one member of a pipeline."""
    return cls.CLASSIFICATION.load(directory).members[0]


def _pipeline(members):
    """A pipeline over one member or a list of them (an ensemble)."""
    return ClassifierPipeline(members if isinstance(members, list) else [members], {})


def _write_tsv(path, repeat=6):
    rows = [f"{text}\tpos\n" for text in POSITIVE * repeat]
    rows += [f"{text}\tneg\n" for text in NEGATIVE * repeat]
    path.write_text("".join(rows), encoding="utf-8")
    return path


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """One torch thread: tiny models only lose time to a second thread on a shared machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def trained(tmp_path_factory, one_thread):
    root = tmp_path_factory.mktemp("classify")
    train = _write_tsv(root / "train.tsv")
    data = cls.ClassificationData(train=str(train), valid=str(train), batch_size=8)
    model = {"embed_size": 16, "hidden_size": 16, "pooling": "attention"}
    trainer = cls.CLASSIFICATION.train(data, model, TrainConfig(epochs=4, optimizer="adam", lr=0.03),
                                   root / "model", quiet=True)
    return root, trainer


def test_a_tiny_dataset_is_overfit(trained):
    _, trainer = trained
    assert trainer.history[-1]["valid_accuracy"] == 1.0
    assert trainer.history[-1]["train_loss"] < 0.05


def test_the_directory_holds_config_vocab_labels_weights_report_and_plot(trained):
    root, _ = trained
    names = {path.name for path in (root / "model").iterdir()}
    assert {"config.json", "vocab.json", "labels.json", "model.safetensors",
            "valid_report.json", "confusion.png"} <= names
    assert json.loads((root / "model" / "labels.json").read_text()) == ["neg", "pos"]
    assert (root / "model" / "confusion.png").read_bytes()[:4] == b"\x89PNG"
    report = json.loads((root / "model" / "valid_report.json").read_text())
    assert report["confusion"] == [[24, 0], [0, 24]]


def test_predict_on_the_saved_directory(trained):
    root, _ = trained
    loaded = _member(root / "model")
    predictions = _pipeline(loaded).predict(["great fun", "dull and bad", "unseen words here"])
    assert [p.label for p in predictions[:2]] == ["pos", "neg"]
    for prediction in predictions:
        assert list(prediction.probabilities) == ["neg", "pos"]
        assert sum(prediction.probabilities.values()) == pytest.approx(1.0)


def test_evaluate_reports_accuracy_macro_f1_and_per_class(trained):
    root, _ = trained
    loaded = _member(root / "model")
    report = _pipeline(loaded).evaluate(root / "train.tsv")
    assert report["accuracy"] == 1.0 and report["macro_f1"] == 1.0
    assert report["per_class"]["pos"] == {"precision": 1.0, "recall": 1.0, "f1": 1.0,
                                          "support": 24}
    assert report["examples"] == 48


def test_unseen_labels_at_evaluation_are_a_clear_error(trained, tmp_path):
    root, _ = trained
    bad = tmp_path / "bad.tsv"
    bad.write_text("great fun\tpos\nso so\tneutral\n")
    with pytest.raises(ValueError, match=r"labels \['neutral'\] were never seen in training; "
                                         r"the model knows \['neg', 'pos'\]"):
        _pipeline(_member(root / "model")).evaluate(bad)


def test_empty_text_at_predict_is_an_error_and_no_text_too(trained):
    loaded = _member(trained[0] / "model")
    with pytest.raises(ValueError, match="input: example 2 has no tokens"):
        _pipeline(loaded).predict(["great", "  "])
    with pytest.raises(ValueError, match="no texts to classify"):
        _pipeline(loaded).predict([])


def test_long_texts_are_cut_to_max_length_with_a_warning(trained):
    loaded = _member(trained[0] / "model")
    with pytest.warns(UserWarning, match="1 of 2 texts are longer than max_length=400"):
        _pipeline(loaded).predict(["great " * 401, "dull"])


def test_empty_training_texts_are_skipped_with_a_warning(tmp_path):
    train = tmp_path / "train.csv"
    train.write_text("label,review\n1,great\n0,\n0,bad\n1,fine\n0,awful\n")
    with pytest.warns(UserWarning, match="skipped 1 examples with no tokens"):
        cls.CLASSIFICATION.train(cls.ClassificationData(train=str(train), valid=str(train)),
                             {"embed_size": 4, "hidden_size": 4},
                             TrainConfig(epochs=1, optimizer="adam", lr=0.01),
                             tmp_path / "model", quiet=True)


def test_label_first_lines_as_in_sst2(tmp_path):
    path = tmp_path / "stsa.binary.train"
    path.write_text("1 a gorgeous , witty film .\n0 it 's a mess .\n")
    assert read_examples(path) == [("a gorgeous , witty film .", "1"),
                                       ("it 's a mess .", "0")]
    path.write_text("1 fine\n0\n")
    with pytest.raises(ValueError, match=r"stsa.binary.train:2: expected '<label> <text>'"):
        read_examples(path)


def test_csv_with_a_header_and_quoted_commas(tmp_path):
    path = tmp_path / "reviews.csv"
    path.write_text('label,review\n1,"干净, 安静"\n0,"太吵了"\n', encoding="utf-8")
    assert read_examples(path) == [("干净, 安静", "1"), ("太吵了", "0")]


def test_a_ragged_tsv_names_file_and_line(tmp_path):
    path = tmp_path / "ragged.tsv"
    path.write_text("good\tpos\nbad\tneg\textra\n")
    with pytest.raises(ValueError, match=r"ragged.tsv:2: expected 2 columns"):
        read_examples(path)


def test_held_out_split_is_seeded_and_disjoint():
    examples = list(range(50))
    kept, held = split_held_out(examples, 0.1, seed=3)
    assert len(held) == 5 and sorted(kept + held) == examples
    assert split_held_out(examples, 0.1, seed=3) == (kept, held)


def test_train_batches_are_deterministic_per_epoch(tmp_path):
    train = cls.LabelledIds([[4] * n for n in range(1, 40)], [n % 2 for n in range(1, 40)])
    task = cls.ClassificationTraining(train, None, ["a", "b"], batch_size=4, seed=0)
    first = task.train_batches(1)
    again = task.train_batches(1)
    assert all(torch.equal(a[0].ids, b[0].ids) for a, b in zip(first, again))
    assert not all(torch.equal(a[1], b[1]) for a, b in zip(first, task.train_batches(2)))


def test_chinese_reviews_with_jieba(tmp_path):
    path = tmp_path / "htl.csv"
    rows = ["1,房间干净，服务很好", "0,房间很脏，服务太差", "1,位置方便，早餐不错", "0,隔音很差，早餐难吃"]
    path.write_text("label,review\n" + "\n".join(rows * 5) + "\n", encoding="utf-8")
    data = cls.ClassificationData(train=str(path), valid=str(path), tokenizer="chinese",
                                  batch_size=4)
    trainer = cls.CLASSIFICATION.train(data, {"embed_size": 12, "hidden_size": 12},
                                   TrainConfig(epochs=3, optimizer="adam", lr=0.03),
                                   tmp_path / "model", quiet=True)
    assert trainer.history[-1]["valid_accuracy"] == 1.0
    loaded = _member(tmp_path / "model")
    assert loaded.tokenizer.config()["name"] == "chinese"
    assert _pipeline(loaded).predict(["服务太差"])[0].label == "0"


def test_loading_another_task_or_a_missing_directory_fails_clearly(tmp_path):
    with pytest.raises(ModelDirectoryError, match="does not exist"):
        _member(tmp_path / "nowhere")


def test_bad_data_options_are_refused():
    with pytest.raises(ValueError, match="ClassificationData: format must be one of auto, tsv, csv, label-first, got 'xml'"):
        cls.ClassificationData(train="x", format="xml")
    with pytest.raises(ValueError, match="ClassificationData: max_length must be an int >= 1, got 0"):
        cls.ClassificationData(train="x", max_length=0)


def test_no_warning_for_ordinary_texts(trained):
    loaded = _member(trained[0] / "model")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _pipeline(loaded).predict(["great"])


def test_subword_features_train_save_and_reach_unseen_words(tmp_path):
    train = _write_tsv(tmp_path / "train.tsv")
    data = cls.ClassificationData(train=str(train), valid=str(train), batch_size=8, min_freq=2)
    model = {"embed_size": 16, "hidden_size": 16, "pooling": "mean", "subword_buckets": 500}
    torch.manual_seed(0)
    trainer = cls.CLASSIFICATION.train(data, model, TrainConfig(epochs=4, optimizer="adam", lr=0.03),
                                   tmp_path / "model", quiet=True)
    assert trainer.history[-1]["valid_accuracy"] == 1.0
    loaded = _member(tmp_path / "model")
    assert loaded.model.config.subword_hasher().config() == {"buckets": 500, "min_n": 3,
                                                             "max_n": 5}
    unseen = ["greatly", "boringly"]  # no vocabulary entry: <unk> with their own n-grams
    assert all(loaded.vocab.encode([word]) == [loaded.vocab.unk_id] for word in unseen)
    probabilities = [p.probabilities["pos"] for p in _pipeline(loaded).predict(unseen)]
    # Without subword features both texts would be the same "<unk>", scored identically.
    assert probabilities[0] != pytest.approx(probabilities[1], abs=1e-6)
    assert _pipeline(loaded).evaluate(train)["accuracy"] == 1.0


def _teacher(tmp_path, name, seed, subword_buckets=0, **data_options):
    train = _write_tsv(tmp_path / "train.tsv")
    data = cls.ClassificationData(train=str(train), valid=str(train), batch_size=8,
                                  **data_options)
    cls.CLASSIFICATION.train(data, {"embed_size": 8, "hidden_size": 8,
                                "subword_buckets": subword_buckets},
                         TrainConfig(epochs=2, optimizer="adam", lr=0.03, seed=seed),
                         tmp_path / name, quiet=True)
    return _member(tmp_path / name)


def test_teacher_probabilities_are_the_teachers_average(tmp_path):
    teachers = [_teacher(tmp_path, "a", seed=0), _teacher(tmp_path, "b", seed=1)]
    phrases = [["great", "fun"], ["dull", "plot"], ["never", "seen", "words"]]
    each = [torch.tensor([[p.probabilities[label] for label in ("neg", "pos")]
                          for p in _pipeline(teacher).predict([" ".join(t) for t in phrases])])
            for teacher in teachers]
    assert not torch.allclose(each[0], each[1])
    torch.testing.assert_close(distillation.teacher_probabilities(teachers, phrases),
                               (each[0] + each[1]) / 2)


def test_an_ensemble_averages_its_models_probabilities(tmp_path):
    teachers = [_teacher(tmp_path, "a", seed=0), _teacher(tmp_path, "b", seed=1)]
    texts = ["great fun", "dull plot", "never seen words"]
    each = [[p.probabilities["pos"] for p in _pipeline(model).predict(texts)]
            for model in teachers]
    averaged = [p.probabilities["pos"] for p in _pipeline(teachers).predict(texts)]
    assert averaged == pytest.approx([(a + b) / 2 for a, b in zip(*each)], abs=1e-6)
    train = tmp_path / "train.tsv"
    examples = read_examples(train, "auto")
    labelled, _ = classification_data.encode_labelled(examples, teachers[0].tokenizer, teachers[0].vocab,
                                teachers[0].labels, teachers[0].data, str(train), None)
    each = [classifier_scoring.predict_probabilities(model.model, labelled.ids) for model in teachers]
    expected = classifier_pipeline.report_of((each[0] + each[1]) / 2, labelled.labels, teachers[0].labels)
    report = _pipeline(teachers).evaluate(train)
    assert report["loss"] == pytest.approx(expected["loss"])
    assert (report["accuracy"], report["confusion"]) == (expected["accuracy"],
                                                         expected["confusion"])
    assert all(report["loss"] != pytest.approx(classifier_pipeline.report_of(p, labelled.labels,
                                                             teachers[0].labels)["loss"])
               for p in each)


def test_an_ensemble_needs_shared_labels_and_the_same_examples(tmp_path):
    model = _teacher(tmp_path, "a", seed=0)
    other = dataclasses.replace(model, labels=["bad", "good"])
    with pytest.raises(ValueError, match=r"classifier 2 of the ensemble has the labels "
                                         r"\['bad', 'good'\], the first \['neg', 'pos'\]"):
        _pipeline([model, other]).predict(["great"])
    with pytest.raises(ValueError, match="expected at least one classifier"):
        _pipeline([]).predict(["great"])
    data = tmp_path / "data.tsv"
    data.write_text("great fun\tpos\n!!\tneg\n", encoding="utf-8")
    punctuation_blind = dataclasses.replace(model, tokenizer=_NoPunctuation())
    with (pytest.raises(ValueError, match="classifier 2 of the ensemble keeps other examples"),
          pytest.warns(UserWarning, match="skipped 1 examples with no tokens")):
        _pipeline([model, punctuation_blind]).evaluate(data)
    data.write_text("text\tlabel\tnote\ngreat fun\tpos\tneg\n", encoding="utf-8")
    other_column = dataclasses.replace(
        model, data=dataclasses.replace(model.data, label_column="note"))
    with pytest.raises(ValueError, match="classifier 2 of the ensemble reads other examples"):
        _pipeline([model, other_column]).evaluate(data)


class _NoPunctuation:
    """A tokenizer that drops tokens without a letter (so it keeps fewer texts)."""

    def tokenize(self, text: str) -> list[str]:
        return [token for token in text.split() if any(c.isalpha() for c in token)]


def _two_texts() -> tuple[list[list[str]], cls.LabelledIds]:
    """Two training texts' tokens and their ids, labels and subwords."""
    tokens = [["a", "great", "fun", "movie"], ["i", "hated", "it"]]
    hasher = SubwordHasher(100, 3, 4)
    return tokens, cls.LabelledIds([[5, 6, 7, 8], [9, 10, 11]], [1, 0],
                                   [hasher.encode(t) for t in tokens])


def test_teacher_spans_follow_the_gold_examples_with_soft_targets(tmp_path):
    teacher = _teacher(tmp_path, "teacher", seed=0)
    tokens, train = _two_texts()
    spans = sample_spans([4, 3], per_text=3, seed=2)
    taught = distillation.with_teacher_targets(train, tokens, [teacher], per_text=3, seed=2)
    assert taught.ids[:2] == train.ids and taught.labels[:2] == [1, 0]
    assert taught.ids[2:] == [train.ids[s.text][s.start:s.stop] for s in spans]
    assert taught.subwords[2:] == [train.subwords[s.text][s.start:s.stop] for s in spans]
    torch.testing.assert_close(taught.soft[:2], torch.tensor([[0.0, 1.0], [1.0, 0.0]]))
    expected = distillation.teacher_probabilities([teacher], [tokens[s.text][s.start:s.stop]
                                                     for s in spans])
    torch.testing.assert_close(taught.soft[2:], expected)
    assert taught.labels[2:] == expected.argmax(dim=1).tolist()
    batch = cls.make_batch(*taught.subset([0, 3]))
    torch.testing.assert_close(batch.targets, taught.soft[[0, 3]])


def test_masked_tokens_reach_the_teachers_as_unknown_words_without_subwords(tmp_path):
    teacher = _teacher(tmp_path, "teacher", seed=0, subword_buckets=50)
    tokens = [["great", "fun", "movie"], ["dull", "plot"]]
    masked = [(0, 2), ()]
    unk, fun = teacher.vocab.unk_id, teacher.vocab.encode(["fun"])[0]
    by_hand = classifier_scoring.predict_probabilities(
        teacher.model, [[unk, fun, unk], teacher.vocab.encode(tokens[1])],
        subwords=[[(), teacher.hasher.ids("fun"), ()], teacher.hasher.encode(tokens[1])])
    torch.testing.assert_close(distillation.teacher_probabilities([teacher], tokens, masked=masked),
                               by_hand)
    assert not torch.allclose(distillation.teacher_probabilities([teacher], tokens)[0], by_hand[0])
    for bad in ([(0,)], [(3,), ()], [(-1,), ()]):
        with pytest.raises(ValueError, match="masked must hold positions inside each of the 2"):
            distillation.teacher_probabilities([teacher], tokens, masked=bad)


def test_masked_copies_follow_the_spans_with_unknown_words_and_no_subwords(tmp_path):
    teacher = _teacher(tmp_path, "teacher", seed=0)
    tokens, train = _two_texts()
    spans = sample_spans([4, 3], per_text=2, seed=3)
    copies = sample_masked_copies([4, 3], copies=5, prob=0.5, seed=4)
    taught = distillation.with_teacher_targets(train, tokens, [teacher], per_text=2, seed=3,
                                      masked_copies=5, mask_prob=0.5, unk_id=1)
    assert len(taught.ids) == 2 + len(spans) + len(copies) == 2 + len(spans) + 10
    start = 2 + len(spans)
    for copy, ids, subwords in zip(copies, taught.ids[start:], taught.subwords[start:]):
        assert ids == [1 if position in copy.masked else token
                       for position, token in enumerate(train.ids[copy.text])]
        assert subwords == [() if position in copy.masked else grams
                            for position, grams in enumerate(train.subwords[copy.text])]
    assert any(copy.masked for copy in copies)
    expected = distillation.teacher_probabilities([teacher], [tokens[c.text] for c in copies],
                                         masked=[c.masked for c in copies])
    torch.testing.assert_close(taught.soft[start:], expected)
    without = distillation.with_teacher_targets(train, tokens, [teacher], per_text=2, seed=3)
    assert taught.ids[:start] == without.ids
    torch.testing.assert_close(taught.soft[:start], without.soft)


def test_a_student_trains_on_its_teachers_spans_and_records_them(tmp_path):
    _teacher(tmp_path, "teacher", seed=0)
    train = tmp_path / "train.tsv"
    data = cls.ClassificationData(train=str(train), valid=str(train), batch_size=8,
                                  teachers=(str(tmp_path / "teacher"),), span_samples=2)
    trainer = cls.CLASSIFICATION.train(data, {"embed_size": 16, "hidden_size": 16},
                                   TrainConfig(epochs=4, optimizer="adam", lr=0.03),
                                   tmp_path / "student", quiet=True)
    texts = len(POSITIVE + NEGATIVE) * 6
    assert texts < len(trainer.task.train.ids) <= 3 * texts
    assert trainer.task.train.soft.shape == (len(trainer.task.train.ids), 2)
    assert trainer.history[-1]["valid_accuracy"] == 1.0
    config = json.loads((tmp_path / "student" / "config.json").read_text())
    assert config["data"]["teachers"] == [str(tmp_path / "teacher")]
    assert config["data"]["span_samples"] == 2


def test_a_student_with_masked_copies_records_them(tmp_path):
    _teacher(tmp_path, "teacher", seed=0)
    train = tmp_path / "train.tsv"
    data = cls.ClassificationData(train=str(train), valid=str(train), batch_size=8,
                                  teachers=(str(tmp_path / "teacher"),), span_samples=1,
                                  masked_copies=2, mask_prob=0.3)
    trainer = cls.CLASSIFICATION.train(data, {"embed_size": 8, "hidden_size": 8},
                                   TrainConfig(epochs=1), tmp_path / "student", quiet=True)
    taught, texts = trainer.task.train, len(POSITIVE + NEGATIVE) * 6
    spans = len(sample_spans([len(ids) for ids in taught.ids[:texts]], 1, seed=0))
    assert len(taught.ids) == texts + spans + 2 * texts
    copies = taught.ids[texts + spans:]
    originals = [ids for ids in taught.ids[:texts] for _ in range(2)]
    unknown = sum(token == 1 for ids in copies for token in ids)
    assert unknown > sum(token == 1 for ids in originals for token in ids)
    config = json.loads((tmp_path / "student" / "config.json").read_text())
    assert (config["data"]["masked_copies"], config["data"]["mask_prob"]) == (2, 0.3)


def _numbered_tsv(path, first, count):
    """``count`` distinct texts, labels alternating."""
    path.write_text("".join(f"text {index}\t{('neg', 'pos')[index % 2]}\n"
                            for index in range(first, first + count)), encoding="utf-8")
    return str(path)


def test_the_validation_examples_a_teacher_saw_are_counted(tmp_path):
    train = _numbered_tsv(tmp_path / "t.tsv", 0, 40)
    dev = _numbered_tsv(tmp_path / "d.tsv", 40, 10)
    data, seen = cls.ClassificationData, distillation.validation_seen_by_teacher
    on_dev = data(train=train, valid=dev)
    examples = classification_data.run_examples(on_dev)
    assert seen(examples, data(train=dev, valid=train)) == 10
    assert seen(examples, data(train=dev, valid_fraction=0.1)) == 9  # it held one out
    assert seen(examples, data(train=train, valid=dev)) == 0
    both = _numbered_tsv(tmp_path / "both.tsv", 35, 10)  # 5 texts of train, 5 of dev
    assert seen(examples, data(train=both, valid=dev)) == 5
    held_out = data(train=train, valid_fraction=0.25, split_seed=3)
    examples = classification_data.run_examples(held_out)
    assert seen(examples, data(train=train, valid_fraction=0.25, split_seed=3)) == 0
    assert seen(examples, data(train=train, valid_fraction=0.5, split_seed=3)) == 0  # held more
    assert 0 < seen(examples, data(train=train, valid_fraction=0.25, split_seed=4)) < 10
    assert seen(examples, data(train=train, valid=dev)) == 10  # trained on all of train
    assert seen(classification_data.run_examples(data(train=train, valid=train)), data(train=train)) == 0


def test_a_new_run_reads_each_data_file_once(tmp_path, monkeypatch):
    train, dev = _write_tsv(tmp_path / "train.tsv"), _write_tsv(tmp_path / "dev.tsv")
    read = []
    real = classification_data.read_examples
    monkeypatch.setattr(classification_data, "read_examples", lambda path, *args: read.append(str(path)) or
                        real(path, *args))
    data = cls.ClassificationData(train=str(train), valid=str(dev), batch_size=8)
    cls.CLASSIFICATION.train(data, {"embed_size": 8, "hidden_size": 8}, TrainConfig(epochs=1),
                         tmp_path / "model", quiet=True)
    assert sorted(read) == sorted([str(train), str(dev)])


def test_teachers_sharing_their_data_have_it_read_once(tmp_path, monkeypatch):
    teachers = [_teacher(tmp_path, "a", seed=0), _teacher(tmp_path, "b", seed=1)]
    read = []
    real = classification_data.read_examples
    monkeypatch.setattr(classification_data, "read_examples", lambda path, *args: read.append(str(path)) or
                        real(path, *args))
    examples = ([], [("a great fun movie", "pos")])
    with pytest.warns(UserWarning) as caught:
        distillation.warn_if_teachers_saw_validation(["a", "b"], teachers, examples)
    assert read == [str(tmp_path / "train.tsv")]
    assert [str(w.message).split(" was ")[0] for w in caught] == ["teacher a", "teacher b"]


def test_a_student_is_warned_of_a_teacher_trained_on_its_validation_file(tmp_path):
    _teacher(tmp_path, "teacher", seed=0)  # trained on train.tsv
    own = _numbered_tsv(tmp_path / "own.tsv", 0, 24)
    dev = tmp_path / "dev.tsv"
    dev.write_text("a great fun movie\tpos\nhated it\tneg\n", encoding="utf-8")
    data = cls.ClassificationData(train=own, valid=str(dev), batch_size=8,
                                  teachers=(str(tmp_path / "teacher"),))
    with pytest.warns(UserWarning, match=r"teacher .*teacher was trained on 1 of this run's 2 "
                                         r"validation examples"):
        cls.CLASSIFICATION.train(data, {"embed_size": 8, "hidden_size": 8}, TrainConfig(epochs=1),
                             tmp_path / "student", quiet=True)
    (tmp_path / "train.tsv").unlink()
    with pytest.warns(UserWarning, match=r"teacher .*teacher: cannot check whether it trained "
                                         r"on this run's validation examples \(.*train.tsv"):
        cls.CLASSIFICATION.train(data, {"embed_size": 8, "hidden_size": 8}, TrainConfig(epochs=1),
                             tmp_path / "student2", quiet=True)


def test_a_teacher_must_share_the_tokenizer_and_the_labels(tmp_path):
    teacher = tmp_path / "teacher"
    _teacher(tmp_path, "teacher", seed=0)
    with pytest.raises(ValueError, match=r"teacher .*teacher: its tokenizer .* differs"):
        distillation.load_teachers([str(teacher)], {"name": "whitespace"}, ["neg", "pos"])
    tokenizer = _member(teacher).tokenizer.config()
    with pytest.raises(ValueError, match=r"its labels \['neg', 'pos'\] differ from the "
                                         r"training file's \['0', '1'\]"):
        distillation.load_teachers([str(teacher)], tokenizer, ["0", "1"])
    with pytest.raises(ModelDirectoryError, match="does not exist"):
        distillation.load_teachers([str(tmp_path / "nowhere")], tokenizer, ["neg", "pos"])


def test_span_samples_must_be_positive_and_teachers_a_sequence(tmp_path):
    with pytest.raises(ValueError, match="ClassificationData: span_samples must be an int >= 1, got 0"):
        cls.ClassificationData(train="x", span_samples=0)
    with pytest.raises(TypeError, match="teachers must be a sequence .* got the string 'dir'"):
        cls.ClassificationData(train="x", teachers="dir")
    assert cls.ClassificationData(train="x", teachers=["a", "b"]).teachers == ("a", "b")
    assert cls.ClassificationData(train="x", teachers=[tmp_path]).teachers == (str(tmp_path),)
    with pytest.raises(TypeError, match="span_samples must be an int >= 1, got 2.5"):
        cls.ClassificationData(train="x", span_samples=2.5)
    with pytest.raises(ValueError, match="masked_copies must be an int >= 0, got -1"):
        cls.ClassificationData(train="x", masked_copies=-1)
    with pytest.raises(TypeError, match="masked_copies must be an int >= 0, got True"):
        cls.ClassificationData(train="x", masked_copies=True)
    with pytest.raises(TypeError, match=r"mask_prob must be a number in \(0, 1\], got '0.1'"):
        cls.ClassificationData(train="x", mask_prob="0.1")
    for prob in (0, 1.5):
        with pytest.raises(ValueError, match=r"mask_prob must be a number in \(0, 1\], got"):
            cls.ClassificationData(train="x", mask_prob=prob)
    with pytest.raises(ValueError, match="no teachers given"):
        distillation.teacher_probabilities([], [["a", "b"]])


def test_texts_too_short_for_a_span_keep_only_their_gold_targets(tmp_path):
    teacher = _teacher(tmp_path, "teacher", seed=0)
    train = cls.LabelledIds([[5, 6], [7]], [0, 1])
    taught = distillation.with_teacher_targets(train, [["i", "loved"], ["dull"]], [teacher], 4, seed=0)
    assert taught.ids == train.ids and taught.labels == [0, 1]
    torch.testing.assert_close(taught.soft, torch.tensor([[1.0, 0.0], [0.0, 1.0]]))


def test_spans_and_copies_come_from_the_kept_and_cut_texts_and_resume_rebuilds_them(
        tmp_path):
    _teacher(tmp_path, "teacher", seed=0, subword_buckets=30)
    texts = ["a great fun movie , loved it", "", "terrible and dull", "i hated it",
             "great acting", "bad acting , dull plot"]
    rows = [f"{text}\t{'pos' if index % 2 == 0 else 'neg'}" for index, text in
            enumerate(texts)]
    train = tmp_path / "student_train.tsv"
    train.write_text("\n".join(rows * 3) + "\n", encoding="utf-8")
    data = cls.ClassificationData(train=str(train), valid=str(train), batch_size=4,
                                  max_length=4, teachers=(str(tmp_path / "teacher"),),
                                  span_samples=3, masked_copies=2, mask_prob=1.0)
    with pytest.warns(UserWarning):  # all-masked copies: batches with no n-gram at all
        trainer = cls.CLASSIFICATION.train(data, {"embed_size": 8, "hidden_size": 8,
                                              "subword_buckets": 40},
                                       TrainConfig(epochs=1, seed=7), tmp_path / "student",
                                       quiet=True)
    kept = [text.split()[:4] for text in texts * 3 if text]  # the empty text is skipped
    spans = sample_spans([len(tokens) for tokens in kept], 3, seed=7)
    vocab = Vocab.load(tmp_path / "student" / "vocab.json")
    taught = trainer.task.train
    copies = len(kept) + len(spans)
    assert taught.ids[len(kept):copies] == [vocab.encode(kept[s.text][s.start:s.stop])
                                            for s in spans]
    assert taught.ids[copies:] == [[vocab.unk_id] * len(t) for t in kept for _ in range(2)]
    assert taught.subwords[copies:] == [[()] * len(t) for t in kept for _ in range(2)]
    with pytest.warns(UserWarning):
        resumed = cls.CLASSIFICATION.resume(tmp_path / "student", quiet=True).task.train
    assert resumed.ids == taught.ids
    torch.testing.assert_close(resumed.soft, taught.soft)


def test_a_missing_teacher_fails_before_the_directory_is_written(tmp_path):
    train = _write_tsv(tmp_path / "train.tsv")
    data = cls.ClassificationData(train=str(train), valid=str(train),
                                  teachers=(str(tmp_path / "nowhere"),))
    with pytest.raises(ModelDirectoryError, match=r"teacher .*nowhere: .*does not exist"):
        cls.CLASSIFICATION.train(data, {}, TrainConfig(epochs=1), tmp_path / "student", quiet=True)
    assert not (tmp_path / "student" / "config.json").exists()


def test_teacher_spans_need_the_tokens_behind_each_text(tmp_path):
    teacher = _teacher(tmp_path, "teacher", seed=0)
    train = cls.LabelledIds([[5, 6, 7]], [0])
    with pytest.raises(ValueError, match="token_lists must hold the tokens behind"):
        distillation.with_teacher_targets(train, [["a", "b"]], [teacher], 2, seed=0)
