"""SIGTERM lets requests in flight finish: what a rolling update relies on."""

from __future__ import annotations

import json
import signal
import socket
import time
from collections.abc import Callable
from pathlib import Path

from recsys.model.rules import RuleSet
from tests.support.models import publish_rules
from tests.support.server import ServerProcess


def start_request(port: int, body: bytes) -> socket.socket:
    """Send headers and half the body: the server is now mid-request."""
    connection = socket.create_connection(("127.0.0.1", port), timeout=20)
    head = (
        f"POST /api/recommend HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode()
    connection.sendall(head + body[: len(body) // 2])
    return connection


def finish_request(connection: socket.socket, body: bytes) -> bytes:
    connection.sendall(body[len(body) // 2 :])
    answer = b""
    while b"\r\n\r\n" not in answer or not answer.endswith(b"}"):
        chunk = connection.recv(65536)
        if not chunk:
            break
        answer += chunk
    connection.close()
    return answer


def test_sigterm_lets_in_flight_requests_complete(
    data_dir: Path, ds1_rules: RuleSet, start_server: Callable[..., ServerProcess]
) -> None:
    publish_rules(data_dir, ds1_rules)
    server = start_server(data_dir)
    body = json.dumps({"songs": ds1_rules.vocabulary[:3]}).encode()
    in_flight = [start_request(server.port, body) for _ in range(5)]
    time.sleep(0.3)  # let uvicorn read the headers and start each request
    assert server.process is not None
    server.process.send_signal(signal.SIGTERM)
    time.sleep(0.5)  # shutdown has begun; the requests are still waiting for their bodies
    assert server.process.poll() is None
    answers = [finish_request(connection, body) for connection in in_flight]
    for answer in answers:
        assert answer.startswith(b"HTTP/1.1 200 OK"), answer[:200]
        assert b'"songs"' in answer
    # uvicorn finishes its graceful shutdown, then re-raises SIGTERM; recsys turns it into
    # the conventional exit status of a process ended by SIGTERM (128 + 15), in one line.
    assert server.process.wait(timeout=30) == 143
    assert "Shutting down" in server.log()
    assert server.log().rstrip().endswith("recsys: terminated")
