"""What one connection may cost: uvicorn's HTTP protocol with two limits it lacks.

- A request's line and headers must arrive within `client_timeout` seconds of its first
  byte (or of the connection opening): a client that sends half its headers and waits is
  disconnected instead of holding a connection for ever (uvicorn's keep-alive timer
  only runs between requests).
- At most `max_connections` connections are open at once; a connection beyond that is
  closed as soon as it is accepted, before it costs a request task.

The body has its own deadline in `routes.read_body`.
"""

from __future__ import annotations

import asyncio

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol


def guarded_protocol(client_timeout: float, max_connections: int) -> type[HttpToolsProtocol]:
    """An HttpToolsProtocol class bound to these limits, for `uvicorn.Config(http=...)`."""

    class GuardedProtocol(HttpToolsProtocol):
        _header_timer: asyncio.TimerHandle | None = None

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            if len(self.connections) > max_connections:
                transport.close()
                return
            self._arm()

        def on_message_begin(self) -> None:
            super().on_message_begin()
            self._arm()

        def on_headers_complete(self) -> None:
            self._disarm()
            super().on_headers_complete()

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm()
            super().connection_lost(exc)

        def _arm(self) -> None:
            if self._header_timer is None:
                self._header_timer = self.loop.call_later(client_timeout, self._too_slow)

        def _disarm(self) -> None:
            if self._header_timer is not None:
                self._header_timer.cancel()
                self._header_timer = None

        def _too_slow(self) -> None:
            self._header_timer = None
            if not self.transport.is_closing():
                self.transport.close()

    return GuardedProtocol
