"""The HTTP client of the recsys API, for `recommend`, `probe`, the demo and tests.

Every failure becomes a one-line `ClientError` that says what went wrong and where, so
commands can print it instead of a traceback.
"""

from __future__ import annotations

from typing import Any

import httpx

from recsys.errors import RecsysError


class ClientError(RecsysError):
    """The API could not be reached, or answered with an error."""


def describe_failure(url: str, error: httpx.HTTPError) -> str:
    if isinstance(error, httpx.ConnectError):
        return f"cannot reach the recsys API at {url} (is `recsys serve` running?)"
    if isinstance(error, httpx.TimeoutException):
        return f"the recsys API at {url} did not answer in time"
    return f"request to the recsys API at {url} failed: {type(error).__name__}: {error}"


def _check(url: str, response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        body = {}
    if response.status_code != 200:
        detail = body.get("detail") if isinstance(body, dict) else None
        raise ClientError(
            f"the recsys API at {url} answered {response.status_code}: "
            f"{detail or response.reason_phrase}"
        )
    if not isinstance(body, dict):
        raise ClientError(f"the recsys API at {url} answered something that is not a JSON object")
    return body


class RecsysClient:
    """A thin synchronous client; one connection pool for the client's lifetime."""

    def __init__(self, base_url: str, timeout: float = 10.0) -> None:
        self.base_url = base_url.rstrip("/")
        self._http = httpx.Client(base_url=self.base_url, timeout=timeout)

    def __enter__(self) -> RecsysClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self._http.close()

    def _call(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.HTTPError as error:
            raise ClientError(describe_failure(self.base_url, error)) from None
        return _check(self.base_url, response)

    def recommend(self, songs: list[str], k: int | None = None) -> dict[str, Any]:
        payload: dict[str, Any] = {"songs": songs}
        if k is not None:
            payload["k"] = k
        return self._call("POST", "/api/recommend", json=payload)

    def songs(self, limit: int = 1000) -> list[str]:
        return list(self._call("GET", "/api/songs", params={"limit": limit})["songs"])
