"""`build_server`: the one place a server is assembled from settings."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from recsys.errors import RecsysError
from recsys.serving.deps import app_service
from recsys.serving.guard import GuardedProtocol
from recsys.serving.server import GRACEFUL_SHUTDOWN_SECONDS, build_server
from recsys.settings import Settings


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_the_server_of_settings_holds_its_app_protocol_and_ports(data_dir: Path) -> None:
    api, metrics = free_port(), free_port()
    settings = Settings(data_dir=data_dir, port=api, metrics_port=metrics, client_timeout=2.5)
    server = build_server(settings)
    try:
        assert [listener.getsockname()[1] for listener in server.listeners] == [api, metrics]
        assert server.service is app_service(server.app)
        assert server.service.settings is settings
        assert isinstance(server.config.http, type)
        assert issubclass(server.config.http, GuardedProtocol)
        assert server.config.timeout_keep_alive == 3  # the idle deadline, whole seconds up
        assert server.config.timeout_graceful_shutdown == GRACEFUL_SHUTDOWN_SECONDS
    finally:
        for listener in server.listeners:
            listener.close()


def test_one_port_for_both_is_refused_before_anything_is_bound(data_dir: Path) -> None:
    port = free_port()
    with pytest.raises(RecsysError, match=f"must differ from the API's port {port}"):
        build_server(Settings(data_dir=data_dir, port=port, metrics_port=port))
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", port))  # still free


def test_a_taken_metrics_port_leaves_the_api_port_free(data_dir: Path) -> None:
    api = free_port()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        metrics = taken.getsockname()[1]
        with pytest.raises(RecsysError, match=f"127.0.0.1:{metrics} for /metrics"):
            build_server(Settings(data_dir=data_dir, port=api, metrics_port=metrics))
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", api))
