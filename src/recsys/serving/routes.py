"""The HTTP routes. Handlers read the served model once per request and raise `ApiError`s
for every error, which `errors` renders in one JSON shape."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from pydantic import ValidationError

from recsys import __version__
from recsys.model.index import Reason, Recommendation, RuleIndex
from recsys.serving.body import read_capped
from recsys.serving.deps import Served, Service, served_model, service
from recsys.serving.errors import invalid_body
from recsys.serving.schemas import (
    MAX_BODY_BYTES,
    ErrorResponse,
    ModelInfo,
    RecommendRequest,
    RecommendResponse,
)
from recsys.serving.store import ServedModel

router = APIRouter()

# What a request may cost the event loop: characters of names needing normalisation, and
# rule weights added up (each liked song's antecedent holds at most rules_per_group).
NORMALISE_ON_THE_LOOP = 2000
RULES_ON_THE_LOOP = 5000

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
    """The body, within the size cap (declared or streamed) and the client timeout."""
    seconds = service(request).settings.client_timeout
    return await read_capped(request.receive, request.headers.get("content-length"), seconds)


async def recommend_off_the_loop_if_costly(
    index: RuleIndex, songs: list[str], k: int, explain: bool = False
) -> Recommendation:
    """Answer on the event loop, unless the names need costly Unicode normalisation or
    the songs may match many rules.

    Names the model spells exactly cost a dict look-up; others are normalised, and a
    crafted name (hundreds of combining marks) makes that quadratic. Hundreds of liked
    songs may each add up a full group of rules, and explaining reads those groups again.
    Such requests run in a worker thread, so health checks and other requests keep being
    answered.
    """
    cheap = len(songs) * index.rules_per_group * (1 + explain) <= RULES_ON_THE_LOOP
    if cheap and index.normalising_cost(songs) <= NORMALISE_ON_THE_LOOP:
        return index.recommend(songs, k, explain)
    return await asyncio.to_thread(index.recommend, songs, k, explain)


@router.post(
    "/api/recommend",
    response_model=RecommendResponse,
    responses=_ERRORS,
    openapi_extra=_REQUEST_BODY,
    summary="Songs you may like",
    description=(
        "Send the songs you like; get songs mined from playlists that hold them. "
        "With `explain`, each song comes with the rules behind it (`because`). "
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
    parts = service(request)
    k = payload.k or parts.settings.top_k
    answer = await recommend_off_the_loop_if_costly(model.index, payload.songs, k, payload.explain)
    count_songs(parts, len(payload.songs), answer)
    return json_response(answer_body(model, answer))


def count_songs(parts: Service, sent: int, answer: Recommendation) -> None:
    """Count the sent songs the model knows or not, and the recommended songs by where
    they came from (the fast path counts alike)."""
    parts.metrics.requests.recommended(
        sent - len(answer.unknown_songs),
        len(answer.unknown_songs),
        len(answer.songs) - answer.filled,
        answer.filled,
    )


def answer_body(model: ServedModel, answer: Recommendation) -> dict[str, Any]:
    """The 200 answer of /api/recommend (the fast path sends the same); `because` only
    when it was asked for, so an answer without it is what it always was."""
    body = {
        "songs": answer.songs,
        "version": __version__,
        "model_date": model.model_date,
        "model_id": model.model_id,
        "unknown_songs": answer.unknown_songs,
        "songs_without_rules": answer.songs_without_rules,
        "filled": answer.filled,
    }
    if answer.because is not None:
        body["because"] = [[reason_body(reason) for reason in song] for song in answer.because]
    return body


def reason_body(reason: Reason) -> dict[str, Any]:
    """One reason as JSON; the weight (a float32 in the model) to 6 significant digits,
    which is all a float32 holds reliably."""
    return {"liked": list(reason.liked), "weight": float(f"{reason.weight:.6g}")}


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


# Uptime checkers use HEAD: each GET route answers it too (uvicorn sends no body), kept
# out of the schema so each operation is documented once.
for _path, _endpoint in (
    ("/api/model", model_info),
    ("/api/songs", songs),
    ("/healthz", healthz),
    ("/readyz", readyz),
):
    router.add_api_route(_path, _endpoint, methods=["HEAD"], include_in_schema=False)
