"""Reading a pointer or a model file that anyone with write access to the volume may have
replaced: regular files only, checked on the opened file, and never more than a cap.

A FIFO would block `open` and `read` forever, `/dev/zero` would fill memory, and a
directory fails in a confusing way; each ends here in one ModelError instead.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from recsys.model.errors import ModelError

_CHUNK = 1 << 20


def read_regular_file(path: Path, limit: int, what: str) -> bytes:
    """The bytes of `path`, if it is a regular file of at most `limit` bytes.

    Opened without blocking (a FIFO cannot hold the caller), then checked with fstat, so
    a symlink is judged by what it points to at the moment it is read.
    FileNotFoundError passes through: "absent" is not an error for every caller.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        raise
    except OSError as error:
        raise ModelError(f"{what} unreadable: {path}: {error.strerror}") from None
    try:
        return _read_capped(fd, path, limit, what)
    except OSError as error:
        raise ModelError(f"{what} unreadable: {path}: {error.strerror}") from None
    finally:
        os.close(fd)


def _read_capped(fd: int, path: Path, limit: int, what: str) -> bytes:
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):
        raise ModelError(f"{what} is not a regular file: {path}")
    if info.st_size > limit:
        raise ModelError(f"{what} is larger than the cap of {limit} bytes: {path}")
    # The size fstat gave, plus one byte to notice growth, in one read: the copy happens
    # in the kernel with the GIL released, where joining chunks would hold it (the API
    # reads models in a thread beside its event loop). Whatever follows comes in chunks.
    chunks = [os.read(fd, min(info.st_size, limit) + 1)]
    size = len(chunks[0])
    while size <= limit and (chunk := os.read(fd, min(_CHUNK, limit + 1 - size))):
        chunks.append(chunk)
        size += len(chunk)
    if size > limit:  # it grew while we read it
        raise ModelError(f"{what} is larger than the cap of {limit} bytes: {path}")
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)
