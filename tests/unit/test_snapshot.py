"""The one loop every fetch writes through: the sha256 is of exactly the bytes written,
and the cap counts them as they come, whatever the source said beforehand."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from recsys.training.snapshot import DatasetError, write_snapshot


def test_the_snapshot_holds_and_hashes_exactly_what_was_written(tmp_path: Path) -> None:
    chunks = [b"pid,track_name\n", b"1,a\n", b"", b"2,b\n"]
    snapshot = write_snapshot(iter(chunks), tmp_path / "d.csv", 100, "there")
    content = b"".join(chunks)
    assert snapshot.path == tmp_path / "d.csv"
    assert snapshot.path.read_bytes() == content
    assert snapshot.sha256 == hashlib.sha256(content).hexdigest()
    assert snapshot.size == len(content)
    assert not snapshot.not_modified


def test_the_cap_stops_the_stream_at_the_chunk_that_crosses_it(tmp_path: Path) -> None:
    read: list[int] = []

    def chunks() -> Iterator[bytes]:
        for n in range(10):
            read.append(n)
            yield bytes(40)

    with pytest.raises(DatasetError) as caught:
        write_snapshot(chunks(), tmp_path / "d.csv", 100, "http://host/x.csv")
    assert str(caught.value) == (
        "dataset is larger than the cap of 100 bytes (RECSYS_MAX_DATASET_BYTES): "
        "120+ bytes at http://host/x.csv"
    )
    assert read == [0, 1, 2]


def test_a_dataset_of_exactly_the_cap_is_kept(tmp_path: Path) -> None:
    assert write_snapshot(iter([bytes(100)]), tmp_path / "d.csv", 100, "here").size == 100
