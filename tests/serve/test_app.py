"""The HTTP API over every task's tiny model: each endpoint answers what the pipeline answers,
and every bad request is a 4xx with a JSON error that says what was wrong."""

import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

pytest.importorskip("fastapi", reason="the serve extra (fastapi) is not installed")

from fastapi.testclient import TestClient

import rnnkit
from rnnkit.serve import ServeSettings
from rnnkit.serve.app import create_app
from rnnkit.serve.settings import load_models
from rnnkit.tasks.music import MAX_CHARS

NAMES = ("lm", "classify", "tag", "translate")
SETTINGS = ServeSettings(max_texts=4, max_text_chars=40, max_n=3, max_tokens=20,
                         max_beam_width=3, max_body_bytes=2_000)


@pytest.fixture(scope="module")
def pipelines(tiny_models):
    return load_models([tiny_models[name] for name in NAMES])


@pytest.fixture(scope="module")
def client(pipelines):
    with TestClient(create_app(pipelines, SETTINGS)) as client:
        yield client


def error_of(response, status: int, kind: str) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"} and body["error"]["type"] == kind
    assert "Traceback" not in response.text
    return body["error"]["message"]


def test_health_and_the_model_list(client, pipelines):
    assert client.get("/healthz").json() == {"status": "ok", "models": 4}
    models = {model["name"]: model for model in client.get("/v1/models").json()["models"]}
    assert list(models) == list(NAMES)
    for name, pipeline in pipelines.items():
        assert models[name]["task"] == pipeline.task
        assert models[name]["parameters"] == pipeline.parameter_count > 0
        assert models[name]["vocabulary"] == pipeline.vocabulary_sizes
    assert models["classify"]["labels"] == ["neg", "pos"]
    assert models["lm"]["labels"] is None and models["lm"]["endpoints"] == ["generate", "score"]
    assert models["tag"]["endpoints"] == ["tag"]
    assert client.get("/v1/models").json()["max_tokens"] == SETTINGS.max_tokens


def test_a_tune_fits_the_default_token_limit():
    # a character model's tune takes up to rnnkit generate's 1,000 characters
    assert ServeSettings().max_tokens >= MAX_CHARS


@pytest.mark.parametrize("limit, expected", [(2000, {"tunes": 1000, "lm": 100}),
                                              (300, {"tunes": 300, "lm": 100}),
                                              (50, {"tunes": 50, "lm": 50})])
def test_without_max_tokens_each_model_gets_its_own_default_within_the_limit(
        pipelines, abc_model, monkeypatch, limit, expected):
    served = {**load_models([abc_model]), "lm": pipelines["lm"]}
    asked = {}

    def record(pipeline):
        generate = pipeline.generate

        def recorded(prompts, **options):
            asked[pipeline.directory.name] = options["max_tokens"]
            return generate(prompts, **{**options, "max_tokens": 1})
        return recorded

    for pipeline in served.values():
        monkeypatch.setattr(pipeline, "generate", record(pipeline))
    settings = ServeSettings(max_tokens=limit)
    with TestClient(create_app(served, settings)) as client:
        for name in served:
            assert client.post(f"/v1/models/{name}/generate",
                               json={"prompt": "X:"}).status_code == 200
    assert {name: asked[served[name].directory.name] for name in served} == expected


def test_the_model_list_says_what_each_language_model_writes(pipelines, abc_model):
    served = {**load_models([abc_model]), "lm": pipelines["lm"],
              "classify": pipelines["classify"]}
    with TestClient(create_app(served, SETTINGS)) as client:
        models = {model["name"]: model for model in client.get("/v1/models").json()["models"]}
        described = client.get("/openapi.json").json()["components"]["schemas"]["ModelInfo"]
        tune = client.post("/v1/models/tunes/generate", json={
            "prompt": "X:1\nM:4/4", "greedy": True, "max_tokens": 20}).json()["results"][0][0]
    assert {name: model["format"] for name, model in models.items()} == {
        "tunes": "abc", "lm": "text", "classify": None}
    assert models["tunes"]["endpoints"] == ["generate", "score"]
    assert "ABC" in described["properties"]["format"]["description"]
    assert "format" in described["required"]
    assert tune.startswith("X:1\nM:4/4") and "<unk>" not in tune  # header lines, line breaks


def test_generate_answers_what_the_pipeline_answers(client, pipelines):
    body = {"prompt": ["the", "a"], "n": 2, "max_tokens": 5, "temperature": 0.9, "top_k": 5,
            "seed": 3}
    response = client.post("/v1/models/lm/generate", json=body)
    assert response.status_code == 200, response.text
    expected = pipelines["lm"].generate(["the", "a"], n=2, max_tokens=5, temperature=0.9,
                                        top_k=5, seed=3)
    assert response.json() == {"model": "lm", "results": expected}
    one = client.post("/v1/models/lm/generate", json={"prompt": "the", "greedy": True,
                                                       "max_tokens": 4}).json()
    assert one["results"] == [pipelines["lm"].generate(["the"], greedy=True, max_tokens=4)[0]]
    assert len(client.post("/v1/models/lm/generate", json={}).json()["results"]) == 1


def test_score(client, pipelines):
    response = client.post("/v1/models/lm/score", json={"texts": ["the cat sat", "the dog"]})
    assert response.status_code == 200, response.text
    for got, expected in zip(response.json()["results"],
                             pipelines["lm"].score(["the cat sat", "the dog"])):
        assert got["loss"] == pytest.approx(expected["loss"])
        assert got["tokens"] == expected["tokens"]


def test_predict(client, pipelines):
    response = client.post("/v1/models/classify/predict",
                           json={"texts": ["a great fun movie", "i hated it"]})
    assert response.status_code == 200, response.text
    expected = pipelines["classify"].predict(["a great fun movie", "i hated it"])
    results = response.json()["results"]
    assert [result["label"] for result in results] == [p.label for p in expected]
    for result, prediction in zip(results, expected):
        assert result["probabilities"] == pytest.approx(prediction.probabilities)
    single = client.post("/v1/models/classify/predict", json={"texts": "i hated it"}).json()
    assert single["results"][0]["label"] == expected[1].label


def test_tag_texts_and_token_lists(client, pipelines):
    texts = ["John lives in Paris .", ["Mary", "visited", "London", "."]]
    response = client.post("/v1/models/tag/tag", json={"texts": texts})
    assert response.status_code == 200, response.text
    expected = pipelines["tag"].tag(texts)
    for got, tagged in zip(response.json()["results"], expected):
        assert got["tokens"] == tagged.tokens and got["tags"] == tagged.tags
        assert got["entities"] == [entity._asdict() for entity in tagged.entities]


def test_translate_with_beams_and_attention(client, pipelines):
    body = {"texts": ["i am happy .", "he is here ."], "beam_width": 2, "length_penalty": 0.5,
            "max_length": 8}
    response = client.post("/v1/models/translate/translate", json=body)
    assert response.status_code == 200, response.text
    assert response.json()["results"] == pipelines["translate"].translate(
        body["texts"], beam_width=2, length_penalty=0.5, max_length=8)
    explained = client.post("/v1/models/translate/translate",
                            json={"texts": "i am happy .", "return_attention": True}).json()
    result, = explained["results"]
    expected = pipelines["translate"].translate("i am happy .", return_attention=True)
    assert result["text"] == expected.text and result["tokens"] == expected.tokens
    np.testing.assert_allclose(result["attention"], expected.attention, rtol=1e-6)


@pytest.mark.parametrize("path, body, status, kind, message", [
    ("/v1/models/nobody/predict", {"texts": "hi"}, 404, "not_found",
     "no model named 'nobody'; this server has classify, lm, tag, translate"),
    ("/v1/models/lm/predict", {"texts": "hi"}, 404, "wrong_task",
     "model 'lm' is a 'lm' model, which has no 'predict'; it offers generate, score"),
    ("/v1/models/classify/translate", {"texts": "hi"}, 404, "wrong_task",
     "model 'classify' is a 'classify' model, which has no 'translate'; it offers predict"),
    ("/v1/models/classify/predict", {"texts": 5}, 422, "invalid_request",
     "texts.str: Input should be a valid string"),
    ("/v1/models/classify/predict", {"texts": ["ok", 5]}, 422, "invalid_request",
     "texts.list[str].1: Input should be a valid string"),
    ("/v1/models/classify/predict", {}, 422, "invalid_request", "texts: Field required"),
    ("/v1/models/classify/predict", {"texts": "hi", "text": "typo"}, 422, "invalid_request",
     "text: Extra inputs are not permitted"),
    ("/v1/models/classify/predict", {"texts": []}, 422, "invalid_request",
     "texts: expected a text or a non-empty list, got an empty list"),
    ("/v1/models/classify/predict", {"texts": ["fine", "  "]}, 422, "invalid_request",
     "texts[1]: the text is empty"),
    ("/v1/models/tag/tag", {"texts": [[]]}, 422, "invalid_request",
     "texts[0]: an empty token list"),
    ("/v1/models/tag/tag", {"texts": [["John", ""]]}, 422, "invalid_request",
     "texts[0][1]: an empty token"),
    ("/v1/models/classify/predict", {"texts": ["a"] * 5}, 413, "limit",
     "texts: at most 4 per request (--max-texts), got 5"),
    ("/v1/models/classify/predict", {"texts": "x" * 41}, 413, "limit",
     "texts[0]: 41 characters; the limit is 40 (--max-text-chars)"),
    ("/v1/models/lm/generate", {"prompt": ["a"] * 5}, 413, "limit",
     "prompt: at most 4 per request (--max-texts), got 5"),
    ("/v1/models/lm/generate", {"n": 4}, 422, "limit", "n must be at most 3 (--max-n), got 4"),
    ("/v1/models/lm/generate", {"max_tokens": 21}, 422, "limit",
     "max_tokens must be at most 20 (--max-tokens), got 21"),
    ("/v1/models/lm/generate", {"n": "2"}, 422, "invalid_request",
     "n: Input should be a valid integer"),
    ("/v1/models/lm/generate", {"n": 0}, 422, "invalid_request",
     "n: Input should be greater than or equal to 1"),
    ("/v1/models/lm/generate", {"greedy": True, "top_k": 3}, 422, "invalid_request",
     "generate: greedy decoding takes the most likely token; top_k=3 would not apply"),
    ("/v1/models/translate/translate", {"texts": "hi", "beam_width": 4}, 422, "limit",
     "beam_width must be at most 3 (--max-beam-width), got 4"),
    ("/v1/models/translate/translate", {"texts": "hi", "max_length": 21}, 422, "limit",
     "max_length must be at most 20 (--max-tokens), got 21"),
])
def test_bad_requests_are_a_4xx_that_says_what_was_wrong(client, path, body, status, kind,
                                                         message):
    assert message in error_of(client.post(path, json=body), status, kind)


def test_bad_json_and_bodies(client):
    response = client.post("/v1/models/classify/predict", content=b'{"texts": ["a",',
                           headers={"content-type": "application/json"})
    assert error_of(response, 400, "invalid_json").startswith("the body is not valid JSON")
    response = client.post("/v1/models/classify/predict", content=b'{"texts": NaN}',
                           headers={"content-type": "application/json"})
    assert response.status_code in (400, 422) and "error" in response.json()
    form = client.post("/v1/models/classify/predict", data={"texts": "hi"})
    assert error_of(form, 415, "unsupported_media_type") == (
        "send the body as JSON, with the header 'Content-Type: application/json' (got "
        "'application/x-www-form-urlencoded')")
    too_big = client.post("/v1/models/classify/predict", json={"texts": "a" * 3000})
    assert error_of(too_big, 413, "too_large") == ("the body is larger than 2,000 bytes "
                                                    "(--max-body-bytes)")

    def chunks():
        yield b'{"texts": "'
        for _ in range(30):
            yield b"a" * 100
        yield b'"}'

    streamed = client.post("/v1/models/classify/predict", content=chunks(),
                           headers={"content-type": "application/json"})
    assert error_of(streamed, 413, "too_large").startswith("the body is larger than")
    assert error_of(client.get("/v1/nothing"), 404, "not_found") == "Not Found"
    assert error_of(client.get("/v1/models/classify/predict"), 405, "http_error") == \
        "Method Not Allowed"


def test_a_failing_model_is_a_500_without_its_traceback(pipelines, tiny_models):
    classifier = rnnkit.load(tiny_models["classify"])

    def broken(texts, source="input"):
        raise RuntimeError("secret internals")

    classifier.predict = broken
    with TestClient(create_app({"broken": classifier})) as client:
        response = client.post("/v1/models/broken/predict", json={"texts": "hi"})
    message = error_of(response, 500, "internal_error")
    assert message == "model 'broken' failed on this request; the server's log has the details"
    assert "secret" not in response.text


def test_the_openapi_page(client):
    assert client.get("/docs").status_code == 200
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/healthz", "/v1/models", "/v1/models/{name}/generate", "/v1/models/{name}/score",
            "/v1/models/{name}/predict", "/v1/models/{name}/tag",
            "/v1/models/{name}/translate"} <= set(paths)


def test_two_concurrent_requests_run_in_one_batch(tiny_models):
    classifier = rnnkit.load(tiny_models["classify"])
    predict, sizes = classifier.predict, []

    def recording(texts, source="input"):
        sizes.append(len(texts))
        return predict(texts, source)

    classifier.predict = recording
    settings = ServeSettings(max_batch=8, max_wait_ms=1_000)
    with TestClient(create_app({"classify": classifier}, settings)) as client:
        def post(text):
            return client.post("/v1/models/classify/predict", json={"texts": [text]})

        with ThreadPoolExecutor(2) as pool:
            responses = list(pool.map(post, ["a great fun movie", "i hated it"]))
    assert [response.status_code for response in responses] == [200, 200]
    assert sizes == [2]
    expected = predict(["a great fun movie", "i hated it"])
    assert [response.json()["results"][0]["label"] for response in responses] == \
        [prediction.label for prediction in expected]


@pytest.mark.parametrize("headers, status", [
    ({}, 401),
    ({"Authorization": "Bearer wrong"}, 401),
    ({"Authorization": "secret"}, 401),
    ({"Authorization": "Bearer secret"}, 200),
])
def test_the_api_key_guards_every_endpoint(pipelines, headers, status):
    app = create_app({"classify": pipelines["classify"]}, ServeSettings(api_key="secret"))
    with TestClient(app) as client:
        for method, path, body in [("GET", "/healthz", None), ("GET", "/v1/models", None),
                                   ("GET", "/docs", None),
                                   ("POST", "/v1/models/classify/predict", {"texts": "hi"})]:
            response = client.request(method, path, json=body, headers=headers)
            assert response.status_code == status, (path, response.text)
            if status == 401:
                assert response.headers["www-authenticate"] == "Bearer"
                assert error_of(response, 401, "unauthorized") == (
                    "this server needs an API key: send the header "
                    "'Authorization: Bearer <key>'")


def test_the_server_answers_while_a_batch_runs(tiny_models):
    classifier = rnnkit.load(tiny_models["classify"])
    predict, running, release = classifier.predict, threading.Event(), threading.Event()

    def slow(texts, source="input"):
        running.set()
        release.wait(10)
        return predict(texts, source)

    classifier.predict = slow
    with TestClient(create_app({"classify": classifier})) as client, \
            ThreadPoolExecutor(1) as pool:
        pending = pool.submit(client.post, "/v1/models/classify/predict", json={"texts": "hi"})
        assert running.wait(10)
        assert client.get("/healthz").status_code == 200  # while the batch is held
        assert not pending.done()
        release.set()
        assert pending.result(10).status_code == 200


def test_the_server_freezes_what_it_loaded_before_serving(pipelines):
    import gc

    gc.unfreeze()
    assert gc.get_freeze_count() == 0
    try:
        with TestClient(create_app(pipelines, SETTINGS)) as client:
            assert client.get("/healthz").status_code == 200
            assert gc.get_freeze_count() > 0  # the collector no longer walks them
    finally:
        gc.unfreeze()
