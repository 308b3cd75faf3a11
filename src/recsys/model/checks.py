"""What a model file must satisfy before it is served: every invariant the index relies
on, so that a bad model fails when it is read, never in a request.

Checks walk arrays a slice at a time, pacing between slices (see `slices`), so that a
reload beside answered requests holds the GIL only briefly at a time.
"""

from __future__ import annotations

import math
import operator
import re
from array import array
from bisect import bisect_left, bisect_right
from itertools import compress
from typing import Any, TypeGuard

from recsys.model.antecedents import MAX_ANTECEDENT, keys_problem
from recsys.model.errors import ModelError
from recsys.model.slices import PYTHON_SLICE, SLICE, Pace, overlapping_slices, slices

# A UTF-8 continuation byte: no name may start with one (it would begin mid-character).
_CONTINUATION = re.compile(rb"[\x80-\xbf]")


def is_count(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def check_model(header: dict[str, Any], arrays: dict[str, array], pace: Pace) -> None:
    """Raise ModelError on the first invariant `header` and `arrays` break."""
    songs = len(arrays["counts"])
    rules = len(arrays["consequents"])
    _check_names(arrays["names"], arrays["name_offsets"], songs, pace)
    if not all(isinstance(header.get(key), str) for key in ("model_id", "model_date")):
        raise ModelError("model header lacks a model_id or model_date")
    stats = header.get("stats")
    playlists = stats.get("playlists") if isinstance(stats, dict) else None
    if not is_count(playlists) or playlists < 1:
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
    if not all(min(part) >= 1 for part in slices(arrays["pair_counts"], pace)):
        raise ModelError("model rules have counts below one")  # int32: none is too large
    if not _all_positive_and_finite(arrays["weights"], pace):
        raise ModelError("model rule weights are not positive finite numbers")
    _check_groups(arrays, songs, rule_length - 1, pace)


def _check_names(names: array, offsets: array, songs: int, pace: Pace) -> None:
    """One non-empty name per song, each valid UTF-8, filling `names` in order.

    A slice of names is decoded at once. That alone would accept a character split
    between two names, so no name may start with a continuation byte either: then each
    name starts at a character boundary of valid text, and is valid text itself.
    """
    if len(offsets) != songs + 1:
        raise ModelError("model vocabulary does not match its song counts")
    if offsets[0] != 0 or offsets[-1] != len(names):
        raise ModelError("model song names do not fill their array")
    if not _increasing(offsets, pace):
        raise ModelError("model song names are empty or out of order")
    for first in range(0, songs, SLICE):
        if first:
            pace()
        end = min(first + SLICE, songs)
        starts = offsets[first:end]
        try:
            names[starts[0] : offsets[end]].tobytes().decode()
        except UnicodeDecodeError:
            raise ModelError("model song names are not valid UTF-8") from None
        if _CONTINUATION.search(bytes(map(names.__getitem__, starts))):
            raise ModelError("model song names are not valid UTF-8")


def _all_within(values: array, low: int, high: int, pace: Pace) -> bool:
    """low <= every value < high."""
    return all(low <= min(part) and max(part) < high for part in slices(values, pace))


def _all_positive_and_finite(values: array, pace: Pace) -> bool:
    """0 < every value < inf; a NaN anywhere makes its slice's sum NaN."""
    return all(min(part) > 0 and math.isfinite(sum(part)) for part in slices(values, pace))


def _increasing(values: array, pace: Pace) -> bool:
    """Strictly increasing, compared pairwise in C, a slice of pairs at a time (each slice
    reaches one value into the next, so no pair is skipped)."""
    return all(
        all(map(operator.lt, part, part[1:])) for _, part in overlapping_slices(values, pace)
    )


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
    for part in slices(keys, pace, PYTHON_SLICE):
        problem = keys_problem(part, songs, longest_antecedent)
        if problem:
            raise ModelError(f"model antecedents {problem}")
    if not _sorted_within_groups(weights, offsets, pace):
        raise ModelError("model rules are not sorted by weight within their groups")


def _sorted_within_groups(weights: array, offsets: array, pace: Pace) -> bool:
    """No weight is above the one before it, except where a group starts (each slice
    of weights is held to the group starts inside it, never to a set of them all, whose
    growth would rehash millions of entries in one call)."""
    for start, part in overlapping_slices(weights, pace):
        rises = compress(range(start + 1, start + len(part)), map(operator.lt, part, part[1:]))
        inside = offsets[bisect_left(offsets, start + 1) : bisect_right(offsets, start + len(part))]
        if not set(inside).issuperset(rises):
            return False
    return True
