"""The data directory: the only safe way to change which model is current (publish).

    <data_dir>/current.json         the pointer: model id, file, sha256, date, fingerprint
    <data_dir>/models/<id>.rsm      published model files (see `format`)
    <data_dir>/pin.json             a rollback's hold on the served model (see `pins`)
    <data_dir>/publications.json    the order models were published in (see `ordering`)
    <data_dir>/.publish.lock        flock that serialises publishers

Publishing writes the model under a hidden temp name, fsyncs and renames it into
`models/`; only then is `current.json` replaced (temp, fsync, os.replace, fsync of the
directory). Readers follow only the pointer (see `pointer`), so they never see a
half-written model. Every decision that depends on what is live (is this model new? does
a pin hold it back? is there room?) is taken under the lock, where nothing can change it
meanwhile. Each of these files is read, locked and written through `files`, whatever was
put in its place. What a publish then deletes is `retention`'s choice.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import stat
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from recsys.errors import RecsysError
from recsys.model.build import BuiltModel
from recsys.model.catalog import (
    MODEL_ID,
    MODEL_SUFFIX,
    MODELS_DIR,
    dataset_sha256,
    header_or_none,
    scan_models,
)
from recsys.model.files import TEMP_MARK, exclusive_lock, refuse_directory, write_atomically
from recsys.model.ordering import Publication, read_publications, record_publication
from recsys.model.pins import PIN_NAME, Pin, holding_pin, lift_pin
from recsys.model.pointer import POINTER_NAME, Pointer, live_pointer, point_to, pointer_for
from recsys.model.retention import prune, room_to_spare

LOCK_NAME = ".publish.lock"
# Room asked for beyond the model's own bytes: the pointer, the pin, block rounding.
ROOM_SLACK = 64 * 1024

Vet = Callable[[dict[str, Any] | None], str | None]


class PublishError(RecsysError):
    """A publish that was refused or could not finish; the served model is unchanged."""


@dataclass(frozen=True)
class Published:
    """What `publish` did; `model_id` is the live model afterwards."""

    status: str  # "published", "unchanged" (same inputs as the live model) or "pinned"
    model_id: str
    path: Path | None = None
    pin: Pin | None = None
    made_room: list[Path] = field(default_factory=list)
    pruned: list[Path] = field(default_factory=list)
    junk: list[tuple[Path, str]] = field(default_factory=list)


@contextlib.contextmanager
def publish_lock(data_dir: Path) -> Iterator[None]:
    """Serialise publishers (the trainer Job and the refresh CronJob may overlap)."""
    data_dir.mkdir(parents=True, exist_ok=True)
    with exclusive_lock(data_dir / LOCK_NAME):
        yield


def _is_stale_temp(path: Path) -> bool:
    """A temp file of ours: a hidden regular file with the temp mark (mkstemp makes no
    other kind, so a directory or FIFO under such a name is someone else's)."""
    if not (path.name.startswith(".") and TEMP_MARK in path.name):
        return False
    try:
        return stat.S_ISREG(path.lstat().st_mode)
    except FileNotFoundError:
        return False


def remove_stale_temps(data_dir: Path) -> list[Path]:
    """Delete temp files a killed publisher left; call only while holding the lock."""
    removed = []
    for folder in (data_dir, data_dir / MODELS_DIR):
        if not folder.is_dir():
            continue
        for path in folder.iterdir():
            if _is_stale_temp(path):
                path.unlink(missing_ok=True)
                removed.append(path)
    return removed


def refuse_unreplaceable(data_dir: Path) -> None:
    """Before anything changes: the files a publish or rollback replaces can be replaced."""
    refuse_directory(data_dir / POINTER_NAME, POINTER_NAME)
    refuse_directory(data_dir / PIN_NAME, PIN_NAME)


def _is_full(error: OSError) -> bool:
    return error.errno in (errno.ENOSPC, errno.EDQUOT)


def _no_space_left(folder: Path, needed: int) -> PublishError:
    """The kernel said ENOSPC: say where, and what the volume has left."""
    stats = os.statvfs(folder)
    inodes = ", and no inodes are free" if stats.f_favail == 0 else ""
    return PublishError(
        f"no space left in {folder}: the model needs {needed} bytes, "
        f"{stats.f_bavail * stats.f_frsize} bytes are free{inodes}"
    )


def _make_room(data_dir: Path, needed: int, keep: int, live: str | None) -> list[Path]:
    """Delete the old models `room_to_spare` picks when the volume lacks `needed` bytes."""
    folder = data_dir / MODELS_DIR
    free = shutil.disk_usage(folder).free
    if free >= needed:
        return []
    doomed, freed = room_to_spare(scan_models(data_dir)[0], live, keep, needed - free)
    if free + freed < needed:
        spare = f" (pruning old models would free only {freed} more)" if doomed else ""
        raise PublishError(
            f"not enough space in {folder}: the model needs {needed} bytes, "
            f"{free} bytes are free{spare}"
        )
    for path in doomed:
        path.unlink()
    return doomed


def _stored_ids(folder: Path) -> set[str]:
    return {path.stem for path in folder.glob(f"*{MODEL_SUFFIX}")}


def _write_model(
    data_dir: Path, built: BuiltModel, keep: int, live: str | None
) -> tuple[Path, list[Path]]:
    """Make room, write the model, record it, move the pointer; on a full volume undo it.

    The publication is recorded before the pointer moves: a live model is always in order.
    """
    folder = data_dir / MODELS_DIR
    folder.mkdir(parents=True, exist_ok=True)
    published = read_publications(data_dir)  # a damaged order refuses before any change
    needed = len(built.content) + ROOM_SLACK
    made_room = _make_room(data_dir, needed, keep, live)
    path = folder / f"{built.model_id}{MODEL_SUFFIX}"
    try:
        write_atomically(path, built.content)
    except OSError as error:
        if not _is_full(error):
            raise
        raise _no_space_left(folder, needed) from None
    try:
        new = Publication(built.model_id, live)
        record_publication(data_dir, published, new, _stored_ids(folder))
        point_to(data_dir, pointer_for(built.model_id, built.content, built.header))
    except OSError as error:
        full = _no_space_left(data_dir, needed) if _is_full(error) else None  # before undoing
        pointer = live_pointer(data_dir)
        if pointer is None or pointer.model_id != built.model_id:  # not live: undo it
            path.unlink(missing_ok=True)
        if full is None:
            raise
        raise full from None
    return path, made_room


def _held_back(data_dir: Path, live: Pointer | None, header: Mapping[str, Any]) -> Published | None:
    """Why not to publish at all: the live model has the same inputs, or a pin holds it."""
    if live is None:
        return None
    if live.fingerprint == header.get("fingerprint"):
        return Published("unchanged", live.model_id)
    pin = holding_pin(data_dir, dataset_sha256(header) or "")
    return Published("pinned", live.model_id, pin=pin) if pin else None


def publish(
    data_dir: Path, built: BuiltModel, keep: int, *, force: bool = False, vet: Vet | None = None
) -> Published:
    """Write a built model, then move the pointer to it, then prune old models.

    Everything happens under the publish lock, after removing what a killed publisher left
    behind. This is the only way a model becomes current. Unless `force`d, a model with the
    live model's fingerprint is not published ("unchanged"), nor one of a dataset a
    rollback pinned against ("pinned"). `vet` sees the live model's header (or None) and
    may refuse the model with a reason; a refusal raises PublishError.
    """
    if not MODEL_ID.match(built.model_id):
        raise ValueError(f"invalid model id {built.model_id!r}")
    with publish_lock(data_dir):
        remove_stale_temps(data_dir)
        refuse_unreplaceable(data_dir)
        live = live_pointer(data_dir)
        held = None if force else _held_back(data_dir, live, built.header)
        if held is not None:
            return held
        reason = vet(header_or_none(live.model_path(data_dir) if live else None)) if vet else None
        if reason:
            raise PublishError(reason)
        path, made_room = _write_model(data_dir, built, keep, live.model_id if live else None)
        lift_pin(data_dir)  # a new dataset lifts any pin
        pruned, junk = prune(data_dir, keep)
    return Published("published", built.model_id, path, None, made_room, pruned, junk)
