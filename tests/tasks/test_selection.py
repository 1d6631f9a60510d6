"""KeepBest: model.safetensors ends up holding the epoch with the best validation metric."""

from types import SimpleNamespace

import pytest
import torch

from rnnkit.tasks.selection import KeepBest, callbacks_for, check_select
from rnnkit.train.model_dir import WEIGHTS_FILE, load_tensors, save_weights


def _epoch(callback, trainer, value, weight):
    with torch.no_grad():
        trainer.model.weight.fill_(weight)
    save_weights(trainer.directory, trainer.model)  # the trainer's own save (loss improved)
    row = {"epoch": len(trainer.history) + 1, "valid_f1": value}
    trainer.history.append(row)
    callback(trainer, "epoch", row)
    return float(load_tensors(trainer.directory / WEIGHTS_FILE)["weight"][0, 0])


def test_the_best_epoch_survives_later_saves_of_the_trainer(tmp_path):
    trainer = SimpleNamespace(history=[], model=torch.nn.Linear(2, 2), directory=tmp_path)
    callback = KeepBest("f1", tmp_path)
    assert _epoch(callback, trainer, 0.5, 1.0) == 1.0
    assert _epoch(callback, trainer, 0.4, 2.0) == 1.0  # worse: the trainer's save is undone
    assert _epoch(callback, trainer, 0.6, 3.0) == 3.0
    callback(trainer, "step", {"loss": 1.0})  # steps are ignored
    resumed = KeepBest("f1", tmp_path)  # a resumed run knows the best so far
    assert _epoch(resumed, trainer, 0.55, 4.0) == 3.0


def test_loss_selection_adds_no_callback_and_bad_names_are_refused(tmp_path):
    assert callbacks_for("loss", tmp_path, []) == []
    assert isinstance(callbacks_for("f1", tmp_path, [])[0], KeepBest)
    with pytest.raises(ValueError, match="select must be one of f1, loss, got 'bleu'"):
        check_select("bleu", ("f1", "loss"))
