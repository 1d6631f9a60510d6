"""``to_onnx`` and ``rnnkit export``: the export directory of every task's trained model, and
the refusals, each one clear error with nothing left behind."""

import json
import shutil
import sys

import pytest

onnxruntime = pytest.importorskip("onnxruntime")

import numpy as np
import onnx
import torch

import rnnkit
from rnnkit.cli import main
from rnnkit.export import to_onnx
from rnnkit.export.manifest import MANIFEST_FILE, ROLES, read_manifest
from rnnkit.models import LanguageModel, LanguageModelConfig
from rnnkit.nn.activations import Activation
from rnnkit.train.model_dir import WEIGHTS_FILE

TASK_FILES = {"lm": ["config.json", "vocab.json"],
              "classify": ["config.json", "vocab.json", "labels.json"],
              "tag": ["config.json", "vocab.json", "chars.json", "tags.json"],
              "translate": ["config.json", "source_vocab.json", "target_vocab.json"]}
DIRECTORIES = {"lm": "lm", "classify": "classify", "tag": "tag", "translate": "translate"}


def listing(directory):
    return sorted(path.name for path in directory.iterdir())


@pytest.mark.parametrize("task", DIRECTORIES)
def test_every_task_exports(tiny_models, tmp_path, task):
    source = tiny_models[DIRECTORIES[task]]
    manifest = to_onnx(source, tmp_path / "out")
    out = tmp_path / "out"
    assert manifest == read_manifest(out)
    assert manifest.task == task and manifest.source == str(source.resolve())
    assert list(manifest.files) == TASK_FILES[task]
    for name in manifest.files:
        assert (out / name).read_bytes() == (source / name).read_bytes()
    assert list(manifest.graphs) == list(ROLES[task])
    for spec in manifest.graphs.values():
        model = onnx.load(out / spec.file)
        onnx.checker.check_model(model)
        assert [value.name for value in model.graph.input] == spec.input_names()
        assert [value.name for value in model.graph.output] == spec.output_names()
        onnxruntime.InferenceSession(str(out / spec.file))  # loads
    crf = ["crf.npz"] if task == "tag" else []
    assert listing(out) == sorted([MANIFEST_FILE, *TASK_FILES[task], *crf,
                                   *(spec.file for spec in manifest.graphs.values())])
    assert listing(tmp_path) == ["out"]  # no temporary left beside it


def test_the_written_graphs_compute_what_the_trained_model_does(tiny_models, tmp_path):
    pipeline = rnnkit.load(tiny_models["classify"])
    manifest = to_onnx(pipeline, tmp_path / "out")
    ids = torch.tensor([[4, 5, 6, 0], [7, 8, 9, 10]])
    lengths = torch.tensor([3, 4])
    session = onnxruntime.InferenceSession(str(manifest.graph_path("classifier")))
    (probabilities,) = session.run(None, {"ids": ids.numpy(), "lengths": lengths.numpy()})
    with torch.no_grad():
        expected = pipeline.model(ids, lengths).logits.softmax(dim=-1).numpy()
    assert np.abs(probabilities - expected).max() <= 1e-5


def test_a_pipeline_exports_and_its_crf_arrays_are_its_scores(tiny_models, tmp_path):
    pipeline = rnnkit.load(tiny_models["tag"])
    manifest = to_onnx(pipeline, tmp_path / "out")
    assert manifest.decoder == "viterbi"
    for array, expected in zip(manifest.crf().values(), pipeline.model.crf.scores()):
        np.testing.assert_array_equal(array, expected.detach().numpy())


def test_a_bare_model_exports_with_its_model_config(tmp_path):
    model = LanguageModel(LanguageModelConfig(vocab_size=9, embed_size=4, hidden_size=4,
                                              num_layers=1))
    manifest = to_onnx(model, tmp_path / "out")
    config = json.loads((tmp_path / "out" / "config.json").read_text())
    assert config["task"] == "lm" and config["model"] == model.config.to_dict()
    assert manifest.files == ("config.json",) and manifest.source == ""


def test_an_existing_path_is_refused_unless_forced(tiny_models, tmp_path):
    out = tmp_path / "out"
    to_onnx(tiny_models["classify"], out)
    before = {name: (out / name).read_bytes() for name in listing(out)}
    with pytest.raises(FileExistsError, match="already exists; pass --force"):
        to_onnx(tiny_models["lm"], out)
    assert {name: (out / name).read_bytes() for name in listing(out)} == before
    assert to_onnx(tiny_models["lm"], out, force=True).task == "lm"
    assert read_manifest(out).task == "lm" and "labels.json" not in listing(out)
    assert listing(tmp_path) == ["out"]


def test_force_never_replaces_what_is_not_an_export(tiny_models, tmp_path):
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep me")
    with pytest.raises(FileExistsError, match="is not an export directory"):
        to_onnx(tiny_models["lm"], tmp_path / "mine", force=True)
    assert listing(tmp_path / "mine") == ["notes.txt"]
    (tmp_path / "empty").mkdir()
    assert to_onnx(tiny_models["lm"], tmp_path / "empty", force=True).task == "lm"


def test_an_export_inside_its_model_directory_is_refused(tiny_models, tmp_path):
    source = tmp_path / "model"
    shutil.copytree(tiny_models["lm"], source)
    with pytest.raises(ValueError, match="is inside the model directory"):
        to_onnx(source, source / "onnx")
    assert not (source / "onnx").exists()


def test_a_refused_layer_leaves_nothing_behind(tmp_path):
    torch.manual_seed(0)
    custom = Activation("mine", torch.tanh, lambda output: 1 - output * output)
    model = LanguageModel(LanguageModelConfig(vocab_size=9, embed_size=4, hidden_size=4,
                                              num_layers=1, cell="rnn",
                                              rnn_options={"activation": custom}))
    with pytest.raises(ValueError, match="activation"):
        to_onnx(model, tmp_path / "out")
    assert listing(tmp_path) == []


def test_an_export_directory_is_not_exported_again(tiny_models, tmp_path):
    to_onnx(tiny_models["lm"], tmp_path / "first")
    with pytest.raises(ValueError, match="is an export directory already"):
        to_onnx(tmp_path / "first", tmp_path / "second")
    assert listing(tmp_path) == ["first"]


def test_an_ensemble_is_refused(tiny_models, tmp_path):
    ensemble = rnnkit.load([tiny_models["classify"], tiny_models["classify2"]])
    with pytest.raises(ValueError, match="ensemble of 2 classifiers"):
        to_onnx(ensemble, tmp_path / "out")
    assert listing(tmp_path) == []


def export_fails(argv, capsys, message):
    assert main([str(arg) for arg in argv]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("rnnkit: error: "), err
    assert message in err, err


def test_cli_exports(tiny_models, tmp_path, capsys):
    assert main(["export", str(tiny_models["translate"]), "--out", str(tmp_path / "out")]) == 0
    assert "exported the translate model" in capsys.readouterr().out
    assert read_manifest(tmp_path / "out").task == "translate"


def test_cli_refuses_missing_weights(tiny_models, tmp_path, capsys):
    source = tmp_path / "model"
    shutil.copytree(tiny_models["lm"], source)
    (source / WEIGHTS_FILE).unlink()
    export_fails(["export", source, "--out", tmp_path / "out"], capsys,
                 f"is missing {WEIGHTS_FILE}")
    assert not (tmp_path / "out").exists()


def test_cli_refuses_an_unknown_task(tiny_models, tmp_path, capsys):
    source = tmp_path / "model"
    shutil.copytree(tiny_models["lm"], source)
    config = json.loads((source / "config.json").read_text())
    (source / "config.json").write_text(json.dumps({**config, "task": "poetry"}))
    export_fails(["export", source, "--out", tmp_path / "out"], capsys,
                 "holds a model of task \"poetry\", which this rnnkit does not know")
    assert not (tmp_path / "out").exists()


def test_cli_refuses_an_existing_out_without_force(tiny_models, tmp_path, capsys):
    (tmp_path / "out").mkdir()
    export_fails(["export", tiny_models["lm"], "--out", tmp_path / "out"], capsys,
                 "already exists; pass --force")
    assert main(["export", str(tiny_models["lm"]), "--out", str(tmp_path / "out"),
                 "--force"]) == 0


def test_cli_without_onnx_names_the_extra(tiny_models, tmp_path, capsys, monkeypatch):
    for name in [name for name in sys.modules if name.startswith("rnnkit.export.")
                 and name != "rnnkit.export.manifest"]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "onnx", None)  # import onnx raises ImportError
    export_fails(["export", tiny_models["lm"], "--out", tmp_path / "out"], capsys,
                 "pip install 'rnnkit[onnx]'")
    assert not (tmp_path / "out").exists()


def test_cli_export_explains_its_options(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["export", "--help"])
    assert exit_info.value.code == 0
    assert "--force" in capsys.readouterr().out
