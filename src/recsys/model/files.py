"""The files of the data directory, which anyone with write access to the volume may have
replaced: read only if regular (checked on the opened file) and never beyond a cap, locked
only if regular, written only atomically.

A FIFO would block `open` and `read` forever, `/dev/zero` would fill memory, and a
directory fails in a confusing way; each ends here in one ModelError naming the file.
Every read of the pointer, a model, the pin, the publication order, the refresh state and
the lock goes through this module, so the next such file is safe by default.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import stat
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO

from recsys.model.errors import ModelError

_CHUNK = 1 << 20
_READ_FLAGS = os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC
# The lock file is created if absent, never followed if a symlink, never waited on.
_LOCK_FLAGS = os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
TEMP_MARK = ".tmp-"


class UnsafeFileError(ModelError):
    """A file that must not be read as it is; `reason` says why without naming it."""

    def __init__(self, what: str, path: Path, reason: str) -> None:
        super().__init__(f"{what} {reason}: {path}")
        self.reason = reason


def _unreadable(what: str, path: Path, error: OSError) -> UnsafeFileError:
    return UnsafeFileError(what, path, f"unreadable ({error.strerror})")


def _too_large(what: str, path: Path, limit: int) -> UnsafeFileError:
    return UnsafeFileError(what, path, f"is larger than the cap of {limit} bytes")


def _open_regular(path: Path, what: str) -> int:
    """A descriptor of `path` opened for reading, if it is a regular file.

    Opened without blocking (a FIFO cannot hold the caller), then checked with fstat, so
    a symlink is judged by what it points to at the moment it is read.
    FileNotFoundError passes through: "absent" is not an error for every caller.
    """
    try:
        fd = os.open(path, _READ_FLAGS)
    except FileNotFoundError:
        raise
    except OSError as error:
        raise _unreadable(what, path, error) from None
    try:
        mode = os.fstat(fd).st_mode
    except OSError as error:
        os.close(fd)
        raise _unreadable(what, path, error) from None
    if not stat.S_ISREG(mode):
        os.close(fd)
        raise UnsafeFileError(what, path, "is not a regular file")
    return fd


@contextlib.contextmanager
def opened_regular_file(path: Path, what: str) -> Iterator[BinaryIO]:
    """`path` open for reading, if it is a regular file: for reading only part of it.

    OSErrors while reading become one ModelError too; FileNotFoundError on opening passes.
    """
    with os.fdopen(_open_regular(path, what), "rb") as handle:
        try:
            yield handle
        except OSError as error:
            raise _unreadable(what, path, error) from None


def read_regular_file(path: Path, limit: int, what: str) -> bytes:
    """The bytes of `path`, if it is a regular file of at most `limit` bytes."""
    fd = _open_regular(path, what)
    try:
        return _read_capped(fd, path, limit, what)
    except OSError as error:
        raise _unreadable(what, path, error) from None
    finally:
        os.close(fd)


@contextlib.contextmanager
def reading_regular_file(path: Path, limit: int, what: str) -> Iterator[Callable[[int], bytes]]:
    """`read(size)` over `path`, if it is a regular file of at most `limit` bytes: each call
    returns the next bytes, at most `size` (b"" at the end), and one that finds the file
    grown past the cap raises. For reading a large file a piece at a time, never whole.

    OSErrors while reading become one ModelError too; FileNotFoundError on opening passes.
    """
    fd = _open_regular(path, what)
    read_so_far = 0

    def read(size: int) -> bytes:
        nonlocal read_so_far
        chunk = os.read(fd, min(size, limit + 1 - read_so_far))
        read_so_far += len(chunk)
        if read_so_far > limit:  # it grew while we read it
            raise _too_large(what, path, limit)
        return chunk

    try:
        if os.fstat(fd).st_size > limit:
            raise _too_large(what, path, limit)
        yield read
    except OSError as error:
        raise _unreadable(what, path, error) from None
    finally:
        os.close(fd)


def read_small_file(path: Path, limit: int, what: str) -> bytes | None:
    """`read_regular_file`, with None for a file that does not exist."""
    try:
        return read_regular_file(path, limit, what)
    except FileNotFoundError:
        return None


def _read_capped(fd: int, path: Path, limit: int, what: str) -> bytes:
    size = os.fstat(fd).st_size
    if size > limit:
        raise _too_large(what, path, limit)
    # The size fstat gave, plus one byte to notice growth, in one read: the copy happens
    # in the kernel with the GIL released, where joining chunks would hold it (the API
    # reads models in a thread beside its event loop). Whatever follows comes in chunks.
    chunks = [os.read(fd, size + 1)]
    size = len(chunks[0])
    while size <= limit and (chunk := os.read(fd, min(_CHUNK, limit + 1 - size))):
        chunks.append(chunk)
        size += len(chunk)
    if size > limit:  # it grew while we read it
        raise _too_large(what, path, limit)
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def refuse_directory(path: Path, what: str) -> None:
    """Fail before anything changes if `path`, which is to be replaced, is a directory.

    `os.replace` and `unlink` take any other kind of file in their stride; a directory
    would fail them only after the step before (a new model, a moved pointer) was done.
    """
    with contextlib.suppress(FileNotFoundError):
        if stat.S_ISDIR(os.lstat(path).st_mode):
            raise ModelError(f"{what} is a directory: {path}; remove it")


def _not_a_lock(path: Path) -> ModelError:
    return ModelError(
        f"the publish lock is not a regular file: {path}; remove it "
        "(the next train, refresh or rollback creates it again)"
    )


def _open_lock(path: Path) -> int:
    """A descriptor of the lock file, created if need be, if it is a regular file.

    lstat first, so a device is never opened; O_NOFOLLOW and fstat after, for a file
    swapped in between.
    """
    with contextlib.suppress(FileNotFoundError):
        if not stat.S_ISREG(os.lstat(path).st_mode):
            raise _not_a_lock(path)
    try:
        fd = os.open(path, _LOCK_FLAGS, 0o644)
    except OSError as error:
        if error.errno in (errno.ELOOP, errno.EISDIR, errno.ENXIO):
            raise _not_a_lock(path) from None
        raise ModelError(f"the publish lock cannot be opened: {path}: {error.strerror}") from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise _not_a_lock(path)
    return fd


@contextlib.contextmanager
def exclusive_lock(path: Path) -> Iterator[None]:
    """Hold an exclusive flock on the regular file `path` (waiting for other holders)."""
    fd = _open_lock(path)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomically(path: Path, data: bytes) -> None:
    """Write `data` to a hidden temp file beside `path`, fsync it, rename it over `path`."""
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}{TEMP_MARK}")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temp, 0o644)
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp)
        raise
    fsync_dir(path.parent)
