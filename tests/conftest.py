"""Fixtures shared by every test layer: data directories, mined sample rules, real servers.

Helpers live in `tests/support/`; nothing imports this file (pytest discovers it).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from recsys.model.rules import RuleSet
from tests.support.http_server import DatasetServer
from tests.support.models import mine_sample
from tests.support.paths import SAMPLE_DS1, SAMPLE_DS2
from tests.support.server import ServerProcess


@pytest.fixture(scope="session", autouse=True)
def children_keep_their_temp_files_here(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Child processes put their temporary files under this run's pytest directory.

    A child a test kills (SIGKILL mid-publish, a timeout) cannot clean up after itself;
    without this its copy of the dataset would stay in the machine's /tmp after every run
    of the suite. pytest keeps only its last few runs' directories.
    """
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TMPDIR", str(tmp_path_factory.mktemp("children-tmp")))
        yield


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    path = tmp_path / "data"
    path.mkdir()
    return path


@pytest.fixture
def dataset_server() -> Iterator[DatasetServer]:
    server = DatasetServer()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture(scope="session")
def ds1_rules() -> RuleSet:
    return mine_sample(SAMPLE_DS1)


@pytest.fixture(scope="session")
def ds2_rules() -> RuleSet:
    return mine_sample(SAMPLE_DS2)


@pytest.fixture
def start_server(tmp_path: Path) -> Iterator[Callable[..., ServerProcess]]:
    """Start real `recsys serve` processes; all are killed when the test ends."""
    servers: list[ServerProcess] = []

    def start(data_dir: Path, **env: str) -> ServerProcess:
        server = ServerProcess(data_dir, tmp_path / f"serve-{len(servers)}.log", **env)
        servers.append(server)
        return server.start()

    yield start
    for server in servers:
        server.kill()
