"""Keeping the served model current: notice a new pointer, load it safely, swap it in.

Three cooperating tasks, none of which can take the server down:
- the watcher turns filesystem changes of `current.json` into a "check" signal: inotify
  events (`events`; `auto` lets watchfiles fall back to polling where native events are
  unavailable) or watchfiles' polling (`poll`, for NFS-like volumes where another node's
  writes raise no event). It watches the directory, never the file, since an atomic
  replace swaps the file's inode;
- a periodic re-check sends the same signal every RECSYS_POLL_INTERVAL seconds in every
  mode, healing any missed event;
- the reloader answers each signal: read the pointer, and if it changed, read the model,
  verify its sha256, build the index in a worker thread, and swap one reference. Any
  failure keeps the current model, is logged and counted, and a later pointer is tried
  as usual.
Crashed tasks restart with exponential backoff.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from watchfiles import Change, awatch

from recsys.artifact import POINTER_NAME, ModelError, Pointer, parse_pointer, read_model
from recsys.index import RuleIndex
from recsys.service.metrics import ServiceMetrics
from recsys.service.store import ModelSnapshot, ModelStore, utc_now
from recsys.settings import Settings, WatchMode

log = logging.getLogger("recsys.service")

MAX_BACKOFF_SECONDS = 30.0


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

    async def reload(self) -> str:
        """Load the pointer's model if it changed; return what happened."""
        try:
            raw = await asyncio.to_thread((self.data_dir / POINTER_NAME).read_bytes)
        except FileNotFoundError:
            return "absent"
        except OSError as error:
            return self._fail(None, f"cannot read {POINTER_NAME}: {error.strerror}")
        current = self.store.current
        if current is not None and raw == current.pointer_bytes:
            return "unchanged"
        try:
            pointer = parse_pointer(raw)
        except ModelError as error:
            return self._fail(_Attempt(raw, None), str(error))
        attempt = _Attempt(raw, _stat_signature(pointer.model_path(self.data_dir)))
        if attempt == self._failed:
            return "unchanged"  # the same broken pointer and file as last time
        return await self._load(raw, pointer, attempt)

    async def _load(self, raw: bytes, pointer: Pointer, attempt: _Attempt) -> str:
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
        snapshot = ModelSnapshot(
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
        return "loaded"

    def _fail(self, attempt: _Attempt | None, reason: str) -> str:
        """Count and log a failure once; the same broken pointer and file are not retried."""
        if attempt is not None and attempt == self._failed:
            return "unchanged"
        self._failed = attempt
        self.metrics.reloads.labels("failed").inc()
        serving = self.store.current.model_id if self.store.current else "nothing"
        log.error("model reload failed, still serving %s: %s", serving, reason)
        return "failed"


def _is_pointer(change: Change, path: str) -> bool:
    return os.path.basename(path) == POINTER_NAME


class ModelWatcher:
    """Runs the watcher, re-check and reloader tasks for the app's lifetime."""

    def __init__(self, settings: Settings, loader: ModelLoader, metrics: ServiceMetrics) -> None:
        self.settings = settings
        self.loader = loader
        self.metrics = metrics
        self._check = asyncio.Event()
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        for name, body in (
            ("reloader", self._reload_loop),
            ("watcher", self._watch_loop),
            ("re-check", self._recheck_loop),
        ):
            self._tasks.append(asyncio.create_task(self._supervise(name, body)))
        self._check.set()  # a model may already be there

    async def stop(self) -> None:
        self._stop.set()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _supervise(self, name: str, body: Callable[[], Awaitable[None]]) -> None:
        backoff = 0.5
        while not self._stop.is_set():
            started = time.monotonic()
            try:
                await body()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("%s task crashed; restarting in %.1f s", name, backoff)
                self.metrics.watcher_restarts.inc()
            if time.monotonic() - started > 60:
                backoff = 0.5  # it ran fine for a while: a new crash starts the ladder again
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), backoff)
            backoff = min(backoff * 2, MAX_BACKOFF_SECONDS)

    async def _reload_loop(self) -> None:
        while True:
            await self._check.wait()
            self._check.clear()
            await self.loader.reload()

    async def _recheck_loop(self) -> None:
        while True:
            await asyncio.sleep(self.settings.poll_interval)
            self._check.set()

    async def _watch_loop(self) -> None:
        data_dir = self.loader.data_dir
        while not data_dir.is_dir():  # a volume not mounted yet is waited for, not fatal
            log.warning("data directory %s does not exist yet; waiting", data_dir)
            await asyncio.sleep(self.settings.poll_interval)
        self._check.set()
        polling = {WatchMode.EVENTS: False, WatchMode.POLL: True, WatchMode.AUTO: None}
        async for _ in awatch(
            data_dir,
            watch_filter=_is_pointer,
            recursive=False,
            debounce=50,
            step=10,
            force_polling=polling[self.settings.watch],
            poll_delay_ms=int(self.settings.poll_interval * 1000),
            stop_event=self._stop,
        ):
            self._check.set()
        if not self._stop.is_set():
            raise RuntimeError(f"watching {data_dir} ended unexpectedly")
