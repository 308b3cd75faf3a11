"""Fetching a dataset in-process from a real 127.0.0.1 server: how much memory decoding a
download takes, and how broken encodings end. The process-level behaviour (one line, exit
codes, limits on the child) is in tests/integration/test_hostile_datasets.py.
"""

from __future__ import annotations

import gzip
import tracemalloc
import zlib

import pytest

from recsys.training.fetch import fetched
from tests.support.fetching import MIB, fetch_failure, zeros_gzip
from tests.support.http_server import DatasetServer
from tests.support.paths import SAMPLE_DS1


def test_decoding_holds_a_bounded_amount_of_memory(dataset_server: DatasetServer) -> None:
    dataset_server.publish(zeros_gzip(256 * MIB))
    dataset_server.behaviour.encoding = "gzip"
    tracemalloc.start()
    try:
        message = fetch_failure(dataset_server.url, max_bytes=200_000_000)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert "larger than the cap of 200000000 bytes" in message
    assert peak < 16 * MIB


def test_gzip_members_and_layers_decode_to_the_original(dataset_server: DatasetServer) -> None:
    original = SAMPLE_DS1.read_bytes()
    half = len(original) // 2
    members = gzip.compress(original[:half]) + gzip.compress(original[half:])
    dataset_server.publish(zlib.compress(members))
    dataset_server.behaviour.encoding = "gzip, deflate"
    with fetched(dataset_server.url, max_bytes=10 * MIB, timeout=10, deadline=60) as snapshot:
        assert snapshot.path is not None
        assert snapshot.path.read_bytes() == original
        assert snapshot.size == len(original)


@pytest.mark.parametrize(
    ("content", "encoding", "message"),
    [
        (b"not gzip at all", "gzip", "not valid gzip data"),
        (gzip.compress(b"pid,track_name\n1,a\n")[:-12], "gzip", "ends early"),
        (b"x", "gzip, gzip, gzip, gzip", "too many content codings"),
    ],
    ids=["not gzip", "cut short", "too many codings"],
)
def test_broken_encodings_are_one_line(
    dataset_server: DatasetServer, content: bytes, encoding: str, message: str
) -> None:
    dataset_server.publish(content)
    dataset_server.behaviour.encoding = encoding
    assert message in fetch_failure(dataset_server.url)
