"""The trainer: exact resume, NaN handling, schedules, checkpoints and logs."""

import json
import math

import pytest
import torch
from torch import nn

from rnnkit.train import StepOutput, TrainConfig, Trainer, TrainingDiverged
from rnnkit.train.model_dir import STATE_FILE, WEIGHTS_FILE, load_tensors


class Regression(nn.Module):
    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(3, 1)
        self.drop = nn.Dropout(0.3)

    def forward(self, x):
        return self.linear(self.drop(x))


class RegressionTask:
    """Noisy linear regression; carries a running count to check that carries survive resume."""

    name = "regression"
    unit = "examples"

    def __init__(self, nan_at=None):
        generator = torch.Generator().manual_seed(0)
        self.x = torch.randn(64, 3, generator=generator)
        self.y = self.x @ torch.tensor([[1.0], [-2.0], [0.5]]) + 0.1
        self.nan_at = nan_at
        self.calls = 0

    def train_batches(self, epoch):
        order = torch.randperm(64, generator=torch.Generator().manual_seed(epoch))
        return [order[i:i + 8] for i in range(0, 64, 8)]

    def train_step(self, model, batch, carry):
        self.calls += 1
        loss = ((model(self.x[batch]) - self.y[batch]) ** 2).mean()
        if self.nan_at is not None and self.calls >= self.nan_at:
            loss = loss * float("nan")
        seen = (carry or 0) + len(batch)
        return StepOutput(loss, len(batch), seen)

    def evaluate(self, model):
        model.eval()
        with torch.no_grad():
            return {"loss": float(((model(self.x) - self.y) ** 2).mean())}

    def describe(self, loss):
        return {"rmse": math.sqrt(loss)}


def _train(directory, config, callbacks=(), resume=False):
    torch.manual_seed(1)
    trainer = Trainer(Regression(), RegressionTask(), config, directory, quiet=True,
                      callbacks=callbacks)
    trainer.fit(resume=resume)
    return trainer


CONFIG = TrainConfig(epochs=4, optimizer="adam", lr=0.05, schedule="step", decay_start=2,
                     seed=3)


def test_resume_after_interruption_gives_identical_weights(tmp_path):
    uninterrupted = _train(tmp_path / "a", CONFIG)

    def interrupt(trainer, event, info):
        if event == "step" and info["step"] == 13:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        _train(tmp_path / "b", CONFIG, callbacks=[interrupt])
    resumed = _train(tmp_path / "b", CONFIG, resume=True)
    for name, value in uninterrupted.model.state_dict().items():
        assert torch.equal(value, resumed.model.state_dict()[name]), name
    strip = [{k: v for k, v in row.items() if k != "examples_per_s"} for row in resumed.history]
    assert strip == [{k: v for k, v in row.items() if k != "examples_per_s"}
                     for row in uninterrupted.history]


def test_step_limit_stops_saves_and_resumes_exactly(tmp_path):
    uninterrupted = _train(tmp_path / "a", CONFIG)
    stopped = _train(tmp_path / "b", TrainConfig(**{**CONFIG.to_dict(), "max_steps": 11}))
    assert stopped.history[-1]["partial"] and (tmp_path / "b" / WEIGHTS_FILE).is_file()
    resumed = _train(tmp_path / "b", CONFIG, resume=True)
    for name, value in uninterrupted.model.state_dict().items():
        assert torch.equal(value, resumed.model.state_dict()[name]), name


def test_nan_loss_stops_with_a_clear_message_and_keeps_the_checkpoint(tmp_path):
    _train(tmp_path, TrainConfig(epochs=1, lr=0.01))
    before = load_tensors(tmp_path / WEIGHTS_FILE)
    trainer = Trainer(Regression(), RegressionTask(nan_at=3), TrainConfig(epochs=1, lr=0.01),
                      tmp_path, quiet=True)
    with pytest.raises(TrainingDiverged, match="the loss became nan at epoch 1, step 3"):
        trainer.fit()
    after = load_tensors(tmp_path / WEIGHTS_FILE)
    assert all(torch.equal(before[k], after[k]) for k in before)


def test_step_schedule_halves_after_decay_start(tmp_path):
    trainer = _train(tmp_path, TrainConfig(epochs=5, lr=1.0, schedule="step", decay_start=3))
    assert [row["lr"] for row in trainer.history] == [1.0, 1.0, 1.0, 0.5, 0.25]


def test_logs_and_plot_are_written(tmp_path):
    _train(tmp_path, TrainConfig(epochs=2, lr=0.05))
    rows = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [row["epoch"] for row in rows] == [1, 2]
    assert {"train_loss", "valid_loss", "train_rmse", "lr"} <= set(rows[0])
    assert (tmp_path / "loss.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (tmp_path / STATE_FILE).is_file()


def test_early_stopping(tmp_path):
    trainer = _train(tmp_path, TrainConfig(epochs=30, lr=1e-9, early_stopping=2))
    assert len(trainer.history) < 30


def test_config_rejects_bad_values():
    with pytest.raises(ValueError, match="optimizer must be one of sgd, adam, adamw"):
        TrainConfig(optimizer="rmsprop")
    with pytest.raises(ValueError, match="TrainConfig: lr must be a finite number > 0, got 0"):
        TrainConfig(lr=0)
    with pytest.raises(ValueError, match="unknown keys \\['batch'\\]"):
        TrainConfig.from_dict({"batch": 3})
