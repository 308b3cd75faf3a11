"""Every error answer of the API: one JSON shape, raised as exceptions, rendered once.

Handlers raise an `ApiError` (or let FastAPI raise its own validation and HTTP errors);
`install_handlers` renders all of them as `{"detail": "..."}`, with `"errors": [...]` added
only where there are individual problems to list (a 422's), so that no route can answer an
error in another shape, or in text/plain.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from pydantic import ValidationError
from starlette.exceptions import HTTPException


class ApiError(Exception):
    """An answer other than success: status, a readable reason, optional headers and items."""

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        headers: Mapping[str, str] | None = None,
        errors: list[dict[str, Any]] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.headers = headers
        self.errors = errors


class NoModelError(ApiError):
    """No model has been loaded yet: 503, with a Retry-After of one poll interval."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(503, "no model loaded yet", headers={"Retry-After": str(retry_after)})


class BodyTooLargeError(ApiError):
    def __init__(self, limit: int) -> None:
        super().__init__(413, f"body larger than {limit} bytes")


class BodyTimeoutError(ApiError):
    def __init__(self, seconds: float) -> None:
        super().__init__(408, f"body not received within {seconds:g} s")


class ClientGoneError(ApiError):
    """The client hung up before its body arrived: nobody reads the answer, and it is no
    server error. 499 (nginx's "client closed request") keeps it apart in the metrics."""

    def __init__(self) -> None:
        super().__init__(499, "client closed the connection before sending its body")


def invalid(items: Iterable[Mapping[str, Any]]) -> ApiError:
    """A 422 from pydantic's error items: the first one in `detail`, all of them trimmed."""
    errors = [
        {"loc": list(item["loc"]), "msg": item["msg"], "type": item["type"]} for item in items
    ]
    first = errors[0] if errors else {"loc": [], "msg": "invalid request"}
    where = ".".join(str(part) for part in first["loc"]) or "body"
    return ApiError(422, f"{where}: {first['msg']}", errors=errors)


def invalid_body(problem: ValidationError) -> ApiError:
    return invalid(problem.errors(include_url=False, include_input=False))


def render(problem: ApiError) -> Response:
    body: dict[str, Any] = {"detail": problem.detail}
    if problem.errors is not None:
        body["errors"] = problem.errors
    return Response(
        orjson.dumps(body), problem.status, problem.headers, media_type="application/json"
    )


def install_handlers(app: FastAPI) -> None:
    """Route every error the app can raise through `render`."""

    @app.exception_handler(ApiError)
    async def on_problem(request: Request, problem: ApiError) -> Response:
        return render(problem)

    @app.exception_handler(HTTPException)
    async def on_http_error(request: Request, problem: HTTPException) -> Response:
        return render(ApiError(problem.status_code, str(problem.detail), headers=problem.headers))

    @app.exception_handler(RequestValidationError)
    async def on_invalid_request(request: Request, problem: RequestValidationError) -> Response:
        return render(invalid(problem.errors()))

    @app.exception_handler(Exception)
    async def on_bug(request: Request, problem: Exception) -> Response:
        """A bug still answers JSON; uvicorn logs its traceback."""
        return render(ApiError(500, "internal error"))
