"""Item-kNN against a brute-force computation over the dense co-occurrence matrix, and the
answers it gives: seeds never sent back, fill counted, ties to the more popular song."""

from __future__ import annotations

import numpy as np
import pytest

from recsys.tools.interactions import Interactions, scored_recommender
from recsys.tools.knn import Neighbourhoods, scorer
from recsys.training.scoring import Answer
from tests.unit.test_cooccurrence import train as hand_made
from tests.unit.test_ease import random_playlists


def brute_force(data: Interactions, seeds: list[int], neighbours: int, alpha: float) -> np.ndarray:
    """Each seed's `neighbours` most similar non-seeds (ties: lower number), summed."""
    dense = data.matrix.toarray()
    together = dense.T @ dense
    counts = dense.sum(axis=0)
    scores = np.zeros(data.songs)
    for seed in seeds:
        similar = [
            (together[seed, song] / (counts[seed] ** alpha * counts[song] ** (1 - alpha)), song)
            for song in range(data.songs)
            if song not in seeds and together[seed, song] > 0
        ]
        for similarity, song in sorted(similar, key=lambda item: (-item[0], item[1]))[:neighbours]:
            scores[song] += similarity
    return scores


@pytest.mark.parametrize(("neighbours", "alpha"), [(3, 0.5), (10, 0.9), (1000, 1.0), (5, 0.0)])
def test_scores_are_the_brute_force_sums(neighbours: int, alpha: float) -> None:
    data = Interactions(random_playlists(40, 60, density=0.12))
    shared = Neighbourhoods(data)
    for seeds in ([0], [1, 4], [2, 3, 9, 20, 41]):
        got = scorer(shared, neighbours, alpha)(np.array(seeds))
        np.testing.assert_allclose(got, brute_force(data, seeds, neighbours, alpha), rtol=1e-12)


def test_points_of_the_grid_share_the_query_but_not_the_cut() -> None:
    data = Interactions(random_playlists(40, 60, density=0.12))
    shared = Neighbourhoods(data)
    seeds = np.array([0, 7])
    narrow, wide = scorer(shared, 2, 0.5)(seeds), scorer(shared, 50, 0.5)(seeds)
    assert np.count_nonzero(narrow) <= 4 < np.count_nonzero(wide)
    np.testing.assert_allclose(scorer(shared, 2, 0.5)(seeds), narrow)  # asked again


def test_answers_by_hand() -> None:
    """The co-occurrence module's playlists: A 3, B 3, C 2, D 1, E 1 playlists;
    co(A,B) = 2, co(A,C) = co(A,D) = 1, co(B,C) = 2."""
    data = Interactions(hand_made())
    recommend = scored_recommender(data, scorer(Neighbourhoods(data), 1, 1.0))
    # alpha 1: confidence co(A, y) / n_A: B 2/3, C 1/3, D 1/3; one neighbour: B only.
    assert recommend(["a"], 1) == Answer(["b"])
    # D and E never scored: popularity fill, after B, in popularity order (C, D, E).
    assert recommend(["a"], 4) == Answer(["b", "c", "d", "e"], filled=3)
    wide = scored_recommender(data, scorer(Neighbourhoods(data), 10, 1.0))
    # C and D tie at 1/3: the more popular C first.
    assert wide(["a"], 3) == Answer(["b", "c", "d"])
    assert wide(["never heard", "a"], 1) == Answer(["b"])
    assert wide(["never heard"], 2) == Answer(["a", "b"], filled=2)
