"""What a pair of songs, or a longer itemset, is worth as a rule, and which rules a model
keeps.

A rule A -> c weighs count / (count(A) ** (1 - damping) * count(c) ** damping), where
count is how many playlists hold the songs. At damping 0 that is the rule's confidence;
at 0.5 it is the cosine of the two songs' playlist sets, which weighs down a chart song
that shares a playlist with everything. The index adds up the weights of every rule a
request matches, so the weights are what a model ranks by.

Each antecedent keeps only its heaviest rules (`rules_per_song`): one threshold for all
songs is the wrong budget, since a song in three playlists needs its few pairs and a chart
song its best dozens. `max_rules` bounds the whole model by keeping fewer per song.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from recsys.errors import RecsysError
from recsys.model.format import KEY_BITS, MAX_ANTECEDENT, encode_antecedent
from recsys.model.rules import MiningParams


class MiningError(RecsysError):
    """Parameters or data that cannot give a model."""


def _weight(count: pl.Expr, antecedent: pl.Expr, consequent: pl.Expr, damping: float) -> pl.Expr:
    """count / (antecedent ** (1 - damping) * consequent ** damping), stored as float32.

    Rounded to float32 here, before anything is sorted by it, so the order the trainer
    writes is the order the stored weights give.
    """
    denominator = antecedent.cast(pl.Float64).pow(1 - damping) * consequent.cast(pl.Float64).pow(
        damping
    )
    return (count.cast(pl.Float64) / denominator).cast(pl.Float32)


def pair_rules(songs: pl.DataFrame, pairs: pl.DataFrame, params: MiningParams) -> pl.DataFrame:
    """The rules a -> b and b -> a of the pairs (a, b, count; ids are rows of `songs`:
    song, id, count); where `pairs` says (Boolean columns a_b, b_a: see `heaviest`), only
    the directions the model could keep, so no song's rules outnumber its budget by much
    before `serving_order` cuts them."""
    if "a_b" not in pairs.columns:
        pairs = pairs.with_columns(a_b=pl.lit(True), b_a=pl.lit(True))
    directions = [
        pairs.filter(pl.col(f"{ante}_{cons}")).select(
            antecedent=ante, consequent=cons, count="count"
        )
        for ante, cons in (("a", "b"), ("b", "a"))
    ]
    return directed_rules(songs, pl.concat(directions), params)


def directed_rules(songs: pl.DataFrame, rules: pl.DataFrame, params: MiningParams) -> pl.DataFrame:
    """The rules antecedent -> consequent (song ids, rows of `songs`; count: playlists
    with both) that reach min_confidence, weighed, in the model's columns."""
    count_of = songs["count"]  # by id: ids are row numbers
    first = 1 << (KEY_BITS * (MAX_ANTECEDENT - 1))  # first_item_floor(0): key of song 0
    counts = (count_of.gather(rules["antecedent"]), count_of.gather(rules["consequent"]))
    weighed = rules.with_columns(count_a=counts[0], count_b=counts[1]).select(
        antecedent=(pl.col("antecedent").cast(pl.Int64) + 1) * first,
        antecedent_count=pl.col("count_a").cast(pl.Int64),
        consequent=pl.col("consequent"),
        pair_count=pl.col("count").cast(pl.Int32),
        weight=_weight(
            pl.col("count"), pl.col("count_a"), pl.col("count_b"), params.popularity_damping
        ),
    )
    if params.min_confidence > 0:
        confidence = pl.col("pair_count") / pl.col("antecedent_count")
        weighed = weighed.filter(confidence >= params.min_confidence)
    return weighed


def longer_rules(
    counts_by_itemset: dict[tuple[int, ...], int], params: MiningParams
) -> pl.DataFrame:
    """Every one-consequent rule of the itemsets of three songs or more that reaches
    min_confidence (`counts_by_itemset` also holds their subsets' counts)."""
    antecedents: list[int] = []
    antecedent_counts: list[int] = []
    consequents: list[int] = []
    pair_counts: list[int] = []
    consequent_counts: list[int] = []
    for itemset, count in counts_by_itemset.items():
        if len(itemset) < 3:
            continue
        for position, consequent in enumerate(itemset):
            antecedent = itemset[:position] + itemset[position + 1 :]
            if count / counts_by_itemset[antecedent] < params.min_confidence:
                continue
            antecedents.append(encode_antecedent(antecedent))
            antecedent_counts.append(counts_by_itemset[antecedent])
            consequents.append(consequent)
            pair_counts.append(count)
            consequent_counts.append(counts_by_itemset[(consequent,)])
    frame = pl.DataFrame(
        {
            "antecedent": pl.Series(antecedents, dtype=pl.Int64),
            "antecedent_count": pl.Series(antecedent_counts, dtype=pl.Int64),
            "consequent": pl.Series(consequents, dtype=pl.Int32),
            "pair_count": pl.Series(pair_counts, dtype=pl.Int32),
            "consequent_count": pl.Series(consequent_counts, dtype=pl.Int64),
        }
    )
    weight = _weight(
        pl.col("pair_count"),
        pl.col("antecedent_count"),
        pl.col("consequent_count"),
        params.popularity_damping,
    )
    return frame.select("antecedent", "antecedent_count", "consequent", "pair_count", weight=weight)


def serving_order(rules: pl.DataFrame, params: MiningParams) -> tuple[pl.DataFrame, int]:
    """Each antecedent's heaviest rules, grouped by antecedent, heaviest first; and how
    many each antecedent kept at most.

    Equal weights go to the more popular song (the smaller id), so the same data always
    gives the same file. Each antecedent keeps `rules_per_song`; when that would make more
    than `max_rules`, every antecedent keeps fewer, the same number for all: a song in
    three playlists loses nothing, a chart song its lightest rules.
    """
    ordered = _heaviest_first(rules, params.rules_per_song)
    per_antecedent = ordered.group_by("antecedent").len()["len"].to_numpy()
    per_song = rules_per_song(per_antecedent, params.rules_per_song, params.max_rules)
    return ordered.filter(pl.col("place") < per_song).drop("place"), per_song


def heaviest_rules(rules: pl.DataFrame, per_song: int) -> pl.DataFrame:
    """Each antecedent's `per_song` heaviest rules, in serving order (as `serving_order`)."""
    return _heaviest_first(rules, per_song).filter(pl.col("place") < per_song).drop("place")


def _heaviest_first(rules: pl.DataFrame, wanted: int) -> pl.DataFrame:
    """The rules at least as heavy as their antecedent's `wanted`-th, in serving order,
    each with its place in its antecedent's list."""
    # Only these are sorted: few, for most rules (pairs of rare songs with popular ones)
    # are far below it.
    cut = pl.col("weight").top_k(wanted).min().over("antecedent")
    return (
        rules.filter(pl.col("weight") >= cut)
        .sort(["antecedent", "weight", "consequent"], descending=[False, True, False])
        .with_columns(place=pl.int_range(pl.len(), dtype=pl.Int64).over("antecedent"))
    )


def rules_per_song(rules_by_song: np.ndarray, wanted: int, max_rules: int) -> int:
    """The largest n <= wanted such that keeping n rules per song, of the rules each song
    has (`rules_by_song`), stays within max_rules."""
    capped = np.minimum(rules_by_song, wanted)
    # having[n]: songs with more than n rules, each of which keeping n + 1 adds a rule
    having = np.bincount(capped, minlength=wanted + 1)[::-1].cumsum()[::-1][1:]
    within = int((np.cumsum(having) <= max_rules).sum())
    if within == 0:
        raise MiningError(
            f"{having[0]} songs have rules, more than RECSYS_MAX_RULES ({max_rules}): raise "
            "it, or RECSYS_MIN_PAIR_COUNT"
        )
    return within
