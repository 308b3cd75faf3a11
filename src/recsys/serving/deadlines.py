"""Deadlines for many tasks, watched by one timer per event loop.

Every request's body is read against a deadline. A timer per request (`loop.call_later`,
then `cancel`) costs each request a timer's creation and removal, which on uvloop is a
libuv timer's; almost every body has arrived whole by the time it is read, so almost every
such timer is cancelled unused. Here a request's deadline is one dict entry, and one timer,
set for the earliest deadline, cancels the tasks whose deadline has passed, exactly when it
passes, then waits for the next.
"""

from __future__ import annotations

import asyncio
from weakref import WeakKeyDictionary


class Deadlines:
    """Tasks of one event loop, each to be cancelled when its deadline passes."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self._due: dict[asyncio.Task[object], float] = {}
        self._expired: set[asyncio.Task[object]] = set()
        self._timer: asyncio.TimerHandle | None = None

    def start(self, task: asyncio.Task[object], seconds: float) -> None:
        """Cancel `task` `seconds` from now, unless `stop` comes first."""
        when = self.loop.time() + seconds
        self._due[task] = when
        if self._timer is None:
            self._timer = self.loop.call_at(when, self._expire)

    def stop(self, task: asyncio.Task[object]) -> bool:
        """Stop watching `task`; whether its deadline had passed (and cancelled it)."""
        if task in self._expired:
            self._expired.discard(task)
            return True
        self._due.pop(task, None)
        return False

    def _expire(self) -> None:
        self._timer = None
        now = self.loop.time()
        late = [task for task, when in self._due.items() if when <= now]
        for task in late:
            del self._due[task]
            self._expired.add(task)
            task.cancel()
        if self._due:  # a deadline moved on, or a task stopped early: wait for the next
            self._timer = self.loop.call_at(min(self._due.values()), self._expire)


_by_loop: WeakKeyDictionary[asyncio.AbstractEventLoop, Deadlines] = WeakKeyDictionary()
_last: Deadlines | None = None  # the one a server's every request asks for


def deadlines(loop: asyncio.AbstractEventLoop) -> Deadlines:
    """The `Deadlines` of `loop`, made on first use; dropped with the loop (the last one
    asked for is held until another loop asks, which a server never does)."""
    global _last
    if _last is not None and _last.loop is loop:
        return _last
    found = _by_loop.get(loop)
    if found is None:
        found = _by_loop[loop] = Deadlines(loop)
    _last = found
    return found
