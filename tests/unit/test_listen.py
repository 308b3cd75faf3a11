"""`recsys serve`'s listeners send small answers at once (no Nagle delay)."""

from __future__ import annotations

import socket

from recsys.serving.server import listen


def test_accepted_connections_have_tcp_nodelay() -> None:
    """With Nagle's algorithm, a write made while an earlier one is unacknowledged waits for
    the client's delayed ACK (~40 ms). The event loop sets TCP_NODELAY only on sockets whose
    protocol is IPPROTO_TCP, and Linux passes the listener's option to accepted sockets."""
    with listen("127.0.0.1", 0, "the test") as listener:
        assert listener.proto == socket.IPPROTO_TCP
        with socket.create_connection(listener.getsockname()[:2]):
            accepted, _ = listener.accept()
            with accepted:
                assert accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
