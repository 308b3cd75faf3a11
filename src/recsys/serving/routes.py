"""The HTTP routes. Handlers read the served model once per request and raise `ApiError`s
for every error, which `errors` renders in one JSON shape."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import ValidationError

from recsys import __version__
from recsys.serving.deps import Served, served_model, service
from recsys.serving.errors import BodyTooLargeError, invalid_body
from recsys.serving.schemas import (
    MAX_BODY_BYTES,
    ErrorResponse,
    ModelInfo,
    RecommendRequest,
    RecommendResponse,
)

router = APIRouter()

_ERRORS: dict[int | str, dict[str, Any]] = {
    413: {"model": ErrorResponse, "description": f"Body larger than {MAX_BODY_BYTES} bytes"},
    422: {"model": ErrorResponse, "description": "Body is not a valid request"},
    503: {"model": ErrorResponse, "description": "No model loaded yet (see Retry-After)"},
}
_REQUEST_BODY = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": RecommendRequest.model_json_schema()}},
    }
}


def json_response(body: Any) -> Response:
    return Response(orjson.dumps(body), media_type="application/json")


async def read_body(request: Request) -> bytes:
    """The body; BodyTooLargeError as soon as it exceeds the cap (declared or streamed)."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise BodyTooLargeError(MAX_BODY_BYTES)
    chunks = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise BodyTooLargeError(MAX_BODY_BYTES)
        chunks.append(chunk)
    return b"".join(chunks)


@router.post(
    "/api/recommend",
    response_model=RecommendResponse,
    responses=_ERRORS,
    openapi_extra=_REQUEST_BODY,
    summary="Songs you may like",
    description=(
        "Send the songs you like; get songs mined from playlists that hold them. "
        "The body is JSON, with or without a JSON Content-Type."
    ),
)
async def recommend(request: Request) -> Response:
    body = await read_body(request)
    try:
        payload = RecommendRequest.model_validate_json(body or b"null")
    except ValidationError as problem:
        raise invalid_body(problem) from None
    model = served_model(request)  # after validation: a bad body is a 422 even with no model
    answer = model.index.recommend(payload.songs, payload.k or service(request).settings.top_k)
    return json_response(
        {
            "songs": answer.songs,
            "version": __version__,
            "model_date": model.model_date,
            "model_id": model.model_id,
            "unknown_songs": answer.unknown_songs,
            "filled": answer.filled,
        }
    )


router.add_api_route("/api/recommender", recommend, methods=["POST"], include_in_schema=False)


@router.get("/api/model", response_model=ModelInfo, responses={503: _ERRORS[503]})
async def model_info(model: Served) -> Response:
    """Metadata of the model being served, from its file's header."""
    return json_response(
        {
            **model.index.header,
            "sha256": model.pointer.sha256,
            "loaded_at": model.loaded_at.isoformat(),
            "load_seconds": model.load_seconds,
            "songs": model.index.song_count,
            "rules": model.index.rule_count,
        }
    )


@router.get("/api/songs", responses={503: _ERRORS[503]})
async def songs(model: Served, limit: int = Query(1000, ge=1, le=1_000_000)) -> Response:
    """Songs the served model knows, most popular first: something to ask about."""
    return json_response({"songs": model.index.popular(limit), "model_id": model.model_id})


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """Liveness: answering at all proves the process and its event loop are alive."""
    return {"status": "ok"}


@router.get("/readyz", responses={503: _ERRORS[503]})
async def readyz(model: Served) -> Response:
    """Readiness: ready once a model is loaded, so no pod gets traffic it cannot answer."""
    return json_response({"status": "ready", "model_id": model.model_id})


@router.get("/metrics", include_in_schema=False)
async def metrics(request: Request) -> Response:
    return Response(
        generate_latest(service(request).metrics.registry), media_type=CONTENT_TYPE_LATEST
    )
