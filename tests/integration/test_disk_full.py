"""A full volume while `recsys train` publishes: one line, the served model untouched.

The data directory lives on a real tmpfs mounted for the test and shrunk with
`mount -o remount` (size= for bytes, nr_inodes= for the kernel's own ENOSPC), so every
failure here is the kernel's, not a mock. Mounting needs root (or CAP_SYS_ADMIN); where
that is missing the tests skip and say why.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from recsys.model.pointer import read_pointer
from recsys.model.repository import MODELS_DIR
from tests.support.paths import SAMPLE_DS1, SAMPLE_DS2
from tests.support.processes import Completed, assert_failed_cleanly, run_recsys, snapshot_dir

HEADROOM = 1 << 20  # free bytes left on the volume: less than one sample model needs


def mount(volume: Path, options: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(volume)],
        capture_output=True,
        text=True,
        check=False,
    )


def remount(volume: Path, option: str) -> None:
    subprocess.run(["mount", "-o", f"remount,{option}", str(volume)], check=True)


@pytest.fixture
def volume(tmp_path: Path) -> Iterator[Path]:
    """A 64 MiB tmpfs of its own, unmounted at the end."""
    point = tmp_path / "volume"
    point.mkdir()
    try:
        done = mount(point, "size=64m")
    except FileNotFoundError:
        pytest.skip("no mount(8) here to make a small volume")
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs (needs root): {done.stderr.strip()}")
    try:
        yield point
    finally:
        subprocess.run(["umount", str(point)], check=True)


def shrink_to_headroom(volume: Path, headroom: int = HEADROOM) -> None:
    stats = os.statvfs(volume)
    used = (stats.f_blocks - stats.f_bfree) * stats.f_frsize
    remount(volume, f"size={used + headroom}")


def train(data_dir: Path, dataset: Path, *flags: str) -> Completed:
    return run_recsys("train", "--dataset-url", str(dataset), *flags, data_dir=data_dir)


def test_no_room_is_one_line_and_the_model_stays(volume: Path) -> None:
    data_dir = volume / "data"
    assert train(data_dir, SAMPLE_DS1).returncode == 0
    shrink_to_headroom(volume)
    before = snapshot_dir(data_dir)
    done = train(data_dir, SAMPLE_DS2)
    assert_failed_cleanly(done, f"not enough space in {data_dir / MODELS_DIR}", before, data_dir)
    message = done.stderr.strip().splitlines()[-1]
    assert "bytes are free" in message
    assert "needs " in message


def test_old_models_beyond_retention_make_room_first(volume: Path) -> None:
    data_dir = volume / "data"
    for _ in range(4):
        assert train(data_dir, SAMPLE_DS1, "--force", "--keep-models", "100").returncode == 0
    models = sorted(path.stem for path in (data_dir / MODELS_DIR).glob("*.rsm"))
    back = run_recsys("models", "rollback", models[1], data_dir=data_dir)
    assert back.returncode == 0, back.stderr
    shrink_to_headroom(volume)

    # Keeping 3 protects every model: the newest two, the current one (models[1]) and its
    # rollback target (models[0]). Nothing may be deleted, so nothing is.
    before = snapshot_dir(data_dir)
    done = train(data_dir, SAMPLE_DS1, "--force", "--keep-models", "3")
    assert_failed_cleanly(done, "not enough space", before, data_dir)

    # Keeping 2: models[2] is beyond retention after this publish; deleting it makes room.
    # Pruning then keeps the newest two and the new model's rollback target, the model it
    # replaced (models[1]).
    done = train(data_dir, SAMPLE_DS1, "--force", "--keep-models", "2")
    assert done.returncode == 0, done.stderr
    assert "to make room" in done.stderr
    assert models[2] in done.stderr
    current = read_pointer(data_dir).model_id
    assert current not in models
    left = {path.stem for path in (data_dir / MODELS_DIR).glob("*.rsm")}
    assert left == {models[3], models[1], current}


@pytest.mark.parametrize("fails", ["model file", "pointer"])
def test_the_kernels_enospc_is_one_line_and_leaves_nothing(volume: Path, fails: str) -> None:
    """Out of inodes: plenty of bytes free, yet creating the next file fails with ENOSPC."""
    data_dir = volume / "data"
    assert train(data_dir, SAMPLE_DS1).returncode == 0
    stats = os.statvfs(volume)
    used = stats.f_files - stats.f_ffree
    remount(volume, f"nr_inodes={used + (fails == 'pointer')}")
    before = snapshot_dir(data_dir)
    done = train(data_dir, SAMPLE_DS2)
    assert_failed_cleanly(done, f"no space left in {data_dir}", before, data_dir)
    assert "inodes" in done.stderr
