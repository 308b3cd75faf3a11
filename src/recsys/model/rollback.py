"""Rollback and unpin: point back at a published model and pin it there, or lift the pin.

A rollback goes to the model published before the current one (see `ordering`), or to a
named one, after verifying the whole file. It pins the model it goes to: train and
refresh leave it current while the dataset is one that was rolled back from (see `pins`).
Both it and `unpin` take the publish lock, like every change of the data directory.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from recsys.model.catalog import MODEL_ID, MODEL_SUFFIX, MODELS_DIR, previous_model, scan_models
from recsys.model.files import read_regular_file
from recsys.model.format import ModelError, decode_model
from recsys.model.pins import Pin, remove_pin, repin
from recsys.model.pointer import Pointer, live_pointer, point_to, pointer_for
from recsys.model.repository import publish_lock, refuse_unreplaceable
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
        pin = repin(data_dir, current, target)
        point_to(data_dir, target)
    return RolledBack(current, target, pin)


def unpin(data_dir: Path) -> bool:
    """Remove the pin, damaged or not, under the lock; False when there was none."""
    with publish_lock(data_dir):
        return remove_pin(data_dir)
