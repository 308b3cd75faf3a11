"""A dataset on this machine: a path or a file:// URL, copied into the snapshot.

The source must be a regular file (a directory, device, pipe or socket is refused before
anything is read), and the cap counts the bytes actually copied: a file's stated size can
lie, and a file can grow while it is read.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import unquote, urlparse

from recsys.training.snapshot import CHUNK, DatasetError, Snapshot, too_large, write_snapshot
from recsys.training.urls import redact_url


def local_path(url: str) -> Path | None:
    """The filesystem path a dataset URL names, or None for http(s) URLs."""
    parsed = urlparse(url)
    if parsed.scheme in ("http", "https"):
        return None
    if parsed.scheme == "file":
        return Path(unquote(parsed.path))
    if parsed.scheme and len(parsed.scheme) > 1:  # one letter would be a Windows drive
        raise DatasetError(f"unsupported dataset URL scheme '{parsed.scheme}': {redact_url(url)}")
    return Path(url)


def copy_file(source: Path, target: Path, max_bytes: int) -> Snapshot:
    """Copy a regular file into `target`, within the cap."""
    try:
        # O_NONBLOCK: opening a named pipe must not wait for a writer before we refuse it.
        descriptor = os.open(source, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        raise DatasetError(f"dataset not found: {source}") from None
    except PermissionError:
        raise DatasetError(f"dataset is not readable (permission denied): {source}") from None
    except OSError as error:
        raise DatasetError(f"dataset cannot be opened ({error.strerror}): {source}") from None
    try:
        mode = os.fstat(descriptor).st_mode
        if stat.S_ISDIR(mode):
            raise DatasetError(f"dataset path is a directory, not a CSV file: {source}")
        if not stat.S_ISREG(mode):
            raise DatasetError(
                f"dataset is not a regular file (a device, pipe or socket): {source}"
            )
        return _copy_open(descriptor, source, target, max_bytes)
    finally:
        os.close(descriptor)


def _copy_open(descriptor: int, source: Path, target: Path, max_bytes: int) -> Snapshot:
    size = os.fstat(descriptor).st_size
    if size > max_bytes:
        raise DatasetError(too_large(size, max_bytes, str(source)))
    try:
        return write_snapshot(_read(descriptor), target, max_bytes, str(source))
    except OSError as error:
        raise DatasetError(f"dataset cannot be read ({error.strerror}): {source}") from None


def _read(descriptor: int) -> Iterator[bytes]:
    while chunk := os.read(descriptor, CHUNK):
        yield chunk
