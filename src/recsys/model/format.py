"""The model file format: what a published model's bytes look like, and how to read them.

A model file is safe to load (nothing in it is executed) and cheap to serve: a JSON header
that describes the model, followed by flat little-endian arrays that load as whole buffers
with one copy each, so the API never builds an object per rule.

    offset 0   8 bytes   magic b"RECSYSM\\0"
    offset 8   8 bytes   header length H, unsigned little-endian
    offset 16  H bytes   header, UTF-8 JSON (metadata, vocabulary, array directory)
    padding to a multiple of 8, then the arrays at the offsets the directory gives

Arrays (typecodes of Python's `array` module, little-endian):
    counts[V]             q  playlists holding each song; song id = popularity rank
    antecedent_keys[G]    q  sorted; each packs a sorted antecedent (see encode_antecedent)
    antecedent_counts[G]  q  playlists holding each antecedent's songs together
    group_offsets[G+1]    q  rules of group g are [group_offsets[g], group_offsets[g+1])
    consequents[R]        i  song id recommended by each rule (int32)
    pair_counts[R]        i  playlists holding the rule's antecedent and consequent
    weights[R]            f  what the rule adds to its consequent's score (float32, > 0);
                             within a group, rules are sorted by weight (highest first,
                             then by song id)

Support, confidence and lift are not stored: each is a ratio of the counts above and the
header's stats.playlists (pair_count / playlists, pair_count / antecedent_count,
confidence / (counts[c] / playlists)), so they come back exact, and a rule costs 12 bytes
(its consequent, pair count and weight) plus its share of its group's 24 (antecedent key,
antecedent count and offset).

Only `build` writes this format and only `decode_model` reads it back. This module must
not import the training stack: the API reads models with it.
"""

from __future__ import annotations

import hashlib
import json
import math
import operator
import sys
from array import array
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from itertools import compress
from pathlib import Path
from typing import Any, TypeGuard, TypeVar

from recsys.model.errors import ModelError as ModelError  # what every reader catches
from recsys.model.files import opened_regular_file, read_regular_file
from recsys.settings import DEFAULT_MAX_MODEL_BYTES

MAGIC = b"RECSYSM\x00"
FORMAT_NAME = "recsys-model"
FORMAT_VERSION = 2
KEY_BITS = 21
MAX_ANTECEDENT = 3
MAX_SONGS = (1 << KEY_BITS) - 2

ARRAY_TYPES = {
    "counts": "q",
    "antecedent_keys": "q",
    "antecedent_counts": "q",
    "group_offsets": "q",
    "consequents": "i",
    "pair_counts": "i",
    "weights": "f",
}
_HEADER_PREFIX = 16
_MAX_HEADER = 1 << 30
T = TypeVar("T")

# Called between slices of a load's work: the API's loader passes one that gives its event
# loop the CPU back (serving.pacing.Pacer); everyone else loads at full speed.
Pace = Callable[[], None]


def full_speed() -> None:
    """A pace that never pauses: nothing is waiting for the CPU."""


def encode_antecedent(items: tuple[int, ...]) -> int:
    """Pack a sorted antecedent of 1-3 song ids into one integer.

    Each id takes KEY_BITS bits, stored +1 so that 0 means "no item"; the first item sits
    in the highest bits. Sorting the keys therefore sorts antecedents lexicographically,
    and all antecedents that start with song `a` fill the key range
    [first_item_floor(a), first_item_floor(a + 1)).
    """
    if not 1 <= len(items) <= MAX_ANTECEDENT:
        raise ValueError(f"antecedents hold 1 to {MAX_ANTECEDENT} songs, not {len(items)}")
    key = 0
    for position in range(MAX_ANTECEDENT):
        key <<= KEY_BITS
        if position < len(items):
            key |= items[position] + 1
    return key


def decode_antecedent(key: int) -> tuple[int, ...]:
    """The song ids that `encode_antecedent` packed into `key`."""
    mask = (1 << KEY_BITS) - 1
    items = []
    for position in range(MAX_ANTECEDENT - 1, -1, -1):
        field = (key >> (position * KEY_BITS)) & mask
        if field:
            items.append(field - 1)
    return tuple(items)


def first_item_floor(song_id: int) -> int:
    """The smallest key of any antecedent whose first (smallest) song is `song_id`."""
    return (song_id + 1) << (KEY_BITS * (MAX_ANTECEDENT - 1))


@dataclass(frozen=True)
class ModelFile:
    """A model file read back: its header and its arrays."""

    header: dict[str, Any]
    arrays: dict[str, array]

    @property
    def model_id(self) -> str:
        return str(self.header["model_id"])

    @property
    def vocabulary(self) -> list[str]:
        return self.header["vocabulary"]


def encode_model(header: Mapping[str, Any], arrays: Mapping[str, array]) -> bytes:
    """Serialise a header and arrays in the layout described at the top of this module."""
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
    full_header = {**header, "byteorder": "little", "arrays": directory}
    header_bytes = json.dumps(full_header, ensure_ascii=False, separators=(",", ":")).encode()
    prefix = MAGIC + len(header_bytes).to_bytes(8, "little") + header_bytes
    prefix += b"\x00" * (-len(prefix) % 8)
    return prefix + b"".join(blobs)


def _parse_header(data: bytes | memoryview, *, need_arrays: bool) -> tuple[dict[str, Any], int]:
    if len(data) < _HEADER_PREFIX or bytes(data[:8]) != MAGIC:
        raise ModelError("not a recsys model file (bad magic bytes)")
    length = int.from_bytes(data[8:16], "little")
    if length > _MAX_HEADER or (need_arrays and _HEADER_PREFIX + length > len(data)):
        raise ModelError("model file is truncated (header runs past the end)")
    try:
        header = json.loads(bytes(data[_HEADER_PREFIX : _HEADER_PREFIX + length]))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise ModelError("model header is not valid JSON") from None
    if not isinstance(header, dict) or header.get("format") != FORMAT_NAME:
        raise ModelError("model header does not describe a recsys model")
    if header.get("format_version") != FORMAT_VERSION:
        raise ModelError(
            f"unsupported model format version {header.get('format_version')!r} "
            f"(this recsys reads version {FORMAT_VERSION})"
        )
    data_start = _HEADER_PREFIX + length
    return header, data_start + (-data_start % 8)


def decode_model(
    data: bytes, expected_sha256: str | None = None, pace: Pace = full_speed
) -> ModelFile:
    """Verify and parse a model file's bytes; raise ModelError on anything wrong."""
    if expected_sha256 is not None:
        actual = _sha256(data, pace)
        if actual != expected_sha256:
            raise ModelError(
                f"model sha256 mismatch: pointer says {expected_sha256}, file is {actual}"
            )
    header, data_start = _parse_header(data, need_arrays=True)
    view = memoryview(data)
    arrays: dict[str, array] = {}
    directory = header.get("arrays")
    if not isinstance(directory, dict):
        raise ModelError("model header has no array directory")
    for name, typecode in ARRAY_TYPES.items():
        entry = directory.get(name)
        if not isinstance(entry, dict) or entry.get("type") != typecode:
            raise ModelError(f"model array {name} is missing or has the wrong type")
        values = array(typecode)
        offset, count = entry.get("offset"), entry.get("count")
        if not _is_count(offset) or not _is_count(count):
            raise ModelError(f"model array {name} has an invalid offset or count")
        start = data_start + offset
        end = start + count * values.itemsize
        if end > len(data):
            raise ModelError(f"model file is truncated (array {name} runs past the end)")
        _copy_into(values, view, start, end, pace)
        if sys.byteorder != "little":
            values.byteswap()
        arrays[name] = values
    _check_consistency(header, arrays, pace)
    return ModelFile(header=header, arrays=arrays)


def _copy_into(values: array, view: memoryview, start: int, end: int, pace: Pace) -> None:
    """Append `view[start:end]` to `values` _COPY_BYTES at a time: one copy of a large
    array would hold the GIL for milliseconds (a memcpy, and the page faults of the fresh
    memory it fills, do not release it)."""
    for offset in range(start, end, _COPY_BYTES):
        if offset > start:
            pace()
        values.frombytes(view[offset : min(offset + _COPY_BYTES, end)])


def _sha256(data: bytes, pace: Pace) -> str:
    """The hex sha256 of `data`, a megabyte at a time (hashing releases the GIL, but not
    the CPU the event loop shares with it)."""
    digest = hashlib.sha256()
    view = memoryview(data)
    for start in range(0, len(data), 1 << 20):
        digest.update(view[start : start + (1 << 20)])
        pace()
    return digest.hexdigest()


def _is_count(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _check_consistency(header: dict[str, Any], arrays: dict[str, array], pace: Pace) -> None:
    """Every invariant the index relies on, so a bad model fails here, not in a request."""
    songs = len(arrays["counts"])
    rules = len(arrays["consequents"])
    vocabulary = header.get("vocabulary")
    if not isinstance(vocabulary, list) or len(vocabulary) != songs:
        raise ModelError("model vocabulary does not match its song counts")
    if not all(all(isinstance(name, str) for name in part) for part in _slices(vocabulary, pace)):
        raise ModelError("model vocabulary holds something other than song names")
    if not all(isinstance(header.get(key), str) for key in ("model_id", "model_date")):
        raise ModelError("model header lacks a model_id or model_date")
    stats = header.get("stats")
    playlists = stats.get("playlists") if isinstance(stats, dict) else None
    if not _is_count(playlists) or playlists < 1:
        raise ModelError("model header lacks a valid stats.playlists")
    params = header.get("params")
    rule_length = params.get("max_rule_length") if isinstance(params, dict) else None
    if not isinstance(rule_length, int) or not 2 <= rule_length <= MAX_ANTECEDENT + 1:
        raise ModelError("model header lacks a valid params.max_rule_length")
    if any(len(arrays[name]) != rules for name in ("pair_counts", "weights")):
        raise ModelError("model rule columns have different lengths")
    if len(arrays["antecedent_counts"]) != len(arrays["antecedent_keys"]):
        raise ModelError("model antecedent columns have different lengths")
    if not _all_within(arrays["consequents"], 0, songs, pace):
        raise ModelError("model rules name songs outside its vocabulary")
    if not all(min(part) >= 1 for part in _slices(arrays["pair_counts"], pace)):
        raise ModelError("model rules have counts below one")  # int32: none is too large
    if not _all_positive_and_finite(arrays["weights"], pace):
        raise ModelError("model rule weights are not positive finite numbers")
    _check_groups(arrays, songs, rule_length - 1, pace)


# Checks walk arrays a slice at a time, pacing between slices: a C call over a whole large
# array would hold the GIL for milliseconds, and the API checks a new model in a thread
# beside its event loop. Loops in Python take a smaller slice for the same time. A paced
# reload holds the GIL for about a tenth of the time (serving.pacing), so about one request
# in ten around a swap waits for one slice: slices are kept to a fraction of a millisecond,
# which is what keeps the p99 around a swap near the steady one.
SLICE = 1 << 11
PYTHON_SLICE = 1 << 6
_COPY_BYTES = 1 << 16  # a multiple of every array's item size


def _slices(values: Sequence[T], pace: Pace, size: int = SLICE) -> Iterator[Sequence[T]]:
    for start in range(0, len(values), size):
        if start:
            pace()
        yield values[start : start + size]


def _all_within(values: array, low: int, high: int, pace: Pace) -> bool:
    """low <= every value < high."""
    return all(low <= min(part) and max(part) < high for part in _slices(values, pace))


def _all_positive_and_finite(values: array, pace: Pace) -> bool:
    """0 < every value < inf; a NaN anywhere makes its slice's sum NaN."""
    return all(min(part) > 0 and math.isfinite(sum(part)) for part in _slices(values, pace))


def _increasing(values: array, pace: Pace) -> bool:
    """Strictly increasing, compared pairwise in C, a slice of pairs at a time (each slice
    reaches one value into the next, so no pair is skipped)."""
    return all(
        all(map(operator.lt, part, part[1:])) for _, part in _overlapping_slices(values, pace)
    )


def _overlapping_slices(values: array, pace: Pace) -> Iterator[tuple[int, array]]:
    """Where each slice starts, and its SLICE + 1 values: each slice starts at the previous
    one's last value."""
    for start in range(0, len(values) - 1, SLICE):
        if start:
            pace()
        yield start, values[start : start + SLICE + 1]


def _check_groups(
    arrays: dict[str, array], songs: int, longest_antecedent: int, pace: Pace
) -> None:
    """Groups: sorted unique antecedents of known songs, each owning a non-empty slice of
    the rules, highest weight first."""
    keys, offsets, weights = arrays["antecedent_keys"], arrays["group_offsets"], arrays["weights"]
    rules = len(arrays["consequents"])
    if len(offsets) != len(keys) + 1 or offsets[0] != 0 or offsets[-1] != rules:
        raise ModelError("model rule groups do not cover its rules")
    if not _increasing(offsets, pace):
        raise ModelError("model rule groups are empty or out of order")
    if not _increasing(keys, pace):
        raise ModelError("model antecedents are not sorted")
    for part in _slices(keys, pace, PYTHON_SLICE):
        problem = _keys_problem(part, songs, longest_antecedent)
        if problem:
            raise ModelError(f"model antecedents {problem}")
    if not _sorted_within_groups(weights, offsets, pace):
        raise ModelError("model rules are not sorted by weight within their groups")


def _sorted_within_groups(weights: array, offsets: array, pace: Pace) -> bool:
    """No weight is above the one before it, except where a group starts."""
    starts: set[int] = set()
    for part in _slices(offsets, pace):
        starts.update(part)
    for start, part in _overlapping_slices(weights, pace):
        rises = compress(range(start + 1, start + len(part)), map(operator.lt, part, part[1:]))
        if not starts.issuperset(rises):
            return False
    return True


def _keys_problem(keys: Sequence[int], songs: int, longest_antecedent: int) -> str | None:
    """What is wrong with any of `keys` as an antecedent of known songs, or None.

    A valid key is what encode_antecedent makes of 1 to `longest_antecedent` increasing
    song ids: its fields (id + 1 each, 0 for none) fill from the highest bits, each above
    the one before. Read field by field, without building the tuples decode would.
    """
    mask = (1 << KEY_BITS) - 1
    for key in keys:
        first, second, third = key >> 2 * KEY_BITS, key >> KEY_BITS & mask, key & mask
        if first < 1 or (third and not second):
            return "are not valid keys"
        if 1 + (second > 0) + (third > 0) > longest_antecedent:
            return "are longer than its max_rule_length allows"
        if max(first, second, third) > songs:
            return "name songs outside its vocabulary"
        if (second and second <= first) or (third and third <= second):
            return "are not valid keys"
    return None


def read_model(
    path: Path,
    expected_sha256: str | None = None,
    max_bytes: int = DEFAULT_MAX_MODEL_BYTES,
    pace: Pace = full_speed,
) -> ModelFile:
    """Read, verify and parse one model file (a regular file of at most `max_bytes`)."""
    try:
        data = read_regular_file(path, max_bytes, "model file")
    except FileNotFoundError:
        raise ModelError(f"model file not found: {path}") from None
    return decode_model(data, expected_sha256, pace)


def read_header(path: Path) -> dict[str, Any]:
    """Only the header of a model file: enough to list models without loading rules.

    Like `read_model`, it opens only a regular file and never waits on one (a FIFO named
    by the pointer must not hold whoever lists or announces the model).
    """
    with opened_regular_file(path, "model file") as handle:
        prefix = handle.read(_HEADER_PREFIX)
        if len(prefix) < _HEADER_PREFIX or prefix[:8] != MAGIC:
            raise ModelError(f"not a recsys model file: {path.name}")
        length = int.from_bytes(prefix[8:16], "little")
        if length > _MAX_HEADER:
            raise ModelError(f"model header too large: {path.name}")
        header, _ = _parse_header(prefix + handle.read(length), need_arrays=False)
    return header
