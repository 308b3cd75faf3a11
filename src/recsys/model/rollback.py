"""Rollback and its pin: point back at a published model, and hold it there.

A rollback goes to the model published before the current one (see `ordering`), or to a
named one, after verifying the whole file. It pins the model it goes to: train and
refresh leave it current while the dataset is one that was rolled back from (`catalog.Pin`).
Both it and `unpin` take the publish lock, like every change of the data directory.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from recsys.model.catalog import (
    MODEL_ID,
    MODEL_SUFFIX,
    MODELS_DIR,
    PIN_NAME,
    Pin,
    dataset_sha256,
    header_or_none,
    next_pin,
    previous_model,
    read_pin,
    scan_models,
)
from recsys.model.files import fsync_dir, read_regular_file, refuse_directory, write_atomically
from recsys.model.format import ModelError, decode_model
from recsys.model.repository import (
    Pointer,
    live_pointer,
    point_to,
    pointer_for,
    publish_lock,
    refuse_unreplaceable,
)
from recsys.settings import DEFAULT_MAX_MODEL_BYTES


def pointer_to_existing(
    data_dir: Path, model_id: str, max_bytes: int = DEFAULT_MAX_MODEL_BYTES
) -> Pointer:
    """A pointer to an already published model, after verifying the whole file."""
    path = data_dir / MODELS_DIR / f"{model_id}{MODEL_SUFFIX}"
    if not MODEL_ID.match(model_id) or not path.is_file():
        raise ModelError(f"no published model {model_id!r} in {data_dir / MODELS_DIR}")
    content = read_regular_file(path, max_bytes, "model file")
    model = decode_model(content)
    return pointer_for(model_id, content, model.header)


@dataclass(frozen=True)
class RolledBack:
    """What `rollback` did: the model it left, the one now live, and the pin it wrote."""

    previous: Pointer | None
    target: Pointer
    pin: Pin | None


def _repin(data_dir: Path, current: Pointer | None, target: Pointer) -> Pin | None:
    """Write the pin a rollback from `current` to `target` leaves (or drop a stale one)."""
    if current is None or current.model_id == target.model_id:
        return None
    try:
        old = read_pin(data_dir)
    except ModelError:
        old = None  # a rollback replaces a damaged pin
    dataset = dataset_sha256(header_or_none(current.model_path(data_dir)))
    pin = next_pin(old, current.model_id, dataset, target.model_id)
    if pin is None:
        (data_dir / PIN_NAME).unlink(missing_ok=True)
    else:
        write_atomically(data_dir / PIN_NAME, json.dumps(pin.to_json(), indent=2).encode() + b"\n")
    return pin


def rollback(
    data_dir: Path, model_id: str | None = None, max_bytes: int = DEFAULT_MAX_MODEL_BYTES
) -> RolledBack:
    """Point at `model_id`, or at the model published before the current one, and pin it.

    The pin is written before the pointer moves, so a rollback killed halfway leaves a
    stale pin (one naming a model that is not live), which holds nothing.
    """
    with publish_lock(data_dir):
        refuse_unreplaceable(data_dir)
        current = live_pointer(data_dir)
        if model_id is None:
            if current is None:
                raise ModelError("nothing to roll back: no current model")
            previous = previous_model(scan_models(data_dir)[0], current.model_id)
            if previous is None:
                raise ModelError(f"no model published before the current one ({current.model_id})")
            model_id = previous.model_id
        target = pointer_to_existing(data_dir, model_id, max_bytes)
        pin = _repin(data_dir, current, target)
        point_to(data_dir, target)
    return RolledBack(current, target, pin)


def unpin(data_dir: Path) -> bool:
    """Remove the pin, damaged or not, under the lock; False when there was none."""
    with publish_lock(data_dir):
        refuse_directory(data_dir / PIN_NAME, PIN_NAME)
        try:
            (data_dir / PIN_NAME).unlink()
        except FileNotFoundError:
            return False
        fsync_dir(data_dir)
    return True
