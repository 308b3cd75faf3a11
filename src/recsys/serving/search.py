"""Song search for the web page: the served model's songs whose name starts with what the
user typed, most popular first, so the browser never needs the whole vocabulary.

`SongSearch` holds, for one model:

- the model index's own sorted song-name keys (`RuleIndex.sorted_keys`: the distinct keys
  requests are matched by, in byte order, each with its first song id, built when the
  model was loaded). The songs that start with a prefix are one run of them, found by two
  binary searches. The search keeps no text of its own and normalises nothing but the
  query.
- a range-minimum structure over the run's ids: the position of the smallest id of each
  block of `_BLOCK` positions, and a sparse table over those. Ids are popularity ranks, so
  the most popular song of a run is its smallest id, found with two short slices and two
  table reads. Taking the best `limit` songs splits a run around each song taken: a query
  costs a number of look-ups that depends on `limit`, not on how many songs match, so a
  prefix of one letter on millions of songs costs what a whole title does. The structure
  costs a few bytes per block of songs.

`SearchCache` builds one structure per loaded model, lazily, in a worker thread, and
forgets it when the model is swapped out and collected.
"""

from __future__ import annotations

import asyncio
import heapq
import weakref
from array import array
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from recsys.model.index import RuleIndex
from recsys.model.song_keys import SortedKeys
from recsys.songs import normalize_song_name

MAX_LIMIT = 50
_BLOCK = 64  # positions per block: slicing and scanning one is cheap


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

    def __init__(self, names: Sequence[str], keys: SortedKeys | None = None) -> None:
        """Index `names` (ids are positions, most popular first), whose sorted song-name
        keys are `keys` when the caller has them (a `RuleIndex` does), else made here.

        Slow for a large vocabulary: call it in a worker thread.
        """
        self._names = names
        self._keys = SortedKeys.of(names) if keys is None else keys
        self._ids = self._keys.ids
        self._table = _min_table(self._ids)

    @property
    def song_count(self) -> int:
        """Distinct song-name keys (spellings of one song count once)."""
        return len(self._keys)

    def search(self, query: str, limit: int) -> SearchResult:
        """The `limit` most popular songs whose key starts with `query`'s key."""
        ids = self._ids
        start, end = self._keys.run(query_key(query).encode())
        heap = []
        if start < end:
            at = self._smallest(start, end)
            heap.append((ids[at], at, start, end))
        found: list[int] = []
        while heap and len(found) < limit:
            song, middle, low, high = heapq.heappop(heap)
            found.append(song)
            for part in ((low, middle), (middle + 1, high)):
                if part[0] < part[1]:
                    at = self._smallest(*part)
                    heapq.heappush(heap, (ids[at], at, *part))
        return SearchResult([self._names[song] for song in found], end - start)

    def _smallest(self, low: int, high: int) -> int:
        """The position of the smallest id in ids[low:high] (not empty)."""
        ids = self._ids
        first, last = -(-low // _BLOCK), high // _BLOCK  # the whole blocks inside
        if first >= last:
            return _position_of_min(ids, low, high)
        level = (last - first).bit_length() - 1
        table = self._table[level]
        best = min(table[first], table[last - (1 << level)], key=ids.__getitem__)
        for start, end in ((low, first * _BLOCK), (last * _BLOCK, high)):
            if start < end:
                best = min(best, _position_of_min(ids, start, end), key=ids.__getitem__)
        return best


def _position_of_min(ids: array, low: int, high: int) -> int:
    part = ids[low:high]
    return low + part.index(min(part))


def _min_table(ids: array) -> list[array]:
    """Level j: for each block b, the position of the smallest id in blocks b to
    b + 2**j - 1."""
    blocks = array(
        "i", (_position_of_min(ids, at, at + _BLOCK) for at in range(0, len(ids), _BLOCK))
    )
    table = [blocks]
    span = 1
    while 2 * span <= len(blocks):
        below = table[-1]
        table.append(array("i", map(_smaller(ids), below[:-span], below[span:])))
        span *= 2
    return table


def _smaller(ids: array) -> Callable[[int, int], int]:
    """Of two positions, the one of the smaller id."""

    def smaller(left: int, right: int) -> int:
        return left if ids[left] < ids[right] else right

    return smaller


def build_search(index: RuleIndex) -> SongSearch:
    """The search over `index`'s songs, on the keys the index sorted when it was loaded."""
    return SongSearch(index.vocabulary, index.sorted_keys)


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
