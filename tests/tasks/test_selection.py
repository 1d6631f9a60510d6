"""Selection: ``model.safetensors`` holds the epoch with the best selected validation figure,
through the trainer's ``select`` — also when the run was stopped and resumed in between."""

import math

import pytest
import torch
from torch import nn

from rnnkit.tasks.selection import check_select
from rnnkit.train import StepOutput, TrainConfig, Trainer
from rnnkit.train.model_dir import WEIGHTS_FILE, load_tensors


class Wobbly:
    """A tiny regression whose validation "f1" goes up and down with the weights (a figure
    that disagrees with the loss), the same for the same weights."""

    name, unit = "wobbly", "examples"

    def __init__(self) -> None:
        generator = torch.Generator().manual_seed(0)
        self.x = torch.randn(32, 3, generator=generator)
        self.y = self.x @ torch.tensor([1.0, -2.0, 0.5]) + 0.1

    def train_batches(self, epoch):
        return [(self.x[i:i + 8], self.y[i:i + 8]) for i in range(0, 32, 8)]

    def train_step(self, model, batch, carry):
        x, y = batch
        return StepOutput(nn.functional.mse_loss(model(x).squeeze(1), y), len(y))

    @torch.no_grad()
    def evaluate(self, model):
        loss = float(nn.functional.mse_loss(model(self.x).squeeze(1), self.y))
        return {"loss": loss, "f1": math.sin(40 * float(model.weight.sum()))}

    def describe(self, loss):
        return {}


def _train(directory, epochs, select, resume=False):
    torch.manual_seed(0)
    trainer = Trainer(nn.Linear(3, 1), Wobbly(), TrainConfig(epochs=epochs, lr=0.05),
                      directory, quiet=True, select=select)
    trainer.fit(resume=resume)
    return trainer


def test_the_weights_kept_are_the_best_selected_epochs(tmp_path):
    trainer = _train(tmp_path, 8, "f1")
    f1 = [row["valid_f1"] for row in trainer.history]
    losses = [row["valid_loss"] for row in trainer.history]
    best = max(range(8), key=f1.__getitem__)
    assert best != min(range(8), key=losses.__getitem__)  # the figures disagree here
    kept = load_tensors(tmp_path / WEIGHTS_FILE)["weight"]
    again = _train(tmp_path / "again", best + 1, "f1")
    torch.testing.assert_close(kept, again.model.weight.detach(), rtol=0, atol=0)
    assert trainer.best_selected == f1[best]


def test_a_resumed_run_keeps_what_an_uninterrupted_one_keeps(tmp_path):
    whole = _train(tmp_path / "whole", 8, "f1")
    _train(tmp_path / "parts", 3, "f1")
    resumed = _train(tmp_path / "parts", 8, "f1", resume=True)
    assert resumed.best_selected == whole.best_selected
    assert torch.equal(load_tensors(tmp_path / "whole" / WEIGHTS_FILE)["weight"],
                       load_tensors(tmp_path / "parts" / WEIGHTS_FILE)["weight"])


def test_loss_selection_keeps_the_lowest_validation_loss(tmp_path):
    trainer = _train(tmp_path, 5, "loss")
    best = min(range(5), key=lambda i: trainer.history[i]["valid_loss"])
    again = _train(tmp_path / "again", best + 1, "loss")
    assert torch.equal(load_tensors(tmp_path / WEIGHTS_FILE)["weight"],
                       again.model.weight.detach())


def test_bad_selections_are_refused(tmp_path):
    with pytest.raises(ValueError, match="select must be one of f1, loss, got 'bleu'"):
        check_select("bleu", ("f1", "loss"))
    with pytest.raises(ValueError, match="Trainer: select must name a validation figure, "
                                         "got ''"):
        Trainer(nn.Linear(3, 1), Wobbly(), TrainConfig(), tmp_path, select="")
