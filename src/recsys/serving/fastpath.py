"""The hot route without the framework: `POST /api/recommend` (and its alias) answered by
a pure ASGI wrapper around the FastAPI app.

It reads the body under the same limits as the route (`body.read_capped`), and renders
the errors of reading it (413, 408, 499) itself, with the route's own `ApiError`s and
`render`. It parses the body with orjson and checks it against `RecommendRequest`'s
limits by hand, field by field (FIELDS). It answers only a request it is sure the route
would answer 200, with the same bytes. Anything else (not JSON, any invalid field,
anything orjson and pydantic might read differently, no model yet) goes to the FastAPI
route with the body already read, so every other error answer comes from the documented
route. Tests (tests/serving/test_fastpath.py) hold the two to the same answers, and FIELDS
to the schema's fields.
"""

from __future__ import annotations

import orjson
from fastapi.routing import APIRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from recsys.serving.body import read_capped
from recsys.serving.deps import Service
from recsys.serving.errors import ApiError, render
from recsys.serving.routes import (
    answer_body,
    count_songs,
    recommend_off_the_loop_if_costly,
    router,
)
from recsys.serving.schemas import MAX_K, MAX_SONGS
from recsys.songs import MAX_SONG_LENGTH

PATHS = ("/api/recommend", "/api/recommender")
# The fields of `RecommendRequest` that `accepted` reads and checks; a field the schema
# gains must be read here too, or the fast path would answer as if it were not sent.
FIELDS = ("songs", "k", "explain")
_JSON = (b"content-type", b"application/json")


def accepted(body: bytes) -> tuple[list[str], int | None, bool] | None:
    """(songs, k, explain) when `RecommendRequest` would surely accept this body; None
    otherwise."""
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    if type(payload) is not dict:
        return None
    songs = payload.get("songs")
    k = payload.get("k")
    explain = payload.get("explain", False)
    if type(songs) is not list or not 1 <= len(songs) <= MAX_SONGS:
        return None
    for song in songs:
        if type(song) is not str or not 1 <= len(song) <= MAX_SONG_LENGTH:
            return None
    if k is not None and (type(k) is not int or not 1 <= k <= MAX_K):
        return None
    if type(explain) is not bool:
        return None
    return songs, k, explain


def replay(body: bytes, receive: Receive) -> Receive:
    """A `receive` that hands over the already-read body, then the connection's own."""
    sent = False

    async def again() -> Message:
        nonlocal sent
        if sent:
            return await receive()
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return again


def content_length(scope: Scope) -> str | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            return value.decode("latin-1")
    return None


class RecommendFastPath:
    """Pure ASGI: answers valid recommend requests itself, hands all else to `app`."""

    def __init__(self, app: ASGIApp, service: Service) -> None:
        self.app = app
        self.service = service
        # path -> its FastAPI route, which the metrics middleware reads its label from
        self.routes = {
            route.path: route
            for route in router.routes
            if isinstance(route, APIRoute) and route.path in PATHS
        }
        assert len(self.routes) == len(PATHS), "the documented routes are missing"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST" or scope["path"] not in self.routes:
            await self.app(scope, receive, send)
            return
        scope["route"] = self.routes[scope["path"]]
        seconds = self.service.settings.client_timeout
        try:
            body = await read_capped(receive, content_length(scope), seconds)
        except ApiError as problem:  # 413, 408, 499: the route's own errors
            await render(problem)(scope, receive, send)
            return
        request = accepted(body)
        model = self.service.store.current
        if request is None or model is None:
            await self.app(scope, replay(body, receive), send)
            return
        songs, k, explain = request
        try:
            answer = await recommend_off_the_loop_if_costly(
                model.index, songs, k or self.service.settings.top_k, explain
            )
            content = orjson.dumps(answer_body(model, answer))
        except Exception:  # the route meets the same failure and answers it (a JSON 500)
            await self.app(scope, replay(body, receive), send)
            return
        count_songs(self.service, len(songs), answer)
        headers = [(b"content-length", str(len(content)).encode()), _JSON]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": content})
