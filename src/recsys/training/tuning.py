"""Choosing the pair count and popularity damping from the dataset itself, when the
settings say "auto".

How much a popular song's rules should be weighed down depends on the dataset: where
tastes are tight, confidence ranks best; where a few chart songs share a playlist with
everything, they crowd every answer unless damped. Whether a pair seen in one playlist is
evidence or noise depends on it too. So the trainer holds out a tenth of the playlists,
builds the rest's model at each candidate, answers the held-out playlists exactly as the
API would, and keeps the candidate with the best NDCG@10. A candidate's model holds only
the rules the held-out playlists' songs reach, exactly as the whole model would hold them
(`candidates`). The candidates go one axis at a
time: every damping at the highest pair count, then the lower pair counts at the best
damping (the models of pairs seen once are the costly ones, so only one of them is built).
The model is then mined from the whole dataset at the winner.

The work is fixed in advance, never in seconds: the train part's pairs are counted once,
every candidate is scored, on at most MAX_QUERIES held-out playlists, and a dataset of
more than TUNING_PLAYLISTS playlists is tuned on that many of them (chosen by a hash of
their pids). So the same dataset and settings choose the same model on a busy machine and
a quiet one, and the header records every candidate's scores.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace

from recsys.model.build import DatasetInfo
from recsys.model.rules import MiningParams, RuleSet, Tuning
from recsys.settings import AUTO, Settings
from recsys.training.candidates import candidate_rules, sent_counts
from recsys.training.engines import pair_counter
from recsys.training.holdout import (
    HoldoutError,
    SongKeys,
    Split,
    index_of,
    rules_recommender,
    sample_playlists,
    split_playlists,
)
from recsys.training.mining import PairCounter, mine, rule_threshold
from recsys.training.playlists import Playlists
from recsys.training.scoring import score

Reporter = Callable[[str], None]

# From confidence (0) to the cosine of the two songs' playlists (0.5).
DAMPINGS = (0.0, 0.1, 0.2, 0.3, 0.5)
# Playlists a pair must share: one keeps every pair (small, sparse datasets need them),
# two drops pairs seen once (noise, where there is plenty else).
PAIR_COUNTS = (1, 2)
HELD_OUT = 0.1
SEED_SONGS = 5
K = 10
MAX_QUERIES = 2000  # held-out playlists scored per candidate: the work budget
TUNING_PLAYLISTS = 20_000  # playlists counted to choose; the whole dataset is mined after
# When no playlist can be held out (a handful of playlists, or none longer than
# SEED_SONGS): rank by confidence, the classic rule measure.
FALLBACK_DAMPING = 0.0


@dataclass(frozen=True)
class Candidate:
    """One point of the grid, scored on the held-out playlists."""

    min_count: int
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
    """The rules to publish: at the set pair count and popularity damping, or at those
    "auto" chooses. Pairs are counted by `counter`, by default the engine the settings name."""
    counter = counter or pair_counter(settings)
    base = _params(settings)
    grid = _grid(settings)
    pair_counts, dampings = grid
    if len(pair_counts) == len(dampings) == 1:
        params = replace(base, min_count=pair_counts[0], popularity_damping=dampings[0])
        tuning = Tuning(requested=requested(settings), method="set")
        return Choice(params, tuning, mine(playlists, params, counter))
    started = time.perf_counter()
    sample = sample_playlists(playlists, TUNING_PLAYLISTS, seed=0)
    try:
        split = split_playlists(sample, test_fraction=HELD_OUT, seeds=SEED_SONGS, seed=0)
    except HoldoutError as error:
        # the most playlists per pair; the set damping, if one
        damping = FALLBACK_DAMPING if settings.popularity_damping == AUTO else dampings[0]
        params = replace(base, min_count=max(pair_counts), popularity_damping=damping)
        tuning = Tuning(requested(settings), f"fallback: {error}", seconds=_since(started))
        return Choice(params, tuning, mine(playlists, params, counter))
    params, tuning = _score_grid(split, grid, base, settings, started)
    rules = mine(playlists, params, counter)
    report(
        f"tune     {tuning.seconds:6.2f} s  pairs in {params.min_count}+ playlists, "
        f"popularity_damping {params.popularity_damping:g} ({tuning.method})"
    )
    return Choice(params, tuning, rules)


def _grid(settings: Settings) -> tuple[tuple[int, ...], tuple[float, ...]]:
    """The pair counts and dampings the settings leave to choose (one of each when set)."""
    counts = PAIR_COUNTS if settings.min_pair_count == AUTO else (int(settings.min_pair_count),)
    dampings = (
        DAMPINGS if settings.popularity_damping == AUTO else (float(settings.popularity_damping),)
    )
    return counts, dampings


def _score_grid(
    split: Split,
    grid: tuple[tuple[int, ...], tuple[float, ...]],
    base: MiningParams,
    settings: Settings,
    started: float,
) -> tuple[MiningParams, Tuning]:
    """Each candidate's held-out NDCG@10 and hit rate, from the train part's counts.

    One axis at a time: every damping at the highest pair count (the fewest pairs, so the
    cheapest models), then the lower pair counts at the best of those dampings. The best
    NDCG wins (ties: more playlists per pair, the smaller model; then the smaller damping,
    the plainer measure)."""
    pair_counts, dampings = grid
    queries = split.queries[:MAX_QUERIES]
    playlists = split.train.playlist_count
    thresholds = {
        count: rule_threshold(replace(base, min_count=count), playlists) for count in pair_counts
    }
    sent = (seed for query in queries for seed in query.seeds)
    counts = sent_counts(split.train, sent, set(thresholds.values()), base.min_confidence)
    keys = SongKeys()  # every candidate's model has the train part's vocabulary

    def candidate(min_count: int, damping: float) -> Candidate:
        params = replace(base, min_count=min_count, popularity_damping=damping)
        rules, whole = candidate_rules(counts, params)
        model = index_of(rules, params, DatasetInfo("held-out split", "", 0), keys)
        recommend = rules_recommender(model.index, split.train.spelling, keys)
        scores = score(recommend, queries, k=K, catalogue_size=model.index.song_count)
        measures = (scores.ndcg, scores.hit_rate, scores.fill_share)
        return Candidate(min_count, damping, whole, *measures)

    scored = [candidate(max(pair_counts), damping) for damping in dampings]
    damping = max(scored, key=_rank).popularity_damping
    scored += [candidate(count, damping) for count in sorted(pair_counts, reverse=True)[1:]]
    best = max(scored, key=_rank)
    tuning = Tuning(
        requested=requested(settings),
        method=f"best held-out NDCG@{K} of {len(scored)} candidates on {len(queries)} "
        f"playlists (of {split.train.playlist_count + split.test_playlists} counted)",
        held_out_playlists=len(queries),
        seconds=_since(started),
        grid=[asdict(candidate) for candidate in scored],
    )
    return replace(
        base, min_count=best.min_count, popularity_damping=best.popularity_damping
    ), tuning


def _rank(candidate: Candidate) -> tuple[float, int, float]:
    return (candidate.ndcg, candidate.min_count, -candidate.popularity_damping)


def _params(settings: Settings) -> MiningParams:
    """The settings' mining parameters, pair count and damping left at 1 and 0 until known."""
    support = 0.0 if settings.min_support == AUTO else float(settings.min_support)
    return MiningParams(
        min_support=support,
        min_confidence=settings.min_confidence,
        max_rule_length=settings.max_rule_length,
        rules_per_song=settings.rules_per_song,
        max_rules=settings.max_rules,
    )


def _since(started: float) -> float:
    return time.perf_counter() - started
