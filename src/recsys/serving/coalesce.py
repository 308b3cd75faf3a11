"""One write per response: a transport that joins what one step of the event loop writes.

uvicorn writes a response's head and its body separately, and on a TCP_NODELAY socket
(which the listeners set, so that neither write waits for an ACK) each write leaves at
once as its own segment: two system calls, and a client woken twice to read a head
without its body. Writes made in one step of the event loop are joined and sent at the
end of that step instead, so an answer built in one go leaves in one write. Nothing is
held past the step, so a streamed response still leaves as it is produced.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any


class CoalescingTransport:
    """Wraps a transport: `write` buffers until the end of the loop step; all else passes."""

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._pending: list[bytes] = []

    def write(self, data: bytes) -> None:
        if not data:
            return
        if not self._pending:
            self._loop.call_soon(self.flush)
        self._pending.append(data)

    def writelines(self, lines: Iterable[bytes]) -> None:
        for data in lines:
            self.write(data)

    def flush(self) -> None:
        """Send what this step wrote, in one write (unless the connection went meanwhile)."""
        if not self._pending:
            return
        data = b"".join(self._pending)
        self._pending = []
        if not self._transport.is_closing():
            self._transport.write(data)

    def is_closing(self) -> bool:
        """Asked on every request: a method, not a lookup through `__getattr__`."""
        return self._transport.is_closing()

    def close(self) -> None:
        """Close after sending what was written, as a transport's close does."""
        self.flush()
        self._transport.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)
