"""The JSON shapes of the API (pydantic), as the OpenAPI page at ``/docs`` shows them.

Requests are strict: a field of the wrong type, an unknown field, NaN or infinity is refused
(422) rather than coerced. ``texts`` (and ``prompt``) take one string or a list; responses
always hold a list of results, one per text, in order. The limits that the server's flags set
(how many texts, how long, ``n``, ``max_tokens``, ``beam_width``) are checked by the app.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

MAX_SEED = 2**63 - 1


class Request(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid", allow_inf_nan=False)


class Sampling(Request):
    max_tokens: int | None = Field(None, ge=1, description="the most new tokens per sample "
                                                          "(default: 100, 1,000 for an ABC "
                                                          "model's tunes, or the server's "
                                                          "limit if lower)")
    temperature: float = Field(1.0, gt=0)
    top_k: int | None = Field(None, ge=1)
    top_p: float | None = Field(None, gt=0, le=1)
    greedy: bool = False
    seed: int | None = Field(None, ge=0, le=MAX_SEED,
                             description="makes the samples reproducible")


class GenerateRequest(Sampling):
    prompt: str | list[str] = Field("", description="the start of each text (may be empty)")
    n: int = Field(1, ge=1, description="samples per prompt")


class GenerateStreamRequest(Sampling):
    prompt: str = Field("", description="the start of the text (may be empty)")


class GatesRequest(Request):
    text: str = Field(..., description="the text to run through the model")
    layer: int = Field(0, ge=0, description="which layer's gates")


class TextsRequest(Request):
    texts: str | list[str] = Field(..., description="one text or a list of texts")


class PredictRequest(TextsRequest):
    pass


class ScoreRequest(TextsRequest):
    pass


class TagRequest(Request):
    texts: str | list[str | list[str]] = Field(
        ..., description="a text, or a list of texts and/or token lists")


class TranslateRequest(TextsRequest):
    beam_width: int = Field(1, ge=1, description="1: greedy decoding")
    length_penalty: float = Field(1.0, ge=0, description="beam scores are log p / length^this")
    max_length: int | None = Field(None, ge=1, description="the most target tokens (default: "
                                                           "the training limit)")
    return_attention: bool = False


class GenerateResponse(BaseModel):
    model: str
    results: list[list[str]] = Field(..., description="per prompt, its n samples")


class Prediction(BaseModel):
    label: str
    probabilities: dict[str, float]


class PredictResponse(BaseModel):
    model: str
    results: list[Prediction]


class Score(BaseModel):
    loss: float = Field(..., description="nats per token")
    ppl: float
    bpc: float | None = None
    tokens: int


class ScoreResponse(BaseModel):
    model: str
    results: list[Score]


class Entity(BaseModel):
    type: str
    text: str
    first: int = Field(..., description="the first token")
    last: int = Field(..., description="the last token (inclusive)")
    start: int | None = Field(..., description="the first character (None for token lists)")
    end: int | None = Field(..., description="past the last character")


class Tagged(BaseModel):
    tokens: list[str]
    tags: list[str]
    entities: list[Entity]


class TagResponse(BaseModel):
    model: str
    results: list[Tagged]


class Translation(BaseModel):
    text: str
    tokens: list[str]
    source_tokens: list[str]
    attention: list[list[float]] = Field(..., description="(target tokens + 1, source tokens)")


class TranslateResponse(BaseModel):
    model: str
    results: list[str] | list[Translation] = Field(
        ..., description="the translations; with return_attention, each with its attention")


class GatesResponse(BaseModel):
    model: str
    tokens: list[str] = Field(..., description="the line start first, then the text's tokens")
    gates: dict[str, list[list[float]]] = Field(
        ..., description="i, f, o (gates) and c (cell state), each (tokens, hidden units)")


class ModelInfo(BaseModel):
    name: str
    task: str
    endpoints: list[str]
    format: str | None = Field(..., description="what a language model reads and writes: "
                               "\"text\", or \"abc\" (tunes in ABC music notation); null "
                               "for other tasks")
    labels: list[str] | None
    vocabulary: dict[str, int] = Field(..., description="each vocabulary's size, by role")
    parameters: int | None = Field(..., description="the model's weights; null where they "
                                   "cannot be counted (an ONNX export without the onnx package)")


class ModelsResponse(BaseModel):
    models: list[ModelInfo]
    max_tokens: int = Field(description="the most new tokens one output may have (the "
                                        "server's --max-tokens)")


class Health(BaseModel):
    status: str
    models: int


class ErrorDetail(BaseModel):
    type: str = Field(..., description="not_found, wrong_task, invalid_request, invalid_json, "
                                        "unauthorized, unsupported_media_type, too_large, "
                                        "limit, http_error, internal_error")
    message: str


class ErrorResponse(BaseModel):
    error: ErrorDetail
