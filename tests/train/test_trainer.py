"""The trainer: exact resume, NaN handling, schedules, checkpoints and logs."""

import errno
import json
import math
import os
import signal

import pytest
import torch
from torch import nn

from rnnkit.train import StepOutput, TrainConfig, Trainer, TrainingDiverged, model_dir
from rnnkit.train.model_dir import STATE_FILE, WEIGHTS_FILE, load_tensors
from rnnkit.train.trainer import OutOfSpace


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


def _assert_same_weights(expected, trainer):
    for name, value in expected.model.state_dict().items():
        assert torch.equal(value, trainer.model.state_dict()[name]), name


class SignalAfterStep:
    """Sends ``number`` to this process from inside ``optimizer.step()``'s post hook at
    ``step``: the moment after the weights changed and before the trainer records the step."""

    def __init__(self, number, step):
        self.number, self.step, self.steps = number, step, 0

    def attach(self, trainer):
        def hook(optimizer, args, kwargs):
            self.steps += 1
            if self.steps == self.step:
                os.kill(os.getpid(), self.number)
        trainer.optimizer.register_step_post_hook(hook)
        return trainer


@pytest.mark.parametrize("name", ["SIGINT", "SIGTERM"])
@pytest.mark.parametrize("step", [1, 8, 13])
def test_a_signal_right_after_the_optimizer_step_resumes_exactly(tmp_path, name, step):
    number = getattr(signal, name)
    uninterrupted = _train(tmp_path / "a", CONFIG)
    torch.manual_seed(1)
    trainer = SignalAfterStep(number, step).attach(
        Trainer(Regression(), RegressionTask(), CONFIG, tmp_path / "b", quiet=True))
    handlers = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    with pytest.raises(KeyboardInterrupt, match=name):
        trainer.fit()
    assert (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)) == handlers
    assert trainer.position.global_step == step  # the step the signal landed in is recorded
    _assert_same_weights(uninterrupted, _train(tmp_path / "b", CONFIG, resume=True))


def test_a_second_signal_stops_at_once_and_the_previous_checkpoint_resumes(tmp_path):
    uninterrupted = _train(tmp_path / "a", CONFIG)

    def twice(trainer, event, info):
        if event == "step" and info["step"] == 11:
            os.kill(os.getpid(), signal.SIGINT)
            os.kill(os.getpid(), signal.SIGINT)

    with pytest.raises(KeyboardInterrupt):
        _train(tmp_path / "b", CONFIG, callbacks=[twice])
    resumed = _train(tmp_path / "b", CONFIG, resume=True)  # from the end of epoch 1 (step 8)
    _assert_same_weights(uninterrupted, resumed)


def test_a_new_run_checkpoints_before_its_first_step(tmp_path):
    def stop(trainer, event, info):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        _train(tmp_path / "b", CONFIG, callbacks=[stop])
    state = json.loads(model_dir.load_metadata(tmp_path / "b" / STATE_FILE)["state"])
    assert state["position"]["global_step"] == 0
    _assert_same_weights(_train(tmp_path / "a", CONFIG),
                         _train(tmp_path / "b", CONFIG, resume=True))


def test_disk_full_while_saving_is_one_error_and_keeps_the_last_checkpoint(tmp_path,
                                                                           monkeypatch):
    save_file, saves = model_dir.save_file, []

    def fill_the_disk(tensors, filename, metadata=None):
        saves.append(filename)
        if len(saves) == 3:  # the initial checkpoint, epoch 1's weights, then its checkpoint
            with open(filename, "wb") as handle:
                handle.write(b"half a file")
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        save_file(tensors, filename, metadata=metadata)

    monkeypatch.setattr(model_dir, "save_file", fill_the_disk)
    with pytest.raises(OutOfSpace) as caught:
        _train(tmp_path, CONFIG)
    assert str(caught.value).splitlines() == [(
        f"[Errno 28] could not write {tmp_path / STATE_FILE}: No space left on device (the "
        f"previous {STATE_FILE} is kept); training stopped, its last checkpoint is kept: free "
        "some space, then resume")]
    assert sorted(path.name for path in tmp_path.iterdir()) == [WEIGHTS_FILE, STATE_FILE]
    monkeypatch.setattr(model_dir, "save_file", save_file)
    _assert_same_weights(_train(tmp_path / "a", CONFIG), _train(tmp_path, CONFIG, resume=True))


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
