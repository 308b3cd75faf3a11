"""A model's song names as two flat arrays, not an object per song.

A vocabulary of millions of songs held as a list of str costs several times the names'
own bytes: each str carries an object header, and the list a reference to each. Here the
names are their UTF-8 bytes, concatenated in song-id order, and the offsets where each
starts, as the model file stores them: a name becomes a str only when it is read.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterable, Iterator, Sequence
from itertools import pairwise
from typing import overload

from recsys.model.slices import PYTHON_SLICE, Pace, full_speed


class Vocabulary(Sequence[str]):
    """Song names by id (ids are popularity ranks); immutable, shared by requests."""

    __slots__ = ("blob", "offsets")

    def __init__(self, blob: array, offsets: array) -> None:
        """Name i is `blob[offsets[i]:offsets[i + 1]]` decoded as UTF-8: `blob` (typecode
        'B') holds every name's bytes, and `offsets` (typecode 'q') one more value than
        there are names, from 0 to len(blob). They are trusted as they are: decode_model
        checks a file's before it makes them a vocabulary."""
        self.blob = blob
        self.offsets = offsets

    @classmethod
    def of(cls, names: Iterable[str], pace: Pace = full_speed) -> Vocabulary:
        """The vocabulary of `names`, encoded one at a time (no list of them is built),
        pacing between slices; UnicodeEncodeError for a name that is not text (a lone
        surrogate)."""
        blob = array("B")
        offsets = array("q", [0])
        for count, name in enumerate(names, 1):
            blob.frombytes(name.encode())
            offsets.append(len(blob))
            if not count % PYTHON_SLICE:
                pace()
        return cls(blob, offsets)

    def __len__(self) -> int:
        return len(self.offsets) - 1

    @overload
    def __getitem__(self, index: int) -> str: ...

    @overload
    def __getitem__(self, index: slice) -> list[str]: ...

    def __getitem__(self, index: int | slice) -> str | list[str]:
        if isinstance(index, slice):
            return self._names(*index.indices(len(self)))
        songs = len(self)
        song = index + songs if index < 0 else index
        if not 0 <= song < songs:
            raise IndexError("vocabulary index out of range")
        return self._name(song)

    def __iter__(self) -> Iterator[str]:
        return map(self._name, range(len(self)))

    def _names(self, start: int, stop: int, step: int) -> list[str]:
        """The names of range(start, stop, step); a run of them is copied out at once."""
        if step != 1:
            return [self._name(song) for song in range(start, stop, step)]
        if start >= stop:
            return []
        offsets = self.offsets[start : stop + 1]
        base = offsets[0]
        run = self.blob[base : offsets[-1]].tobytes()
        return [run[begin - base : end - base].decode() for begin, end in pairwise(offsets)]

    def _name(self, song: int) -> str:
        offsets = self.offsets
        return self.blob[offsets[song] : offsets[song + 1]].tobytes().decode()


def as_vocabulary(names: Sequence[str]) -> Vocabulary:
    """`names` as a vocabulary: itself if it is one, else encoded."""
    return names if isinstance(names, Vocabulary) else Vocabulary.of(names)
