"""The HTTP API: ``create_app(pipelines, settings)`` → a FastAPI application.

Endpoints (all JSON; the OpenAPI page is ``/docs``):

- ``GET /``: the web page (``static/``: one HTML, JS and CSS file, no build step), open
  without the API key, which the page asks for and sends with its requests;
- ``GET /healthz``, ``GET /v1/models`` (each model's task, endpoints and, for a language
  model, the ``format`` of its text: ``"text"`` or ``"abc"``, tunes in ABC notation; and the
  server's ``max_tokens`` limit);
- ``POST /v1/models/{name}/{endpoint}`` where the endpoint is a method of the model's
  pipeline: ``generate`` and ``score`` (language models), ``predict`` (classifiers), ``tag``
  (taggers), ``translate`` (translators);
- ``POST /v1/models/{name}/generate/stream``: one sample as server-sent events, token by
  token (:mod:`rnnkit.serve.streaming`), unbatched;
- ``POST /v1/models/{name}/gates``: an LSTM language model's gates over a text, unbatched.

Each endpoint calls the pipeline method of its name through the model's :class:`Batcher`, so
requests that arrive together share one call; nothing here knows a task's internals. Every
error is a JSON body ``{"error": {"type": …, "message": …}}`` with a 4xx status (a 500 only
for a fault of the server, its traceback in the server's log, never in the response).
"""

from __future__ import annotations

import asyncio
import gc
import hmac
import json
import logging
import os
from collections.abc import Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, StreamingResponse
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from rnnkit import __version__
from rnnkit.serve import schemas
from rnnkit.serve.batching import INPUT_ERRORS, Batcher
from rnnkit.serve.settings import ServeSettings, load_models
from rnnkit.serve.streaming import stream_events
from rnnkit.tasks.contract import Pipeline

log = logging.getLogger("rnnkit.serve")

ENDPOINTS = ("generate", "score", "predict", "tag", "translate")
"""The pipeline methods the API offers, each at ``/v1/models/{name}/{method}``."""
TAKES_SOURCE = frozenset({"predict", "tag", "translate"})
"""The methods whose errors name their input by a ``source=`` argument."""
STATIC = Path(__file__).resolve().parent / "static"
"""The web page's files, served at ``/`` and ``/static/``."""
ENVIRONMENT = "RNNKIT_SERVE"
"""Where ``rnnkit serve --workers N`` hands each worker process its models and settings."""


class RequestError(Exception):
    """A request the server refuses: its status, error type and message."""

    def __init__(self, status: int, kind: str, message: str) -> None:
        super().__init__(message)
        self.status, self.kind, self.message = status, kind, message


def error_response(status: int, kind: str, message: str,
                   headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": {"type": kind, "message": message}}, status, headers)


def jsonable(value: Any) -> Any:
    """A pipeline's result as plain JSON values (named tuples become objects)."""
    if isinstance(value, tuple) and hasattr(value, "_asdict"):
        return {key: jsonable(item) for key, item in value._asdict().items()}
    if isinstance(value, list | tuple):
        return [jsonable(item) for item in value]
    if isinstance(value, dict):
        return {str(key): jsonable(item) for key, item in value.items()}
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    return value


def endpoints_of(pipeline: Pipeline) -> list[str]:
    return [name for name in ENDPOINTS if callable(getattr(pipeline, name, None))]


def describe(name: str, pipeline: Pipeline) -> dict[str, Any]:
    """A model's entry in ``GET /v1/models`` (:class:`schemas.ModelInfo`)."""
    return {"name": name, "task": pipeline.task, "endpoints": endpoints_of(pipeline),
            "format": getattr(pipeline, "text_format", None),
            "labels": getattr(pipeline, "labels", None),
            "vocabulary": pipeline.vocabulary_sizes, "parameters": pipeline.parameter_count}


# -- limits ---------------------------------------------------------------------------------

def as_list(texts: str | list, field: str) -> list:
    items = [texts] if isinstance(texts, str) else list(texts)
    if not items:
        raise RequestError(422, "invalid_request",
                           f"{field}: expected a text or a non-empty list, got an empty list")
    return items


def check_texts(texts: Sequence[str | list[str]], settings: ServeSettings, field: str,
                allow_empty: bool = False) -> None:
    """Refuse too many texts, a text too long, and (unless ``allow_empty``) an empty one."""
    if len(texts) > settings.max_texts:
        raise RequestError(413, "limit", f"{field}: at most {settings.max_texts} per request "
                                         f"(--max-texts), got {len(texts)}")
    for index, text in enumerate(texts):
        where = f"{field}[{index}]"
        if isinstance(text, list):
            if not text:
                raise RequestError(422, "invalid_request", f"{where}: an empty token list")
            blank = [number for number, token in enumerate(text) if not token.strip()]
            if blank:
                raise RequestError(422, "invalid_request",
                                   f"{where}[{blank[0]}]: an empty token")
            length = sum(map(len, text)) + len(text) - 1
        else:
            if not allow_empty and not text.strip():
                raise RequestError(422, "invalid_request", f"{where}: the text is empty")
            length = len(text)
        if length > settings.max_text_chars:
            raise RequestError(413, "limit", f"{where}: {length:,} characters; the limit is "
                                             f"{settings.max_text_chars:,} (--max-text-chars)")


def check_at_most(field: str, value: int | None, limit: int, flag: str) -> None:
    if value is not None and value > limit:
        raise RequestError(422, "limit", f"{field} must be at most {limit} ({flag}), got "
                                         f"{value}")


def generate_call(request: schemas.GenerateRequest | schemas.GenerateStreamRequest,
                  settings: ServeSettings, pipeline: Pipeline) -> tuple[list, dict]:
    prompts = as_list(request.prompt, "prompt")
    check_texts(prompts, settings, "prompt", allow_empty=True)
    check_at_most("n", getattr(request, "n", None), settings.max_n, "--max-n")
    check_at_most("max_tokens", request.max_tokens, settings.max_tokens, "--max-tokens")
    options = request.model_dump(exclude={"prompt"})
    if options["max_tokens"] is None:
        options["max_tokens"] = min(pipeline.default_max_tokens, settings.max_tokens)
    return prompts, options


def texts_call(request: schemas.Request, settings: ServeSettings) -> tuple[list, dict]:
    texts = as_list(request.texts, "texts")
    check_texts(texts, settings, "texts")
    if isinstance(request, schemas.TranslateRequest):
        check_at_most("beam_width", request.beam_width, settings.max_beam_width,
                      "--max-beam-width")
        check_at_most("max_length", request.max_length, settings.max_tokens, "--max-tokens")
    return texts, request.model_dump(exclude={"texts"})


# -- the application --------------------------------------------------------------------------

class Served(NamedTuple):
    pipeline: Pipeline
    batchers: dict[str, Batcher]  # endpoint → its batcher


def make_run(pipeline: Pipeline, endpoint: str):
    method = getattr(pipeline, endpoint)
    extra = {"source": "texts"} if endpoint in TAKES_SOURCE else {}

    def run(items: list, options: dict[str, Any]) -> list:
        return method(items, **options, **extra)

    return run


def create_app(pipelines: dict[str, Pipeline], settings: ServeSettings | None = None
               ) -> FastAPI:
    """The API over ``pipelines`` (served under their keys) with ``settings``."""
    settings = settings or ServeSettings()
    if not pipelines:
        raise ValueError("create_app: expected at least one pipeline, got none")
    served = {
        name: Served(pipeline, {
            endpoint: Batcher(make_run(pipeline, endpoint), settings.max_batch,
                              settings.max_wait_ms / 1000, f"{name}/{endpoint}")
            for endpoint in endpoints_of(pipeline)})
        for name, pipeline in pipelines.items()
    }

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        # The models, torch and the app leave ~300,000 long-lived objects; a full collection
        # walking them all paused every request in flight for 150-190 ms (RESULTS, "Serving").
        # Frozen, the collector leaves them alone.
        gc.collect()
        gc.freeze()
        yield
        for model in served.values():
            for batcher in model.batchers.values():
                batcher.close()

    app = FastAPI(title="rnnkit", version=__version__, lifespan=lifespan,
                  description="Recurrent text models: generate, score, predict, tag, "
                              "translate. Requests that arrive together for one model are "
                              "batched into one call.",
                  responses={400: {"model": schemas.ErrorResponse},
                             404: {"model": schemas.ErrorResponse},
                             413: {"model": schemas.ErrorResponse},
                             422: {"model": schemas.ErrorResponse}})
    app.state.settings, app.state.served = settings, served
    app.add_middleware(Guard, settings=settings)
    add_error_handlers(app)

    def batcher_of(name: str, endpoint: str) -> Batcher:
        model = served.get(name)
        if model is None:
            raise RequestError(404, "not_found", f"no model named {name!r}; this server has "
                                                 f"{', '.join(sorted(served))}")
        batcher = model.batchers.get(endpoint)
        if batcher is None:
            offers = ", ".join(model.batchers) or "nothing"
            raise RequestError(404, "wrong_task",
                               f"model {name!r} is a {model.pipeline.task!r} model, which has "
                               f"no {endpoint!r}; it offers {offers}")
        return batcher

    async def call(name: str, endpoint: str, items: list, options: dict[str, Any]) -> list:
        batcher = batcher_of(name, endpoint)
        try:
            return await asyncio.wrap_future(batcher.submit(items, options))
        except INPUT_ERRORS as error:
            raise RequestError(422, "invalid_request", str(error)) from None
        except Exception:
            log.exception("model %r failed on a %s request", name, endpoint)
            raise RequestError(500, "internal_error", f"model {name!r} failed on this "
                                                      "request; the server's log has the "
                                                      "details") from None

    @app.get("/", include_in_schema=False)
    async def page() -> FileResponse:
        return FileResponse(STATIC / "index.html", media_type="text/html; charset=utf-8")

    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.get("/healthz", response_model=schemas.Health)
    async def healthz() -> dict:
        return {"status": "ok", "models": len(served)}

    @app.get("/v1/models", response_model=schemas.ModelsResponse)
    async def models() -> dict:
        return {"models": [describe(name, model.pipeline) for name, model in served.items()],
                "max_tokens": settings.max_tokens}

    @app.post("/v1/models/{name}/generate", response_model=schemas.GenerateResponse)
    async def generate(name: str, request: schemas.GenerateRequest) -> dict:
        """Language models: ``n`` samples per prompt (each begins with its prompt)."""
        batcher_of(name, "generate")
        items, options = generate_call(request, settings, served[name].pipeline)
        return {"model": name, "results": jsonable(await call(name, "generate", items,
                                                              options))}

    @app.post("/v1/models/{name}/generate/stream", response_class=StreamingResponse,
              responses={200: {"content": {"text/event-stream": {}},
                               "description": "server-sent events: token … token, done"}})
    async def generate_stream(name: str, body: schemas.GenerateStreamRequest,
                              request: Request) -> StreamingResponse:
        """Language models: one sample, sent token by token as server-sent events
        (``token``: the text so far and its new piece; then ``done``). A client that
        disconnects stops its generation."""
        batcher_of(name, "generate")
        pipeline = served[name].pipeline
        if not callable(getattr(pipeline, "generate_stream", None)):
            raise RequestError(404, "wrong_task", f"model {name!r} cannot stream its text")
        (prompt,), options = generate_call(body, settings, pipeline)
        try:
            texts = pipeline.generate_stream(prompt, **options)
        except INPUT_ERRORS as error:
            raise RequestError(422, "invalid_request", str(error)) from None
        return StreamingResponse(stream_events(name, texts, request.is_disconnected),
                                 media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache",
                                          "X-Accel-Buffering": "no"})

    @app.post("/v1/models/{name}/gates", response_model=schemas.GatesResponse)
    async def gates(name: str, body: schemas.GatesRequest) -> dict:
        """LSTM language models: each step's input, forget and output gates and cell state
        of one layer (``trace_gates``), unbatched."""
        batcher_of(name, "generate")
        pipeline = served[name].pipeline
        if not callable(getattr(pipeline, "trace_gates", None)):
            raise RequestError(404, "wrong_task", f"model {name!r} cannot trace its gates")
        check_texts([body.text], settings, "text", allow_empty=True)
        try:
            tokens, values = await asyncio.to_thread(pipeline.trace_gates, body.text,
                                                     body.layer)
        except INPUT_ERRORS as error:
            raise RequestError(422, "invalid_request", str(error)) from None
        return {"model": name, "tokens": tokens, "gates": jsonable(values)}

    @app.post("/v1/models/{name}/score", response_model=schemas.ScoreResponse)
    async def score(name: str, request: schemas.ScoreRequest) -> dict:
        """Language models: loss (nats per token) and perplexity of each text."""
        items, options = texts_call(request, settings)
        return {"model": name, "results": jsonable(await call(name, "score", items, options))}

    @app.post("/v1/models/{name}/predict", response_model=schemas.PredictResponse)
    async def predict(name: str, request: schemas.PredictRequest) -> dict:
        """Classifiers: the most likely label and every label's probability, per text."""
        items, options = texts_call(request, settings)
        return {"model": name, "results": jsonable(await call(name, "predict", items,
                                                              options))}

    @app.post("/v1/models/{name}/tag", response_model=schemas.TagResponse)
    async def tag(name: str, request: schemas.TagRequest) -> dict:
        """Taggers: tokens, tags and entities of each text (or token list)."""
        items, options = texts_call(request, settings)
        return {"model": name, "results": jsonable(await call(name, "tag", items, options))}

    @app.post("/v1/models/{name}/translate", response_model=schemas.TranslateResponse)
    async def translate(name: str, request: schemas.TranslateRequest) -> dict:
        """Translators: the translation of each text (with its attention if asked)."""
        items, options = texts_call(request, settings)
        return {"model": name, "results": jsonable(await call(name, "translate", items,
                                                              options))}

    return app


def add_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(RequestError)
    async def refused(request: Request, error: RequestError) -> JSONResponse:
        return error_response(error.status, error.kind, error.message)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, error: RequestValidationError) -> JSONResponse:
        errors = error.errors()
        if any(item.get("type") == "json_invalid" for item in errors):
            detail = next(item for item in errors if item.get("type") == "json_invalid")
            reason = (detail.get("ctx") or {}).get("error", "cannot be parsed")
            return error_response(400, "invalid_json", f"the body is not valid JSON: {reason}")
        return error_response(422, "invalid_request", validation_message(errors))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, error: StarletteHTTPException) -> JSONResponse:
        kind = "not_found" if error.status_code == 404 else "http_error"
        return error_response(error.status_code, kind, str(error.detail), error.headers)


def validation_message(errors: Sequence[dict]) -> str:
    """pydantic's errors as one line: ``field: what was wrong`` for each (at most 3)."""
    parts = []
    for item in errors[:3]:
        location = [str(part) for part in item.get("loc", ()) if part != "body"]
        # a union's errors name the member type tried (texts.str, texts.list[str]) last
        where = ".".join(location) or "body"
        parts.append(f"{where}: {item.get('msg', 'invalid')}")
    more = f" (and {len(errors) - 3} more)" if len(errors) > 3 else ""
    return "; ".join(parts) + more


def is_page(scope) -> bool:
    """A request for the web page's files, which hold no data and ask for the key."""
    return scope["method"] in ("GET", "HEAD") and (
        scope["path"] == "/" or scope["path"].startswith("/static/"))


class Guard:
    """ASGI middleware in front of every route: the API key (when set; the web page's own
    files are open, see :func:`is_page`), then a POST's media type (JSON), then the body size.

    The key is compared in constant time (:func:`hmac.compare_digest`). The body is read
    here, at most ``max_body_bytes`` of it, before any route parses it, whether the client
    declared its length or streamed it in chunks.
    """

    def __init__(self, app, settings: ServeSettings) -> None:
        self.app, self.settings = app, settings
        self.expected = (f"Bearer {settings.api_key}".encode()
                         if settings.api_key is not None else None)

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or ())
        if self.expected is not None and not is_page(scope) and not hmac.compare_digest(
                headers.get(b"authorization", b""), self.expected):
            response = error_response(401, "unauthorized",
                                      "this server needs an API key: send the header "
                                      "'Authorization: Bearer <key>'",
                                      {"WWW-Authenticate": "Bearer"})
            await response(scope, receive, send)
            return
        media_type = headers.get(b"content-type", b"").split(b";")[0].strip().lower()
        if scope["method"] == "POST" and media_type != b"application/json":
            response = error_response(415, "unsupported_media_type",
                                      "send the body as JSON, with the header 'Content-Type: "
                                      f"application/json' (got {media_type.decode('latin-1')!r})")
            await response(scope, receive, send)
            return
        limit = self.settings.max_body_bytes
        too_large = error_response(413, "too_large", f"the body is larger than {limit:,} "
                                                     "bytes (--max-body-bytes)")
        declared = headers.get(b"content-length", b"0")
        if not declared.isdigit() or int(declared) > limit:
            if not declared.isdigit():
                too_large = error_response(400, "invalid_request",
                                           "the Content-Length header is not a number")
            await too_large(scope, receive, send)
            return
        body, more = b"", True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away
            body += message.get("body", b"")
            more = message.get("more_body", False)
            if len(body) > limit:
                await too_large(scope, receive, send)
                return
        replayed = False

        async def replay():
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


def app_from_environment() -> FastAPI:
    """The app of one ``rnnkit serve --workers N`` process: the model directories and
    settings the command put into the environment (:data:`ENVIRONMENT`)."""
    spec = json.loads(os.environ[ENVIRONMENT])
    return create_app(load_models(spec["directories"], spec.get("device")),
                      ServeSettings(**spec["settings"]))
