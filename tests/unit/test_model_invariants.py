"""A model that breaks any invariant the index relies on is refused when it is read."""

from __future__ import annotations

import os
from array import array
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from recsys.model.antecedents import keys_problem
from recsys.model.build import DatasetInfo, build_model
from recsys.model.checks import _all_within, _increasing, _sorted_within_groups
from recsys.model.format import (
    ModelError,
    decode_antecedent,
    decode_model,
    encode_antecedent,
    read_model,
)
from recsys.model.index import RuleIndex, _largest_group
from recsys.model.rules import MiningParams, RuleSet
from recsys.model.slices import SLICE, full_speed

GOOD = RuleSet(
    playlists=4,
    vocabulary=["a", "b", "c"],
    counts=[3, 2, 1],
    frequent_songs=3,
    itemsets=5,
    rules_per_song=2,
    antecedent_keys=[encode_antecedent((0,)), encode_antecedent((1,))],
    antecedent_counts=[3, 2],
    group_offsets=[0, 2, 3],
    consequents=[1, 2, 0],
    pair_counts=[2, 1, 2],
    weights=[0.6, 0.3, 1.0],
)
PARAMS = MiningParams(0.1, 0.1, 2)


def encoded(rules: RuleSet, params: MiningParams = PARAMS) -> bytes:
    return build_model(rules, params, DatasetInfo("test.csv", "0" * 64, 0)).content


def test_the_good_model_loads_and_answers() -> None:
    index = RuleIndex(decode_model(encoded(GOOD)))
    assert index.recommend(["a", "b"], 1).songs == ["c"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"group_offsets": [0, 5, 3]}, "groups are empty or out of order"),
        ({"group_offsets": [0, 3, 3]}, "groups are empty or out of order"),
        ({"group_offsets": [0, 2, 4]}, "do not cover its rules"),
        ({"antecedent_keys": GOOD.antecedent_keys[::-1]}, "antecedents are not sorted"),
        ({"antecedent_keys": [GOOD.antecedent_keys[0]] * 2}, "antecedents are not sorted"),
        (
            {"antecedent_keys": [encode_antecedent((0,)), encode_antecedent((7,))]},
            "outside its vocabulary",
        ),
        (
            {"antecedent_keys": [encode_antecedent((0,)), encode_antecedent((1, 2))]},
            "longer than its max_rule_length",
        ),
        ({"antecedent_keys": [0, encode_antecedent((1,))]}, "not valid keys"),
        ({"consequents": [1, 9, 0]}, "outside its vocabulary"),
        ({"consequents": [1, -1, 0]}, "outside its vocabulary"),
        ({"weights": [0.3, 0.6, 1.0]}, "not sorted by weight"),
        ({"weights": [0.6, 0.0, 1.0]}, "not positive finite"),
        ({"weights": [0.6, float("nan"), 1.0]}, "not positive finite"),
        ({"weights": [float("inf"), 0.3, 1.0]}, "not positive finite"),
        ({"pair_counts": [2, 0, 2]}, "counts below one"),
        ({"antecedent_counts": [3]}, "antecedent columns have different lengths"),
        ({"pair_counts": [2, 1]}, "rule columns have different lengths"),
        ({"vocabulary": ["a", "b"]}, "vocabulary does not match"),
    ],
)
def test_broken_invariants_are_refused(change: dict, message: str) -> None:
    with pytest.raises(ModelError, match=message):
        decode_model(encoded(replace(GOOD, **change)))


def test_a_key_that_is_not_sorted_inside_is_refused() -> None:
    songs_2_then_1 = (2 + 1) << 42 | (1 + 1) << 21  # encode_antecedent would sort them
    rules = replace(GOOD, antecedent_keys=[encode_antecedent((0,)), songs_2_then_1])
    with pytest.raises(ModelError, match="not valid keys"):
        decode_model(encoded(rules, MiningParams(0.1, 0.1, 3)))


@pytest.mark.parametrize(
    "fields",
    [(1, 0, 2), (2, 2, 0), (1, 3, 3), (2, 3, 1)],  # a gap, a repeated song, out of order
)
def test_keys_whose_fields_do_not_encode_increasing_songs_are_refused(fields: tuple) -> None:
    first, second, third = fields
    key = first << 42 | second << 21 | third
    rules = replace(GOOD, antecedent_keys=[encode_antecedent((0,)), key])
    with pytest.raises(ModelError, match="not valid keys"):
        decode_model(encoded(rules, MiningParams(0.1, 0.1, 4)))


SONGS = 4
FIELD = st.integers(0, SONGS + 2)  # each field: "none", a known song, or beyond
KEYS = st.one_of(
    st.builds(lambda a, b, c: a << 42 | b << 21 | c, FIELD, FIELD, FIELD),
    st.integers(min_value=-(1 << 63), max_value=(1 << 63) - 1),
)


@settings(max_examples=2000)  # microseconds each; the invalid corners are a few percent
@given(KEYS, st.integers(1, 3))
def test_a_key_passes_exactly_when_it_is_an_encoded_antecedent(key: int, longest: int) -> None:
    """The field-by-field check agrees with decoding and encoding the key again."""
    songs = SONGS
    items = decode_antecedent(key) if key > 0 else ()
    valid = (
        1 <= len(items) <= longest
        and encode_antecedent(items) == key
        and list(items) == sorted(set(items))
        and items[-1] < songs
    )
    assert (keys_problem([key], songs, longest) is None) == valid


@given(
    st.lists(st.integers(0, 39), min_size=1, max_size=3, unique=True).map(sorted),
    st.integers(1, 3),
)
def test_every_encoded_antecedent_of_known_songs_passes(items: list, longest: int) -> None:
    problem = keys_problem([encode_antecedent(tuple(items))], 40, longest)
    assert (problem is None) == (len(items) <= longest)


def test_a_model_over_the_size_cap_is_refused_before_it_is_read(tmp_path: Path) -> None:
    path = tmp_path / "big.rsm"
    path.write_bytes(encoded(GOOD))
    assert read_model(path, max_bytes=path.stat().st_size).model_id
    with pytest.raises(ModelError, match="larger than the cap"):
        read_model(path, max_bytes=path.stat().st_size - 1)


def test_only_regular_files_are_read(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "fifo.rsm")  # opening it for reading would block without a writer
    (tmp_path / "zero.rsm").symlink_to("/dev/zero")
    for name in ("fifo.rsm", "zero.rsm"):
        with pytest.raises(ModelError, match="not a regular file"):
            read_model(tmp_path / name)


@pytest.mark.parametrize("position", [0, SLICE - 1, SLICE, 3 * SLICE + 5])
def test_the_range_check_sees_every_slice(position: int) -> None:
    """Consequents are range-checked a slice at a time: a bad one anywhere is found."""
    values = array("i", [3]) * (3 * SLICE + 6)
    assert _all_within(values, 0, 4, full_speed)
    for bad in (-1, 4):
        values[position] = bad
        assert not _all_within(values, 0, 4, full_speed)
        values[position] = 3


@pytest.mark.parametrize("position", [1, SLICE - 1, SLICE, SLICE + 1, 2 * SLICE + 2])
def test_the_order_check_sees_every_pair_across_slices(position: int) -> None:
    values = array("q", range(2 * SLICE + 3))
    assert _increasing(values, full_speed)
    values[position] = values[position - 1]  # one pair not increasing
    assert not _increasing(values, full_speed)


@pytest.mark.parametrize("position", [1, SLICE - 1, SLICE, SLICE + 1, 2 * SLICE + 2])
def test_the_weight_order_check_sees_every_pair_across_slices(position: int) -> None:
    """Weights fall within each group; a rise is fine only where a group starts."""
    weights = array("f", [float(2 * SLICE + 3 - rule) for rule in range(2 * SLICE + 3)])
    one_group = array("q", [0, len(weights)])
    assert _sorted_within_groups(weights, one_group, full_speed)
    weights[position] = weights[position - 1] + 1  # a rise inside the group
    assert not _sorted_within_groups(weights, one_group, full_speed)
    split_there = array("q", [0, position, len(weights)])
    assert _sorted_within_groups(weights, split_there, full_speed)


@pytest.mark.parametrize("position", [0, SLICE - 1, SLICE, 2 * SLICE])
def test_the_largest_group_is_found_in_any_slice(position: int) -> None:
    sizes = [1] * (2 * SLICE + 1)
    sizes[position] = 7
    offsets = array("q", [0])
    for size in sizes:
        offsets.append(offsets[-1] + size)
    assert _largest_group(offsets, full_speed) == 7
