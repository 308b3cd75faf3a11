"""The one mutable thing in the service: which immutable model snapshot is current.

Requests read `store.current` once and use that snapshot to the end, so a swap in the
middle of a request cannot mix two models; a swap is one reference assignment, atomic
under the GIL, so readers never wait for it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from recsys.model.index import RuleIndex
from recsys.model.pointer import Pointer


@dataclass(frozen=True)
class ServedModel:
    """A loaded model: its index, the pointer it was loaded from, and when."""

    index: RuleIndex
    pointer: Pointer
    pointer_bytes: bytes
    loaded_at: datetime
    load_seconds: float

    @property
    def model_id(self) -> str:
        return self.pointer.model_id

    @property
    def model_date(self) -> str:
        return self.pointer.model_date


class ModelStore:
    """Holds the served model (None until the first model arrives)."""

    def __init__(self) -> None:
        self.current: ServedModel | None = None

    def swap(self, snapshot: ServedModel) -> ServedModel | None:
        previous, self.current = self.current, snapshot
        return previous


def utc_now() -> datetime:
    return datetime.now(UTC)
