"""Pair counting in blocks gives exactly the brute-force counts, however the blocks fall."""

from __future__ import annotations

from collections import Counter
from itertools import combinations

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from recsys.training import counting
from recsys.training.counting import PAIR_SCHEMA, frequent_pairs


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
    block_rows=st.sampled_from([1, 3, 17, 1 << 23]),
)
def test_blocks_count_exactly(
    baskets: list[set[int]], min_count: int, spare_ids: int, block_rows: int
) -> None:
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(counting, "BLOCK_ROWS", block_rows)
        found = frequent_pairs(rows_of(baskets), 31 + spare_ids, min_count)
    assert found.schema == pl.Schema(PAIR_SCHEMA)
    assert found.rows() == brute_force(baskets, min_count)


def test_no_rows_and_no_frequent_pair_give_empty_tables() -> None:
    assert frequent_pairs(rows_of([]), 5, 1).shape == (0, 3)
    none = frequent_pairs(rows_of([{1, 2}, {2, 3}]), 5, 2)
    assert none.shape == (0, 3)
    assert none.schema == pl.Schema(PAIR_SCHEMA)
