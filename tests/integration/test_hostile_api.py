"""`recsys recommend` and `RecsysClient` against a server that is not a well-behaved API.

The server is a raw socket server on 127.0.0.1, so it can answer anything: HTML, JSON of
the wrong shape, a body without end, a byte now and then, a Content-Length of a terabyte.
The CLI runs as a real child process with a bounded wait, so a hang fails the test
instead of hanging the suite; every case must end with one line and exit code 1.
"""

from __future__ import annotations

import contextlib
import gzip
import json
import resource
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from recsys.tools.client import ClientError, RecsysClient
from tests.support.processes import Completed, run_recsys

Answer = Callable[[socket.socket], None]
CHILD_TIMEOUT = 30  # seconds a child may take before the test fails as a hang
SERVER_GIVES_UP = 60.0  # seconds a hostile answer goes on if the client never hangs up
GIB = 2**30

VALID = {
    "songs": ["Gold"],
    "version": "0.1.0",
    "model_date": "2026-01-01T00:00:00+00:00",
    "model_id": "m1",
    "unknown_songs": [],
    "songs_without_rules": [],
    "filled": 0,
}


class HostileApi:
    """Answers every request on 127.0.0.1 with `answer`, until closed."""

    def __init__(self, answer: Answer) -> None:
        self.answer = answer
        self.connections = 0
        self.requests: list[bytes] = []
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.1)
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        host, port = self._listener.getsockname()[:2]
        return f"http://{host}:{port}"

    def close(self) -> None:
        self._closed.set()
        self._thread.join(timeout=5)
        self._listener.close()

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                connection, _ = self._listener.accept()
            except TimeoutError:
                continue
            self.connections += 1
            threading.Thread(target=self._answer, args=(connection,), daemon=True).start()

    def _answer(self, connection: socket.socket) -> None:
        with connection, contextlib.suppress(OSError):
            connection.settimeout(5)
            self.requests.append(read_request(connection))
            self.answer(connection)


def read_request(connection: socket.socket) -> bytes:
    """The request's head and body (by its Content-Length)."""
    received = b""
    while b"\r\n\r\n" not in received and len(received) < 1_000_000:
        chunk = connection.recv(65536)
        if not chunk:
            return received
        received += chunk
    head, _, body = received.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    while len(body) < length:
        chunk = connection.recv(65536)
        if not chunk:
            break
        body += chunk
    return head + b"\r\n\r\n" + body


def head(status: str = "200 OK", **headers: str) -> bytes:
    lines = [f"HTTP/1.1 {status}", "Connection: close"]
    lines += [f"{name.replace('_', '-')}: {value}" for name, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def fixed(
    body: bytes, content_type: str = "application/json", status: str = "200 OK", **headers: str
) -> Answer:
    def answer(connection: socket.socket) -> None:
        connection.sendall(
            head(status, Content_Type=content_type, Content_Length=str(len(body)), **headers) + body
        )

    return answer


def as_json(value: object, **headers: str) -> Answer:
    return fixed(json.dumps(value).encode(), **headers)


def endless_chunked(connection: socket.socket) -> None:
    """A 200 whose chunked body never ends: a JSON array opened again and again."""
    connection.sendall(head(Content_Type="application/json", Transfer_Encoding="chunked"))
    chunk = b"[" * 65536
    framed = f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n"
    gives_up = time.monotonic() + SERVER_GIVES_UP
    while time.monotonic() < gives_up:
        connection.sendall(framed)


def trickled_body(pause: float) -> Answer:
    """A valid answer's head, then its body one byte per `pause`."""
    body = json.dumps(VALID).encode()

    def answer(connection: socket.socket) -> None:
        connection.sendall(head(Content_Type="application/json", Content_Length=str(len(body))))
        send_slowly(connection, body, pause)

    return answer


def trickled_head(pause: float) -> Answer:
    """The status line, then header bytes one per `pause` (within h11's header limit)."""

    def answer(connection: socket.socket) -> None:
        connection.sendall(b"HTTP/1.1 200 OK\r\n")
        send_slowly(connection, b"X-Slow: " + b"a" * 10_000, pause)

    return answer


def send_slowly(connection: socket.socket, data: bytes, pause: float) -> None:
    gives_up = time.monotonic() + SERVER_GIVES_UP
    for index in range(len(data)):
        if time.monotonic() > gives_up:
            return
        time.sleep(pause)
        connection.sendall(data[index : index + 1])


def declares_a_terabyte(connection: socket.socket) -> None:
    """A Content-Length of 1 TB, a first piece of body, then nothing: the header says it all."""
    connection.sendall(head(Content_Type="application/json", Content_Length=str(10**12)))
    connection.sendall(b'{"songs": [' + b'"x", ' * 1000)
    with contextlib.suppress(OSError):
        connection.recv(1)  # until the client hangs up, or the 5 s socket timeout


@pytest.fixture
def hostile() -> Iterator[Callable[[Answer], HostileApi]]:
    servers: list[HostileApi] = []

    def start(answer: Answer) -> HostileApi:
        servers.append(HostileApi(answer))
        return servers[-1]

    yield start
    for server in servers:
        server.close()


def recommend(api: HostileApi, tmp_path: Path, *args: str, **options: object) -> Completed:
    return run_recsys(
        "recommend", *args, "--url", api.url, data_dir=tmp_path, timeout=CHILD_TIMEOUT, **options
    )


def assert_one_line(done: Completed, message: str) -> None:
    assert "Traceback" not in done.stderr, done.stderr[-3000:]
    assert done.stderr.splitlines() == [f"recsys: error: {message}"], done.stderr[-3000:]
    assert done.returncode == 1
    assert done.stdout == ""


# --- case 16: a 200 that is not a recommendation -------------------------------------

GARBAGE = {
    "html": (
        fixed(b"<html><body>Welcome to the hotel wifi</body></html>", "text/html; charset=utf-8"),
        "a body that is not JSON (text/html)",
    ),
    "no-content-type": (
        lambda connection: connection.sendall(head(Content_Length="3") + b"abc"),
        "a body that is not JSON (no Content-Type)",
    ),
    "integer-songs": (
        as_json({**VALID, "songs": [1, 2, 3]}),
        "a JSON object whose `songs` is not a list of strings",
    ),
    "songs-missing": (
        as_json({key: value for key, value in VALID.items() if key != "songs"}),
        "a JSON object without `songs`",
    ),
    "array": (as_json([VALID]), "a JSON array, not an object"),
    "string": (as_json("songs"), "a JSON string, not an object"),
    "integer-unknown-songs": (
        as_json({**VALID, "unknown_songs": [7]}),
        "a JSON object whose `unknown_songs` is not a list of strings",
    ),
    "filled-as-text": (
        as_json({**VALID, "filled": "\x1b[2J"}),
        "a JSON object whose `filled` is not a whole number of at least 0",
    ),
    "model-id-missing": (
        as_json({key: value for key, value in VALID.items() if key != "model_id"}),
        "a JSON object without `model_id`",
    ),
    "because-not-reasons": (
        as_json({**VALID, "because": [[{"liked": "Gold", "weight": 1}]]}),
        "a JSON object whose `because` is not a list of each song's reasons "
        "(`liked` songs and a `weight`)",
    ),
    "because-not-aligned": (
        as_json({**VALID, "because": []}),
        "a `because` that does not hold one list of reasons per song",
    ),
    "nested-too-deep": (fixed(b"[" * 1_000_000), "a body that is not JSON (application/json)"),
    "gzip": (
        fixed(gzip.compress(json.dumps(VALID).encode()), Content_Encoding="gzip"),
        "a Content-Encoding it was not asked for",
    ),
}


@pytest.mark.parametrize("case", GARBAGE, ids=list(GARBAGE))
def test_a_200_that_is_not_a_recommendation_is_one_line(
    case: str, hostile: Callable[[Answer], HostileApi], tmp_path: Path
) -> None:
    answer, problem = GARBAGE[case]
    api = hostile(answer)
    done = recommend(api, tmp_path, "Gold")
    assert_one_line(done, f"the recsys API at {api.url} answered 200 with {problem}")


def test_a_song_listing_with_integer_songs_is_one_line(
    hostile: Callable[[Answer], HostileApi], tmp_path: Path
) -> None:
    api = hostile(as_json({"songs": [1, 2, 3], "model_id": "m1"}))
    done = recommend(api, tmp_path, "--random", "2")
    problem = "a JSON object whose `songs` is not a list of strings"
    assert_one_line(done, f"the recsys API at {api.url} answered 200 with {problem}")


def test_an_error_answer_quotes_its_detail_short_and_escaped(
    hostile: Callable[[Answer], HostileApi], tmp_path: Path
) -> None:
    detail = "\x1b]0;owned\x07" + "x" * 100_000
    api = hostile(as_json({"detail": detail}, status="500 Internal Server Error"))
    done = recommend(api, tmp_path, "Gold")
    shown = "\\x1b]0;owned\\x07" + "x" * 190 + "…"  # 200 characters, escaped
    assert_one_line(done, f"the recsys API at {api.url} answered 500: {shown}")


def test_an_error_answer_is_named_by_its_status_not_the_servers_phrase(
    hostile: Callable[[Answer], HostileApi], tmp_path: Path
) -> None:
    api = hostile(fixed(b"<h1>oops</h1>", "text/html", status="502 \x1b[2J pwned"))
    done = recommend(api, tmp_path, "Gold")
    assert_one_line(done, f"the recsys API at {api.url} answered 502: Bad Gateway")


# --- case 17: a body without end, and one declared too large ---------------------------


def test_an_endless_chunked_200_is_one_line_within_bounded_memory(
    hostile: Callable[[Answer], HostileApi], tmp_path: Path
) -> None:
    api = hostile(endless_chunked)
    done = recommend(api, tmp_path, "Gold", limits={resource.RLIMIT_AS: GIB})
    assert_one_line(done, f"the recsys API at {api.url} answered 200 with a body over 16 MiB")


def test_an_endless_song_listing_is_one_line_within_bounded_memory(
    hostile: Callable[[Answer], HostileApi], tmp_path: Path
) -> None:
    api = hostile(endless_chunked)
    done = recommend(api, tmp_path, "--random", "2", limits={resource.RLIMIT_AS: GIB})
    assert_one_line(done, f"the recsys API at {api.url} answered 200 with a body over 64 MiB")


def test_a_content_length_over_the_cap_is_refused_before_the_body(
    hostile: Callable[[Answer], HostileApi], tmp_path: Path
) -> None:
    api = hostile(declares_a_terabyte)
    started = time.monotonic()
    done = recommend(api, tmp_path, "Gold", "--timeout", "20")
    assert_one_line(done, f"the recsys API at {api.url} answered 200 with a body over 16 MiB")
    assert time.monotonic() - started < 15  # it did not wait for the body, nor the deadline


# --- case 18: a server that trickles ---------------------------------------------------


@pytest.mark.parametrize("answer", [trickled_body(0.5), trickled_head(0.5)], ids=["body", "head"])
def test_a_trickling_server_is_cut_off_at_the_deadline(
    answer: Answer, hostile: Callable[[Answer], HostileApi], tmp_path: Path
) -> None:
    api = hostile(answer)
    started = time.monotonic()
    done = recommend(api, tmp_path, "Gold", "--timeout", "2")
    took = time.monotonic() - started
    assert_one_line(done, f"the recsys API at {api.url} did not finish its answer within 2 s")
    assert took < 20, took


def test_the_timeout_flag_refuses_what_no_socket_can_wait(tmp_path: Path) -> None:
    for value in ("0", "-1", "nan", "inf", "soon"):
        done = run_recsys("recommend", "Gold", "--timeout", value, data_dir=tmp_path, timeout=30)
        assert done.returncode == 2, (value, done.stderr)
        assert "argument --timeout" in done.stderr
        assert "Traceback" not in done.stderr


# --- the client itself -----------------------------------------------------------------


def test_the_client_asks_for_an_uncompressed_answer_and_returns_it_as_sent(
    hostile: Callable[[Answer], HostileApi],
) -> None:
    api = hostile(as_json({**VALID, "extra": {"kept": True}}))
    with RecsysClient(api.url, timeout=5) as client:
        assert client.recommend(["Gold"], k=1) == {**VALID, "extra": {"kept": True}}
    assert b"\r\naccept-encoding: identity\r\n" in api.requests[0].lower()


def test_every_call_has_its_own_deadline_and_connection(
    hostile: Callable[[Answer], HostileApi],
) -> None:
    """A listing, then a recommendation that trickles: the second call is cut off too, and
    neither leaves its watchdog behind."""
    listing = as_json({"songs": ["Gold"], "model_id": "m1"})
    slow = trickled_body(0.5)
    api = hostile(lambda connection: (listing if api.connections == 1 else slow)(connection))
    with RecsysClient(api.url, timeout=1.5) as client:
        assert client.songs(limit=1) == ["Gold"]
        started = time.monotonic()
        with pytest.raises(ClientError, match=r"did not finish its answer within 1\.5 s"):
            client.recommend(["Gold"])
    assert time.monotonic() - started < 10
    assert api.connections == 2
    gives_up = time.monotonic() + 5
    while live_timers() and time.monotonic() < gives_up:
        time.sleep(0.05)  # a cancelled timer's thread ends by itself, at once
    assert not live_timers()


def live_timers() -> list[threading.Thread]:
    return [thread for thread in threading.enumerate() if isinstance(thread, threading.Timer)]


def test_broken_http_is_one_short_line(hostile: Callable[[Answer], HostileApi]) -> None:
    """h11's message quotes the broken header line; the client quotes only its start."""
    broken = b"HTTP/1.1 200 OK\r\n\x1b[2J" + b"x" * 50_000 + b"\r\n\r\n"
    api = hostile(lambda connection: connection.sendall(broken))
    with RecsysClient(api.url, timeout=5) as client, pytest.raises(ClientError) as raised:
        client.recommend(["Gold"])
    message = str(raised.value)
    assert message.startswith(f"request to the recsys API at {api.url} failed: ")
    assert "\n" not in message
    assert "\x1b" not in message
    assert len(message) < 400


# --- `recsys probe` --------------------------------------------------------------------


def probe(api: HostileApi, tmp_path: Path, *args: str, **options: object) -> Completed:
    return run_recsys(
        "probe",
        "--url",
        api.url,
        "--json",
        *args,
        data_dir=tmp_path,
        timeout=CHILD_TIMEOUT,
        **options,
    )


def test_the_probe_takes_a_json_array_for_a_failed_sample_not_a_traceback(
    hostile: Callable[[Answer], HostileApi], tmp_path: Path
) -> None:
    api = hostile(as_json([VALID]))  # the song listing and every answer alike
    done = probe(api, tmp_path, "--duration", "1")
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Traceback" not in done.stderr
    assert done.json()["requests"] > 0


def test_the_probe_counts_endless_answers_as_failures_within_bounded_memory(
    hostile: Callable[[Answer], HostileApi], tmp_path: Path
) -> None:
    api = hostile(endless_chunked)
    done = probe(api, tmp_path, "--duration", "2", limits={resource.RLIMIT_AS: GIB})
    assert done.returncode == 0, done.stderr[-3000:]
    summary = done.json()
    assert summary["requests"] > 0
    assert summary["failures"] == summary["requests"]


def test_the_probe_counts_trickled_answers_as_failures_at_its_timeout(
    hostile: Callable[[Answer], HostileApi], tmp_path: Path
) -> None:
    api = hostile(trickled_body(0.2))
    done = probe(api, tmp_path, "--duration", "3", "--interval", "0.5", "--timeout", "1")
    assert done.returncode == 0, done.stderr[-3000:]
    summary = done.json()
    assert summary["failures"] == summary["requests"] >= 3
