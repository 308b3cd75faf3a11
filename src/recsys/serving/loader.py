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

from recsys.model.errors import ModelError
from recsys.model.files import read_regular_file
from recsys.model.format import read_model
from recsys.model.index import RuleIndex
from recsys.model.pointer import MAX_POINTER_BYTES, POINTER_NAME, Pointer, parse_pointer
from recsys.model.slices import Pace, full_speed
from recsys.serving.metrics import ServiceMetrics
from recsys.serving.pacing import Pacer, reload_executor
from recsys.serving.store import ModelStore, ServedModel, utc_now
from recsys.settings import DEFAULT_MAX_MODEL_BYTES

log = logging.getLogger("recsys.serving")
# The model's counts: read to check the model (and for `recsys models show`), never by a
# request, which needs only the rules' songs and weights.
_COUNTS = ("counts", "antecedent_counts", "pair_counts")


class LoadOutcome(StrEnum):
    """What one reload did."""

    LOADED = "loaded"  # a new model is being served
    UNCHANGED = "unchanged"  # same pointer as served, or the same broken state as last time
    ABSENT = "absent"  # nothing published yet
    FAILED = "failed"  # a new, bad pointer or model; the old model keeps serving


@dataclass(frozen=True)
class _Attempt:
    """What a failed load saw, so an unchanged broken state is counted once, not per poll."""

    pointer_bytes: bytes
    file_state: tuple[int, ...] | None  # the model file's, or the pointer's when unreadable


def _state(path: Path) -> tuple[int, ...] | None:
    """What changes when a file is replaced or rewritten (type, inode, mtime, size)."""
    try:
        info = path.stat()
    except OSError:
        return None
    return info.st_mode, info.st_ino, info.st_mtime_ns, info.st_size


class ModelLoader:
    """Validate-then-swap: only a fully verified model ever becomes current."""

    def __init__(
        self,
        data_dir: Path,
        store: ModelStore,
        metrics: ServiceMetrics,
        max_model_bytes: int = DEFAULT_MAX_MODEL_BYTES,
    ) -> None:
        self.data_dir = data_dir
        self.store = store
        self.metrics = metrics
        self.max_model_bytes = max_model_bytes
        self._failed: _Attempt | None = None
        self._reloads = reload_executor()

    async def reload(self) -> LoadOutcome:
        """Load the pointer's model if it changed; return what happened."""
        path = self.data_dir / POINTER_NAME
        try:
            raw = await asyncio.to_thread(read_regular_file, path, MAX_POINTER_BYTES, "pointer")
        except FileNotFoundError:
            return LoadOutcome.ABSENT
        except (ModelError, MemoryError) as error:
            return self._fail(_Attempt(b"", _state(path)), _reason(error))
        current = self.store.current
        if current is not None and raw == current.pointer_bytes:
            self._failed = None  # back to the served state: a later break is a new one
            return LoadOutcome.UNCHANGED
        try:
            pointer = parse_pointer(raw)
        except ModelError as error:
            return self._fail(_Attempt(raw, None), str(error))
        attempt = _Attempt(raw, _state(pointer.model_path(self.data_dir)))
        if attempt == self._failed:
            return LoadOutcome.UNCHANGED  # the same broken pointer and file as last time
        return await self._load(raw, pointer, attempt)

    def _index(self, pointer: Pointer, pace: Pace) -> RuleIndex:
        """Read, verify and index the pointer's model (in the reload thread, see pacing)."""
        path = pointer.model_path(self.data_dir)
        model = read_model(path, pointer.sha256, self.max_model_bytes, pace)
        if model.model_id != pointer.model_id:
            raise ModelError(
                f"model file {path.name} says it is {model.model_id!r}, "
                f"the pointer says {pointer.model_id!r}"
            )
        for checked_only in _COUNTS:  # freed before the index is built, not after
            del model.arrays[checked_only]
        return RuleIndex(model, pace)

    async def _load(self, raw: bytes, pointer: Pointer, attempt: _Attempt) -> LoadOutcome:
        started = time.perf_counter()
        pace: Pace = full_speed  # see pacing: nothing is answered until a model is served
        if self.store.current is not None:
            pace = Pacer(lambda: self.metrics.requests.answered)
        try:
            loop = asyncio.get_running_loop()
            index = await loop.run_in_executor(self._reloads, self._index, pointer, pace)
        except ModelError as error:
            return self._fail(attempt, str(error))
        except Exception as error:  # MemoryError included: still just a model we cannot serve
            log.exception("model %s could not be loaded", pointer.model_id)
            return self._fail(attempt, _reason(error))
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
        stats = index.header.get("stats")
        coverage = stats.get("coverage") if isinstance(stats, dict) else None
        self.metrics.served(
            pointer.model_id,
            pointer.model_date,
            index.rule_count,
            index.song_count,
            seconds,
            float(coverage) if isinstance(coverage, int | float) else float("nan"),
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

    def _fail(self, attempt: _Attempt, reason: str) -> LoadOutcome:
        """Count and log a failure once; the same broken pointer and file are not retried."""
        if attempt == self._failed:
            return LoadOutcome.UNCHANGED
        self._failed = attempt
        self.metrics.reloads.labels("failed").inc()
        serving = self.store.current.model_id if self.store.current else "nothing"
        log.error("model reload failed, still serving %s: %s", serving, reason)
        return LoadOutcome.FAILED


def _reason(error: BaseException) -> str:
    if isinstance(error, ModelError):
        return str(error)
    return f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
