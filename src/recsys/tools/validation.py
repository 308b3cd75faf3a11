"""Hyper-parameters of the item-item baselines, chosen on a validation split of the train part.

A baseline tuned on the test playlists would be scored on the queries that chose it, and
look better than any model could be in use. So each baseline's grid is scored on queries
made from the train split alone, split again by `split_playlists` with a seed the test
split is never given, and the winner is fitted again on the whole train split.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from recsys.training.holdout import HoldoutError, Split, split_playlists
from recsys.training.playlists import Playlists
from recsys.training.scoring import Query, Recommender, ndcg_at_k

# Added to the evaluation's seed, so the validation split is not the test split's hash
# order continued (and stays the same for one seed).
VALIDATION_SEED_OFFSET = 1_000_003

Point = TypeVar("Point", bound=Hashable)


@dataclass(frozen=True)
class Tuned:
    """A baseline fitted on the train split with the hyper-parameters validation chose."""

    recommend: Recommender
    params: dict[str, Any]  # the chosen values, and how the model was computed
    validation_ndcg: float | None  # None: the train split was too small to split again
    validation_queries: int  # 0 when it was
    grid: list[dict[str, Any]] = field(default_factory=list)  # each point and its NDCG@k

    def report(self) -> dict[str, Any]:
        """What `recsys evaluate --json` says under `baselines`."""
        return {
            **self.params,
            "validation_ndcg": self.validation_ndcg,
            "validation_queries": self.validation_queries,
            "grid": self.grid,
        }


def validation_split(
    train: Playlists, *, test_fraction: float, seeds: int, seed: int
) -> Split | None:
    """The train playlists split as the evaluation split the dataset; None if they are too
    few (or too short) to hold any out, in which case the baselines keep their defaults."""
    try:
        return split_playlists(
            train, test_fraction=test_fraction, seeds=seeds, seed=seed + VALIDATION_SEED_OFFSET
        )
    except HoldoutError:
        return None


def grid_ndcg(
    recommenders: Mapping[Point, Recommender], queries: Sequence[Query], k: int
) -> dict[Point, float]:
    """Mean NDCG@k of each recommender on the queries.

    Queries are the outer loop, so recommenders that share work per query (the kNN's
    co-occurrence rows) compute it once for the whole grid.
    """
    totals = dict.fromkeys(recommenders, 0.0)
    for query in queries:
        for point, recommend in recommenders.items():
            totals[point] += ndcg_at_k(recommend(query.seeds, k).songs, query.hidden, k)
    return {point: total / len(queries) for point, total in totals.items()}


def best(ndcgs: Mapping[Point, float]) -> Point:
    """The point with the highest NDCG; the first in grid order wins a tie."""
    return max(ndcgs, key=lambda point: ndcgs[point])  # max keeps the first of equals


def tune(
    grid: Sequence[Point],
    build: Callable[[Point], Recommender],
    validation: Split,
    k: int,
) -> tuple[Point, dict[Point, float]]:
    """Score the grid one point at a time (a fitted point may be large); return the best."""
    ndcgs = {}
    for point in grid:
        ndcgs.update(grid_ndcg({point: build(point)}, validation.queries, k))
    return best(ndcgs), ndcgs
