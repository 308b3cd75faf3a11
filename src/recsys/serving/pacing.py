"""Running a model reload so that the requests beside it barely notice.

A reload verifies and indexes the new model in a thread of its own while the event loop keeps
answering. The two share the GIL and, in a pod limited to one CPU, the CPU; unpaced, the
thread takes about half of both for as long as the load runs, and every request in flight
waits that much longer. Two things keep the loop ahead:
- while requests are being answered, the thread sleeps after each slice of work (the
  model format calls its `Pace` between slices), so that it holds the GIL at most
  RELOAD_SHARE of the time: requests then wait at most 1 / (1 - RELOAD_SHARE) times as
  long, and the load takes 1 / RELOAD_SHARE times as long as unpaced. The first
  UNPACED_SECONDS of work are not paced (a tiny model's whole load), an idle server
  loads at full speed, and so does the first model of a process (nothing is answered yet);
- on Linux the thread runs at a lower CPU priority (a per-thread nice value), so its work
  that releases the GIL (reading, hashing) waits while the loop has something to do.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

RELOAD_SHARE = 0.1
# Work a reload does before pacing starts. A load this short costs the requests beside it
# at most this much, once; pacing it would only make the new model ten times as late.
# Kept short: unpaced work takes about half of the loop's time while it runs, and a few
# tens of milliseconds of that already slow one request in a hundred of the seconds
# around a swap, which is what their p99 measures.
UNPACED_SECONDS = 0.01
# Between the loop's 0 and the lowest, 19: the thread still runs when the loop waits for
# the GIL it holds, even if other processes want the same CPU.
RELOAD_NICE = 10

log = logging.getLogger("recsys.serving")


class Pacer:
    """A `format.Pace`: once the load has worked UNPACED_SECONDS, after each slice of
    work, if requests were answered meanwhile, sleep long enough that the work took
    RELOAD_SHARE of the time."""

    def __init__(self, answered: Callable[[], int]) -> None:
        self._answered = answered
        self._seen = answered()
        self._mark = time.perf_counter()
        self._worked = 0.0

    def __call__(self) -> None:
        worked = time.perf_counter() - self._mark
        self._worked += worked
        seen = self._answered()
        if seen != self._seen and self._worked > UNPACED_SECONDS:
            time.sleep(worked * (1 - RELOAD_SHARE) / RELOAD_SHARE)
        self._seen = seen
        self._mark = time.perf_counter()


def reload_executor() -> ThreadPoolExecutor:
    """One thread for reloads, at a lower CPU priority than the event loop's."""
    return ThreadPoolExecutor(
        max_workers=1, thread_name_prefix="recsys-reload", initializer=_lower_priority
    )


def _lower_priority() -> None:
    """Raise this thread's nice value. Only Linux gives each thread its own (elsewhere
    the call would renice the whole process), and raising it needs no privilege."""
    if sys.platform != "linux":
        return
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), RELOAD_NICE)
    except OSError as error:
        log.warning("reloads run at the event loop's priority: %s", error)
