"""What one connection may cost, and how it writes: uvicorn's HTTP protocol with the limits
it lacks and one write per response.

Every limit is in time or bytes, and none can be reset by sending more:
- **Waiting for a request.** A connection that has no request under way (just opened, or
  done with its last answer) is closed `client_timeout` seconds later unless a request's
  line and headers have arrived by then; a request's first byte gives its line and headers
  a fresh `client_timeout`, once. uvicorn's own keep-alive timer is cancelled by any byte
  (a stray line break, the tail of a body nobody reads), so it cannot be the only one.
- **Head size.** The request line and headers must fit in `MAX_HEAD_BYTES`, or the answer
  is 431 and the connection closes: httptools joins a header's pieces as they arrive, in
  time quadratic in its size, on the event loop. Bytes arriving while no request is under
  way count too (with no answer, as there is no request to answer).
- **Pipelining.** At most `MAX_PIPELINED` requests wait behind the one being answered; a
  client sending more is disconnected. uvicorn queues every parsed request, each with its
  own state, so one connection could fill memory.
- **Writing.** A write the client does not take within `client_timeout` (the transport
  stays paused for that long) aborts the connection and frees the answer it held.
- **Half-close.** A client that shuts its sending side still gets its answers, and then
  the connection closes: there can be no further request.
- **Slots per port.** At most `max_connections` connections to the API's port, and
  `METRICS_MAX_CONNECTIONS` to the metrics port, which also answers the liveness probe; a
  connection beyond its port's cap is closed as soon as it is accepted. One shared cap
  would let API clients lock out the probe and the scraper.

Writes go through a `CoalescingTransport`, so a response's head and body leave together.
The body has its own deadline in `body.read_capped`.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import ClassVar

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from recsys.serving.coalesce import CoalescingTransport

MAX_HEAD_BYTES = 64 * 1024
MAX_PIPELINED = 32
METRICS_MAX_CONNECTIONS = 64

_TOO_LARGE_DETAIL = f"request line and headers larger than {MAX_HEAD_BYTES} bytes"
_TOO_LARGE_BODY = ('{"detail":"' + _TOO_LARGE_DETAIL + '"}').encode()
_TOO_LARGE = (
    b"HTTP/1.1 431 Request Header Fields Too Large\r\n"
    b"content-type: application/json\r\n"
    b"content-length: " + str(len(_TOO_LARGE_BODY)).encode() + b"\r\n"
    b"connection: close\r\n\r\n" + _TOO_LARGE_BODY
)


def _head_size(url: bytes, headers: list[tuple[bytes, bytes]]) -> int:
    """The size of a parsed request line and headers, give or take their whitespace."""
    size = len(url) + 4 * len(headers)
    for name, value in headers:
        size += len(name) + len(value)
    return size


class GuardedProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with the limits above; `guarded_protocol` binds them."""

    client_timeout: ClassVar[float]
    max_connections: ClassVar[int]
    metrics_port: ClassVar[int]
    open_per_port: ClassVar[Counter[int | None]]

    # When the next request's line and headers are due; None while one is answered.
    _deadline: float | None = None
    # One timer per connection, not per request: a request only moves `_deadline`,
    # and the timer, when it fires, either closes the connection or waits again.
    _timer: asyncio.TimerHandle | None = None
    _write_timer: asyncio.TimerHandle | None = None
    _head_bytes = 0  # received while waiting for a request's head
    _head_started = False  # a request's first byte came, its headers have not
    _peer_done = False  # the client shut its side: no request will follow
    _refused = False  # closed by a limit: what is still buffered is not worth parsing
    _port: int | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(CoalescingTransport(transport, self.loop))  # type: ignore[arg-type]
        self._port = self.server[1] if self.server else None
        self.open_per_port[self._port] += 1
        cap = METRICS_MAX_CONNECTIONS if self._port == self.metrics_port else self.max_connections
        if self.open_per_port[self._port] > cap:
            self.transport.close()
            return
        self._wait_for_request()

    def connection_lost(self, exc: Exception | None) -> None:
        self.open_per_port[self._port] -= 1
        for timer in (self._timer, self._write_timer):
            if timer is not None:
                timer.cancel()
        self._timer = self._write_timer = None
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return
        if self._deadline is not None:
            self._head_bytes += len(data)
        super().data_received(data)
        if self._deadline is not None and self._head_bytes > MAX_HEAD_BYTES:
            self._refuse(answer=self._head_started)

    def eof_received(self) -> bool:  # type: ignore[override]  # asyncio's allows a bool
        """The client shut its sending side. A request it sent whole still gets its
        answer; otherwise the connection closes here, through the coalescing transport
        so that an answer written in this loop step still leaves (asyncio's own close,
        on a falsy return, would drop it)."""
        self._peer_done = True
        cycle = self.cycle
        if cycle is None or cycle.response_complete or cycle.more_body:
            self.transport.close()
        return True

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._head_started = True
        self._due_in(self.client_timeout)

    def on_headers_complete(self) -> None:
        self._deadline, self._head_bytes, self._head_started = None, 0, False
        if self._refused:
            return
        if len(self.pipeline) >= MAX_PIPELINED:
            self._refuse(answer=False)
        elif _head_size(self.url, self.headers) > MAX_HEAD_BYTES:
            self._refuse(answer=True)
        else:
            super().on_headers_complete()

    def on_body(self, body: bytes) -> None:
        if not self._refused:
            super().on_body(body)

    def on_message_complete(self) -> None:
        if not self._refused:
            super().on_message_complete()

    def on_response_complete(self) -> None:
        starts_next = bool(self.pipeline)
        super().on_response_complete()
        if self._peer_done and not starts_next:
            self.transport.close()
        elif not starts_next and self._deadline is None:
            self._wait_for_request()

    def pause_writing(self) -> None:
        super().pause_writing()
        if self._write_timer is None:
            self._write_timer = self.loop.call_later(self.client_timeout, self.transport.abort)

    def resume_writing(self) -> None:
        super().resume_writing()
        if self._write_timer is not None:
            self._write_timer.cancel()
            self._write_timer = None

    def _wait_for_request(self) -> None:
        """No request is under way: the next one's head is due `client_timeout` from now."""
        self._head_bytes = 0
        self._due_in(self.client_timeout)

    def _due_in(self, seconds: float) -> None:
        self._deadline = self.loop.time() + seconds
        if self._timer is None:
            self._timer = self.loop.call_at(self._deadline, self._check_deadline)

    def _check_deadline(self) -> None:
        self._timer = None
        if self._deadline is None:  # a request is being answered; its end re-arms
            return
        if self.loop.time() < self._deadline:  # a later request's deadline
            self._timer = self.loop.call_at(self._deadline, self._check_deadline)
        elif not self.transport.is_closing():
            self.transport.close()

    def _refuse(self, answer: bool) -> None:
        """Close the connection, first answering 431 if `answer` and no earlier request
        is still being answered (bytes that begin no request get no answer)."""
        if self._refused or self.transport.is_closing():
            return
        self._refused = True
        answering = self.cycle is not None and not self.cycle.response_complete
        if answer and not answering:
            self.transport.write(_TOO_LARGE)
        self.pipeline.clear()
        self.transport.close()


def guarded_protocol(
    client_timeout: float, max_connections: int, metrics_port: int
) -> type[GuardedProtocol]:
    """A GuardedProtocol class bound to these limits, for `uvicorn.Config(http=...)`: one
    class per server, so its connection counts are that server's."""
    limits = {
        "client_timeout": client_timeout,
        "max_connections": max_connections,
        "metrics_port": metrics_port,
        "open_per_port": Counter(),
    }
    return type("BoundGuardedProtocol", (GuardedProtocol,), limits)
