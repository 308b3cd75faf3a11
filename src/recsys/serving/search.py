"""Song search for the web page: the served model's songs whose name starts with what the
user typed, most popular first, so the browser never needs the whole vocabulary.

`SongSearch` holds, for one model:

- `order`: song ids sorted by their song-name key (`normalize_song_name`, the key requests
  are matched by). The songs that start with a prefix are one run of `order`, found by two
  binary searches over the keys. The keys are the model index's own (`RuleIndex.song_keys`,
  computed once when the model was loaded): the search keeps no text of its own and
  normalises nothing but the query, so the structure costs a few integers per song.
- a range-minimum structure over `order`: the smallest id of each block of `_BLOCK`
  positions, and a sparse table over those. Ids are popularity ranks, so the most popular
  song of a run is its smallest id, found with two short slices and two table reads.
  Taking the best `limit` songs splits a run around each song taken: a query costs a
  number of look-ups that depends on `limit`, not on how many songs match, so a prefix of
  one letter on millions of songs costs what a whole title does.

Building it sorts every key. A single `list.sort` over millions of keys would hold the
GIL from start to end and stall the event loop; the build is a sample sort instead: a
Python loop (which hands the GIL over) deals the keys into buckets bounded by sampled
splitters, and each bucket is sorted on its own, each a short hold.

`SearchCache` builds one structure per loaded model, lazily, in a worker thread, and
forgets it when the model is swapped out and collected.
"""

from __future__ import annotations

import asyncio
import heapq
import random
import weakref
from array import array
from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from dataclasses import dataclass

from recsys.model.index import RuleIndex
from recsys.songs import normalize_song_name

MAX_LIMIT = 50
_BLOCK = 64  # positions per block: slicing and scanning one is cheap
_BUCKET = 4096  # names per bucket of the sample sort: sorting one holds the GIL briefly
_OVERSAMPLE = 8  # sampled keys per splitter: keeps buckets near their intended size


@dataclass(frozen=True)
class SearchResult:
    """The most popular matching songs, in the dataset's spelling, and how many match."""

    songs: list[str]
    matches: int


def query_key(text: str) -> str:
    """The prefix to look for: the query's song-name key.

    A trailing space is kept (as one space), so that "mask " finds "Mask Off" but not
    "Maskerade": the user has finished a word.
    """
    key = normalize_song_name(text)
    if key and text[-1:].isspace():
        key += " "
    return key


class SongSearch:
    """The songs of one model by song-name prefix; immutable, shared by requests."""

    def __init__(self, names: Sequence[str], keys: Sequence[str] | None = None) -> None:
        """Index `names` (ids are positions, most popular first), whose song-name keys are
        `keys` when the caller has them (a `RuleIndex` does), else computed here.

        Slow for a large vocabulary: call it in a worker thread.
        """
        self._names = names
        self._keys = [normalize_song_name(name) for name in names] if keys is None else keys
        self._order = _sorted_unique(self._keys)
        self._position = array("i", bytes(4 * len(names)))
        for position, song in enumerate(self._order):
            self._position[song] = position
        self._table = _min_table(self._order)

    @property
    def song_count(self) -> int:
        """Distinct song-name keys (spellings of one song count once)."""
        return len(self._order)

    def search(self, query: str, limit: int) -> SearchResult:
        """The `limit` most popular songs whose key starts with `query`'s key."""
        start, end = self._run(query_key(query))
        heap = [(self._smallest(start, end), start, end)] if start < end else []
        found: list[int] = []
        while heap and len(found) < limit:
            song, low, high = heapq.heappop(heap)
            found.append(song)
            middle = self._position[song]
            if low < middle:
                heapq.heappush(heap, (self._smallest(low, middle), low, middle))
            if middle + 1 < high:
                heapq.heappush(heap, (self._smallest(middle + 1, high), middle + 1, high))
        return SearchResult([self._names[song] for song in found], end - start)

    def _run(self, prefix: str) -> tuple[int, int]:
        """The positions of `order` whose key starts with `prefix`: [start, end)."""
        keys, size = self._keys, len(prefix)

        def head(song: int) -> str:
            return keys[song][:size]

        start = bisect_left(self._order, prefix, key=keys.__getitem__)
        return start, bisect_right(self._order, prefix, lo=start, key=head)

    def _smallest(self, low: int, high: int) -> int:
        """The smallest id in order[low:high] (not empty)."""
        order = self._order
        first, last = -(-low // _BLOCK), high // _BLOCK  # the whole blocks inside
        if first >= last:
            return min(order[low:high])
        level = (last - first).bit_length() - 1
        table = self._table[level]
        best = min(table[first], table[last - (1 << level)])
        head = min(order[low : first * _BLOCK], default=best)
        tail = min(order[last * _BLOCK : high], default=best)
        return min(best, head, tail)


def _sorted_unique(keys: Sequence[str]) -> array:
    """Song ids sorted by key; of ids sharing a key, only the first (most popular)."""
    splitters = _splitters(keys)
    buckets: list[list[int]] = [[] for _ in range(len(splitters) + 1)]
    for song, key in enumerate(keys):
        buckets[bisect_right(splitters, key)].append(song)
    order = array("i")
    previous: str | None = None
    for bucket in buckets:  # equal keys share a bucket; a stable sort keeps ids ascending
        bucket.sort(key=keys.__getitem__)
        for song in bucket:
            if keys[song] != previous:
                order.append(song)
                previous = keys[song]
    return order


def _splitters(keys: Sequence[str]) -> list[str]:
    """Bucket boundaries from a fixed-seed sample of the keys, about `_BUCKET` apart."""
    buckets = len(keys) // _BUCKET
    if buckets < 2:
        return []
    sample = sorted(random.Random(0).sample(keys, buckets * _OVERSAMPLE))
    return sample[_OVERSAMPLE::_OVERSAMPLE]


def _min_table(order: array) -> list[array]:
    """Level j: for each block b, the smallest id in blocks b to b + 2**j - 1."""
    blocks = array("i", (min(order[at : at + _BLOCK]) for at in range(0, len(order), _BLOCK)))
    table = [blocks]
    span = 1
    while 2 * span <= len(blocks):
        below = table[-1]
        table.append(array("i", map(min, below[:-span], below[span:])))
        span *= 2
    return table


def build_search(index: RuleIndex) -> SongSearch:
    """The search over `index`'s songs, on the keys the index computed when it was loaded."""
    return SongSearch(index.popular(index.song_count), index.song_keys)


class SearchCache:
    """One `SongSearch` per loaded model, built on first use in a worker thread.

    Requests that arrive during a build wait for that one build. Entries are keyed by
    the model's index, weakly: once a swapped-out model is no longer used by any request
    its structure goes with it, so the cache never holds more than the models alive.
    """

    def __init__(self) -> None:
        self._builds: weakref.WeakKeyDictionary[RuleIndex, asyncio.Future[SongSearch]] = (
            weakref.WeakKeyDictionary()
        )

    def __len__(self) -> int:
        return len(self._builds)

    async def get(self, index: RuleIndex) -> SongSearch:
        build = self._builds.get(index)
        if build is None:
            build = asyncio.ensure_future(asyncio.to_thread(build_search, index))
            self._builds[index] = build
        try:
            # shield: a request that is cancelled (its client left) must not cancel the
            # build that other requests wait for
            return await asyncio.shield(build)
        except Exception:
            if self._builds.get(index) is build:  # the next request tries again
                del self._builds[index]
            raise
