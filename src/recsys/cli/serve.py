"""`recsys serve`: the API under uvicorn."""

from __future__ import annotations

import argparse
import json
import math
import socket
import sys

from recsys.cli.common import Commands, add_command, data_dir_flag, say, settings_from
from recsys.errors import RecsysError
from recsys.settings import Settings

# Kubernetes waits terminationGracePeriodSeconds for a pod to stop: the preStop sleep plus
# this must fit inside it (the deployment tests check the manifest side).
GRACEFUL_SHUTDOWN_SECONDS = 30

# A new model is read and indexed in a worker thread while the event loop answers requests.
# When two threads want the GIL, Python hands it over every switch interval (5 ms unless
# told), so each handover could keep waiting requests that long while a model loads. A
# shorter interval keeps swaps out of the tail latency; with one busy thread it is unused.
GIL_SWITCH_SECONDS = 0.0005


def _try_it(settings: Settings) -> str:
    """A ready-to-paste curl, with songs of the current model when there is one."""
    from recsys.model.format import ModelError, read_header
    from recsys.model.repository import read_pointer

    songs = ["HUMBLE.", "Mask Off"]
    try:
        pointer = read_pointer(settings.data_dir)
        if pointer is not None:
            songs = read_header(pointer.model_path(settings.data_dir))["vocabulary"][:2]
    except (ModelError, OSError, KeyError):
        pass
    host = "127.0.0.1" if settings.host in ("0.0.0.0", "::") else settings.host
    body = json.dumps({"songs": songs, "k": 5}, ensure_ascii=False).replace("'", "'\\''")
    return (
        f"recsys API on http://{host}:{settings.port}  (docs: http://{host}:{settings.port}/docs, "
        f"metrics: http://{host}:{settings.metrics_port}/metrics)\n"
        f"try: curl -s http://{host}:{settings.port}/api/recommend -d '{body}'"
    )


def _listen(host: str, port: int, what: str) -> socket.socket:
    """A bound, listening TCP socket (IPv6 when the host is an IPv6 address); a port that
    cannot be had is one RecsysError naming it, `what` it was for and its setting.

    Accepted connections get TCP_NODELAY: with Nagle's algorithm, a write made while an
    earlier one is unacknowledged (a large answer's second segment, a pipelined answer)
    waits for the client's delayed ACK. The protocol is named, as the event loop sets
    TCP_NODELAY only on IPPROTO_TCP sockets.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    listener = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        listener.bind((host, port))
        listener.listen(2048)
    except OSError as error:
        listener.close()
        raise RecsysError(f"cannot listen on {host}:{port} for {what}: {error.strerror}") from None
    listener.set_inheritable(True)
    return listener


def _listeners(settings: Settings) -> list[socket.socket]:
    """The API's listener and the metrics port's, or neither."""
    api = _listen(settings.host, settings.port, "the API (--port, RECSYS_PORT)")
    try:
        metrics = _listen(
            settings.host, settings.metrics_port, "/metrics (--metrics-port, RECSYS_METRICS_PORT)"
        )
    except RecsysError:
        api.close()
        raise
    return [api, metrics]


def cmd_serve(args: argparse.Namespace) -> int:
    import logging

    import uvicorn

    from recsys.serving import create_app
    from recsys.serving.guard import guarded_protocol
    from recsys.serving.metrics import by_port, metrics_app

    settings = settings_from(args)
    sys.setswitchinterval(GIL_SWITCH_SECONDS)
    if settings.metrics_port == settings.port:
        raise RecsysError(f"RECSYS_METRICS_PORT must differ from the API's port {settings.port}")
    logging.basicConfig(level=logging.INFO, format="%(levelname)s:     %(name)s: %(message)s")
    app = create_app(settings)
    metrics = metrics_app(app.state.service.metrics)
    config = uvicorn.Config(
        by_port(app, metrics, settings.metrics_port),
        http=guarded_protocol(
            settings.client_timeout, settings.max_connections, settings.metrics_port
        ),
        # uvicorn's keep-alive timer (any byte cancels it) is the guard's idle deadline,
        # which no byte resets, rounded up to uvicorn's whole seconds: neither closes a
        # connection sooner than documented.
        timeout_keep_alive=math.ceil(settings.client_timeout),
        access_log=settings.access_log,
        # X-Forwarded-For only changes the client address, which only the access log shows.
        proxy_headers=settings.access_log,
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS,
    )
    listeners = _listeners(settings)
    say(_try_it(settings))
    uvicorn.Server(config).run(sockets=listeners)  # uvloop, as `uvicorn` itself runs
    return 0


def register(commands: Commands) -> None:
    serve = add_command(
        commands,
        "serve",
        cmd_serve,
        "Serve recommendations over HTTP, following every newly published model.",
        "  recsys serve\n"
        "  recsys serve --host 0.0.0.0 --port 8080 --data-dir /data\n"
        "  RECSYS_WATCH=poll RECSYS_POLL_INTERVAL=5 recsys serve",
        [data_dir_flag()],
    )
    serve.add_argument("--host", help="listen address (RECSYS_HOST, default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="listen port (RECSYS_PORT, default 8000)")
    serve.add_argument(
        "--metrics-port", type=int, help="port of /metrics (RECSYS_METRICS_PORT, default 9100)"
    )
    serve.add_argument(
        "--watch",
        choices=["events", "poll", "auto"],
        help="how to notice new models (RECSYS_WATCH)",
    )
    serve.add_argument("--poll-interval", type=float, help="seconds (RECSYS_POLL_INTERVAL)")
    serve.add_argument("--top-k", type=int, help="songs per answer by default (RECSYS_TOP_K)")
    serve.add_argument(
        "--access-log",
        action=argparse.BooleanOptionalAction,
        help="log a line per request (RECSYS_ACCESS_LOG, default off)",
    )
