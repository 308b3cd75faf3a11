"""Playlists to association rules, exactly.

polars counts how many playlists hold each song; songs below the threshold (the
settings' `min_pair_count` playlists, and `min_support` of them if set) are dropped and
the rest become small integers, whose frequent pairs `counting` counts in blocks of
bounded memory (or a Spark cluster does: `spark`). efficient-apriori then mines the
longer itemsets inside each song's projected playlists, where its candidates are few.
The result is the same itemset collection Apriori finds on the raw names (the tests check
it against efficient-apriori), in a fraction of the time. Rules keep one song on the
right-hand side: for recommending, a rule {a} -> {b, c} never outranks {a} -> {b}, whose
confidence is at least as high, so multi-song consequents would only add weight to the
model.

`weighting` weighs the rules and keeps each song's heaviest. They come out in the serving
order of the model format (grouped by antecedent, heaviest first within a group), so the
API loads them as flat arrays without sorting anything.
"""

from __future__ import annotations

from array import array
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import polars as pl
from efficient_apriori.itemsets import itemsets_from_transactions

from recsys.model.format import ARRAY_TYPES, MAX_SONGS
from recsys.model.rules import MiningParams, RuleSet
from recsys.training.counting import frequent_pairs
from recsys.training.heaviest import Heaviest, SongPowers, heaviest_directions
from recsys.training.playlists import Playlists
from recsys.training.weighting import MiningError, longer_rules, pair_rules, serving_order

# (pairs: pid, id) rows, the number of song ids, min_count, what the model keeps (None:
# every pair) -> frequent pairs (a, b, count)
PairCounter = Callable[[pl.DataFrame, int, int, Heaviest | None], pl.DataFrame]


def song_ids(playlists: Playlists) -> pl.DataFrame:
    """Songs with their playlist counts, most popular first; row number = song id."""
    return (
        playlists.pairs.group_by("song")
        .len("count")
        .sort(["count", "song"], descending=[True, False])
        .with_row_index("id")
    )


def co_occurrences(pairs: pl.DataFrame) -> pl.LazyFrame:
    """Every (pid, a, b) with a < b both in playlist pid: what longer itemsets are mined
    from. Lazy: only rules of three songs or more ever collect (a projection of) it."""
    lazy = pairs.lazy()
    return (
        lazy.join(lazy, on="pid", suffix="_b")
        .filter(pl.col("id") < pl.col("id_b"))
        .select("pid", pl.col("id").alias("a"), pl.col("id_b").alias("b"))
    )


def extendable_pairs(pair_table: pl.DataFrame) -> pl.DataFrame:
    """Frequent pairs (a, b) that some frequent triple {a, b, c} could contain.

    Apriori's own prune: a triple is a candidate only if all three of its pairs are frequent.
    A pair in no such triangle can be left out of a's projection.
    """
    edges = pair_table.select("a", "b")
    triangles = (
        edges.join(edges, on="a", suffix="_c")
        .filter(pl.col("b") < pl.col("b_c"))
        .join(
            edges.select(pl.col("a").alias("b"), pl.col("b").alias("b_c")),
            on=["b", "b_c"],
            how="semi",
        )
    )
    return pl.concat(
        [triangles.select("a", "b"), triangles.select("a", pl.col("b_c").alias("b"))]
    ).unique()


def projected_itemsets(
    co: pl.LazyFrame, pair_table: pl.DataFrame, min_count: int, max_length: int
) -> dict[tuple[int, ...], int]:
    """Itemsets of 3 or more songs, mined by efficient-apriori one first song at a time.

    Itemsets whose smallest song is `a` are `a` plus a frequent itemset of a's projected
    playlists: the playlists holding `a`, keeping only songs b > a with {a, b} frequent
    and in some triangle (see `extendable_pairs`), and only playlists left with two such
    songs, as one song cannot extend a pair. Each
    projection is small, so Apriori's candidates stay few. Thresholds are absolute counts,
    passed as min_count / len(projection): division rounds monotonically, so efficient-apriori's
    `count / n >= min_support` keeps exactly the itemsets with count >= min_count.
    """
    projected = (
        co.join(extendable_pairs(pair_table).lazy(), on=["a", "b"], how="semi")
        .group_by("a", "pid")
        .agg(pl.col("b").sort())
        .filter(pl.col("b").list.len() >= 2)
        .group_by("a")
        .agg(pl.col("b"))
        .filter(pl.col("b").list.len() >= min_count)
        .collect(engine="streaming")
    )
    found: dict[tuple[int, ...], int] = {}
    for first, baskets in projected.iter_rows():
        itemsets, _ = itemsets_from_transactions(
            [tuple(basket) for basket in baskets],
            min_count / len(baskets),
            max_length=max_length - 1,
        )
        for size, level in itemsets.items():
            if size < 2:
                continue
            for rest, count in level.items():
                found[(first, *rest)] = count
    return found


def minimum_count(min_support: float, playlists: int) -> int:
    """The smallest count c with c / playlists >= min_support, as efficient-apriori compares."""
    count = max(1, int(min_support * playlists))
    while count > 1 and (count - 1) / playlists >= min_support:
        count -= 1
    while count / playlists < min_support:
        count += 1
    return count


@dataclass(frozen=True)
class PairCounts:
    """Every song's playlist count and every pair of songs in at least `min_count` playlists.

    Counted once, this gives the exact rules of two songs for any count threshold at or
    above `min_count` (`bench quality` scans them so).
    """

    playlists: Playlists
    total: int
    songs: pl.DataFrame  # song, id, count: every song, most popular first
    min_count: int
    pairs: pl.DataFrame  # a, b (a < b), count >= min_count
    co: pl.LazyFrame  # co-occurrence rows, for longer itemsets


def count_pairs(
    playlists: Playlists,
    min_count: int,
    counter: PairCounter = frequent_pairs,
    keep: Heaviest | None = None,
) -> PairCounts:
    """Song counts and the pairs of songs in `min_count` playlists or more, songs ranked by
    popularity (id = rank). `counter` counts them (this process, or a Spark cluster);
    `keep`, when given, drops the pairs no rule of such a model can use."""
    songs = song_ids(playlists)
    frequent = songs.filter(pl.col("count") >= min_count)
    pairs = playlists.pairs.join(frequent.select("song", "id"), on="song").select(
        "pid", pl.col("id").cast(pl.Int32)
    )
    return PairCounts(
        playlists=playlists,
        total=playlists.playlist_count,
        songs=songs,
        min_count=min_count,
        pairs=counter(pairs, songs.height, min_count, keep),  # ids: ranks among all songs
        co=co_occurrences(pairs),
    )


def rule_threshold(params: MiningParams, playlists: int) -> int:
    """Playlists a rule's songs must share: `min_count`, and `min_support` of them if set."""
    if params.min_support <= 0:
        return params.min_count
    return max(params.min_count, minimum_count(params.min_support, playlists))


def mine(
    playlists: Playlists, params: MiningParams, counter: PairCounter = frequent_pairs
) -> RuleSet:
    """Frequent itemsets up to `max_rule_length` songs, then one-consequent rules."""
    min_count = rule_threshold(params, playlists.playlist_count)
    counts = count_pairs(playlists, min_count, counter=counter, keep=kept_by(params))
    longer: dict[tuple[int, ...], int] = {}
    if params.max_rule_length >= 3:
        longer = projected_itemsets(counts.co, counts.pairs, min_count, params.max_rule_length)
    return rules_at(counts, min_count, params, longer)


def kept_by(params: MiningParams) -> Heaviest | None:
    """What a model of `params` keeps of each song's pairs; None when longer rules need
    every frequent pair (their candidates are triangles of pairs)."""
    if params.max_rule_length > 2:
        return None
    return Heaviest(params.popularity_damping, params.rules_per_song, params.min_confidence)


def rules_at(
    counts: PairCounts,
    min_count: int,
    params: MiningParams,
    longer: dict[tuple[int, ...], int] | None = None,
) -> RuleSet:
    """The model of `counts` at a threshold of `min_count` playlists (>= counts.min_count);
    `longer` holds the itemsets of three songs or more, when the rules may be longer."""
    frequent = frequent_songs(counts.songs, min_count)
    pairs = counts.pairs.filter(pl.col("count") >= min_count)
    keep = kept_by(params)
    if keep is not None:  # the same pairs as a count that kept only these (heaviest.py)
        powers = SongPowers.of(counts.songs["count"].to_numpy(), keep.damping)
        forward, backward = heaviest_directions(pairs, powers, keep)
        pairs = pairs.with_columns(a_b=forward, b_a=backward).filter(forward | backward)
    rules = pair_rules(counts.songs, pairs, params)
    if longer:
        itemsets = _itemset_counts(frequent, pairs, longer)
        rules = pl.concat([rules, longer_rules(itemsets, params)])
    rules, per_song = serving_order(rules, params)
    itemset_count = frequent.height + pairs.height + len(longer or ())
    return rule_set(
        counts.playlists.spellings, counts.total, counts.songs, frequent.height, itemset_count,
        rules, per_song,
    )  # fmt: skip


def frequent_songs(songs: pl.DataFrame, min_count: int) -> pl.DataFrame:
    """The songs (song, id, count) in `min_count` playlists or more, if the format holds them."""
    frequent = songs.filter(pl.col("count") >= min_count)
    if frequent.height > MAX_SONGS:
        raise MiningError(
            f"{frequent.height} frequent songs; the model format holds {MAX_SONGS}: "
            "raise RECSYS_MIN_PAIR_COUNT or min_support"
        )
    return frequent


def rule_set(
    spellings: pl.Series,
    playlist_count: int,
    songs: pl.DataFrame,
    frequent: int,
    itemsets: int,
    rules: pl.DataFrame,
    per_song: int,
) -> RuleSet:
    """The RuleSet of `rules` (in serving order, `per_song` at most per antecedent), whose
    song ids are rows of `songs` (song, id, count: every song of the `playlist_count`
    playlists; `spellings` by song number)."""
    groups = rules.group_by("antecedent", maintain_order=True).agg(
        pl.len(), pl.first("antecedent_count")
    )
    # A catalogue larger than the format holds (the MPD has 2.26 million tracks) loses its
    # rarest songs, which are in no rule: a request naming one gets it back as unknown.
    kept = songs.head(MAX_SONGS)
    ends = groups["len"].cast(pl.Int64).cum_sum()
    offsets = pl.concat([pl.Series([0], dtype=pl.Int64), ends])
    return RuleSet(
        playlists=playlist_count,
        vocabulary=spellings.gather(kept["song"]).to_list(),
        counts=_column(kept["count"], "counts"),
        frequent_songs=frequent,
        itemsets=itemsets,
        rules_per_song=per_song,
        antecedent_keys=_column(groups["antecedent"], "antecedent_keys"),
        antecedent_counts=_column(groups["antecedent_count"], "antecedent_counts"),
        group_offsets=_column(offsets, "group_offsets"),
        consequents=_column(rules["consequent"], "consequents"),
        pair_counts=_column(rules["pair_count"], "pair_counts"),
        weights=_column(rules["weight"], "weights"),
    )


def _column(values: pl.Series, name: str) -> array:
    """`values` as the model format's array `name`, copied as one buffer: no Python object
    per number (a list of tens of millions of rules costs gigabytes)."""
    typecode = ARRAY_TYPES[name]
    return array(typecode, values.to_numpy().astype(np.dtype(typecode), copy=False).tobytes())


def _itemset_counts(
    frequent: pl.DataFrame, pairs: pl.DataFrame, longer: dict[tuple[int, ...], int]
) -> dict[tuple[int, ...], int]:
    """Every itemset's count, songs and pairs included: what longer rules divide by."""
    songs = zip(frequent["id"].to_list(), frequent["count"].to_list(), strict=True)
    itemsets: dict[tuple[int, ...], int] = {(song,): count for song, count in songs}
    itemsets.update(((a, b), n) for a, b, n in pairs.select("a", "b", "count").iter_rows())
    itemsets.update(longer)
    return itemsets
