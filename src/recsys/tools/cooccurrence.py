"""Item-to-item co-occurrence: "people who put X in a playlist also put Y there".

This is the baseline association rules have to beat to be worth their machinery. It
needs no threshold: every pair of songs that ever shared a playlist counts, so it sees the
long tail that `min_support` cuts away, and a rules model that loses to it is leaving
signal on the table.

A song y is scored against the seed songs by cosine similarity of binary playlist
vectors, summed over the seeds:

    score(y) = sum over seeds x of co(x, y) / sqrt(n_x * n_y)

where co(x, y) counts the train playlists that hold both and n_x the ones that hold x.
Raw counts would rank the chart toppers first for any seed (they share a playlist with
everything); dividing by sqrt(n_x n_y) is the standard item-based normalisation, which
asks how much more often y comes with x than its popularity alone explains. Summing over
the seeds rewards songs that go with several of them. Songs no seed ever met are not
scored; when fewer than n are, the answer is completed with the most popular songs, as
the index completes its own.

Counts are computed per query, with polars, from the (playlist, song) pairs of the
playlists that hold a seed: nothing is precomputed over all pairs, so a catalogue of
hundreds of thousands of songs costs no more memory than its pairs.
"""

from __future__ import annotations

from itertools import islice

import polars as pl

from recsys.training.playlists import Playlists
from recsys.training.scoring import Answer, Recommender

# Scores are sums of floats whose order polars does not promise; rounding them makes the
# ranking, ties broken by popularity, the same in every run.
_DIGITS = 12


class _Cooccurrence:
    """The train split as two lists of lists: each song's playlists, each playlist's songs.

    Songs are popularity ranks (0 is the most popular) and playlists dense numbers, so a
    query gathers the rows it needs by position instead of scanning every pair.
    """

    def __init__(self, train: Playlists) -> None:
        songs = (
            train.pairs.group_by("song")
            .len("count")
            .sort(["count", "song"], descending=[True, False])
            .with_row_index("id")
            .with_columns(pl.col("id").cast(pl.Int32))
        )
        self.keys: list[str] = train.keys.gather(songs["song"]).to_list()
        self.ids = {key: song for song, key in enumerate(self.keys)}
        pairs = train.pairs.join(songs.select("song", "id"), on="song").select(
            (pl.col("pid").rank("dense") - 1).cast(pl.Int32), "id"
        )
        self.counts = songs["count"].cast(pl.Float64)
        self.playlists_of = pairs.group_by("id").agg("pid").sort("id")["pid"]
        self.songs_of = pairs.group_by("pid").agg("id").sort("pid")["id"]

    def ranking(self, seeds: list[int]) -> list[int]:
        """Every song that shares a playlist with a seed (seeds excluded), best first."""
        with_seed = (
            pl.DataFrame({"seed": pl.Series(seeds, dtype=pl.Int32)})
            .with_columns(pid=self.playlists_of.gather(seeds))
            .explode("pid")
        )
        together = with_seed.with_columns(id=self.songs_of.gather(with_seed["pid"])).explode("id")
        co = together.filter(~pl.col("id").is_in(seeds)).group_by("seed", "id").len("co")
        scored = (
            co.with_columns(n_seed=self.counts.gather(co["seed"]), n=self.counts.gather(co["id"]))
            .group_by("id")
            .agg((pl.col("co") / (pl.col("n_seed") * pl.col("n")).sqrt()).sum().alias("score"))
            .with_columns(pl.col("score").round(_DIGITS))
            .sort(["score", "id"], descending=[True, False])
        )
        return scored["id"].to_list()


def cooccurrence_recommender(train: Playlists) -> Recommender:
    """Rank songs by their summed cosine co-occurrence with the seeds; fill by popularity.

    Seeds the train split never saw are ignored. The last ranking is kept, because
    `score` asks each query twice (k songs, then as many as are hidden).
    """
    model = _Cooccurrence(train)
    last: dict[tuple[str, ...], list[int]] = {}

    def recommend(seeds: list[str], n: int) -> Answer:
        key = tuple(seeds)
        if key not in last:
            known = sorted({model.ids[song] for song in seeds if song in model.ids})
            last.clear()
            last[key] = model.ranking(known) if known else []
        ranked = last[key][:n]
        if len(ranked) >= n:
            return Answer([model.keys[song] for song in ranked])
        taken = set(ranked).union(model.ids[song] for song in seeds if song in model.ids)
        popular = (song for song in range(len(model.keys)) if song not in taken)
        fill = list(islice(popular, n - len(ranked)))
        return Answer([model.keys[song] for song in ranked + fill], filled=len(fill))

    return recommend
