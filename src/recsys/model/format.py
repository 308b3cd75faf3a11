"""The model file format: what a published model's bytes look like, and how to read them.

A model file is safe to load (nothing in it is executed) and cheap to serve: a JSON header
that describes the model, followed by flat little-endian arrays that load as whole buffers,
so the API never builds an object per rule or per song.

    offset 0   8 bytes   magic b"RECSYSM\\0"
    offset 8   8 bytes   header length H, unsigned little-endian
    offset 16  H bytes   header, UTF-8 JSON (metadata and the array directory)
    padding to a multiple of 8, then the arrays at the offsets the directory gives

Arrays (typecodes of Python's `array` module, little-endian):
    counts[V]             q  playlists holding each song; song id = popularity rank
    antecedent_keys[G]    q  sorted; each packs a sorted antecedent (see antecedents)
    antecedent_counts[G]  q  playlists holding each antecedent's songs together
    group_offsets[G+1]    q  rules of group g are [group_offsets[g], group_offsets[g+1])
    consequents[R]        i  song id recommended by each rule (int32)
    pair_counts[R]        i  playlists holding the rule's antecedent and consequent
    weights[R]            f  what the rule adds to its consequent's score (float32, > 0);
                             within a group, rules are sorted by weight (highest first,
                             then by song id)
    names[N]              B  every song's name, UTF-8, concatenated in song-id order
    name_offsets[V+1]     q  name i is names[name_offsets[i]:name_offsets[i+1]]

Support, confidence and lift are not stored: each is a ratio of the counts above and the
header's stats.playlists (pair_count / playlists, pair_count / antecedent_count,
confidence / (counts[c] / playlists)), so they come back exact, and a rule costs 12 bytes
(its consequent, pair count and weight) plus its share of its group's 24 (antecedent key,
antecedent count and offset).

Version 2 held the names in the header, as a JSON list (`vocabulary`), and had no name
arrays. It is still read, into the same arrays, so that an API upgraded before its trainer
keeps serving the model on the volume.

Only `build` writes this format and only this module reads it back (`checks` says what a
model must satisfy). It must not import the training stack: the API reads models with it.
"""

from __future__ import annotations

import hashlib
import json
import operator
import os
import sys
from array import array
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from recsys.model.antecedents import KEY_BITS as KEY_BITS
from recsys.model.antecedents import MAX_ANTECEDENT as MAX_ANTECEDENT
from recsys.model.antecedents import MAX_SONGS as MAX_SONGS
from recsys.model.antecedents import decode_antecedent as decode_antecedent
from recsys.model.antecedents import encode_antecedent as encode_antecedent
from recsys.model.antecedents import first_item_floor as first_item_floor
from recsys.model.checks import check_model, is_count
from recsys.model.errors import ModelError as ModelError  # what every reader catches
from recsys.model.files import opened_regular_file, reading_regular_file
from recsys.model.slices import COPY_BYTES, Pace, full_speed, slices
from recsys.model.vocabulary import Vocabulary
from recsys.settings import DEFAULT_MAX_MODEL_BYTES

MAGIC = b"RECSYSM\x00"
FORMAT_NAME = "recsys-model"
FORMAT_VERSION = 3
_HEADER_VOCABULARY = 2  # the last version with the vocabulary in its header

ARRAY_TYPES = {
    "counts": "q",
    "antecedent_keys": "q",
    "antecedent_counts": "q",
    "group_offsets": "q",
    "consequents": "i",
    "pair_counts": "i",
    "weights": "f",
    "names": "B",
    "name_offsets": "q",
}
_NAME_ARRAYS = ("names", "name_offsets")
_HEADER_PREFIX = 16
_MAX_HEADER = 1 << 30
_DRAIN_BYTES = 1 << 20

# The next bytes of a file, at most the size asked for; fewer only at its end.
Read = Callable[[int], bytes | memoryview]


@dataclass(frozen=True)
class ModelFile:
    """A model file read back: its header (without a version 2 file's vocabulary) and its
    arrays (with the name arrays, whatever the version)."""

    header: dict[str, Any]
    arrays: dict[str, array]

    @property
    def model_id(self) -> str:
        return str(self.header["model_id"])

    @property
    def vocabulary(self) -> Vocabulary:
        return Vocabulary(self.arrays["names"], self.arrays["name_offsets"])


def encode_model(header: Mapping[str, Any], arrays: Mapping[str, array]) -> bytes:
    """Serialise a header and arrays in the layout described at the top of this module
    (this version's, whatever version the header says it came from)."""
    directory: dict[str, dict[str, Any]] = {}
    blobs: list[bytes] = []
    offset = 0
    for name, typecode in ARRAY_TYPES.items():
        values = arrays[name]
        if values.typecode != typecode:
            raise ValueError(f"array {name} has typecode {values.typecode}, not {typecode}")
        if sys.byteorder != "little":
            values = array(typecode, values)
            values.byteswap()
        blob = values.tobytes()
        directory[name] = {"type": typecode, "offset": offset, "count": len(values)}
        blobs.append(blob)
        offset += len(blob)
        pad = -offset % 8
        blobs.append(b"\x00" * pad)
        offset += pad
    full_header = {
        **header,
        "format_version": FORMAT_VERSION,
        "byteorder": "little",
        "arrays": directory,
    }
    header_bytes = json.dumps(full_header, ensure_ascii=False, separators=(",", ":")).encode()
    prefix = MAGIC + len(header_bytes).to_bytes(8, "little") + header_bytes
    prefix += b"\x00" * (-len(prefix) % 8)
    return prefix + b"".join(blobs)


class _Source:
    """A model's bytes in file order, hashed as they pass: each array is read into its
    `array` COPY_BYTES at a time, so reading holds neither the whole file nor, at any
    moment, more than a piece of it beside the arrays."""

    def __init__(self, read: Read, pace: Pace) -> None:
        self._read = read
        self._pace = pace
        self._digest = hashlib.sha256()
        self.position = 0

    def take(self, size: int) -> bytes:
        """The next `size` bytes, or fewer at the end of the file."""
        return bytes(self._next(size))

    def fill(self, values: array, size: int) -> bool:
        """Append the next `size` bytes to `values`; False if the file ends first."""
        while size:
            wanted = min(size, COPY_BYTES)
            chunk = self._next(wanted)
            if len(chunk) < wanted:
                return False
            values.frombytes(chunk)
            size -= len(chunk)
            self._pace()
        return True

    def skip(self, size: int) -> bool:
        """Pass over the next `size` bytes; False if the file ends first."""
        while size and (chunk := self._next(min(size, _DRAIN_BYTES))):
            size -= len(chunk)
            self._pace()
        return not size

    def check(self, expected_sha256: str) -> None:
        """Read to the end; ModelError unless the whole file hashes to `expected_sha256`."""
        while self.skip(_DRAIN_BYTES):
            pass
        actual = self._digest.hexdigest()
        if actual != expected_sha256:
            raise ModelError(
                f"model sha256 mismatch: pointer says {expected_sha256}, file is {actual}"
            )

    def _next(self, size: int) -> bytes | memoryview:
        chunk = self._read(size)
        self._digest.update(chunk)
        self.position += len(chunk)
        return chunk


def _read_header(take: Callable[[int], bytes]) -> tuple[dict[str, Any], int]:
    """The header, and where the arrays start, from the start of a model file."""
    prefix = take(_HEADER_PREFIX)
    if len(prefix) < _HEADER_PREFIX or prefix[:8] != MAGIC:
        raise ModelError("not a recsys model file (bad magic bytes)")
    length = int.from_bytes(prefix[8:16], "little")
    if length > _MAX_HEADER:
        raise ModelError("model header too large")
    raw = take(length)
    if len(raw) < length:
        raise ModelError("model file is truncated (header runs past the end)")
    try:
        header = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise ModelError("model header is not valid JSON") from None
    if not isinstance(header, dict) or header.get("format") != FORMAT_NAME:
        raise ModelError("model header does not describe a recsys model")
    if header.get("format_version") not in (_HEADER_VOCABULARY, FORMAT_VERSION):
        raise ModelError(
            f"unsupported model format version {header.get('format_version')!r} "
            f"(this recsys reads versions {_HEADER_VOCABULARY} and {FORMAT_VERSION})"
        )
    data_start = _HEADER_PREFIX + length
    return header, data_start + (-data_start % 8)


def _directory(header: dict[str, Any]) -> list[tuple[int, str, int]]:
    """Each array the header's version holds: (offset from the data start, name, count),
    in file order."""
    directory = header.get("arrays")
    if not isinstance(directory, dict):
        raise ModelError("model header has no array directory")
    in_file = header["format_version"] == FORMAT_VERSION
    found = []
    for name, typecode in ARRAY_TYPES.items():
        if name in _NAME_ARRAYS and not in_file:
            continue
        entry = directory.get(name)
        if not isinstance(entry, dict) or entry.get("type") != typecode:
            raise ModelError(f"model array {name} is missing or has the wrong type")
        offset, count = entry.get("offset"), entry.get("count")
        if not is_count(offset) or not is_count(count):
            raise ModelError(f"model array {name} has an invalid offset or count")
        found.append((offset, name, count))
    # An empty array takes no room, so it shares its offset with the next array: it goes
    # first, or it would seem to start inside that one (a model without rules).
    return sorted(found, key=lambda entry: (entry[0], entry[2] > 0, entry[1]))


def _read_layout(source: _Source) -> tuple[dict[str, Any], dict[str, array]]:
    """The header and the arrays, as the file lays them out."""
    header, data_start = _read_header(source.take)
    arrays: dict[str, array] = {}
    for offset, name, count in _directory(header):
        start = data_start + offset
        if start < source.position:
            raise ModelError(f"model array {name} overlaps the one before it")
        values = array(ARRAY_TYPES[name])
        if not (
            source.skip(start - source.position) and source.fill(values, count * values.itemsize)
        ):
            raise ModelError(f"model file is truncated (array {name} runs past the end)")
        if sys.byteorder != "little":
            values.byteswap()
        arrays[name] = values
    return header, arrays


def _decode(source: _Source, expected_sha256: str | None, pace: Pace) -> ModelFile:
    """Read, verify and check a model from `source`: a file that is not the one the
    pointer names is reported as such, whatever else is wrong with it."""
    try:
        header, arrays = _read_layout(source)
    except ModelError:
        if expected_sha256 is not None:
            source.check(expected_sha256)
        raise
    if expected_sha256 is not None:
        source.check(expected_sha256)
    if header["format_version"] == _HEADER_VOCABULARY:
        _vocabulary_from_header(header, arrays, pace)
    check_model(header, arrays, pace)
    return ModelFile(header=header, arrays=arrays)


def _vocabulary_from_header(header: dict[str, Any], arrays: dict[str, array], pace: Pace) -> None:
    """A version 2 file's vocabulary, moved from its header into the name arrays."""
    vocabulary = header.pop("vocabulary", None)
    if not isinstance(vocabulary, list) or len(vocabulary) != len(arrays["counts"]):
        raise ModelError("model vocabulary does not match its song counts")
    if not all(all(isinstance(name, str) for name in part) for part in slices(vocabulary, pace)):
        raise ModelError("model vocabulary holds something other than song names")
    try:
        names = Vocabulary.of(vocabulary, pace)
    except UnicodeEncodeError:  # a lone surrogate, which JSON can spell
        raise ModelError("model vocabulary holds something other than song names") from None
    arrays["names"], arrays["name_offsets"] = names.blob, names.offsets


def decode_model(
    data: bytes, expected_sha256: str | None = None, pace: Pace = full_speed
) -> ModelFile:
    """Verify and parse a model file's bytes; raise ModelError on anything wrong."""
    view = memoryview(data)
    position = 0

    def read(size: int) -> memoryview:
        nonlocal position
        chunk = view[position : position + size]
        position += len(chunk)
        return chunk

    return _decode(_Source(read, pace), expected_sha256, pace)


def read_model(
    path: Path,
    expected_sha256: str | None = None,
    max_bytes: int = DEFAULT_MAX_MODEL_BYTES,
    pace: Pace = full_speed,
) -> ModelFile:
    """Read, verify and parse one model file (a regular file of at most `max_bytes`),
    straight into its arrays: the file's bytes are never all held at once."""
    try:
        with reading_regular_file(path, max_bytes, "model file") as read:
            return _decode(_Source(read, pace), expected_sha256, pace)
    except FileNotFoundError:
        raise ModelError(f"model file not found: {path}") from None


def read_header(path: Path) -> dict[str, Any]:
    """Only the header of a model file: enough to list models without loading rules.

    Like `read_model`, it opens only a regular file and never waits on one (a FIFO named
    by the pointer must not hold whoever lists or announces the model).
    """
    with opened_regular_file(path, "model file") as handle:
        try:
            return _read_header(handle.read)[0]
        except ModelError as error:
            raise ModelError(f"{error}: {path.name}") from None


def read_first_names(path: Path, count: int) -> list[str]:
    """The names of a model's `count` most popular songs (fewer if it has fewer), reading
    only their bytes: for an example to print, so nothing else of the model is checked."""
    with opened_regular_file(path, "model file") as handle:
        header, data_start = _read_header(handle.read)
        if header["format_version"] == _HEADER_VOCABULARY:
            vocabulary = header.get("vocabulary")
            return (
                [str(name) for name in vocabulary[:count]] if isinstance(vocabulary, list) else []
            )
        directory = {name: (data_start + offset, size) for offset, name, size in _directory(header)}
        start, size = directory["name_offsets"]
        offsets = _read_start(handle, start, "q", min(count + 1, size))
        if not offsets or offsets[0] != 0 or any(map(operator.ge, offsets, offsets[1:])):
            raise ModelError(f"model song names are not valid: {path.name}")
        start, size = directory["names"]
        names = _read_start(handle, start, "B", min(offsets[-1], size))
    if len(names) != offsets[-1]:
        raise ModelError(f"model song names are not valid: {path.name}")
    try:
        return list(Vocabulary(names, offsets))
    except UnicodeDecodeError:
        raise ModelError(f"model song names are not valid: {path.name}") from None


def _read_start(handle: BinaryIO, start: int, typecode: str, wanted: int) -> array:
    """Up to `wanted` values of type `typecode` at `start`: fewer where the file ends."""
    values = array(typecode)
    available = max(0, os.fstat(handle.fileno()).st_size - start) // values.itemsize
    handle.seek(start)
    raw = handle.read(min(wanted, available) * values.itemsize)
    values.frombytes(raw[: len(raw) - len(raw) % values.itemsize])
    if sys.byteorder != "little":
        values.byteswap()
    return values
