"""Item-kNN with asymmetric cosine similarity (Aiolli 2013), its neighbourhoods tuned.

The classic strong item-item baseline of the RecSys Challenge 2018. A seed i points at
song j with

    sim(i -> j) = co(i, j) / (n_i^alpha * n_j^(1 - alpha))

where co(i, j) counts the train playlists holding both and n_i those holding i. alpha 0.5
is plain cosine (the `cooccurrence` baseline); alpha 1 is the confidence of the rule
i -> j, so a summed-confidence rule model is one point of the grid; lower values weigh
popular candidates down. Each seed keeps only its `neighbours` most similar songs (ties
to the more popular), which drops the noise of pairs seen once next to strong evidence,
and a song's score is its similarity summed over the seeds. Both are chosen on a
validation split of the train part (`recsys.tools.validation`).

Nothing is precomputed over all pairs: a query's rows X^T[seeds] X are one sparse product,
so memory follows the playlists of the seeds, not the catalogue's pairs.
"""

from __future__ import annotations

import numpy as np

from recsys.tools.interactions import Interactions, Scorer, scored_recommender
from recsys.tools.validation import Tuned, best, grid_ndcg
from recsys.training.holdout import Split
from recsys.training.playlists import Playlists

NEIGHBOURS = (10, 30, 100, 300, 1000, 3000)
ALPHAS = (0.3, 0.5, 0.7, 0.8, 0.9, 1.0)
DEFAULT = (100, 0.5)  # (neighbours, alpha) when the train split is too small to validate on

Ranked = tuple[np.ndarray, np.ndarray, np.ndarray]  # song, similarity, rank within its seed


class Neighbourhoods:
    """Each seed's similar songs, ranked, for the last seeds asked.

    The grid asks the same query once per point; the sparse product and the sort by
    similarity are done once per query and alpha, and each neighbours value only cuts.
    """

    def __init__(self, data: Interactions) -> None:
        self.data = data
        self.seeds = np.empty(0, dtype=int)
        self.ranked: dict[float, Ranked] = {}
        self.rows = data.transposed[self.seeds] @ data.matrix

    def of(self, seeds: np.ndarray, alpha: float) -> Ranked:
        if not np.array_equal(seeds, self.seeds):
            self.seeds, self.ranked = seeds, {}
            self.rows = self.data.transposed[seeds] @ self.data.matrix
        if alpha not in self.ranked:
            self.ranked[alpha] = self._rank(alpha)
        return self.ranked[alpha]

    def _rank(self, alpha: float) -> Ranked:
        rows, counts = self.rows, self.data.counts
        seed = np.repeat(self.seeds, np.diff(rows.indptr))
        songs = rows.indices
        similarity = rows.data / (counts[seed] ** alpha * counts[songs] ** (1.0 - alpha))
        keep = ~np.isin(songs, self.seeds)
        seed, songs, similarity = seed[keep], songs[keep], similarity[keep]
        order = np.lexsort((songs, -similarity, seed))
        seed, songs, similarity = seed[order], songs[order], similarity[order]
        rank = np.arange(seed.size) - np.searchsorted(seed, seed)
        return songs, similarity, rank


def scorer(neighbourhoods: Neighbourhoods, neighbours: int, alpha: float) -> Scorer:
    """Summed similarity over the seeds, each seed's `neighbours` best songs only."""

    def scores(seeds: np.ndarray) -> np.ndarray:
        songs, similarity, rank = neighbourhoods.of(seeds, alpha)
        kept = rank < neighbours
        return np.bincount(
            songs[kept], weights=similarity[kept], minlength=neighbourhoods.data.songs
        )

    return scores


def tuned_knn(train: Playlists, validation: Split | None, k: int) -> Tuned:
    """kNN on the train split, (neighbours, alpha) the best of the grid on `validation`."""
    point, ndcgs = DEFAULT, {}
    if validation is not None:
        inner = Interactions(validation.train)
        shared = Neighbourhoods(inner)
        recommenders = {
            (neighbours, alpha): scored_recommender(inner, scorer(shared, neighbours, alpha))
            for neighbours in NEIGHBOURS
            for alpha in ALPHAS
        }
        ndcgs = grid_ndcg(recommenders, validation.queries, k)
        point = best(ndcgs)
    data = Interactions(train)
    neighbours, alpha = point
    return Tuned(
        recommend=scored_recommender(data, scorer(Neighbourhoods(data), neighbours, alpha)),
        params={"neighbours": neighbours, "alpha": alpha},
        validation_queries=len(validation.queries) if validation else 0,
        validation_ndcg=ndcgs.get(point),
        grid=[
            {"neighbours": neighbours, "alpha": alpha, "ndcg": value}
            for (neighbours, alpha), value in ndcgs.items()
        ],
    )
