"""`pin.json`, a rollback's hold on the served model: everything that reads, weighs,
writes or removes it.

A rollback pins the model it goes to: train and refresh leave that model current while
their dataset is one that was rolled back from (`holding_pin`). Only new dataset bytes
lift the pin (a publish removes it, `lift_pin`), or `recsys models unpin` (`remove_pin`).
A pin that names a model other than the live one is stale and holds nothing, so a rollback
killed between writing the pin and moving the pointer changes nothing. The callers that
change the pin (`repository.publish`, `rollback`) hold the publish lock.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from recsys.model.catalog import dataset_sha256, header_or_none
from recsys.model.files import (
    UnsafeFileError,
    fsync_dir,
    read_small_file,
    refuse_directory,
    write_atomically,
)
from recsys.model.format import ModelError
from recsys.model.pointer import Pointer, live_pointer

PIN_NAME = "pin.json"
# A pin names a few dataset sha256s; anything much larger is not one.
MAX_PIN_BYTES = 64 * 1024


@dataclass(frozen=True)
class Pin:
    """A rollback's hold: `model_id` stays current while the dataset is one of `held`.

    `held` are the dataset sha256s of the models rolled back from. Only new dataset bytes
    lift the pin: new parameters or a new trainer on the same bytes are what an ordinary
    redeploy brings, and would otherwise republish the model the operator rolled back from.
    """

    model_id: str
    rolled_back_from: str
    held: tuple[str, ...]
    pinned_at: str

    def to_json(self) -> dict[str, Any]:
        return {
            "model_id": self.model_id,
            "rolled_back_from": self.rolled_back_from,
            "held_datasets": list(self.held),
            "pinned_at": self.pinned_at,
        }


def read_pin(data_dir: Path) -> Pin | None:
    """The pin file, or None; a damaged one stops publishing until someone looks at it."""
    path = data_dir / PIN_NAME
    try:
        raw = read_small_file(path, MAX_PIN_BYTES, PIN_NAME)
        if raw is None:
            return None
        data = json.loads(raw)
        if not isinstance(data, dict) or not isinstance(data.get("held_datasets"), list):
            raise TypeError
        return Pin(
            model_id=str(data["model_id"]),
            rolled_back_from=str(data["rolled_back_from"]),
            held=tuple(str(sha) for sha in data["held_datasets"]),
            pinned_at=str(data["pinned_at"]),
        )
    except UnsafeFileError as error:
        raise ModelError(
            f"{path} is damaged; `recsys models unpin` removes it ({error.reason})"
        ) from None
    except (ValueError, TypeError, KeyError):
        raise ModelError(f"{path} is damaged; `recsys models unpin` removes it") from None


def holding_pin(data_dir: Path, dataset_sha256: str) -> Pin | None:
    """The pin that keeps a model of this dataset from replacing the live one, if any.

    A pin holds only while it names the live model: once anything else is live, it is
    stale and holds nothing (the next publish removes it).
    """
    pin = read_pin(data_dir)
    live = live_pointer(data_dir)
    if pin and live and pin.model_id == live.model_id and dataset_sha256 in pin.held:
        return pin
    return None


def next_pin(old: Pin | None, rolled_from: str, dataset: str | None, target: str) -> Pin | None:
    """The pin a rollback from `rolled_from` (trained on `dataset`) to `target` leaves.

    It keeps what a pin on `rolled_from` held: rolling back twice must not free the
    dataset of the first rollback.
    """
    held = set(old.held) if old and old.model_id == rolled_from else set()
    if dataset:
        held.add(dataset)
    if not held:
        return None
    now = datetime.now(UTC).isoformat(timespec="seconds")
    return Pin(target, rolled_from, tuple(sorted(held)), now)


def repin(data_dir: Path, current: Pointer | None, target: Pointer) -> Pin | None:
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


def lift_pin(data_dir: Path) -> None:
    """Remove any pin: a model of a new dataset was published."""
    (data_dir / PIN_NAME).unlink(missing_ok=True)


def remove_pin(data_dir: Path) -> bool:
    """Remove the pin, damaged or not; False when there was none."""
    refuse_directory(data_dir / PIN_NAME, PIN_NAME)
    try:
        (data_dir / PIN_NAME).unlink()
    except FileNotFoundError:
        return False
    fsync_dir(data_dir)
    return True
