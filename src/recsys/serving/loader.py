"""Validate-then-swap: read the pointer's model, verify and index it off the event loop,
and only then make it current. A failed load keeps the served model and is counted once
per distinct bad state, so a broken pointer left in place does not flood logs or metrics.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from recsys.model.format import ModelError, read_model
from recsys.model.repository import POINTER_NAME, Pointer, parse_pointer
from recsys.serving.index import RuleIndex
from recsys.serving.metrics import ServiceMetrics
from recsys.serving.store import ModelStore, ServedModel, utc_now

log = logging.getLogger("recsys.serving")


class LoadOutcome(StrEnum):
    """What one reload did."""

    LOADED = "loaded"  # a new model is being served
    UNCHANGED = "unchanged"  # same pointer as served, or the same broken state as last time
    ABSENT = "absent"  # nothing published yet
    FAILED = "failed"  # a new, bad pointer or model; the old model keeps serving


@dataclass(frozen=True)
class _Attempt:
    """What a failed load saw, so an unchanged broken pointer is not retried forever."""

    pointer_bytes: bytes
    model_stat: tuple[int, int] | None


def _stat_signature(path: Path) -> tuple[int, int] | None:
    try:
        stat = path.stat()
    except OSError:
        return None
    return stat.st_mtime_ns, stat.st_size


class ModelLoader:
    """Validate-then-swap: only a fully verified model ever becomes current."""

    def __init__(self, data_dir: Path, store: ModelStore, metrics: ServiceMetrics) -> None:
        self.data_dir = data_dir
        self.store = store
        self.metrics = metrics
        self._failed: _Attempt | None = None

    async def reload(self) -> LoadOutcome:
        """Load the pointer's model if it changed; return what happened."""
        try:
            raw = await asyncio.to_thread((self.data_dir / POINTER_NAME).read_bytes)
        except FileNotFoundError:
            return LoadOutcome.ABSENT
        except OSError as error:
            return self._fail(None, f"cannot read {POINTER_NAME}: {error.strerror}")
        current = self.store.current
        if current is not None and raw == current.pointer_bytes:
            return LoadOutcome.UNCHANGED
        try:
            pointer = parse_pointer(raw)
        except ModelError as error:
            return self._fail(_Attempt(raw, None), str(error))
        attempt = _Attempt(raw, _stat_signature(pointer.model_path(self.data_dir)))
        if attempt == self._failed:
            return LoadOutcome.UNCHANGED  # the same broken pointer and file as last time
        return await self._load(raw, pointer, attempt)

    async def _load(self, raw: bytes, pointer: Pointer, attempt: _Attempt) -> LoadOutcome:
        started = time.perf_counter()
        try:
            index = await asyncio.to_thread(
                lambda: RuleIndex(read_model(pointer.model_path(self.data_dir), pointer.sha256))
            )
        except ModelError as error:
            return self._fail(attempt, str(error))
        except Exception as error:  # a model that breaks the index is still just a bad model
            log.exception("model %s could not be indexed", pointer.model_id)
            return self._fail(attempt, f"{type(error).__name__}: {error}")
        seconds = time.perf_counter() - started
        snapshot = ServedModel(
            index=index,
            pointer=pointer,
            pointer_bytes=raw,
            loaded_at=utc_now(),
            load_seconds=seconds,
        )
        previous = self.store.swap(snapshot)
        self._failed = None
        self.metrics.reloads.labels("loaded").inc()
        self.metrics.served(
            pointer.model_id, pointer.model_date, index.rule_count, index.song_count, seconds
        )
        log.info(
            "serving model %s (trained %s, %d rules) after %.3f s; was %s",
            pointer.model_id,
            pointer.model_date,
            index.rule_count,
            seconds,
            previous.model_id if previous else "none",
        )
        return LoadOutcome.LOADED

    def _fail(self, attempt: _Attempt | None, reason: str) -> LoadOutcome:
        """Count and log a failure once; the same broken pointer and file are not retried."""
        if attempt is not None and attempt == self._failed:
            return LoadOutcome.UNCHANGED
        self._failed = attempt
        self.metrics.reloads.labels("failed").inc()
        serving = self.store.current.model_id if self.store.current else "nothing"
        log.error("model reload failed, still serving %s: %s", serving, reason)
        return LoadOutcome.FAILED
