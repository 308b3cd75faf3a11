"""A real HTTP file server on 127.0.0.1 whose behaviour a test can change at any moment.

It speaks enough HTTP/1.1 to exercise every path of a dataset download: validators
(ETag, Last-Modified) and 304s, error statuses, a server that never answers, a connection
cut mid-body, redirects, a body sent a byte at a time, and a body sent with any
Content-Encoding (so a test can serve a decompression bomb). It counts the bodies it sent,
so a test can prove a 304 sent none.
"""

from __future__ import annotations

import hashlib
import threading
import time
from dataclasses import dataclass, field
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit


@dataclass
class Behaviour:
    """What the server does next; tests mutate it between requests."""

    content: bytes = b""
    status: int = 200
    validators: bool = True  # send ETag and Last-Modified
    hang_seconds: float = 0.0  # sleep before answering (a server that never answers)
    cut_after: int | None = None  # close the connection after this many body bytes
    encoding: str | None = None  # sent as Content-Encoding; `content` is already encoded
    redirects: dict[str, str] = field(default_factory=dict)  # request path -> Location (302)
    drip_seconds: float = 0.0  # pause before each body byte (a server that trickles)
    last_modified: float = field(default_factory=time.time)


class DatasetServer:
    """Serves `behaviour.content` at every path; `url` is ready once constructed."""

    def __init__(self) -> None:
        self.behaviour = Behaviour()
        self.bodies_sent = 0
        self.requests = 0
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def origin(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def url(self) -> str:
        return f"{self.origin}/playlists.csv"

    def publish(self, content: bytes) -> None:
        """Replace the file, as an upstream would: new bytes, new validators."""
        self.behaviour.content = content
        self.behaviour.last_modified = self.behaviour.last_modified + 10

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:
                """Quiet: test output stays readable."""

            def do_GET(self) -> None:
                behaviour = server.behaviour
                with server._lock:
                    server.requests += 1
                if behaviour.hang_seconds:
                    time.sleep(behaviour.hang_seconds)
                location = behaviour.redirects.get(urlsplit(self.path).path)
                if location is not None:
                    self.send_response(302)
                    self.send_header("Location", location)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                if behaviour.status != 200:
                    body = f"status {behaviour.status}".encode()
                    self.send_response(behaviour.status)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                    return
                content = behaviour.content
                etag = '"' + hashlib.sha256(content).hexdigest()[:16] + '"'
                modified = formatdate(behaviour.last_modified, usegmt=True)
                if behaviour.validators and (
                    self.headers.get("If-None-Match") == etag
                    or (
                        "If-None-Match" not in self.headers
                        and self.headers.get("If-Modified-Since") == modified
                    )
                ):
                    self.send_response(304)
                    self.send_header("ETag", etag)
                    self.end_headers()
                    return
                self.send_response(200)
                self.send_header("Content-Type", "text/csv")
                self.send_header("Content-Length", str(len(content)))
                if behaviour.encoding is not None:
                    self.send_header("Content-Encoding", behaviour.encoding)
                if behaviour.validators:
                    self.send_header("ETag", etag)
                    self.send_header("Last-Modified", modified)
                self.end_headers()
                with server._lock:
                    server.bodies_sent += 1
                if behaviour.cut_after is not None:
                    self.wfile.write(content[: behaviour.cut_after])
                    self.wfile.flush()
                    self.close_connection = True
                    return
                if behaviour.drip_seconds:
                    self._drip(content, behaviour.drip_seconds)
                    return
                self.wfile.write(content)

            def _drip(self, content: bytes, pause: float) -> None:
                """One byte per pause, until done or the client hangs up."""
                try:
                    for index in range(len(content)):
                        time.sleep(pause)
                        self.wfile.write(content[index : index + 1])
                        self.wfile.flush()
                except (BrokenPipeError, ConnectionResetError):
                    self.close_connection = True

        return Handler
