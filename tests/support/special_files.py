"""Things that can stand where the data directory expects a regular file."""

from __future__ import annotations

import os
from pathlib import Path


def fifo(path: Path) -> None:
    """A named pipe: a plain open or read of it blocks for ever."""
    os.mkfifo(path)


def dev_zero(path: Path) -> None:
    """A symlink to /dev/zero: a plain read of it fills memory."""
    path.symlink_to("/dev/zero")


def directory(path: Path) -> None:
    path.mkdir()
