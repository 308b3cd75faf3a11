"""One write per response: what one step of the event loop writes leaves together, and
nothing waits longer than that step (a streamed head is not held for its body)."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Iterator

import pytest
import uvicorn

from recsys.serving.coalesce import CoalescingTransport
from recsys.serving.guard import guarded_protocol
from tests.support.server import free_port


class RecordingTransport(asyncio.Transport):
    """Stands in for the socket's transport, to count the writes that reach it."""

    def __init__(self) -> None:
        super().__init__()
        self.writes: list[bytes] = []
        self.closed = False

    def write(self, data: bytes) -> None:  # type: ignore[override]
        self.writes.append(bytes(data))

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True

    def get_extra_info(self, name: str, default: object = None) -> object:
        return {"peername": ("127.0.0.1", 4321)}.get(name, default)


def run_steps(*steps) -> RecordingTransport:  # type: ignore[no-untyped-def]
    """Run each step in its own turn of a real event loop; returns what reached the wire."""
    recorder = RecordingTransport()

    async def main() -> None:
        transport = CoalescingTransport(recorder, asyncio.get_running_loop())
        for step in steps:
            step(transport, recorder)
            await asyncio.sleep(0)
            await asyncio.sleep(0)

    asyncio.run(main())
    return recorder


def test_writes_of_one_step_leave_in_one_write_at_its_end() -> None:
    def respond(transport: CoalescingTransport, recorder: RecordingTransport) -> None:
        transport.write(b"HTTP/1.1 200 OK\r\n\r\n")
        transport.write(b"")
        transport.writelines([b'{"songs"', b":[]}"])
        assert recorder.writes == []  # nothing yet: the step is not over

    assert run_steps(respond).writes == [b'HTTP/1.1 200 OK\r\n\r\n{"songs":[]}']


def test_writes_of_separate_steps_are_not_held_for_each_other() -> None:
    recorder = run_steps(
        lambda transport, _: transport.write(b"head"),
        lambda transport, _: transport.write(b"chunk 1"),
        lambda transport, _: transport.write(b"chunk 2"),
    )
    assert recorder.writes == [b"head", b"chunk 1", b"chunk 2"]


def test_close_sends_what_was_written_first() -> None:
    def write_and_close(transport: CoalescingTransport, recorder: RecordingTransport) -> None:
        transport.write(b"last words")
        transport.close()
        assert recorder.writes == [b"last words"]
        assert recorder.closed

    assert run_steps(write_and_close).writes == [b"last words"]


def test_nothing_is_written_once_the_connection_is_closing() -> None:
    def write_then_lose(transport: CoalescingTransport, recorder: RecordingTransport) -> None:
        transport.write(b"too late")
        recorder.closed = True  # the peer went before the step ended

    assert run_steps(write_then_lose).writes == []


def test_everything_else_is_the_transports_own() -> None:
    def ask(transport: CoalescingTransport, _: RecordingTransport) -> None:
        assert transport.get_extra_info("peername") == ("127.0.0.1", 4321)
        assert transport.is_closing() is False

    run_steps(ask)


# --- through uvicorn, with the protocol `recsys serve` runs --------------------------------

released = threading.Event()


async def streaming_app(scope, receive, send) -> None:  # type: ignore[no-untyped-def]
    """Sends its head, then its body only once the test has seen the head arrive alone."""
    if scope["type"] != "http":
        return
    headers = [(b"content-length", b"8")]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await asyncio.get_running_loop().run_in_executor(None, released.wait, 30)
    await send({"type": "http.response.body", "body": b"the body"})


@pytest.fixture
def streaming_server() -> Iterator[int]:
    port = free_port()
    config = uvicorn.Config(
        streaming_app,
        host="127.0.0.1",
        port=port,
        http=guarded_protocol(10, 8, metrics_port=0),
        log_level="error",
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run)
    thread.start()
    try:
        for _ in range(500):
            if server.started:
                break
            threading.Event().wait(0.01)
        assert server.started, "the test server did not start"
        yield port
    finally:
        released.set()
        server.should_exit = True
        thread.join(timeout=30)
        released.clear()


def test_a_head_sent_alone_reaches_the_client_before_its_body(streaming_server: int) -> None:
    with socket.create_connection(("127.0.0.1", streaming_server), timeout=10) as client:
        client.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        head = b""
        while not head.endswith(b"\r\n\r\n"):
            head += client.recv(4096)  # times out (fails) if the head waits for the body
        assert head.startswith(b"HTTP/1.1 200 OK")
        released.set()
        rest = b""
        while len(rest) < len(b"the body"):
            rest += client.recv(4096)
        assert rest == b"the body"
