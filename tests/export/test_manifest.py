"""The export directory contract: the manifest round-trips and every defect is one clear error."""

import json
import subprocess
import sys

import numpy as np
import pytest

from rnnkit.export.manifest import (
    CRF_FILE,
    MANIFEST_FILE,
    ExportDirectoryError,
    GraphSpec,
    Manifest,
    TensorSpec,
    is_export_directory,
    read_manifest,
    write_manifest,
)

IDS = TensorSpec("ids", "int64", ("batch", "time"))
LENGTHS = TensorSpec("lengths", "int64", ("batch",))


def tagger_export(directory, model=None, crf=True):
    """A minimal tagger export directory (empty graph files: the manifest does not open them)."""
    directory.mkdir()
    model = {"vocab_size": 5, "tags": ["O", "B-X"]} if model is None else model
    (directory / "config.json").write_text(json.dumps({"task": "tag", "model": model}))
    (directory / "tagger.onnx").write_bytes(b"")
    arrays = {}
    if crf:
        np.savez(directory / CRF_FILE, transitions=np.zeros((2, 2)), start=np.zeros(2),
                 end=np.zeros(2))
        arrays = {"crf": CRF_FILE}
    manifest = Manifest(
        directory=directory, task="tag", opset=17, rnnkit_version="0.1.0", source="/src",
        model={"vocab_size": 5, "tags": ["O", "B-X"], "hidden_size": 8},
        files=("config.json",),
        graphs={"tagger": GraphSpec("tagger.onnx", (IDS, LENGTHS),
                                    (TensorSpec("emissions", "float32",
                                                ("batch", "time", 2)),))},
        arrays=arrays)
    write_manifest(directory, manifest)
    return manifest


def edit_manifest(directory, **changes):
    path = directory / MANIFEST_FILE
    data = json.loads(path.read_text())
    data.update(changes)
    path.write_text(json.dumps(data))


def test_round_trip(tmp_path):
    written = tagger_export(tmp_path / "out")
    assert is_export_directory(tmp_path / "out")
    read = read_manifest(tmp_path / "out")
    assert read == written
    assert read.graph_path("tagger") == tmp_path / "out" / "tagger.onnx"
    assert read.graphs["tagger"].input_names() == ["ids", "lengths"]
    assert read.decoder == "viterbi"
    assert read.crf()["transitions"].dtype == np.float32


def test_softmax_tagger_decodes_by_argmax(tmp_path):
    tagger_export(tmp_path / "out", crf=False)
    manifest = read_manifest(tmp_path / "out")
    assert manifest.decoder == "argmax"
    with pytest.raises(ExportDirectoryError, match="no CRF"):
        manifest.crf()


def test_not_an_export_directory(tmp_path):
    assert not is_export_directory(tmp_path)
    with pytest.raises(ExportDirectoryError, match="not an export directory: no export.json"):
        read_manifest(tmp_path)
    with pytest.raises(ExportDirectoryError, match="does not exist"):
        read_manifest(tmp_path / "absent")


@pytest.mark.parametrize(("changes", "message"), [
    ({"format": "other"}, "not an rnnkit ONNX export manifest"),
    ({"version": 2}, "'version' must be an integer from 1 to 1, got 2"),
    ({"task": "poetry"}, "task must be one of"),
    ({"opset": "17"}, "'opset' must be a int"),
    ({"graphs": {}}, r"a 'tag' export has the graphs \['tagger'\], got \[\]"),
    ({"graphs": {"tagger": {"file": "tagger.onnx", "inputs": [{"name": "ids"}],
                            "outputs": []}}}, "a tensor must have a name, a dtype"),
    ({"files": ["config.json", "../vocab.json"]}, "plain names inside the directory"),
    ({"files": ["config.json", "vocab.json"]}, "is missing vocab.json"),
])
def test_bad_manifest(tmp_path, changes, message):
    tagger_export(tmp_path / "out")
    edit_manifest(tmp_path / "out", **changes)
    with pytest.raises(ExportDirectoryError, match=message):
        read_manifest(tmp_path / "out")


def test_config_that_does_not_match_the_graphs(tmp_path):
    tagger_export(tmp_path / "out", model={"vocab_size": 5, "tags": ["O", "B-X"],
                                           "hidden_size": 16})
    with pytest.raises(ExportDirectoryError,
                       match="model.hidden_size is 16 there but 8 in the graphs"):
        read_manifest(tmp_path / "out")


def test_config_of_another_task(tmp_path):
    tagger_export(tmp_path / "out")
    (tmp_path / "out" / "config.json").write_text(json.dumps({"task": "lm", "model": {}}))
    with pytest.raises(ExportDirectoryError, match="holds a 'lm' model but the graphs"):
        read_manifest(tmp_path / "out")


def test_bad_crf_arrays(tmp_path):
    tagger_export(tmp_path / "out")
    np.savez(tmp_path / "out" / CRF_FILE, transitions=np.zeros((3, 2)), start=np.zeros(2),
             end=np.zeros(2))
    with pytest.raises(ExportDirectoryError, match="expected transitions"):
        read_manifest(tmp_path / "out").crf()


def test_reading_a_manifest_imports_neither_torch_nor_onnx(tmp_path):
    tagger_export(tmp_path / "out")
    code = ("import sys; from rnnkit.export.manifest import read_manifest; "
            f"read_manifest({str(tmp_path / 'out')!r}); "
            "print(sorted(m for m in ('torch', 'onnx', 'onnxruntime') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True)
    assert result.stdout.strip() == "[]"
