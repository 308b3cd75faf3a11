"""A fetched dataset: its private copy, what identifies it, and the one error type.

Every way of fetching ends in `write_snapshot`, so a local copy and a download hash,
count and cap the bytes the same way: the sha256 is of exactly the bytes written, and the
cap counts what was written, never what a file or a server said it would be.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from recsys.errors import RecsysError

# The most read, or decoded, at a time.
CHUNK = 1024 * 1024


class DatasetError(RecsysError):
    """A dataset that cannot be fetched or is not a valid playlist CSV."""


class TransientDatasetError(DatasetError):
    """A download failure that may pass: connection trouble, a timeout, a 5xx."""


@dataclass(frozen=True)
class Snapshot:
    """A fetched dataset: a private copy on disk and what identifies its content."""

    path: Path | None  # None when the source said "not modified"
    sha256: str | None
    size: int
    etag: str | None = None
    last_modified: str | None = None

    @property
    def not_modified(self) -> bool:
        return self.path is None


@dataclass(frozen=True)
class Validators:
    """What a previous fetch learned, so the next one can ask "changed since?"."""

    etag: str | None = None
    last_modified: str | None = None


def too_large(size: int, max_bytes: int, where: str) -> str:
    """The message for a dataset over the cap; `size` is what was seen so far."""
    return (
        f"dataset is larger than the cap of {max_bytes} bytes (RECSYS_MAX_DATASET_BYTES): "
        f"{size}+ bytes at {where}"
    )


def write_snapshot(chunks: Iterable[bytes], target: Path, max_bytes: int, where: str) -> Snapshot:
    """Write `chunks` to `target`, hashing and counting them; refuse past `max_bytes`."""
    digest = hashlib.sha256()
    size = 0
    with target.open("wb") as writer:
        for chunk in chunks:
            size += len(chunk)
            if size > max_bytes:
                raise DatasetError(too_large(size, max_bytes, where))
            digest.update(chunk)
            writer.write(chunk)
    return Snapshot(path=target, sha256=digest.hexdigest(), size=size)
