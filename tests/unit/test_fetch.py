"""Fetching a dataset in-process against real files and a real 127.0.0.1 server.

The process-level behaviour (one line, exit codes, limits on the child) is in
tests/integration/test_hostile_datasets.py; these check what needs the inside view: how
much memory decoding takes, and which redirects count as the dataset's own host.
"""

from __future__ import annotations

import gzip
import tracemalloc
import zlib

import pytest

from recsys.training.fetch import DatasetError, fetched
from recsys.training.urls import redirect_allowed
from tests.support.http_server import DatasetServer
from tests.support.paths import SAMPLE_DS1

MIB = 1024 * 1024


def zeros_gzip(size: int) -> bytes:
    packer = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    return b"".join(packer.compress(bytes(MIB)) for _ in range(size // MIB)) + packer.flush()


def fetch_failure(source: str, max_bytes: int = MIB) -> str:
    """The one-line message of the DatasetError fetching `source` raises."""
    with (
        pytest.raises(DatasetError) as caught,
        fetched(source, max_bytes=max_bytes, timeout=10, deadline=60),
    ):
        pass
    message = str(caught.value)
    assert "\n" not in message
    return message


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


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("/dev/null", "not a regular file"),
        ("/", "is a directory"),
        ("/nonexistent/x.csv", "dataset not found"),
    ],
)
def test_only_regular_files_are_copied(source: str, message: str) -> None:
    assert message in fetch_failure(source)


def test_a_regular_file_is_copied_and_hashed() -> None:
    with fetched(str(SAMPLE_DS1), max_bytes=10 * MIB, timeout=10, deadline=60) as snapshot:
        assert snapshot.path is not None
        assert snapshot.path.read_bytes() == SAMPLE_DS1.read_bytes()
    assert "larger than the cap of 1000 bytes" in fetch_failure(str(SAMPLE_DS1), max_bytes=1000)


@pytest.mark.parametrize(
    ("target", "hosts", "allowed"),
    [
        ("http://data.example.org/b.csv", "", True),
        ("http://data.example.org:80/b.csv", "", True),
        ("http://DATA.example.org/b.csv", "", True),
        ("https://data.example.org/b.csv", "", False),  # another scheme is another origin
        ("http://data.example.org:8080/b.csv", "", False),
        ("http://cdn.example.org/b.csv", "", False),
        ("http://cdn.example.org/b.csv", "cdn.example.org", True),
        ("https://cdn.example.org:8443/b.csv", " other.org , CDN.example.org ", True),
        ("http://cdn.example.org:81/b.csv", "cdn.example.org:80", False),
        ("http://cdn.example.org:81/b.csv", "cdn.example.org:81", True),
        ("ftp://data.example.org/b.csv", "data.example.org", False),
    ],
)
def test_which_redirects_are_allowed(target: str, hosts: str, allowed: bool) -> None:
    assert redirect_allowed("http://data.example.org/a.csv", target, hosts) is allowed


def test_a_redirect_from_https_to_http_is_never_allowed() -> None:
    assert not redirect_allowed("https://a.org/x", "http://a.org/x", "a.org")
    assert redirect_allowed("http://a.org/x", "https://cdn.org/x", "cdn.org")
