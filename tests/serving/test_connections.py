"""Connections that never end, against a real `recsys serve`: every way a client can hold a
connection slot, memory or the event loop is bounded (docs/security.md, "HTTP clients").

The server runs with RECSYS_CLIENT_TIMEOUT=1, so "bounded" means "closed within a few
seconds"; each wait below is capped (SOCKET_WAIT) so a regression fails instead of hanging.
"""

from __future__ import annotations

import json
import re
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from recsys.model.repository import publish
from recsys.model.rules import RuleSet
from tests.support.models import (
    SYNTHETIC_PARAMS,
    encode_new_model,
    publish_rules,
    synthetic_rule_set,
)
from tests.support.server import ServerProcess, free_port

SOCKET_WAIT = 20  # seconds: far beyond the 1 s deadlines, far below "for ever"
HEALTHZ = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"


@pytest.fixture
def raw(server: ServerProcess) -> Iterator[socket.socket]:
    with socket.create_connection(("127.0.0.1", server.port)) as connection:
        connection.settimeout(SOCKET_WAIT)
        yield connection


def read_answers(connection: socket.socket, count: int = 1) -> list[bytes]:
    """`count` whole responses (head and Content-Length body) from `connection`, split where
    each one's body ends: pipelined answers can arrive together in one read."""
    data, answers = b"", []
    while len(answers) < count:
        head, separator, rest = data.partition(b"\r\n\r\n")
        if separator:
            length = int(re.search(rb"(?i)content-length: *(\d+)", head).group(1))  # type: ignore[union-attr]
            if len(rest) >= length:
                answers.append(head + separator + rest[:length])
                data = rest[length:]
                continue
        chunk = connection.recv(65536)
        assert chunk, f"closed before a whole answer arrived: {data!r}"
        data += chunk
    assert not data, f"more than {count} answers arrived: {data!r}"
    return answers


def read_answer(connection: socket.socket) -> bytes:
    """One whole response from `connection`."""
    return read_answers(connection)[0]


def seconds_until_closed(connection: socket.socket) -> float:
    """How long the server took to close `connection` (a read of b"" or a reset)."""
    started = time.monotonic()
    try:
        while connection.recv(65536):
            pass
    except ConnectionResetError:
        pass
    return time.monotonic() - started


def test_a_stray_line_break_after_an_answer_does_not_keep_the_connection(
    raw: socket.socket,
) -> None:
    raw.sendall(HEALTHZ)
    assert read_answer(raw).startswith(b"HTTP/1.1 200")
    raw.sendall(b"\r\n")  # before: this cancelled the keep-alive timer, and nothing re-armed it
    assert seconds_until_closed(raw) < SOCKET_WAIT - 1


@pytest.mark.parametrize(
    ("request_head", "first_status", "more"),
    [
        (b"GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n", b"200", b"x"),
        (
            b"GET /healthz HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n",
            b"200",
            b"1\r\n",
        ),
        (b"POST /api/recommend HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{", b"408", b"x"),
    ],
    ids=["declared-body", "chunked-body", "after-408"],
)
def test_a_body_trickling_after_its_answer_does_not_keep_the_connection(
    raw: socket.socket, request_head: bytes, first_status: bytes, more: bytes
) -> None:
    raw.sendall(request_head)
    assert read_answer(raw).startswith(b"HTTP/1.1 " + first_status)
    raw.sendall(more)
    assert seconds_until_closed(raw) < SOCKET_WAIT - 1


def test_a_half_closed_client_still_gets_its_answer(raw: socket.socket) -> None:
    """`nc -N` and `curl` over some proxies send their request, then shut their side."""
    raw.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
    raw.shutdown(socket.SHUT_WR)
    assert read_answer(raw).startswith(b"HTTP/1.1 200")


def test_a_request_line_and_headers_over_the_cap_get_431(raw: socket.socket) -> None:
    """Before: one 32 MB header was accepted, parsed in time quadratic in its size."""
    raw.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ")
    sent = 0
    try:
        while sent < 8 * 1024 * 1024:
            raw.sendall(b"a" * 65536)
            sent += 65536
    except (BrokenPipeError, ConnectionResetError):
        pass  # the server closed the connection once the cap was passed
    answer = b""
    try:
        while chunk := raw.recv(65536):
            answer += chunk
    except ConnectionResetError:
        pass
    assert sent < 8 * 1024 * 1024, "8 MiB of header were read without a complaint"
    if answer:  # the answer may be lost to the reset of a client still sending
        assert answer.startswith(b"HTTP/1.1 431")
        assert b'"detail":"request line and headers larger than 65536 bytes"' in answer


def test_the_431_is_json_and_says_why(server: ServerProcess) -> None:
    answer = httpx.get(f"{server.url}/healthz", headers={"X-Big": "a" * 70000})
    assert answer.status_code == 431
    assert answer.json() == {"detail": "request line and headers larger than 65536 bytes"}


def test_headers_under_the_cap_are_answered(server: ServerProcess) -> None:
    assert httpx.get(f"{server.url}/healthz", headers={"X-Big": "a" * 60000}).status_code == 200


def test_a_deep_pipeline_is_cut_off_and_memory_stays_bounded(server: ServerProcess) -> None:
    """Before: 400,000 pipelined requests on one connection took the server from 58 MB to
    941 MB, each parsed request queued with its own state."""
    before = resident_bytes(server)
    with socket.create_connection(("127.0.0.1", server.port)) as raw:
        raw.settimeout(SOCKET_WAIT)
        try:
            for _ in range(100):  # 10,000 requests per send
                raw.sendall(HEALTHZ * 10000)
        except (BrokenPipeError, ConnectionResetError):
            pass
        seconds_until_closed(raw)
    assert httpx.get(f"{server.url}/healthz").status_code == 200
    grown = resident_bytes(server) - before
    assert grown < 100 * 1024 * 1024, f"resident memory grew by {grown >> 20} MiB"


def test_a_short_pipeline_is_answered_in_order(raw: socket.socket) -> None:
    raw.sendall(HEALTHZ + b"GET /readyz HTTP/1.1\r\nHost: x\r\n\r\n" + HEALTHZ)
    answers = read_answers(raw, 3)
    assert [answer.split(b"\r\n", 1)[0] for answer in answers] == [b"HTTP/1.1 200 OK"] * 3
    bodies = [json.loads(answer.split(b"\r\n\r\n", 1)[1]) for answer in answers]
    assert [body["status"] for body in bodies] == ["ok", "ready", "ok"]


def test_a_client_that_never_reads_is_cut_off(
    data_dir: Path, start_server: Callable[..., ServerProcess]
) -> None:
    """Before: answers nobody read held their connection, and the memory of the answers,
    until the client left. Now a write must progress within RECSYS_CLIENT_TIMEOUT, or the
    server lets the connection go (what the kernel already took may still trickle out)."""
    many_songs = synthetic_rule_set(rules=20_000, songs=200_000)  # /api/songs: megabytes
    publish(data_dir, encode_new_model(many_songs, SYNTHETIC_PARAMS), keep=2)
    server = start_server(data_dir, RECSYS_CLIENT_TIMEOUT="1")
    request = b"GET /api/songs?limit=1000000 HTTP/1.1\r\nHost: x\r\n\r\n"
    with socket.create_connection(("127.0.0.1", server.port)) as raw:
        raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        raw.sendall(request * 2)
        deadline = time.monotonic() + SOCKET_WAIT
        time.sleep(0.5)
        assert server_holds(server, raw)  # the answers are being written
        while server_holds(server, raw):
            assert time.monotonic() < deadline, "the server still holds the connection"
            time.sleep(0.1)
    assert httpx.get(f"{server.url}/healthz").status_code == 200


def server_holds(server: ServerProcess, client: socket.socket) -> bool:
    """Whether the server process still has a socket for `client`'s connection: the
    kernel's TCP table gives the connection's inode, the process's fds the sockets it has."""
    assert server.process is not None
    client_port = client.getsockname()[1]
    inodes = set()
    for row in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = row.split()
        local, remote, inode = fields[1], fields[2], fields[9]
        if (
            int(local.split(":")[1], 16) == server.port
            and int(remote.split(":")[1], 16) == client_port
        ):
            inodes.add(f"socket:[{inode}]")
    fds = Path(f"/proc/{server.process.pid}/fd").iterdir()
    return any(str(fd.readlink()) in inodes for fd in fds)


def idle_connections(port: int, count: int) -> list[socket.socket]:
    """`count` connections that each got an answer and then sent a stray line break."""
    held = []
    for _ in range(count):
        connection = socket.create_connection(("127.0.0.1", port))
        connection.settimeout(SOCKET_WAIT)
        connection.sendall(HEALTHZ)
        read_answer(connection)
        connection.sendall(b"\r\n")
        held.append(connection)
    return held


def stalled_bodies(port: int, count: int) -> list[socket.socket]:
    """`count` connections whose request is in the app, waiting for a body."""
    held = []
    for _ in range(count):
        connection = socket.create_connection(("127.0.0.1", port))
        connection.sendall(b"POST /api/recommend HTTP/1.1\r\nHost: x\r\nContent-Length: 9\r\n\r\n")
        held.append(connection)
    return held


def test_the_liveness_route_and_metrics_do_not_starve_behind_the_api_cap(
    server: ServerProcess,
) -> None:
    """The API port's 8 slots full: the metrics port still answers /metrics and /healthz
    (where the Deployment's liveness probe looks). Before, both ports shared one cap."""
    held = stalled_bodies(server.port, 8)
    try:
        time.sleep(0.2)
        base = f"http://127.0.0.1:{server.metrics_port}"
        assert httpx.get(f"{base}/metrics", timeout=5).status_code == 200
        health = httpx.get(f"{base}/healthz", timeout=5)
        assert (health.status_code, health.json()) == (200, {"status": "ok"})
    finally:
        for connection in held:
            connection.close()


def test_the_metrics_port_has_slots_of_its_own(server: ServerProcess) -> None:
    """Connections to the metrics port do not take the API's slots either."""
    held = idle_connections(server.metrics_port, 8)
    try:
        assert httpx.get(f"{server.url}/healthz", timeout=5).status_code == 200
    finally:
        for connection in held:
            connection.close()


def test_the_metrics_port_answers_only_its_routes(server: ServerProcess) -> None:
    base = f"http://127.0.0.1:{server.metrics_port}"
    for path in ("/api/model", "/readyz", "/"):
        answer = httpx.get(f"{base}{path}")
        assert (answer.status_code, answer.json()) == (404, {"detail": "Not Found"}), path


def test_a_taken_metrics_port_is_one_line_naming_the_flag(
    data_dir: Path, ds1_rules: RuleSet, tmp_path: Path
) -> None:
    from tests.support.processes import run_recsys

    publish_rules(data_dir, ds1_rules)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        busy = taken.getsockname()[1]
        done = run_recsys(
            "serve",
            "--port",
            str(free_port()),
            "--metrics-port",
            str(busy),
            data_dir=data_dir,
            timeout=60,
        )
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert lines[-1] == (
        f"recsys: error: cannot listen on 127.0.0.1:{busy} for /metrics (--metrics-port, "
        "RECSYS_METRICS_PORT): Address already in use"
    ), done.stderr


def resident_bytes(server: ServerProcess) -> int:
    assert server.process is not None
    status = Path(f"/proc/{server.process.pid}/status").read_text()
    return int(re.search(r"VmRSS:\s+(\d+) kB", status).group(1)) * 1024  # type: ignore[union-attr]
