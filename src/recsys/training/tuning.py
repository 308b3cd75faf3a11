"""Choosing the popularity damping from the dataset itself, when the settings say "auto".

How much a popular song's rules should be weighed down depends on the dataset: where
tastes are tight, confidence ranks best; where a few chart songs share a playlist with
everything, they crowd every answer unless damped. So the trainer holds out a tenth of
the playlists, builds the rest's model at each damping of a small grid, answers the
held-out playlists exactly as the API would, and keeps the damping with the best NDCG@10.
The model is then built from the whole dataset at that damping.

The work is fixed in advance, never in seconds: the pairs of each part are counted once,
every candidate of the grid is scored, on at most MAX_QUERIES held-out playlists, and a
dataset of more than TUNING_PLAYLISTS playlists is tuned on that many of them (chosen by a
hash of their pids). So the same dataset and settings choose the same model on a busy
machine and a quiet one, and the header records every candidate's scores.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace

from recsys.model.build import DatasetInfo
from recsys.model.rules import MiningParams, RuleSet, Tuning
from recsys.settings import AUTO, Settings
from recsys.training.engines import pair_counter
from recsys.training.holdout import (
    HoldoutError,
    Split,
    index_of,
    rules_recommender,
    sample_playlists,
    split_playlists,
)
from recsys.training.mining import (
    PairCounter,
    PairCounts,
    count_pairs,
    mine,
    rule_threshold,
    rules_at,
    without,
)
from recsys.training.playlists import Playlists
from recsys.training.scoring import score

Reporter = Callable[[str], None]

# From confidence (0) to the cosine of the two songs' playlists (0.5).
DAMPINGS = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5)
HELD_OUT = 0.1
SEED_SONGS = 5
K = 10
MAX_QUERIES = 2000  # held-out playlists scored per candidate: the work budget
TUNING_PLAYLISTS = 50_000  # playlists counted to choose; the whole dataset is mined after
# When no playlist can be held out (a handful of playlists, or none longer than
# SEED_SONGS): rank by confidence, the classic rule measure.
FALLBACK_DAMPING = 0.0


@dataclass(frozen=True)
class Candidate:
    """One damping of the grid, scored on the held-out playlists."""

    popularity_damping: float
    rules: int  # built from the train part
    ndcg: float
    hit_rate: float
    fill_share: float


@dataclass(frozen=True)
class Choice:
    """The parameters to mine the whole dataset with, how they were chosen, and the rules
    when choosing already mined them."""

    params: MiningParams
    tuning: Tuning
    rules: RuleSet


def requested(settings: Settings) -> dict[str, object]:
    """The mining parameters as asked for: what identifies a training run."""
    return {
        "min_support": settings.min_support,
        "min_pair_count": settings.min_pair_count,
        "min_confidence": settings.min_confidence,
        "max_rule_length": settings.max_rule_length,
        "popularity_damping": settings.popularity_damping,
        "rules_per_song": settings.rules_per_song,
        "max_rules": settings.max_rules,
    }


def choose(
    playlists: Playlists,
    settings: Settings,
    report: Reporter,
    counter: PairCounter | None = None,
) -> Choice:
    """The rules to publish: at the set popularity damping, or at the one "auto" chooses.
    Pairs are counted by `counter`, by default the engine the settings name."""
    counter = counter or pair_counter(settings)
    base = _params(settings)
    if settings.popularity_damping != AUTO:
        params = replace(base, popularity_damping=float(settings.popularity_damping))
        tuning = Tuning(requested=requested(settings), method="set")
        return Choice(params, tuning, mine(playlists, params, counter))
    started = time.perf_counter()
    sample = sample_playlists(playlists, TUNING_PLAYLISTS, seed=0)
    try:
        split = split_playlists(sample, test_fraction=HELD_OUT, seeds=SEED_SONGS, seed=0)
    except HoldoutError as error:
        params = replace(base, popularity_damping=FALLBACK_DAMPING)
        tuning = Tuning(requested(settings), f"fallback: {error}", seconds=_since(started))
        return Choice(params, tuning, mine(playlists, params, counter))
    sample_count = rule_threshold(base, sample.playlist_count)
    train_count = rule_threshold(base, split.train.playlist_count)
    # `without` is exact at any threshold from the sample's count up
    counted = count_pairs(sample, min(sample_count, train_count), counter=counter)
    train = without(counted, split.test, split.train, counter)
    damping, tuning = _score_grid(split, train, train_count, base, settings, started)
    del train
    params = replace(base, popularity_damping=damping)
    if sample is playlists and params.max_rule_length == 2:
        rules = rules_at(counted, sample_count, params)
    else:
        del counted
        rules = mine(playlists, params, counter)
    report(f"tune     {tuning.seconds:6.2f} s  popularity_damping {damping:g} ({tuning.method})")
    return Choice(params, tuning, rules)


def _score_grid(
    split: Split,
    counts: PairCounts,
    min_count: int,
    base: MiningParams,
    settings: Settings,
    started: float,
) -> tuple[float, Tuning]:
    """Each damping's held-out NDCG@10 and hit rate, from the train part's `counts`; the
    best NDCG wins (ties: the smaller damping, the plainer measure)."""
    queries = split.queries[:MAX_QUERIES]
    grid: list[Candidate] = []
    for damping in DAMPINGS:
        params = replace(base, popularity_damping=damping)
        rules = rules_at(counts, min_count, params)
        model = index_of(rules, params, DatasetInfo("held-out split", "", 0))
        recommend = rules_recommender(model.index, split.train.spelling)
        scores = score(recommend, queries, k=K, catalogue_size=len(model.catalogue))
        grid.append(
            Candidate(damping, rules.rule_count, scores.ndcg, scores.hit_rate, scores.fill_share)
        )
    best = max(grid, key=lambda candidate: (candidate.ndcg, -candidate.popularity_damping))
    tuning = Tuning(
        requested=requested(settings),
        method=f"best held-out NDCG@{K} of {len(grid)} dampings on {len(queries)} playlists"
        f" (of {split.train.playlist_count + split.test_playlists} counted)",
        held_out_playlists=len(queries),
        seconds=_since(started),
        grid=[asdict(candidate) for candidate in grid],
    )
    return best.popularity_damping, tuning


def _params(settings: Settings) -> MiningParams:
    """The settings' mining parameters, the damping left at 0 until it is known."""
    support = 0.0 if settings.min_support == AUTO else float(settings.min_support)
    return MiningParams(
        min_support=support,
        min_confidence=settings.min_confidence,
        max_rule_length=settings.max_rule_length,
        rules_per_song=settings.rules_per_song,
        min_count=settings.min_pair_count,
        max_rules=settings.max_rules,
    )


def _since(started: float) -> float:
    return time.perf_counter() - started
