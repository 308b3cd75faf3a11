"""The tuner's candidate models, built only as far as its held-out queries can see them.

The index answers a query from the rules of the songs it sends and from the song counts
(its popularity fill); no other song's rules are ever read. So a candidate's model needs
only the sent songs' rules, provided they are the very rules the whole model of the train
part would give them: the same weights, the same order, the same number per song. That
number depends on every song when RECSYS_MAX_RULES binds (`weighting.rules_per_song`),
and so does the model's size, which the tuning records; both need only how many rules
each song has at each threshold, which one pass over the counts gives without keeping
them. So choosing holds the pairs of a few thousand sent songs, where building each
candidate whole held, and weighed, every pair of the train part.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass

import numpy as np
import polars as pl
import scipy.sparse as sp

from recsys.model.rules import MiningParams, RuleSet
from recsys.training.counting import entries, in_blocks, song_matrices
from recsys.training.heaviest import SongPowers, near_the_top
from recsys.training.mining import frequent_songs, kept_by, rule_set, rule_threshold, song_ids
from recsys.training.playlists import Playlists
from recsys.training.weighting import directed_rules, heaviest_rules, rules_per_song


@dataclass(frozen=True)
class SentCounts:
    """What the candidate models of a train part need of its pairs."""

    train: Playlists
    playlists: int  # in the train part
    songs: pl.DataFrame  # song, id, count: the train part's songs, most popular first
    rules_by_song: dict[int, np.ndarray]  # threshold -> each song's rules there, by id
    sent: pl.DataFrame  # antecedent, consequent, count: the sent songs' rules, lowest threshold


@dataclass(frozen=True)
class _Block:
    rules_by_song: dict[int, np.ndarray]
    sent: tuple[np.ndarray, np.ndarray, np.ndarray]


def sent_counts(
    train: Playlists, sent: Iterable[str], thresholds: Collection[int], min_confidence: float
) -> SentCounts:
    """The counts of `train` that candidate models at `thresholds` (playlists a pair must
    share) need, for queries that send the songs keyed `sent`."""
    songs = song_ids(train)
    rows = train.pairs.join(songs.select("song", "id"), on="song")
    by_playlist, by_song = song_matrices(
        rows.select("pid", pl.col("id").cast(pl.Int32)), songs.height
    )
    counts = songs["count"].to_numpy().astype(np.float64)
    is_sent = _sent_ids(train, songs, sent)
    lowest = min(thresholds)

    def count(first: int, product: sp.csr_matrix) -> _Block:
        row, other, together = entries(product, first, lowest)
        by_threshold = {}
        for threshold in thresholds:
            reach = together >= threshold
            if min_confidence > 0:  # as `weighting.directed_rules` filters them
                reach &= together / counts[row] >= min_confidence
            by_threshold[threshold] = np.bincount(row[reach] - first, minlength=product.shape[0])
        mine = is_sent[row]
        return _Block(by_threshold, (row[mine], other[mine], together[mine]))

    blocks = in_blocks(by_playlist, by_song, count)
    return SentCounts(
        train=train,
        playlists=train.playlist_count,
        songs=songs,
        rules_by_song={
            threshold: _joined([block.rules_by_song[threshold] for block in blocks], np.int64)
            for threshold in thresholds
        },
        sent=pl.DataFrame(
            {
                "antecedent": _joined([block.sent[0] for block in blocks], np.int32),
                "consequent": _joined([block.sent[1] for block in blocks], np.int32),
                "count": _joined([block.sent[2] for block in blocks], np.int32),
            }
        ),
    )


def candidate_rules(counts: SentCounts, params: MiningParams) -> tuple[RuleSet, int]:
    """The sent songs' rules in the train part's model at `params`, as `mining.rules_at`
    builds it whole (its other songs' rules left out); and how many rules that whole model
    has."""
    threshold = rule_threshold(params, counts.playlists)
    frequent = frequent_songs(counts.songs, threshold)
    by_song = counts.rules_by_song[threshold]
    per_song = rules_per_song(by_song, params.rules_per_song, params.max_rules)
    sent = counts.sent.filter(pl.col("count") >= threshold)
    keep = kept_by(params)
    if keep is not None:  # first the rules near the top, as `rules_at` does (heaviest.py)
        powers = SongPowers.of(counts.songs["count"].to_numpy(), keep.damping)
        antecedent, consequent = sent["antecedent"].to_numpy(), sent["consequent"].to_numpy()
        together = sent["count"].to_numpy().astype(np.float64)
        sent = sent.filter(near_the_top(antecedent, consequent, together, powers, keep))
    rules = heaviest_rules(directed_rules(counts.songs, sent, params), per_song)
    # (its header's itemsets: the songs and the sent songs' rules it was chosen from)
    model = rule_set(
        counts.train.spellings, counts.playlists, counts.songs, frequent.height,
        frequent.height + sent.height, rules, per_song,
    )  # fmt: skip
    return model, int(np.minimum(by_song, per_song).sum())


def _sent_ids(train: Playlists, songs: pl.DataFrame, sent: Iterable[str]) -> np.ndarray:
    """By song id: whether a query sends it (the index finds a song by its key)."""
    keys = pl.Series(sorted(set(sent)), dtype=pl.String)
    numbers = (
        train.keys.to_frame("key")
        .with_row_index("song")
        .filter(pl.col("key").is_in(keys.implode()))["song"]
        .cast(pl.Int32)
    )
    return songs["song"].is_in(numbers.implode()).to_numpy()


def _joined(parts: list[np.ndarray], dtype: type) -> np.ndarray:
    return np.concatenate(parts).astype(dtype) if parts else np.zeros(0, dtype=dtype)
