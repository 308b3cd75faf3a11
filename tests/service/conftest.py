"""A real `recsys serve` per test, over a data directory the test controls."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from recsys.mining import RuleSet
from tests.conftest import SAMPLE_DS1, SAMPLE_DS2
from tests.support.models import mine_sample, publish_rules
from tests.support.server import ServerProcess


@pytest.fixture(scope="session")
def ds1_rules() -> RuleSet:
    return mine_sample(SAMPLE_DS1)


@pytest.fixture(scope="session")
def ds2_rules() -> RuleSet:
    return mine_sample(SAMPLE_DS2)


@pytest.fixture
def start_server(tmp_path: Path) -> Iterator[Callable[..., ServerProcess]]:
    servers: list[ServerProcess] = []

    def start(data_dir: Path, **env: str) -> ServerProcess:
        server = ServerProcess(data_dir, tmp_path / f"serve-{len(servers)}.log", **env)
        servers.append(server)
        return server.start()

    yield start
    for server in servers:
        server.kill()


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory, ds1_rules: RuleSet) -> Iterator[ServerProcess]:
    """One server with the ds1 sample model, shared by a module's read-only tests."""
    folder = tmp_path_factory.mktemp("served")
    data_dir = folder / "data"
    publish_rules(data_dir, ds1_rules)
    server = ServerProcess(data_dir, folder / "serve.log").start()
    yield server
    server.kill()
