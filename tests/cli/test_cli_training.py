"""What every ``rnnkit train COMMAND`` shares (``rnnkit.cli.common.run_training``)."""

import pytest

from rnnkit.cli import main
from rnnkit.tasks import classification, language_modeling, tagging, translation

STARTS = {
    "lm": (language_modeling, "train_language_model"),
    "classify": (classification, "train_classifier"),
    "tag": (tagging, "train_tagger"),
    "translate": (translation, "train_translator"),
}


@pytest.mark.parametrize("command", sorted(STARTS))
def test_ctrl_c_exits_130_and_names_the_resume_command(command, tmp_path, monkeypatch, capsys):
    module, function = STARTS[command]

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(module, function, interrupted)
    (tmp_path / "data.txt").write_text("x\n")
    code = main(["train", command, "--data", str(tmp_path / "data.txt"),
                 "--out", str(tmp_path / "run")])
    assert code == 130
    assert f"rnnkit train {command} --out {tmp_path / 'run'} --resume" in capsys.readouterr().err


@pytest.mark.parametrize("command", sorted(STARTS))
def test_a_new_run_without_data_is_a_one_line_error(command, tmp_path, capsys):
    assert main(["train", command, "--out", str(tmp_path / "run")]) != 0
    err = capsys.readouterr().err
    assert f"train {command}: --data is required (or --resume to continue a run)" in err
    assert err.count("\n") == 1
