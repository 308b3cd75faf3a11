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
    count_of = songs["count"]  # by id: ids are row numbers
    both = pairs.with_columns(
        count_a=count_of.gather(pairs["a"]), count_b=count_of.gather(pairs["b"])
    )
    if "a_b" not in pairs.columns:
        both = both.with_columns(a_b=pl.lit(True), b_a=pl.lit(True))
    first = 1 << (KEY_BITS * (MAX_ANTECEDENT - 1))  # first_item_floor(0): key of song 0
    directions = [
        both.filter(pl.col(f"{ante}_{cons}")).select(
            antecedent=(pl.col(ante).cast(pl.Int64) + 1) * first,
            antecedent_count=pl.col(f"count_{ante}").cast(pl.Int64),
            consequent=pl.col(cons),
            pair_count=pl.col("count").cast(pl.Int32),
            weight=_weight(
                pl.col("count"),
                pl.col(f"count_{ante}"),
                pl.col(f"count_{cons}"),
                params.popularity_damping,
            ),
        )
        for ante, cons in (("a", "b"), ("b", "a"))
    ]
    rules = pl.concat(directions)
    if params.min_confidence > 0:
        confidence = pl.col("pair_count") / pl.col("antecedent_count")
        rules = rules.filter(confidence >= params.min_confidence)
    return rules


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
    wanted = params.rules_per_song
    # Only rules at least as heavy as their antecedent's wanted-th are sorted: few, for
    # most rules (pairs of rare songs with popular ones) are far below it.
    cut = pl.col("weight").top_k(wanted).min().over("antecedent")
    ordered = (
        rules.filter(pl.col("weight") >= cut)
        .sort(["antecedent", "weight", "consequent"], descending=[False, True, False])
        .with_columns(place=pl.int_range(pl.len(), dtype=pl.Int64).over("antecedent"))
    )
    per_song = _rules_per_song(ordered["place"], wanted, params.max_rules)
    kept = ordered.filter(pl.col("place") < per_song).drop("place")
    return kept, per_song


def _rules_per_song(place: pl.Series, wanted: int, max_rules: int) -> int:
    """The largest n <= wanted such that keeping n rules per antecedent (those at place
    < n) stays within max_rules."""
    sizes = place.filter(place < wanted).value_counts().sort("place")["count"]
    within = int((sizes.cum_sum() <= max_rules).sum())
    if within == len(sizes):
        return wanted
    if within == 0:
        raise MiningError(
            f"{sizes[0]} songs have rules, more than RECSYS_MAX_RULES ({max_rules}): raise "
            "it, or RECSYS_MIN_PAIR_COUNT"
        )
    return within
