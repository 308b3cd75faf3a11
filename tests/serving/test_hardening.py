"""Hostile clients against a real `recsys serve`: the event loop, the connection slots and
the error counts hold (a process matters here: uvicorn's protocol and its event loop)."""

from __future__ import annotations

import json
import socket
import threading
import time

import httpx

from tests.support.server import ServerProcess


def worst_case_body() -> bytes:
    """1,000 names of 499 combining marks in reverse canonical order: NFC sorts each name
    with a quadratic insertion sort. The body stays under the 1 MiB cap."""
    marks = "\u0301\u0316" * 249  # class 230 before class 220, again and again
    body = json.dumps({"songs": ["a" + marks] * 1000}, ensure_ascii=False).encode()
    assert len(body) < 1024 * 1024
    return body


def post_raw(port: int, body: bytes) -> bytes:
    """POST a body over a plain socket (sendall and recv release the GIL, so these senders
    do not slow the test's own health checks) and return the status line."""
    head = f"POST /api/recommend HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}\r\n"
    with socket.create_connection(("127.0.0.1", port)) as raw:
        raw.sendall(head.encode() + b"Connection: close\r\n\r\n" + body)
        raw.settimeout(120)
        answer = b""
        while chunk := raw.recv(1 << 16):
            answer += chunk
    return answer.split(b"\r\n", 1)[0]


def test_costly_names_do_not_hold_the_event_loop(server: ServerProcess) -> None:
    body = worst_case_body()
    answers: list[bytes] = []
    senders = [
        threading.Thread(target=lambda: answers.append(post_raw(server.port, body)))
        for _ in range(4)
    ]
    for sender in senders:
        sender.start()
    slowest = 0.0
    with httpx.Client(base_url=server.url, timeout=30) as client:
        while any(sender.is_alive() for sender in senders):
            started = time.perf_counter()
            assert client.get("/healthz").status_code == 200
            slowest = max(slowest, time.perf_counter() - started)
            time.sleep(0.01)
    for sender in senders:
        sender.join()
    assert answers == [b"HTTP/1.1 200 OK"] * 4
    print(f"slowest /healthz while 4 worst-case bodies were answered: {slowest * 1000:.1f} ms")
    assert slowest < 0.1


def test_a_client_hanging_up_mid_body_is_no_server_error(server: ServerProcess) -> None:
    with socket.create_connection(("127.0.0.1", server.port)) as raw:
        raw.sendall(
            b'POST /api/recommend HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n{"songs": ["a'
        )
        time.sleep(0.2)
    deadline = time.monotonic() + 10
    while server.metric("recsys_http_requests_total", default=0, route="/api/recommend",
                        method="POST", status="499") == 0:  # fmt: skip
        assert time.monotonic() < deadline, "the hang-up was not counted"
        time.sleep(0.05)
    assert server.metric(
        "recsys_http_requests_total", default=0, route="/api/recommend", method="POST",
        status="500",
    ) == 0  # fmt: skip
    log = server.log()
    assert "Traceback" not in log
    assert "ERROR" not in log


def test_half_sent_headers_are_cut_off(server: ServerProcess) -> None:
    with socket.create_connection(("127.0.0.1", server.port)) as raw:
        raw.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")  # and never the blank line
        raw.settimeout(30)
        started = time.monotonic()
        assert raw.recv(1024) == b""  # closed by the server
        waited = time.monotonic() - started
    assert 0.5 < waited < 20, f"closed after {waited:.1f} s with RECSYS_CLIENT_TIMEOUT=1"


def test_a_kept_alive_connection_stalling_in_its_next_headers_is_cut_off(
    server: ServerProcess,
) -> None:
    """Each request on a connection gets its own deadline, not only the first."""
    with socket.create_connection(("127.0.0.1", server.port)) as raw:
        raw.settimeout(30)
        raw.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        answer = b""
        while not answer.endswith(b'"ok"}'):
            answer += raw.recv(4096)
        assert answer.startswith(b"HTTP/1.1 200")
        time.sleep(0.6)  # past half the first request's deadline
        raw.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")  # and never the blank line
        started = time.monotonic()
        assert raw.recv(1024) == b""  # closed by the server
        waited = time.monotonic() - started
    assert 0.5 < waited < 20, f"closed after {waited:.1f} s with RECSYS_CLIENT_TIMEOUT=1"


def test_a_slow_body_gets_a_408(server: ServerProcess) -> None:
    with socket.create_connection(("127.0.0.1", server.port)) as raw:
        raw.sendall(b"POST /api/recommend HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{")
        raw.settimeout(30)
        answer = b""
        while not answer.endswith(b"}") and (chunk := raw.recv(4096)):
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 408")
    assert b'"detail":"body not received within 1 s"' in answer


def test_connections_beyond_the_cap_are_closed_at_once(server: ServerProcess) -> None:
    idle = [socket.create_connection(("127.0.0.1", server.port)) for _ in range(8)]
    try:
        time.sleep(0.2)
        with socket.create_connection(("127.0.0.1", server.port)) as extra:
            extra.settimeout(5)
            extra.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            try:
                answer = extra.recv(1024)
            except ConnectionResetError:
                answer = b""
        assert answer == b""
    finally:
        for connection in idle:
            connection.close()
    time.sleep(0.2)
    assert httpx.get(f"{server.url}/healthz").status_code == 200


def test_head_answers_like_get_without_a_body(server: ServerProcess) -> None:
    for path in ("/healthz", "/readyz", "/api/model", "/api/songs"):
        head = httpx.head(f"{server.url}{path}")
        assert head.status_code == 200, path
        assert head.content == b""
        assert head.headers["content-type"] == "application/json"


def test_metrics_are_on_their_own_port_only(server: ServerProcess) -> None:
    public = httpx.get(f"{server.url}/metrics")
    assert public.status_code == 404
    assert public.json() == {"detail": "Not Found"}
    private = httpx.get(server.metrics_url)
    assert private.status_code == 200
    assert "recsys_model_rules" in private.text
    assert httpx.get(server.metrics_url.replace("/metrics", "/api/model")).status_code == 404
