"""What one connection may cost, and how it writes: uvicorn's HTTP protocol with two limits
it lacks and one write per response.

- A request's line and headers must arrive within `client_timeout` seconds of its first
  byte (or of the connection opening): a client that sends half its headers and waits is
  disconnected instead of holding a connection for ever (uvicorn's keep-alive timer
  only runs between requests).
- At most `max_connections` connections are open at once; a connection beyond that is
  closed as soon as it is accepted, before it costs a request task.
- Writes go through a `CoalescingTransport`, so a response's head and body leave together.

The body has its own deadline in `body.read_capped`.
"""

from __future__ import annotations

import asyncio

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from recsys.serving.coalesce import CoalescingTransport


def guarded_protocol(client_timeout: float, max_connections: int) -> type[HttpToolsProtocol]:
    """An HttpToolsProtocol class bound to these limits, for `uvicorn.Config(http=...)`."""

    class GuardedProtocol(HttpToolsProtocol):
        # When the current request's line and headers are due; None once they are in.
        _deadline: float | None = None
        # One timer per connection, not per request: a request only moves `_deadline`,
        # and the timer, when it fires, either closes the connection or waits again.
        _timer: asyncio.TimerHandle | None = None

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(CoalescingTransport(transport, self.loop))  # type: ignore[arg-type]
            if len(self.connections) > max_connections:
                self.transport.close()
                return
            self._expect_headers()

        def on_message_begin(self) -> None:
            super().on_message_begin()
            self._expect_headers()

        def on_headers_complete(self) -> None:
            self._deadline = None
            super().on_headers_complete()

        def connection_lost(self, exc: Exception | None) -> None:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            super().connection_lost(exc)

        def _expect_headers(self) -> None:
            """Headers are due `client_timeout` from now, unless already due sooner."""
            if self._deadline is None:
                self._deadline = self.loop.time() + client_timeout
            if self._timer is None:
                self._timer = self.loop.call_at(self._deadline, self._check_deadline)

        def _check_deadline(self) -> None:
            self._timer = None
            if self._deadline is None:  # the headers came; the next request re-arms
                return
            if self.loop.time() < self._deadline:  # a later request's deadline
                self._timer = self.loop.call_at(self._deadline, self._check_deadline)
            elif not self.transport.is_closing():
                self.transport.close()

    return GuardedProtocol
