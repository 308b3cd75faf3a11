"""Pair counting in blocks gives exactly the brute-force counts, however the blocks fall,
and keeps exactly the pairs a model can use."""

from __future__ import annotations

from collections import Counter
from dataclasses import replace
from itertools import combinations

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from recsys.model.rules import MiningParams, RuleSet
from recsys.training import counting
from recsys.training.counting import PAIR_SCHEMA, frequent_pairs
from recsys.training.heaviest import Heaviest, SongPowers, heaviest_pairs
from recsys.training.mining import count_pairs, kept_by, rules_at
from recsys.training.playlists import clean_pairs

SONGS = [f"song {letter}" for letter in "abcdefghijkl"]


def brute_force(baskets: list[set[int]], min_count: int) -> list[tuple[int, int, int]]:
    seen = Counter(pair for basket in baskets for pair in combinations(sorted(basket), 2))
    return sorted((a, b, n) for (a, b), n in seen.items() if n >= min_count)


def rows_of(baskets: list[set[int]]) -> pl.DataFrame:
    rows = [(pid, song) for pid, basket in enumerate(baskets) for song in basket]
    return pl.DataFrame(rows, schema={"pid": pl.Int32, "id": pl.Int32}, orient="row")


@settings(max_examples=200, deadline=None)
@given(
    baskets=st.lists(st.sets(st.integers(0, 30), max_size=12), max_size=30),
    min_count=st.integers(1, 4),
    spare_ids=st.integers(0, 50),  # ids need not be dense: songs may exceed the biggest id
    block_pairs=st.sampled_from([1, 3, 17, 1 << 23]),
)
def test_blocks_count_exactly(
    baskets: list[set[int]], min_count: int, spare_ids: int, block_pairs: int
) -> None:
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(counting, "BLOCK_PAIRS", block_pairs)
        found = frequent_pairs(rows_of(baskets), 31 + spare_ids, min_count)
    assert found.schema == pl.Schema(PAIR_SCHEMA)
    assert found.rows() == brute_force(baskets, min_count)


def test_no_rows_and_no_frequent_pair_give_empty_tables() -> None:
    assert frequent_pairs(rows_of([]), 5, 1).shape == (0, 3)
    none = frequent_pairs(rows_of([{1, 2}, {2, 3}]), 5, 2)
    assert none.shape == (0, 3)
    assert none.schema == pl.Schema(PAIR_SCHEMA)


@settings(max_examples=200, deadline=None)
@given(
    baskets=st.lists(st.sets(st.integers(0, 30), max_size=12), max_size=40),
    min_count=st.integers(1, 3),
    block_pairs=st.sampled_from([1, 3, 17, 1 << 23]),
    keep=st.builds(
        Heaviest,
        damping=st.sampled_from([0.0, 0.3, 0.5, 1.0]),
        per_song=st.integers(1, 4),
        min_confidence=st.sampled_from([0.0, 0.3]),
    ),
)
def test_keeping_the_heaviest_is_the_same_however_the_blocks_fall(
    baskets: list[set[int]], min_count: int, block_pairs: int, keep: Heaviest
) -> None:
    """Pruned block by block, the counter keeps exactly what pruning the whole count keeps
    (each block holds all the rules of its songs)."""
    rows = rows_of(baskets)
    counts = np.bincount(rows["id"].to_numpy(), minlength=31)
    powers = SongPowers.of(counts, keep.damping)
    whole = heaviest_pairs(frequent_pairs(rows, 31, min_count), powers, keep)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(counting, "BLOCK_PAIRS", block_pairs)
        assert frequent_pairs(rows, 31, min_count, keep).rows() == whole.rows()


@settings(max_examples=150, deadline=None)
@given(
    baskets=st.lists(
        st.sets(st.sampled_from(SONGS), min_size=1, max_size=10), min_size=1, max_size=40
    ),
    damping=st.sampled_from([0.0, 0.25, 0.5, 1.0]),
    per_song=st.integers(1, 4),
    min_confidence=st.sampled_from([0.0, 0.2, 0.6]),
)
def test_the_kept_pairs_give_every_rule_of_the_model(
    baskets: list[set[str]], damping: float, per_song: int, min_confidence: float
) -> None:
    """The rules built from the kept pairs are the rules built from every pair."""
    params = MiningParams(0.0, min_confidence, 2, damping, per_song, min_count=1)
    frame = pl.DataFrame(
        [(str(pid), song) for pid, basket in enumerate(baskets) for song in basket],
        schema=["pid", "track_name"],
        orient="row",
    )
    playlists = clean_pairs(frame)
    every = count_pairs(playlists, 1)
    kept = count_pairs(playlists, 1, keep=kept_by(params))
    assert kept.pairs.height <= every.pairs.height
    assert rules_at(kept, 1, params) == rules_at(every, 1, params)  # the same kept pairs


def assert_same_rules(left: RuleSet, right: RuleSet) -> None:
    """Equal but for `itemsets`, which counts the pairs kept."""
    assert replace(left, itemsets=0) == replace(right, itemsets=0)


def test_keeping_the_heaviest_drops_most_pairs_of_a_real_sample() -> None:
    from recsys.training.playlists import load_playlists
    from tests.support.paths import SAMPLE_DS1

    playlists = load_playlists(SAMPLE_DS1)
    params = MiningParams(0.0, 0.0, 2, 0.2, 5, min_count=2)
    every = count_pairs(playlists, 2)
    kept = count_pairs(playlists, 2, keep=kept_by(params))
    assert kept.pairs.height < every.pairs.height / 4
    assert_same_rules(rules_at(every, 2, params), rules_at(kept, 2, params))


@settings(max_examples=200, deadline=None)
@given(
    counted=st.dictionaries(
        st.tuples(st.integers(0, 8), st.integers(0, 8)).filter(lambda pair: pair[0] < pair[1]),
        st.integers(1, 6),
        max_size=30,
    ),
    damping=st.sampled_from([0.0, 0.3, 0.5]),
    per_song=st.integers(1, 4),
    min_confidence=st.sampled_from([0.0, 0.4]),
)
def test_a_pair_is_kept_when_it_is_near_one_of_its_songs_heaviest_rules(
    counted: dict[tuple[int, int], int], damping: float, per_song: int, min_confidence: float
) -> None:
    """Brute force: each song's per_song-th heaviest weight among all its rules (whichever
    side of the pair it is on); a pair stays if either of its rules reaches its song's."""
    counts = np.array([10.0 + song for song in range(9)])
    keep = Heaviest(damping, per_song, min_confidence)
    rules: dict[int, list[tuple[float, tuple[int, int]]]] = {}
    for (a, b), together in counted.items():
        for antecedent, consequent in ((a, b), (b, a)):
            divisor = counts[antecedent] ** (1 - damping) * counts[consequent] ** damping
            weight = together / divisor
            eligible = together / counts[antecedent] >= min_confidence
            rules.setdefault(antecedent, []).append((weight if eligible else -1.0, (a, b)))
    expected = set()
    for weights in rules.values():
        ranked = sorted((max(weight, 0.0) for weight, _ in weights), reverse=True)
        floor = float(np.float32(ranked[per_song - 1])) if len(ranked) >= per_song else 0.0
        expected |= {pair for weight, pair in weights if weight >= floor * (1 - 1e-6)}
    pairs = pl.DataFrame(
        [(a, b, n) for (a, b), n in sorted(counted.items())], schema=PAIR_SCHEMA, orient="row"
    )
    kept = heaviest_pairs(pairs, SongPowers.of(counts, damping), keep)
    assert {(a, b) for a, b, _ in kept.rows()} == expected
