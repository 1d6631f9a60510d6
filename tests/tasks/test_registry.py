"""The task contract's proof: a task defined only here (the parity of a sequence's length),
registered, trains, saves, loads through ``rnnkit.load`` and is trained and evaluated through
the CLI, whose code knows nothing of it."""

import argparse
import json
from dataclasses import asdict, dataclass
from pathlib import Path

import pytest
import torch
from torch import nn

import rnnkit
import rnnkit.nn as rn
from rnnkit.cli import main
from rnnkit.data import iter_lines, pad_sequences
from rnnkit.tasks import (
    Pipeline,
    Prepared,
    Task,
    TrainingDefaults,
    get_task,
    register,
    registered_tasks,
    unregister,
)
from rnnkit.train import StepOutput, TrainConfig

LABELS = ("even", "odd")


def read_parity(path) -> list[tuple[list[str], int]]:
    """Lines of space-separated tokens; the label is the count's parity (0 even, 1 odd)."""
    return [(line.split(), len(line.split()) % 2) for _, line in iter_lines(path)
            if line.strip()]


class ParityModel(nn.Module):
    def __init__(self, hidden_size: int) -> None:
        super().__init__()
        self.embedding = nn.Embedding(2, 4, padding_idx=0)
        self.rnn = rn.GRU(4, hidden_size, batch_first=True)
        self.output = nn.Linear(hidden_size, 2)

    def forward(self, ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        _, h_n = self.rnn(self.embedding(ids), lengths=lengths)  # h_n (1, B, H)
        return self.output(h_n[-1])  # (B, 2)


def _batch(sequences):
    ids = pad_sequences([[1] * len(tokens) for tokens, _ in sequences])  # (B, T)
    lengths = torch.tensor([len(tokens) for tokens, _ in sequences])
    labels = torch.tensor([label for _, label in sequences])
    return ids, lengths, labels


class ParityTraining:
    name, unit = "parity", "examples"

    def __init__(self, train, valid) -> None:
        self.train, self.valid = train, valid

    def train_batches(self, epoch):
        return [_batch(self.train[start:start + 8]) for start in range(0, len(self.train), 8)]

    def train_step(self, model, batch, carry):
        ids, lengths, labels = batch
        return StepOutput(nn.functional.cross_entropy(model(ids, lengths), labels), len(labels))

    def evaluate(self, model):
        return _report(model, self.valid)

    def describe(self, loss):
        return {}


@torch.no_grad()
def _report(model, sequences) -> dict:
    ids, lengths, labels = _batch(sequences)
    logits = model.eval()(ids, lengths)
    return {"loss": float(nn.functional.cross_entropy(logits, labels)),
            "accuracy": float((logits.argmax(-1) == labels).float().mean())}


class ParityPipeline(Pipeline):
    task = "parity"

    @torch.inference_mode()
    def predict(self, texts):
        batch = [texts] if isinstance(texts, str) else texts
        ids, lengths, _ = _batch([(text.split(), 0) for text in batch])
        labels = [LABELS[int(i)] for i in self.model(ids, lengths).argmax(-1)]
        return labels[0] if isinstance(texts, str) else labels

    @torch.inference_mode()
    def evaluate(self, path) -> dict:
        return _report(self.model, read_parity(path))


@dataclass(frozen=True)
class ParityData:
    train: str
    valid: str


class Parity(Task):
    name = "parity"
    summary = "learn whether a sequence has an even or odd number of tokens"
    metric = "accuracy"
    training_defaults = TrainingDefaults(epochs=2, optimizer="adam", lr=0.05, clip=1.0)

    def prepare(self, data, model_options, train, out_dir, *, quiet):
        read_parity(data.train)  # fail on bad input before anything is written
        return Prepared({"model": dict(model_options), "data": asdict(data)})

    def training(self, out_dir, config, *, quiet, device, seed, reuse):
        data = ParityData(**config["data"])
        return ParityTraining(read_parity(data.train), read_parity(data.valid))

    def build_model(self, config):
        return ParityModel(config["model"]["hidden_size"])

    def pipeline(self, directory, config, model):
        return ParityPipeline(directory, config, model)

    def add_train_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--data")
        parser.add_argument("--valid")
        parser.add_argument("--hidden", type=int, default=8)

    def start(self, args, train):
        return self.train(ParityData(args.data, args.valid), {"hidden_size": args.hidden},
                          train, args.out, quiet=args.quiet)


@pytest.fixture
def parity():
    task = register(Parity())
    yield task
    if task in registered_tasks():
        unregister(task.name)


@pytest.fixture
def files(tmp_path) -> tuple[Path, Path]:
    lines = [" ".join("a" * n) for n in (1, 2, 3, 4, 5, 6)] * 4
    train, valid = tmp_path / "train.txt", tmp_path / "valid.txt"
    train.write_text("\n".join(lines) + "\n", encoding="utf-8")
    valid.write_text("\n".join(lines[:6]) + "\n", encoding="utf-8")
    return train, valid


def test_a_task_defined_outside_rnnkit_trains_loads_and_evaluates_through_the_cli(
        parity, files, tmp_path, capsys):
    train, valid = files
    out = tmp_path / "model"
    assert main(["train", "parity", "--data", str(train), "--valid", str(valid),
                 "--out", str(out), "--epochs", "3", "--quiet", "--threads", "1"]) == 0
    assert json.loads((out / "config.json").read_text())["task"] == "parity"
    pipeline = rnnkit.load(out)
    assert isinstance(pipeline, ParityPipeline) and pipeline.task == "parity"
    assert pipeline.predict("a a a") in LABELS
    assert len(pipeline.predict(["a", "a a"])) == 2
    assert main(["evaluate", str(out), "--data", str(valid), "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == pytest.approx(pipeline.evaluate(valid))
    assert main(["evaluate", str(out), "--data", str(valid)]) == 0
    assert capsys.readouterr().out.splitlines()[1].startswith("accuracy\t")
    assert main(["train", "parity", "--resume", "--out", str(out), "--epochs", "4",
                 "--quiet"]) == 0
    assert len((out / "metrics.jsonl").read_text().splitlines()) == 4
    assert main(["predict", str(out), "--text", "a"]) == 1
    assert "holds a 'parity' model; this task's models are not offered to predict" in \
        capsys.readouterr().err


def test_the_registry_refuses_duplicates_and_names_unknown_tasks(parity):
    with pytest.raises(ValueError, match="a task named 'parity' is already registered"):
        register(Parity())
    with pytest.raises(TypeError, match="expected a Task instance, got str"):
        register("parity")
    with pytest.raises(ValueError, match="unknown task 'nope'; this rnnkit knows classify, "
                                         "lm, parity, tag, translate"):
        get_task("nope")
    assert get_task("parity") is parity and parity in registered_tasks()


def test_once_unregistered_its_directories_name_the_unknown_task(parity, files, tmp_path):
    train, valid = files
    parity.train(ParityData(str(train), str(valid)), {"hidden_size": 4},
                 TrainConfig(epochs=1), tmp_path / "m", quiet=True)
    unregister("parity")
    with pytest.raises(rnnkit.tasks.contract.ModelDirectoryError,
                       match='holds a model of task "parity", which this rnnkit does not know'):
        rnnkit.load(tmp_path / "m")
