"""One HTTP exchange bounded as a whole: one deadline for all of it, a cap on its body.

httpx's timeouts bound each connect, write and read on its own, so a server that sends a
byte before every read would time out keeps a client waiting for ever, and one that
streams without end fills the client's memory. Here one deadline covers the whole
exchange: the connect gets the whole time, and a watchdog cuts the connection when the
deadline passes, whatever the client is then waiting for (headers or body); an async
client needs no watchdog, as cancelling its task at the deadline does the same. The body is
read raw and counted against a cap. It is never decoded: the request asks for no content
coding and an answer that has one anyway is refused, since httpx decodes each received
piece in one go, and a few KB of gzip can become more than any cap allows.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time
from dataclasses import dataclass
from typing import Any

import httpx

NO_CONTENT_CODING = {"Accept-Encoding": "identity"}


class DeadlineError(Exception):
    """The exchange did not end within its deadline."""


class RefusedAnswerError(Exception):
    """The answer broke a bound: `reason` completes "answered STATUS with ..."."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(f"{status} with {reason}")
        self.status = status
        self.reason = reason


@dataclass(frozen=True)
class Answer:
    status: int
    content_type: str
    body: bytearray  # not copied into bytes: it may be as large as the cap


class _Watchdog:
    """Cuts the connection of one exchange when the exchange's deadline passes.

    httpx's `trace` extension hands it the connection's socket as soon as the connection
    is made, and again after TLS (which wraps the socket anew). Shutting that socket down
    wakes whatever read or write waits on it, and the exchange fails at once; the timer
    runs in a thread of its own because the exchange's thread is the one waiting.
    """

    def __init__(self, seconds: float) -> None:
        self.ends_at = time.monotonic() + seconds
        self._socket: socket.socket | None = None
        self._timer: threading.Timer | None = None

    @property
    def expired(self) -> bool:
        return time.monotonic() >= self.ends_at

    def trace(self, event: str, info: dict[str, Any]) -> None:
        if not event.endswith((".connect_tcp.complete", ".start_tls.complete")):
            return
        self._socket = info["return_value"].get_extra_info("socket")
        if self._timer is None:
            self._timer = threading.Timer(max(0.0, self.ends_at - time.monotonic()), self._cut)
            self._timer.daemon = True
            self._timer.start()

    def stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()

    def _cut(self) -> None:
        if self._socket is not None:
            with contextlib.suppress(OSError):  # already closed: the exchange ended first
                self._socket.shutdown(socket.SHUT_RDWR)


def exchange(
    client: httpx.Client,
    method: str,
    path: str,
    *,
    seconds: float,
    max_bytes: int,
    **request: Any,
) -> Answer:
    """`method path` on `client`, ended within `seconds` with at most `max_bytes` of body.

    Raises DeadlineError, RefusedAnswerError, or httpx's error for any other failure. Each
    exchange must open its own connection (a client without keep-alive): the watchdog
    learns the socket only when it is connected.
    """
    watchdog = _Watchdog(seconds)
    try:
        with client.stream(
            method,
            path,
            headers=NO_CONTENT_CODING,
            timeout=seconds,
            extensions={"trace": watchdog.trace},
            **request,
        ) as response:
            content_type = response.headers.get("Content-Type", "")
            return Answer(response.status_code, content_type, _body(response, max_bytes))
    except httpx.HTTPError:
        if watchdog.expired:
            raise DeadlineError from None
        raise
    finally:
        watchdog.stop()


async def exchange_async(
    client: httpx.AsyncClient,
    method: str,
    path: str,
    *,
    seconds: float,
    max_bytes: int,
    **request: Any,
) -> Answer:
    """`exchange` for an async client, on a connection of its own or a kept-alive one."""
    try:
        async with (
            asyncio.timeout(seconds),
            client.stream(
                method, path, headers=NO_CONTENT_CODING, timeout=seconds, **request
            ) as response,
        ):
            body = _CappedBody(response, max_bytes)
            async for chunk in response.aiter_raw():
                body.add(chunk)
            return Answer(response.status_code, response.headers.get("Content-Type", ""), body.data)
    except TimeoutError:
        raise DeadlineError from None


def _body(response: httpx.Response, max_bytes: int) -> bytearray:
    body = _CappedBody(response, max_bytes)
    for chunk in response.iter_raw():
        body.add(chunk)
    return body.data


class _CappedBody:
    """A raw body, refused as soon as it is known to be over `max_bytes`."""

    def __init__(self, response: httpx.Response, max_bytes: int) -> None:
        coding = response.headers.get("Content-Encoding", "identity").strip().lower()
        if coding not in ("", "identity"):
            raise RefusedAnswerError(
                response.status_code, "a Content-Encoding it was not asked for"
            )
        self._too_large = RefusedAnswerError(
            response.status_code, f"a body over {_size(max_bytes)}"
        )
        declared = response.headers.get("Content-Length", "")
        if declared.isdigit() and int(declared) > max_bytes:
            raise self._too_large
        self.max_bytes = max_bytes
        self.data = bytearray()

    def add(self, chunk: bytes) -> None:
        self.data += chunk
        if len(self.data) > self.max_bytes:
            raise self._too_large


def _size(count: int) -> str:
    mebibytes, rest = divmod(count, 2**20)
    return f"{mebibytes} MiB" if mebibytes and not rest else f"{count} bytes"
