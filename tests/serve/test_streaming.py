"""``POST /v1/models/{name}/generate/stream``: server-sent events, token by token, ending with
the text ``generate`` gives for the seed; a client that goes away stops its generation."""

import itertools
import json
import threading
import time

import pytest

pytest.importorskip("fastapi", reason="the serve extra (fastapi) is not installed")

import httpx
import numpy as np
from fastapi.testclient import TestClient

from rnnkit.serve import ServeSettings
from rnnkit.serve.app import create_app
from rnnkit.serve.settings import load_models
from rnnkit.serve.streaming import new_piece
from tests.serve.server import running

SETTINGS = ServeSettings(max_tokens=20, max_text_chars=40)


@pytest.fixture(scope="module")
def pipelines(tiny_models):
    return load_models([tiny_models["lm"], tiny_models["classify"]])


@pytest.fixture(scope="module")
def client(pipelines):
    with TestClient(create_app(pipelines, SETTINGS)) as client:
        yield client


def events_of(text: str) -> list[tuple[str, dict]]:
    events = []
    for block in text.strip().split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.splitlines())
        events.append((lines["event"], json.loads(lines["data"])))
    return events


class Stub:
    """A language model pipeline that streams ``texts``, a pause between tokens, and records
    how many it gave and whether it was closed; ``fail_at`` raises at that token."""

    task, labels, vocabulary_sizes, parameter_count = "lm", None, {"tokens": 3}, 1
    default_max_tokens = 100

    def __init__(self, texts, pause=0.0, fail_at=None):
        self.texts, self.pause, self.fail_at = texts, pause, fail_at
        self.given, self.closed = 0, threading.Event()

    def generate(self, prompts, **options):
        return [[self.texts[-1]] for _ in prompts]

    def score(self, texts):
        return [{"loss": 0.0, "ppl": 1.0, "tokens": 1} for _ in texts]

    def generate_stream(self, prompt, **options):
        def texts():
            try:
                for index, text in enumerate(self.texts):
                    if index == self.fail_at:
                        raise RuntimeError("the stub failed")
                    time.sleep(self.pause)
                    self.given += 1
                    yield text
            finally:
                self.closed.set()
        return texts()


@pytest.mark.parametrize("options", [{"seed": 4, "temperature": 0.8, "top_p": 0.9},
                                     {"greedy": True}])
def test_the_events_end_with_the_text_generate_gives(client, pipelines, options):
    body = {"prompt": "the", "max_tokens": 12, **options}
    response = client.post("/v1/models/lm/generate/stream", json=body)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/event-stream")
    events = events_of(response.text)
    kinds = [kind for kind, _ in events]
    assert kinds == ["token"] * (len(events) - 1) + ["done"] and len(events) >= 2
    expected = pipelines["lm"].generate("the", n=1, max_tokens=12, **options)[0]
    assert events[-1][1] == {"model": "lm", "text": expected, "tokens": len(events) - 1}
    assert events[-2][1]["text"] == expected
    texts = [""] + [data["text"] for _, data in events[:-1]]
    assert [data["piece"] for _, data in events[:-1]] == [
        new_piece(previous, text) for previous, text in itertools.pairwise(texts)]


def test_pieces_are_what_each_text_adds():
    assert new_piece("", "the") == "the"
    assert new_piece("the cat", "the cat sat") == " sat"
    assert new_piece("she said ,", "she said, hi") == ", hi"  # the end was rewritten


def test_chinese_streams_as_utf8():
    app = create_app({"poem": Stub(["床前", "床前明", "床前明月"])})
    with TestClient(app) as client:
        response = client.post("/v1/models/poem/generate/stream", json={"prompt": "床前"})
    assert "床前明月" in response.content.decode("utf-8")  # as it is, not \u escapes
    events = events_of(response.text)
    assert [data["piece"] for _, data in events[:-1]] == ["床前", "明", "月"]
    assert events[-1] == ("done", {"model": "poem", "text": "床前明月", "tokens": 3})


def error_of(response, status, kind):
    assert response.status_code == status, response.text
    assert response.json()["error"]["type"] == kind
    return response.json()["error"]["message"]


def test_refusals_come_before_the_stream(client):
    url = "/v1/models/{}/generate/stream"
    assert "no model named 'nope'" in error_of(client.post(url.format("nope"), json={}),
                                               404, "not_found")
    assert "no 'generate'" in error_of(client.post(url.format("classify"), json={}), 404,
                                       "wrong_task")
    assert "--max-tokens" in error_of(client.post(url.format("lm"), json={"max_tokens": 21}),
                                      422, "limit")
    assert "greedy decoding" in error_of(
        client.post(url.format("lm"), json={"greedy": True, "top_p": 0.5}), 422,
        "invalid_request")
    assert "n" in error_of(client.post(url.format("lm"), json={"prompt": "a", "n": 2}), 422,
                           "invalid_request")
    assert error_of(client.post(url.format("lm"), json={"prompt": ["a"]}), 422,
                    "invalid_request")


def test_a_model_that_fails_mid_stream_sends_an_error_event():
    stub = Stub(["a", "a b", "a b c"], fail_at=2)
    with TestClient(create_app({"stub": stub})) as client:
        events = events_of(client.post("/v1/models/stub/generate/stream", json={}).text)
    assert [kind for kind, _ in events] == ["token", "token", "error"]
    assert events[-1][1]["error"]["type"] == "internal_error"
    assert "Traceback" not in json.dumps(events)


def test_the_api_key_guards_the_stream():
    app = create_app({"stub": Stub(["a"])}, ServeSettings(api_key="k3y"))
    with TestClient(app) as client:
        error_of(client.post("/v1/models/stub/generate/stream", json={}), 401, "unauthorized")
        ok = client.post("/v1/models/stub/generate/stream", json={},
                         headers={"Authorization": "Bearer k3y"})
    assert ok.status_code == 200 and events_of(ok.text)[-1][0] == "done"


def test_a_client_that_disconnects_stops_its_generation():
    stub = Stub([f"token {index}" for index in range(1000)], pause=0.01)
    with running(create_app({"stub": stub})) as url:
        with httpx.Client(timeout=10) as http, http.stream(
                "POST", f"{url}/v1/models/stub/generate/stream", json={}) as response:
            assert response.status_code == 200
            first = next(response.iter_lines())
            assert first == "event: token"
        # leaving the block closed the connection after the first event
        assert stub.closed.wait(timeout=5), "the generation went on after the client left"
    assert stub.given < 100


def test_gates_answer_what_trace_gates_answers(client, pipelines):
    response = client.post("/v1/models/lm/gates", json={"text": "the cat sat"})
    assert response.status_code == 200, response.text
    tokens, gates = pipelines["lm"].trace_gates("the cat sat")
    body = response.json()
    assert body["model"] == "lm" and body["tokens"] == tokens
    assert set(body["gates"]) == {"i", "f", "o", "c"}
    for name, values in gates.items():
        np.testing.assert_allclose(body["gates"][name], values, rtol=1e-6)
    assert "layer must be in [0, 1)" in error_of(
        client.post("/v1/models/lm/gates", json={"text": "the", "layer": 1}), 422,
        "invalid_request")
    assert "no 'generate'" in error_of(
        client.post("/v1/models/classify/gates", json={"text": "the"}), 404, "wrong_task")
    assert "--max-text-chars" in error_of(
        client.post("/v1/models/lm/gates", json={"text": "a" * 41}), 413, "limit")


def test_a_streamed_tune_ends_with_the_tune(abc_model):
    # an ABC model's sample is one tune: the stream stops at its end, long before max_tokens
    (tunes,) = load_models([abc_model]).values()
    body = {"prompt": "X:1", "max_tokens": 1000, "temperature": 0.1, "seed": 0}
    with TestClient(create_app({"tunes": tunes})) as client:
        response = client.post("/v1/models/tunes/generate/stream", json=body)
        generated = client.post("/v1/models/tunes/generate", json=body).json()
    events = events_of(response.text)
    done = events[-1][1]
    assert events[-1][0] == "done" and done["text"] == generated["results"][0][0]
    assert done["text"].startswith("X:1") and done["text"].count("X:") == 1
    assert done["text"].endswith("|]\n") and done["tokens"] < 1000
