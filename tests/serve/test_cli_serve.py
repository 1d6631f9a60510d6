"""``rnnkit serve``: flags become the app's settings, the models are named after their
directories, and the command line imports FastAPI only when this command runs."""

import json
import subprocess
import sys

import pytest

pytest.importorskip("fastapi", reason="the serve extra (fastapi) is not installed")

import uvicorn
from fastapi.testclient import TestClient

from rnnkit.cli import main
from rnnkit.serve import app as serve_app


@pytest.fixture
def served(monkeypatch):
    """What ``uvicorn.run`` was handed, instead of serving."""
    calls = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **options: calls.append((app, options)))
    monkeypatch.delenv("RNNKIT_API_KEY", raising=False)
    return calls


def test_serve_runs_uvicorn_on_localhost_with_the_flags(tiny_models, served):
    assert main(["serve", str(tiny_models["classify"]), str(tiny_models["lm"]),
                 "--port", "8123", "--max-texts", "2", "--max-wait-ms", "1",
                 "--api-key", "k"]) == 0
    (app, options), = served
    assert options == {"host": "127.0.0.1", "port": 8123}
    settings = app.state.settings
    assert (settings.max_texts, settings.max_wait_ms, settings.api_key) == (2, 1.0, "k")
    with TestClient(app, headers={"Authorization": "Bearer k"}) as client:
        names = [model["name"] for model in client.get("/v1/models").json()["models"]]
        assert names == ["classify", "lm"]
        response = client.post("/v1/models/classify/predict", json={"texts": ["a", "b", "c"]})
        assert response.status_code == 413


def test_the_api_key_may_come_from_the_environment(tiny_models, served, monkeypatch):
    monkeypatch.setenv("RNNKIT_API_KEY", "from-env")
    assert main(["serve", str(tiny_models["classify"])]) == 0
    assert served[0][0].state.settings.api_key == "from-env"


def test_several_workers_load_the_models_from_the_environment(tiny_models, served,
                                                              monkeypatch):
    monkeypatch.setenv(serve_app.ENVIRONMENT, "")  # so that the command's value is undone
    assert main(["serve", str(tiny_models["tag"]), "--workers", "2", "--max-n", "2"]) == 0
    (target, options), = served
    assert target == "rnnkit.serve.app:app_from_environment"
    assert options == {"factory": True, "host": "127.0.0.1", "port": 8000, "workers": 2}
    spec = json.loads(serve_app.os.environ[serve_app.ENVIRONMENT])
    assert spec["directories"] == [str(tiny_models["tag"])]
    app = serve_app.app_from_environment()
    assert app.state.settings.max_n == 2 and list(app.state.served) == ["tag"]


@pytest.mark.parametrize("arguments, message", [
    (["{classify}", "{root}/other/classify"], ("would both be served as 'classify'; models are "
                                               "named after their directories' basenames")),
    (["{classify}", "--port", "70000"], "--port must be from 0 to 65535, got 70000"),
    (["{classify}", "--workers", "0"], "--workers must be >= 1, got 0"),
    (["{classify}", "--max-batch", "0"], "max_batch must be an int >= 1, got 0"),
    (["{classify}", "--max-wait-ms", "-1"], "max_wait_ms must be from 0 to 10000, got -1.0"),
    (["{root}/nowhere"], "nowhere does not exist"),
])
def test_bad_arguments_are_one_line(tiny_models, served, capsys, arguments, message):
    paths = {"classify": tiny_models["classify"], "root": tiny_models["root"]}
    assert main(["serve", *(argument.format(**paths) for argument in arguments)]) == 1
    error = capsys.readouterr().err
    assert error.startswith("rnnkit: error: ") and message in error
    assert served == []


def test_the_command_line_imports_fastapi_only_to_serve():
    code = "import sys, rnnkit.cli; rnnkit.cli.build_parser(); print('fastapi' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True)
    assert result.stdout.strip() == "False"
