"""The API in-process over a data directory holding the ds1 sample model."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from recsys.model.rules import RuleSet
from recsys.settings import Settings
from tests.support.app import AppClient, in_process
from tests.support.models import publish_rules
from tests.support.server import ServerProcess


@pytest.fixture(scope="module")
def served_dir(tmp_path_factory: pytest.TempPathFactory, ds1_rules: RuleSet) -> Path:
    data_dir = tmp_path_factory.mktemp("served") / "data"
    publish_rules(data_dir, ds1_rules)
    return data_dir


@pytest.fixture(scope="module")
def app(served_dir: Path) -> Iterator[AppClient]:
    """One app serving the ds1 model, shared by a module's read-only tests."""
    with in_process(Settings(data_dir=served_dir)) as client:
        yield client


@pytest.fixture
def server(
    data_dir: Path, ds1_rules: RuleSet, start_server: Callable[..., ServerProcess]
) -> ServerProcess:
    """A real `recsys serve` of the ds1 model with tight limits (1 s, 8 connections), for
    the hostile-client tests: every deadline is short enough to wait out."""
    publish_rules(data_dir, ds1_rules)
    return start_server(data_dir, RECSYS_CLIENT_TIMEOUT="1", RECSYS_MAX_CONNECTIONS="8")
