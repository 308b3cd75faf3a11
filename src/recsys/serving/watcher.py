"""Keeping the served model current: notice a new pointer, load it safely, swap it in.

Three cooperating tasks, none of which can take the server down:
- the watcher turns filesystem changes of `current.json` into a "check" signal: inotify
  events (`events`; `auto` lets watchfiles fall back to polling where native events are
  unavailable) or watchfiles' polling (`poll`, for NFS-like volumes where another node's
  writes raise no event). It watches the directory, never the file, since an atomic
  replace swaps the file's inode;
- a periodic re-check sends the same signal every RECSYS_POLL_INTERVAL seconds in every
  mode, healing any missed event;
- the reloader answers each signal with `ModelLoader.reload` (see `loader`).
Crashed tasks restart with exponential backoff.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import Awaitable, Callable

from watchfiles import Change, awatch

from recsys.model.pointer import POINTER_NAME
from recsys.serving.loader import ModelLoader
from recsys.serving.metrics import ServiceMetrics
from recsys.settings import Settings, WatchMode

log = logging.getLogger("recsys.serving")

MAX_BACKOFF_SECONDS = 30.0


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
        if not data_dir.is_dir():  # a volume not mounted yet is waited for, not fatal
            log.warning("data directory %s does not exist yet; waiting for it", data_dir)
            while not data_dir.is_dir():
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
