"""Fetching a dataset in-process from real files, and which redirects count as the
dataset's own host. Downloads from a real server are in tests/integration/test_fetch_http.py;
the process-level behaviour (one line, exit codes, limits on the child) in
tests/integration/test_hostile_datasets.py.
"""

from __future__ import annotations

import pytest

from recsys.training.fetch import fetched
from recsys.training.urls import redirect_allowed
from tests.support.fetching import MIB, fetch_failure
from tests.support.paths import SAMPLE_DS1


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
