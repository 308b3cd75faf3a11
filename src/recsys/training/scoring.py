"""Quality metrics of ranked answers, as in the RecSys Challenge 2018, and `score`, which
asks any recommender the same queries and averages them.

Everything here is pure Python over song keys, so a baseline, the served index or a
bench's experimental scorer are measured alike.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence, Set
from dataclasses import dataclass

# Metrics. `recommended` is a ranked list without repeats, best first; `hidden` is the
# (never empty) set of songs the playlist kept back. Each function scores one answer;
# `score` averages them over the queries.


def hits_at_k(recommended: Sequence[str], hidden: Set[str], k: int) -> int:
    """How many of the first k recommended songs are hidden songs."""
    return sum(1 for song in recommended[:k] if song in hidden)


def hit_rate_at_k(recommended: Sequence[str], hidden: Set[str], k: int) -> float:
    """1.0 if at least one of the first k songs is hidden, else 0.0: "did it find anything"."""
    return 1.0 if hits_at_k(recommended, hidden, k) else 0.0


def precision_at_k(recommended: Sequence[str], hidden: Set[str], k: int) -> float:
    """Hits among the first k, divided by k (a short answer is not rewarded for being short)."""
    return hits_at_k(recommended, hidden, k) / k


def recall_at_k(recommended: Sequence[str], hidden: Set[str], k: int) -> float:
    """Hits among the first k, divided by the number of hidden songs."""
    return hits_at_k(recommended, hidden, k) / len(hidden)


def ndcg_at_k(recommended: Sequence[str], hidden: Set[str], k: int) -> float:
    """Normalised discounted cumulative gain with binary relevance, as in the challenge.

    DCG = sum over positions i = 1..k of rel_i / log2(i + 1), rel_i = 1 if the i-th song is
    hidden. The ideal DCG puts min(k, |hidden|) hits first, so a perfect answer scores 1.0
    even when fewer than k songs are hidden. Unlike precision, it rewards hits near the top.
    """
    gain = sum(
        1.0 / math.log2(position + 2)
        for position, song in enumerate(recommended[:k])
        if song in hidden
    )
    ideal = sum(1.0 / math.log2(position + 2) for position in range(min(k, len(hidden))))
    return gain / ideal


def r_precision(recommended: Sequence[str], hidden: Set[str]) -> float:
    """Hits among the first |hidden| songs, divided by |hidden| (the challenge's R-precision).

    The cutoff grows with the playlist, so long and short playlists weigh alike. The
    challenge's partial credit for a right artist is left out: songs here are names only.
    """
    return hits_at_k(recommended, hidden, len(hidden)) / len(hidden)


@dataclass(frozen=True)
class Answer:
    """What a method recommends: song keys (normalised names), best first."""

    songs: list[str]
    filled: int = 0  # how many of them the index took from its popularity fill


# A method: (seed song keys, how many songs) -> Answer. The index, the baselines and the
# bench's experimental scorers all take this shape, so one `score` measures them alike.
Recommender = Callable[[list[str], int], Answer]


@dataclass(frozen=True)
class Query:
    """One test playlist: the songs sent, and the songs the answer should find."""

    pid: str
    seeds: list[str]
    hidden: frozenset[str]


@dataclass(frozen=True)
class Scores:
    """One method's quality, averaged over the queries (coverage: over all answers)."""

    hit_rate: float
    precision: float
    recall: float
    ndcg: float
    r_precision: float
    coverage: float  # distinct songs in all top-k answers / songs of the train split
    fill_share: float  # share of top-k answers the index completed with popular songs


def score(
    recommend: Recommender, queries: Sequence[Query], *, k: int, catalogue_size: int
) -> Scores:
    """Ask `recommend` for k songs per query (and for |hidden| songs, for R-precision).

    The @k metrics and the fill use the top-k answer, exactly what the API would send;
    R-precision asks for as many songs as are hidden, as the challenge did.
    """
    totals = dict.fromkeys(("hit_rate", "precision", "recall", "ndcg", "r_precision"), 0.0)
    filled = 0
    seen: set[str] = set()
    for query in queries:
        top = recommend(query.seeds, k)
        longer = top if len(query.hidden) == k else recommend(query.seeds, len(query.hidden))
        totals["hit_rate"] += hit_rate_at_k(top.songs, query.hidden, k)
        totals["precision"] += precision_at_k(top.songs, query.hidden, k)
        totals["recall"] += recall_at_k(top.songs, query.hidden, k)
        totals["ndcg"] += ndcg_at_k(top.songs, query.hidden, k)
        totals["r_precision"] += r_precision(longer.songs, query.hidden)
        filled += top.filled > 0
        seen.update(top.songs[:k])
    count = len(queries)
    return Scores(
        **{name: total / count for name, total in totals.items()},
        coverage=len(seen) / catalogue_size if catalogue_size else 0.0,
        fill_share=filled / count,
    )
