"""How the index turns the names a request sends into song ids, and ids back into names,
in memory that grows by tens of bytes per song.

Most requests name popular songs, and most clients spell them exactly as the model does.
The HEAD most popular songs therefore keep what makes that cheapest: a dict from each
name to its id (one hit for an exact spelling), a dict from each song-name key to its
first id (for any other spelling, once normalised), and a list of their names. Every
other song is found by its key in the model's `SortedKeys` (a binary search over bytes)
and named by the `Vocabulary`, where a dict entry and a str per song would cost hundreds
of bytes each.

Two spellings of one key map to its first (most popular) id, wherever they are found.
"""

from __future__ import annotations

import operator
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import compress, repeat

from recsys.model.slices import PYTHON_SLICE, Pace
from recsys.model.song_keys import KeySorter, SortedKeys
from recsys.songs import normalize_song_name

HEAD = 1 << 16  # songs, most popular first, that keep dicts of their own

# Canonical ordering sorts each run of combining marks with a quadratic insertion sort, so
# a crafted name of hundreds of stacked marks costs milliseconds to normalise. No song
# name stacks this many marks on one letter; a name that does is matched only exactly.
MAX_MARK_RUN = 32
# A run of nonzero canonical combining classes (one byte each: classes go up to 240).
_LONG_CLASS_RUN = re.compile(rb"[^\x00]{%d,}" % (MAX_MARK_RUN + 1))


@dataclass(frozen=True)
class NameTables:
    """The look-ups of one model's songs (see the module's docstring)."""

    head_names: list[str]  # the names of ids below HEAD
    ids: dict[str, int]  # their keys -> first id
    exact: dict[str, int]  # their names, and any name found only exactly -> id
    sorted_keys: SortedKeys  # every song's key


def name_tables(
    vocabulary: Sequence[str], keys: Sequence[str] | None, head: int, pace: Pace
) -> NameTables:
    """The tables of `vocabulary`, a slice of names at a time; `keys`, when the caller has
    them, are `normalize_song_name` of each name, in order, and are not computed again.

    A name of a song past the head that stacks marks (see `stacks_marks`) could only be
    found exactly, so it joins `exact` (there are none in real data).
    """
    if keys is not None and len(keys) != len(vocabulary):
        raise ValueError(f"{len(keys)} song keys for a vocabulary of {len(vocabulary)} songs")

    def key_of(song: int) -> bytes:
        key = keys[song] if keys is not None else normalize_song_name(vocabulary[song])
        return key.encode()

    sorter = KeySorter.sampling(len(vocabulary), key_of, pace)
    head_names: list[str] = []
    ids: dict[str, int] = {}
    exact: dict[str, int] = {}
    stacked: list[tuple[str, str]] = []
    for first in range(0, len(vocabulary), PYTHON_SLICE):
        names = vocabulary[first : first + PYTHON_SLICE]
        part_keys = (
            list(map(normalize_song_name, names))
            if keys is None
            else keys[first : first + PYTHON_SLICE]
        )
        in_head = max(0, min(len(names), head - first))
        head_names.extend(names[:in_head])
        for song_id, name, key in zip(
            range(first, first + in_head), names[:in_head], part_keys[:in_head], strict=True
        ):
            exact.setdefault(name, ids.setdefault(key, song_id))
        tail = zip(names[in_head:], part_keys[in_head:], strict=True)
        long_enough = map(operator.gt, map(len, names[in_head:]), repeat(MAX_MARK_RUN))
        stacked.extend(
            (name, key) for name, key in compress(tail, long_enough) if stacks_marks(name)
        )
        sorter.add(first, list(map(str.encode, part_keys)))
        pace()
    sorted_keys = sorter.sorted()
    for name, key in stacked:
        found = sorted_keys.find(key.encode())
        if found is not None:  # (it always is: every key was added)
            exact.setdefault(name, found)
    return NameTables(head_names, ids, exact, sorted_keys)


def stacks_marks(name: str) -> bool:
    """Whether `name` has a run of more than MAX_MARK_RUN combining marks.

    Such a run covers a position that is a multiple of MAX_MARK_RUN + 1, so those
    positions are read first, and most names are cleared by one look-up per MAX_MARK_RUN
    + 1 characters. Only a name with a mark at one of them is read whole, as combining
    classes, in C: linear in the name. Nothing is built at import: a table of every
    combining mark of Unicode would cost each process that imports this.
    """
    run = MAX_MARK_RUN + 1
    if len(name) < run or name.isascii():
        return False
    combining = unicodedata.combining
    if not any(combining(name[at]) for at in range(0, len(name), run)):
        return False
    return _LONG_CLASS_RUN.search(bytes(map(combining, name))) is not None
