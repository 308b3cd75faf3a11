"""SortedKeys: every distinct song-name key of a model, sorted, as flat arrays.

The index finds a song its dicts of popular songs lack, and the page's search finds the
songs that start with a prefix, by binary search over these keys (`normalize_song_name`
of each name). They are held as their UTF-8 bytes, concatenated in sorted order, the
offsets where each starts, and the first (most popular) song id of each key: the key's
bytes and a few integers per song, where a dict or a list of str costs objects per song.
UTF-8 byte order is code point order, so the bytes sort and compare as the keys would.

Building them sorts every key. A single `list.sort` over millions of keys would hold the
GIL from start to end and stall the event loop; the build is a sample sort instead: a
Python loop (which hands the GIL over) deals the keys into buckets bounded by sampled
splitters, and each bucket is sorted on its own, as runs sorted and then merged, each a
short hold.
"""

from __future__ import annotations

import mmap
import operator
import random
from array import array
from bisect import bisect_right
from collections.abc import Callable, Sequence
from itertools import accumulate, chain, compress, count, repeat

from recsys.model.slices import PYTHON_SLICE, Pace, full_speed
from recsys.songs import normalize_song_name

# Keys per bucket of the sample sort. Fewer, larger buckets deal keys faster (each key
# is compared with fewer splitters, and the buckets stay in the CPU's caches).
_BUCKET = 2048
_OVERSAMPLE = 8  # sampled keys per splitter: keeps buckets near their intended size
_RUN = 512  # keys sorted at once: sorting them holds the GIL briefly


class SortedKeys:
    """Distinct song-name keys in byte order, each with its first song id; immutable."""

    __slots__ = ("_blob", "_offsets", "ids")

    def __init__(self, blob: mmap.mmap, offsets: array, ids: array) -> None:
        """Key i is `blob[offsets[i]:offsets[i + 1]]`; `ids[i]` is the smallest song id
        whose key it is."""
        self._blob = blob
        self._offsets = offsets
        self.ids = ids

    @classmethod
    def of(cls, names: Sequence[str], pace: Pace = full_speed) -> SortedKeys:
        """The keys of `names` (song ids are positions), normalised here."""

        def key_of(name: str) -> bytes:
            return normalize_song_name(name).encode()

        sorter = KeySorter.sampling(len(names), lambda song: key_of(names[song]), pace)
        for first in range(0, len(names), PYTHON_SLICE):
            sorter.add(first, list(map(key_of, names[first : first + PYTHON_SLICE])))
            pace()
        return sorter.sorted()

    def __len__(self) -> int:
        return len(self.ids)

    def bisect_left(self, key: bytes) -> int:
        """The first position whose key is not below `key`."""
        blob, offsets = self._blob, self._offsets
        low, high = 0, len(self.ids)
        while low < high:
            middle = (low + high) // 2
            if blob[offsets[middle] : offsets[middle + 1]] < key:
                low = middle + 1
            else:
                high = middle
        return low

    def find(self, key: bytes) -> int | None:
        """The first song id whose key is `key`, or None."""
        position = self.bisect_left(key)
        offsets = self._offsets
        if (
            position < len(self.ids)
            and self._blob[offsets[position] : offsets[position + 1]] == key
        ):
            return self.ids[position]
        return None

    def run(self, prefix: bytes) -> tuple[int, int]:
        """The positions whose key starts with `prefix`: [start, end).

        From the first key not below `prefix`, a key starts with it exactly when its
        first len(prefix) bytes are not above it, and those keys come first.
        """
        start = self.bisect_left(prefix)
        blob, offsets, size = self._blob, self._offsets, len(prefix)
        low, high = start, len(self.ids)
        while low < high:
            middle = (low + high) // 2
            first = offsets[middle]
            if blob[first : min(first + size, offsets[middle + 1])] <= prefix:
                low = middle + 1
            else:
                high = middle
        return start, low


class KeySorter:
    """A sample sort of the keys of songs 0, 1, 2, ..., which arrive a slice at a time.

    A key never holds a line break (`normalize_song_name` makes every run of whitespace
    one space), so a bucket holds its keys a line each, and splits them back in one call.
    """

    def __init__(self, splitters: list[bytes], pace: Pace) -> None:
        """Keys go to the bucket `splitters` (sorted) bound them to; equal keys share one."""
        self._splitters = splitters
        self._pace = pace
        buckets = range(len(splitters) + 1)
        self._blobs = [bytearray() for _ in buckets]  # each bucket's keys, a line each
        self._ids = [array("i") for _ in buckets]  # and their songs

    @classmethod
    def sampling(cls, songs: int, key_of: Callable[[int], bytes], pace: Pace) -> KeySorter:
        """A sorter for `songs` keys, its splitters from a fixed-seed sample of them
        (`key_of(song)`), about _BUCKET keys apart."""
        buckets = songs // _BUCKET
        if buckets < 2:
            return cls([], pace)
        draw = random.Random(0).randrange
        sample = []
        for drawn in range(buckets * _OVERSAMPLE):
            sample.append(key_of(draw(songs)))
            if not drawn % PYTHON_SLICE:
                pace()
        order = _sorted_positions(sample, pace)
        return cls([sample[position] for position in order[_OVERSAMPLE::_OVERSAMPLE]], pace)

    def add(self, first: int, keys: Sequence[bytes]) -> None:
        """The keys of songs `first`, `first + 1`, ... (each song once, in id order)."""
        blobs, ids = self._blobs, self._ids
        buckets = map(bisect_right, repeat(self._splitters), keys)
        for song, bucket, key in zip(count(first), buckets, keys):
            blob = blobs[bucket]
            blob += key
            blob += b"\n"
            ids[bucket].append(song)

    def sorted(self) -> SortedKeys:
        """Every key added, sorted, with the smallest id of each; the buckets are emptied
        as they are sorted, each in a few calls of C."""
        blob = _blank(sum(map(len, self._blobs)))  # an upper bound: line breaks included
        offsets, ids = array("q", [0]), array("i")
        blobs, bucket_ids = self._blobs[::-1], self._ids[::-1]
        self._blobs, self._ids = [], []
        while blobs:
            keys, songs = bytes(blobs.pop()).split(b"\n")[:-1], bucket_ids.pop()
            if len(keys) != len(songs):
                raise ValueError("a song-name key holds a line break")
            order = _sorted_positions(keys, self._pace)  # stable: ids ascending
            ranked = list(map(keys.__getitem__, order))
            if any(map(operator.eq, ranked, ranked[1:])):  # keep the first of equal keys
                firsts = [0, *compress(range(1, len(ranked)), map(operator.ne, ranked[1:], ranked))]
                order = list(map(order.__getitem__, firsts))
                ranked = list(map(ranked.__getitem__, firsts))
            self._pace()
            written = offsets[-1]
            offsets.fromlist(list(accumulate(map(len, ranked), initial=written))[1:])
            blob[written : offsets[-1]] = b"".join(ranked)
            ids.fromlist(list(map(songs.__getitem__, order)))
            self._pace()
        return SortedKeys(blob, offsets, ids)


def _blank(size: int) -> mmap.mmap:
    """`size` bytes for the keys, zero until written: anonymous memory, not a file (nothing
    can truncate it), whose pages are mapped as the keys are written, a bucket's worth at a
    time, and returned to the system when the model is dropped. A bytearray grown to that
    size would be copied whole each time it outgrew its room, holding the GIL through
    every page of the copy."""
    return mmap.mmap(-1, max(size, 1))


def _sorted_positions(keys: list[bytes], pace: Pace) -> list[int]:
    """The positions of `keys` in key order, equal keys in position order: runs of _RUN
    keys are sorted, then neighbouring runs merged, a pair at a time (a sort of two
    sorted runs is a merge of them, in linear time), pacing after each step."""
    runs = []
    for start in range(0, len(keys), _RUN):
        runs.append(sorted(range(start, min(start + _RUN, len(keys))), key=keys.__getitem__))
        pace()
    while len(runs) > 1:
        merged = []
        for pair in range(0, len(runs), 2):
            merged.append(sorted(chain(*runs[pair : pair + 2]), key=keys.__getitem__))
            pace()
        runs = merged
    return runs[0] if runs else []
