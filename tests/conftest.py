"""Fixtures shared by every test layer: sample data, real subprocesses, a real HTTP server."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.http_server import DatasetServer

REPO = Path(__file__).resolve().parent.parent
SAMPLE_DS1 = REPO / "data" / "sample" / "ds1.csv"
SAMPLE_DS2 = REPO / "data" / "sample" / "ds2.csv"
SAMPLE_SONGS = REPO / "data" / "sample" / "songs.csv"
SHARED_SONGS = REPO.parent / "shared" / "data" / "2023_spotify_songs.csv"


@dataclass
class Completed:
    """A finished `recsys` subprocess."""

    returncode: int
    stdout: str
    stderr: str

    def json(self) -> dict:
        return json.loads(self.stdout.strip().splitlines()[-1])


def recsys_env(data_dir: Path, **extra: str) -> dict[str, str]:
    """The environment of a child `recsys`: ours minus RECSYS_*, plus the test's."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("RECSYS_")}
    env["RECSYS_DATA_DIR"] = str(data_dir)
    env.update(extra)
    return env


def run_recsys(*args: str, data_dir: Path, timeout: float = 120, **env: str) -> Completed:
    """Run `python -m recsys ARGS` as a real child process and wait for it."""
    done = subprocess.run(
        [sys.executable, "-m", "recsys", *args],
        env=recsys_env(data_dir, **env),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    return Completed(done.returncode, done.stdout, done.stderr)


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
