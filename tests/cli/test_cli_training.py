"""What every ``rnnkit train COMMAND`` shares (``rnnkit.cli.common.run_training``)."""

import warnings

import pytest

from rnnkit.cli import main
from rnnkit.tasks import classification, language_modeling, tagging, translation
from rnnkit.train.model_dir import STATE_FILE

STARTS = {
    "lm": language_modeling.LANGUAGE_MODELING,
    "classify": classification.CLASSIFICATION,
    "tag": tagging.TAGGING,
    "translate": translation.TRANSLATION,
}


@pytest.mark.parametrize("command", sorted(STARTS))
def test_ctrl_c_exits_130_and_names_the_resume_command(command, tmp_path, monkeypatch, capsys):
    def interrupted(*args, **kwargs):
        (tmp_path / "run" / STATE_FILE).write_text("a checkpoint")
        raise KeyboardInterrupt

    monkeypatch.setattr(STARTS[command], "train", interrupted)
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


@pytest.mark.parametrize("command", sorted(STARTS))
def test_resume_warns_of_the_options_it_ignores(command, tmp_path, monkeypatch):
    resumed = []
    monkeypatch.setattr(STARTS[command], "resume",
                        lambda *args, **kwargs: resumed.append(args))  # --quiet: no report
    out = str(tmp_path / "run")
    with pytest.warns(UserWarning) as caught:
        assert main(["train", command, "--resume", "--out", out, "--threads", "1",
                     "--max-steps", "5", "--data", "other.txt", "--lr", "0.5", "--quiet"]) == 0
    assert resumed
    assert [str(warning.message) for warning in caught] == [
        "--resume continues with the run's stored settings; ignored: --data, --lr"]


def test_resume_warns_of_ignored_options_without_a_default_too(tmp_path, monkeypatch):
    monkeypatch.setattr(classification.CLASSIFICATION, "resume", lambda *args, **kwargs: None)
    with pytest.warns(UserWarning) as caught:
        assert main(["train", "classify", "--resume", "--out", str(tmp_path / "run"),
                     "--span-samples", "16", "--mask-prob", "0.3", "--teacher", "t",
                     "--quiet"]) == 0
    assert [str(warning.message) for warning in caught] == [
        ("--resume continues with the run's stored settings; ignored: --teacher, "
         "--span-samples, --mask-prob")]


@pytest.mark.parametrize(("command", "given"), [
    ("classify", ["--epochs", "3", "--max-minutes", "2", "--subword-ngrams", "3", "5"]),
    ("lm", ["--max-steps", "4", "--device", "cpu:0"]),  # the lm resume reads --device
])
def test_resume_with_only_what_it_takes_or_defaults_is_quiet(command, given, tmp_path,
                                                             monkeypatch):
    monkeypatch.setattr(STARTS[command], "resume", lambda *args, **kwargs: None)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert main(["train", command, "--resume", f"--out={tmp_path / '-run'}", *given,
                     "--quiet"]) == 0


def test_main_gives_back_the_callers_warning_format(tmp_path, monkeypatch):
    def callers_format(*args, **kwargs):
        return "the caller's format\n"

    monkeypatch.setattr(warnings, "formatwarning", callers_format)
    assert main(["train", "classify", "--out", str(tmp_path / "run")]) == 1  # no --data
    assert warnings.formatwarning is callers_format
