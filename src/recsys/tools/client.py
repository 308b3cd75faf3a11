"""The HTTP client of the recsys API, for `recommend` and tests.

Every failure becomes a one-line `ClientError` that says what went wrong and where, so
commands can print it instead of a traceback. Each call is bounded as a whole, in time
(the client's timeout covers the connect and the whole answer) and in bytes (a cap per
call, see `answers`), and its answer is checked against the shape the call expects.
"""

from __future__ import annotations

from typing import Any

import httpx

from recsys.errors import RecsysError
from recsys.tools.answers import (
    RECOMMENDATION,
    SONG_LIST,
    Shape,
    ShapeError,
    matching,
    parsed_json,
    shown,
)
from recsys.tools.bounded import Answer, DeadlineError, RefusedAnswerError, exchange


class ClientError(RecsysError):
    """The API could not be reached, or answered with an error or with garbage."""


def describe_failure(url: str, error: httpx.HTTPError) -> str:
    if isinstance(error, httpx.ConnectError):
        return f"cannot reach the recsys API at {url} (is `recsys serve` running?)"
    if isinstance(error, httpx.TimeoutException):
        return f"the recsys API at {url} did not answer in time"
    # The text of a protocol error may quote what the server sent.
    detail = str(error).splitlines()[0] if str(error) else ""
    return f"request to the recsys API at {url} failed: {type(error).__name__}: {shown(detail)}"


class RecsysClient:
    """A thin synchronous client; each call on a connection of its own.

    No connection is kept alive between calls: the deadline of a call is enforced on the
    connection the call makes (see `bounded.exchange`), and a command makes one or two.
    """

    def __init__(self, base_url: str, timeout: float = 10.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self._http = httpx.Client(
            base_url=self.base_url, limits=httpx.Limits(max_keepalive_connections=0)
        )

    def __enter__(self) -> RecsysClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self._http.close()

    def recommend(
        self, songs: list[str], k: int | None = None, explain: bool = False
    ) -> dict[str, Any]:
        """The answer; with `explain`, its `because` (if the server gave one) is checked to
        hold one list of reasons per song."""
        payload: dict[str, Any] = {"songs": songs}
        if k is not None:
            payload["k"] = k
        if explain:
            payload["explain"] = True
        answer = self._call("POST", "/api/recommend", RECOMMENDATION, json=payload)
        if "because" in answer and len(answer["because"]) != len(answer["songs"]):
            raise ClientError(
                f"the recsys API at {self.base_url} answered 200 with a `because` that does "
                "not hold one list of reasons per song"
            )
        return answer

    def songs(self, limit: int = 1000) -> list[str]:
        listing = self._call("GET", "/api/songs", SONG_LIST, params={"limit": limit})
        return list(listing["songs"])

    def _call(self, method: str, path: str, shape: Shape, **request: Any) -> dict[str, Any]:
        """The answer to one call, a JSON object of `shape`, or a ClientError."""
        answer = self._exchange(method, path, shape.max_bytes, **request)
        if answer.status != 200:
            raise ClientError(self._error_line(answer))
        try:
            value = parsed_json(answer.body)
        except ValueError:
            media_type = answer.content_type.split(";")[0].strip()
            raise ClientError(
                f"the recsys API at {self.base_url} answered 200 with a body that is not JSON "
                f"({shown(media_type) or 'no Content-Type'})"
            ) from None
        try:
            return matching(shape, value)
        except ShapeError as wrong:
            raise ClientError(
                f"the recsys API at {self.base_url} answered 200 with {wrong}"
            ) from None

    def _exchange(self, method: str, path: str, max_bytes: int, **request: Any) -> Answer:
        try:
            return exchange(
                self._http, method, path, seconds=self.timeout, max_bytes=max_bytes, **request
            )
        except DeadlineError:
            raise ClientError(
                f"the recsys API at {self.base_url} did not finish its answer within "
                f"{self.timeout:g} s"
            ) from None
        except RefusedAnswerError as refused:
            raise ClientError(f"the recsys API at {self.base_url} answered {refused}") from None
        except httpx.HTTPError as error:
            raise ClientError(describe_failure(self.base_url, error)) from None

    def _error_line(self, answer: Answer) -> str:
        """An error answer's status with its `detail` (short, escaped) or the status's name."""
        try:
            value = parsed_json(answer.body)
        except ValueError:
            value = None
        detail = value.get("detail") if isinstance(value, dict) else None
        if isinstance(detail, str) and detail:
            reason = shown(detail)
        else:  # the standard phrase, not the server's own
            reason = httpx.codes.get_reason_phrase(answer.status) or "error"
        return f"the recsys API at {self.base_url} answered {answer.status}: {reason}"
