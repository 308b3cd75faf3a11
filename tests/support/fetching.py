"""Fetching in-process, for the fetch tests of both tiers."""

from __future__ import annotations

import zlib

import pytest

from recsys.training.fetch import DatasetError, fetched

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
