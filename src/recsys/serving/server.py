"""The whole server `recsys serve` runs, built from settings in one place: the app, the
metrics app beside it, uvicorn's configuration with the guard's protocol, and the two
listening sockets. The CLI runs what this builds and the benches start the same pieces, so
nothing re-assembles a part of it and drifts from what is deployed.
"""

from __future__ import annotations

import asyncio
import math
import socket
import sys
from dataclasses import dataclass

import uvicorn

from recsys.errors import RecsysError
from recsys.serving.app import ServiceApp, create_app
from recsys.serving.deps import Service, app_service
from recsys.serving.guard import guarded_protocol
from recsys.serving.metrics import by_port, metrics_app
from recsys.settings import Settings

# Kubernetes waits terminationGracePeriodSeconds for a pod to stop: the preStop sleep plus
# this must fit inside it (the deployment tests check the manifest side).
GRACEFUL_SHUTDOWN_SECONDS = 30

# A new model is read and indexed in a worker thread while the event loop answers requests.
# When two threads want the GIL, Python hands it over every switch interval (5 ms unless
# told), so each handover could keep waiting requests that long while a model loads. A
# shorter interval keeps swaps out of the tail latency; with one busy thread it is unused.
GIL_SWITCH_SECONDS = 0.0005


@dataclass(frozen=True)
class Server:
    """An app and everything that serves it; `run` serves until stopped."""

    app: ServiceApp
    service: Service
    config: uvicorn.Config
    listeners: list[socket.socket]

    def run(self) -> None:
        sys.setswitchinterval(GIL_SWITCH_SECONDS)
        uvicorn.Server(self.config).run(sockets=self.listeners)  # uvloop, as `uvicorn` runs


def http_protocol(settings: Settings) -> type[asyncio.Protocol]:
    """uvicorn's HTTP protocol under the guard's limits (what `--http` would name)."""
    return guarded_protocol(
        settings.client_timeout, settings.max_connections, settings.metrics_port
    )


def build_server(settings: Settings) -> Server:
    """The server of `settings`; the ports are bound here, so a taken one is one
    RecsysError before anything starts."""
    if settings.metrics_port == settings.port:
        raise RecsysError(f"RECSYS_METRICS_PORT must differ from the API's port {settings.port}")
    app = create_app(settings)
    service = app_service(app)
    config = uvicorn.Config(
        by_port(app, metrics_app(service.metrics), settings.metrics_port),
        http=http_protocol(settings),
        # uvicorn's keep-alive timer (any byte cancels it) is the guard's idle deadline,
        # which no byte resets, rounded up to uvicorn's whole seconds: neither closes a
        # connection sooner than documented.
        timeout_keep_alive=math.ceil(settings.client_timeout),
        access_log=settings.access_log,
        # X-Forwarded-For only changes the client address, which only the access log shows.
        proxy_headers=settings.access_log,
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS,
    )
    return Server(app=app, service=service, config=config, listeners=listeners(settings))


def listen(host: str, port: int, what: str) -> socket.socket:
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


def listeners(settings: Settings) -> list[socket.socket]:
    """The API's listener and the metrics port's, or neither."""
    api = listen(settings.host, settings.port, "the API (--port, RECSYS_PORT)")
    try:
        metrics = listen(
            settings.host, settings.metrics_port, "/metrics (--metrics-port, RECSYS_METRICS_PORT)"
        )
    except RecsysError:
        api.close()
        raise
    return [api, metrics]
