"""Work on a model in slices, with a pace between them.

The API reads and indexes a new model in a thread beside its event loop. A C call over a
whole large array would hold the GIL for milliseconds, and a long Python loop would keep
the loop waiting for it; so every load walks its arrays a slice at a time and calls a
`Pace` between slices. The API's loader passes one that gives its event loop the CPU back
(serving.pacing.Pacer); everyone else loads at full speed.
"""

from __future__ import annotations

from array import array
from collections.abc import Callable, Iterator, Sequence
from typing import TypeVar

# A paced reload holds the GIL for about a tenth of the time (serving.pacing), so about
# one request in ten around a swap waits for one slice: slices are kept to a fraction of
# a millisecond, which is what keeps the p99 around a swap near the steady one. Loops in
# Python take a smaller slice for the same time.
SLICE = 1 << 11
PYTHON_SLICE = 1 << 6
COPY_BYTES = 1 << 16  # bytes read or copied at once; a multiple of every array's item size

T = TypeVar("T")

# Called between slices of a load's work.
Pace = Callable[[], None]


def full_speed() -> None:
    """A pace that never pauses: nothing is waiting for the CPU."""


def slices(values: Sequence[T], pace: Pace, size: int = SLICE) -> Iterator[Sequence[T]]:
    """`values` a slice of `size` at a time, pacing between slices."""
    for start in range(0, len(values), size):
        if start:
            pace()
        yield values[start : start + size]


def overlapping_slices(values: array, pace: Pace) -> Iterator[tuple[int, array]]:
    """Where each slice starts, and its SLICE + 1 values: each slice starts at the previous
    one's last value, so that pairs of neighbours are never split."""
    for start in range(0, len(values) - 1, SLICE):
        if start:
            pace()
        yield start, values[start : start + SLICE + 1]
