"""The pipelines' text side imports without torch (what the ONNX runtime path stands on)."""

import subprocess
import sys

import pytest

TORCH_FREE = [
    "rnnkit.tasks.lm_pipeline:LanguageModelPipeline",
    "rnnkit.tasks.classifier_pipeline:ClassifierPipeline",
    "rnnkit.tasks.tagger_pipeline:TaggerPipeline",
    "rnnkit.tasks.translator_pipeline:TranslatorPipeline",
    "rnnkit.tasks:Pipeline",
    "rnnkit.tasks.music:write_tunes",
    "rnnkit.train.directory:read_config",
    "rnnkit.data:LMWindows",
    "rnnkit.sampling_config:SamplingConfig",
]


@pytest.mark.parametrize("target", TORCH_FREE)
def test_the_pipelines_import_without_torch(target):
    module, name = target.split(":")
    code = (f"import sys; from {module} import {name}; "
            "assert 'torch' not in sys.modules, sorted(m for m in sys.modules if 'torch' in m)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=False)
    assert result.returncode == 0, result.stderr


def test_the_task_classes_still_import_from_where_they_were():
    from rnnkit.tasks import BUILT_IN, get_task
    from rnnkit.tasks.language_modeling import LanguageModelPipeline
    from rnnkit.tasks.lm_pipeline import LanguageModelPipeline as Moved

    assert LanguageModelPipeline is Moved
    assert [task.name for task in BUILT_IN] == ["lm", "classify", "tag", "translate"]
    assert get_task("tag").name == "tag"
