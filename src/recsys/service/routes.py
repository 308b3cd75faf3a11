"""The HTTP routes of DESIGN.md. Handlers read `store.current` once per request."""

from __future__ import annotations

import math
from typing import Any

import orjson
from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import ValidationError

from recsys import __version__
from recsys.service.schemas import (
    MAX_BODY_BYTES,
    ErrorResponse,
    ModelInfo,
    RecommendRequest,
    RecommendResponse,
)
from recsys.service.store import ModelStore

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


def error(
    status: int, detail: str, headers: dict[str, str] | None = None, **extra: Any
) -> Response:
    body = {"detail": detail, **extra}
    return Response(orjson.dumps(body), status, headers, media_type="application/json")


def validation_error(problem: ValidationError) -> Response:
    errors = [
        {"loc": list(item["loc"]), "msg": item["msg"], "type": item["type"]}
        for item in problem.errors(include_url=False, include_input=False)
    ]
    first = errors[0]
    where = ".".join(str(part) for part in first["loc"]) or "body"
    return error(422, f"{where}: {first['msg']}", errors=errors)


def no_model(request: Request) -> Response:
    retry = str(math.ceil(request.app.state.settings.poll_interval))
    return error(503, "no model loaded yet", {"Retry-After": retry})


async def read_body(request: Request) -> bytes | Response:
    """The body, or a 413 as soon as it exceeds the cap (declared or streamed)."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        return error(413, f"body larger than {MAX_BODY_BYTES} bytes")
    chunks = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            return error(413, f"body larger than {MAX_BODY_BYTES} bytes")
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
    if isinstance(body, Response):
        return body
    try:
        payload = RecommendRequest.model_validate_json(body or b"null")
    except ValidationError as problem:
        return validation_error(problem)
    snapshot = request.app.state.store.current
    if snapshot is None:
        return no_model(request)
    answer = snapshot.index.recommend(payload.songs, payload.k or request.app.state.settings.top_k)
    return Response(
        orjson.dumps(
            {
                "songs": answer.songs,
                "version": __version__,
                "model_date": snapshot.model_date,
                "model_id": snapshot.model_id,
                "unknown_songs": answer.unknown_songs,
                "filled": answer.filled,
            }
        ),
        media_type="application/json",
    )


router.add_api_route("/api/recommender", recommend, methods=["POST"], include_in_schema=False)


@router.get("/api/model", response_model=ModelInfo, responses={503: _ERRORS[503]})
async def model_info(request: Request) -> Response:
    """Metadata of the model being served, from its file's header."""
    store: ModelStore = request.app.state.store
    snapshot = store.current
    if snapshot is None:
        return no_model(request)
    info = {
        **snapshot.index.header,
        "sha256": snapshot.pointer.sha256,
        "loaded_at": snapshot.loaded_at.isoformat(),
        "load_seconds": snapshot.load_seconds,
        "songs": snapshot.index.song_count,
        "rules": snapshot.index.rule_count,
    }
    return Response(orjson.dumps(info), media_type="application/json")


@router.get("/api/songs", responses={503: _ERRORS[503]})
async def songs(request: Request, limit: int = Query(1000, ge=1, le=1_000_000)) -> Response:
    """Songs the served model knows, most popular first: something to ask about."""
    snapshot = request.app.state.store.current
    if snapshot is None:
        return no_model(request)
    body = {"songs": snapshot.index.popular(limit), "model_id": snapshot.model_id}
    return Response(orjson.dumps(body), media_type="application/json")


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """Liveness: answering at all proves the process and its event loop are alive."""
    return {"status": "ok"}


@router.get("/readyz", responses={503: _ERRORS[503]})
async def readyz(request: Request) -> Response:
    """Readiness: ready once a model is loaded, so no pod gets traffic it cannot answer."""
    snapshot = request.app.state.store.current
    if snapshot is None:
        return no_model(request)
    return JSONResponse({"status": "ready", "model_id": snapshot.model_id})


@router.get("/metrics", include_in_schema=False)
async def metrics(request: Request) -> Response:
    return Response(
        generate_latest(request.app.state.metrics.registry), media_type=CONTENT_TYPE_LATEST
    )
