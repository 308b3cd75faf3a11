"""`model.files` on real files: what a small file of the data directory may be, and the lock.

Each hostile kind is real (a FIFO, a symlink to /dev/zero, a directory): a read that
blocked would hang the test, one that did not cap would fill memory. The pytest timeout
bounds both; the CLI's view of the same files is tests/integration/test_hostile_data_dir.py.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from recsys.model.files import (
    UnsafeFileError,
    exclusive_lock,
    read_regular_file,
    read_small_file,
    refuse_directory,
)
from recsys.model.format import ModelError, read_header
from tests.support.special_files import dev_zero, directory, fifo

pytestmark = pytest.mark.timeout(60)


HOSTILE: dict[str, Callable[[Path], None]] = {
    "fifo": fifo,
    "dev-zero": dev_zero,
    "directory": directory,
}


@pytest.mark.parametrize("make", HOSTILE.values(), ids=HOSTILE.keys())
def test_only_a_regular_file_is_read(tmp_path: Path, make: Callable[[Path], None]) -> None:
    path = tmp_path / "pin.json"
    make(path)
    with pytest.raises(UnsafeFileError, match="not a regular file") as raised:
        read_small_file(path, 1024, "pin.json")
    assert str(raised.value) == f"pin.json is not a regular file: {path}"
    assert raised.value.reason == "is not a regular file"


def test_a_small_file_is_read_whole_and_an_absent_one_is_none(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    assert read_small_file(path, 10, "state") is None
    with pytest.raises(FileNotFoundError):
        read_regular_file(path, 10, "state")
    path.write_bytes(b"0123456789")
    assert read_small_file(path, 10, "state") == b"0123456789"
    with pytest.raises(UnsafeFileError, match="larger than the cap of 9 bytes"):
        read_small_file(path, 9, "state")


def test_a_symlink_to_a_regular_file_is_read(tmp_path: Path) -> None:
    (tmp_path / "real.json").write_bytes(b"{}")
    (tmp_path / "link.json").symlink_to(tmp_path / "real.json")
    assert read_small_file(tmp_path / "link.json", 10, "link") == b"{}"


@pytest.mark.parametrize("make", HOSTILE.values(), ids=HOSTILE.keys())
def test_a_model_header_is_read_only_from_a_regular_file(
    tmp_path: Path, make: Callable[[Path], None]
) -> None:
    path = tmp_path / "model.rsm"
    make(path)
    with pytest.raises(ModelError, match="model file is not a regular file"):
        read_header(path)


@pytest.mark.parametrize(
    "make",
    [*HOSTILE.values(), lambda path: path.symlink_to(path.parent / "elsewhere")],
    ids=[*HOSTILE.keys(), "symlink"],
)
def test_the_lock_is_taken_only_on_a_regular_file(
    tmp_path: Path, make: Callable[[Path], None]
) -> None:
    path = tmp_path / ".publish.lock"
    make(path)
    with (
        pytest.raises(ModelError, match="publish lock is not a regular file") as raised,
        exclusive_lock(path),
    ):
        pytest.fail("locked a file that is not a regular one")
    assert str(path) in str(raised.value)
    assert "remove it" in str(raised.value)
    assert not (path.parent / "elsewhere").exists(), "the lock followed a symlink"


def test_the_lock_file_is_created_and_reused(tmp_path: Path) -> None:
    path = tmp_path / ".publish.lock"
    for _ in range(2):
        with exclusive_lock(path):
            assert path.is_file()


def test_a_directory_in_the_place_of_a_replaced_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "current.json"
    refuse_directory(path, "current.json")  # absent: fine
    fifo(path)
    refuse_directory(path, "current.json")  # replaceable: fine
    path.unlink()
    path.mkdir()
    with pytest.raises(ModelError, match=r"current\.json is a directory: .*; remove it"):
        refuse_directory(path, "current.json")
