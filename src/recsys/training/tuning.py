"""Choosing `min_support` from the dataset itself, when the settings say "auto".

A support threshold written as a share of playlists means different things on datasets
of different sizes and shapes: the one that suits a few thousand course playlists mines
almost nothing from a sparse real catalogue. So the trainer holds out a tenth of the
playlists, mines the rest at each support of a small grid, answers the held-out
playlists exactly as the API would, and keeps the support with the best NDCG@10. The
model is then mined from the whole dataset at that support.

It stays cheap because the pairs of each part are counted once, at the lowest support of
the grid; every higher support is a filter of those counts (`mining.rules_at`). Scoring
goes from the highest support down and stops once a candidate scores below the best after
the scores have risen: past the peak, lower supports only add rarer, noisier pairs, and
cost more.
Two supports that come to the same count of playlists give the same model and are scored
once. The budgets: no candidate mines more than RECSYS_MAX_RULES rules from the whole
dataset, and candidates stop being scored after RECSYS_TUNING_SECONDS (the first one
always is).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass

from recsys.model.build import DatasetInfo
from recsys.model.rules import MiningParams, RuleSet, Tuning
from recsys.settings import AUTO, Settings
from recsys.training.engines import pair_counter
from recsys.training.holdout import (
    HoldoutError,
    Split,
    index_of,
    rules_recommender,
    split_playlists,
)
from recsys.training.mining import (
    MiningError,
    PairCounter,
    PairCounts,
    count_pairs,
    mine,
    minimum_count,
    pair_rules,
    rules_at,
    without,
)
from recsys.training.playlists import Playlists
from recsys.training.scoring import score

Reporter = Callable[[str], None]

# Highest first: cheap candidates are scored before the time budget can run out.
GRID = (0.05, 0.02, 0.01, 0.005, 0.002, 0.001)
HELD_OUT = 0.1
SEED_SONGS = 5
K = 10
# When no playlist can be held out (a handful of playlists, or none longer than
# SEED_SONGS): the support the project shipped before it chose per dataset.
FALLBACK_MIN_SUPPORT = 0.015


@dataclass(frozen=True)
class Candidate:
    """One support of the grid, scored on the held-out playlists."""

    min_support: float
    rules: int  # mined from the train part
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
    """The mining parameters as asked for; with "auto", its budget belongs to the request."""
    request: dict[str, object] = {
        "min_support": settings.min_support,
        "min_confidence": settings.min_confidence,
        "max_rule_length": settings.max_rule_length,
    }
    if settings.min_support == AUTO:
        request["max_rules"] = settings.max_rules
    return request


def choose(
    playlists: Playlists,
    settings: Settings,
    report: Reporter,
    counter: PairCounter | None = None,
) -> Choice:
    """The rules to publish: at the set min_support, or at the one "auto" chooses.
    Pairs are counted by `counter`, by default the engine the settings name."""
    counter = counter or pair_counter(settings)
    if settings.min_support != AUTO:
        params = _params(settings, float(settings.min_support))
        tuning = Tuning(requested=requested(settings), method="set")
        return Choice(params, tuning, mine(playlists, params, counter))
    started = time.perf_counter()
    total = playlists.playlist_count
    try:
        split: Split | None = split_playlists(
            playlists, test_fraction=HELD_OUT, seeds=SEED_SONGS, seed=0
        )
    except HoldoutError as error:
        split, why = None, str(error)
    floor = split.train.playlist_count if split else total  # the train part's counts too
    whole = count_pairs(playlists, minimum_count(GRID[-1], floor), counter=counter)
    affordable = _affordable(whole, settings)
    if split is None:
        support = FALLBACK_MIN_SUPPORT
        tuning = Tuning(requested(settings), f"fallback: {why}", seconds=_since(started))
    else:
        counts = without(whole, split.test, split.train, counter)
        support, tuning = _score_grid(split, counts, affordable, settings, started)
    params = _params(settings, support)
    if params.max_rule_length == 2 and minimum_count(support, total) >= whole.min_count:
        rules = rules_at(whole, minimum_count(support, total), params)
    else:
        rules = mine(playlists, params, counter)
    report(f"tune     {tuning.seconds:6.2f} s  min_support {support:g} ({tuning.method})")
    return Choice(params, tuning, rules)


def _past_the_peak(grid: list[Candidate]) -> bool:
    """The last candidate scored below the best, and the best rose above the first: the
    curve has peaked, and lower supports only add rarer, noisier pairs. (Where the highest
    supports mine next to nothing, the first candidates tie with popularity: no peak yet.)
    """
    best = max(candidate.ndcg for candidate in grid)
    return grid[-1].ndcg < best and best > grid[0].ndcg


def _affordable(whole: PairCounts, settings: Settings) -> list[float]:
    """The supports of the grid within RECSYS_MAX_RULES on the whole dataset."""
    affordable = []
    for support in GRID:  # rules only grow as the support falls
        if _rule_count(whole, minimum_count(support, whole.total), settings) > settings.max_rules:
            break
        affordable.append(support)
    if not affordable:
        raise MiningError(
            f"even min_support {GRID[0]} mines more than RECSYS_MAX_RULES "
            f"({settings.max_rules}) rules from this dataset: raise the budget, or set "
            "RECSYS_MIN_SUPPORT"
        )
    return affordable


def _score_grid(
    split: Split, counts: PairCounts, candidates: list[float], settings: Settings, started: float
) -> tuple[float, Tuning]:
    """Each candidate's held-out NDCG@10 and hit rate, from the train part's `counts`; the
    best NDCG wins (ties: the higher support, the smaller model)."""
    train_total = split.train.playlist_count
    spelling = split.train.spelling
    grid: list[Candidate] = []
    for support in candidates:
        if grid and time.perf_counter() - started > settings.tuning_seconds:
            break
        min_count = minimum_count(support, train_total)
        if grid and minimum_count(grid[-1].min_support, train_total) == min_count:
            continue  # the same threshold in playlists: the same model as the last one
        params = _params(settings, support)
        rules = rules_at(counts, min_count, params)
        model = index_of(rules, params, DatasetInfo("held-out split", "", 0))
        recommend = rules_recommender(model.index, spelling)
        scores = score(recommend, split.queries, k=K, catalogue_size=len(model.catalogue))
        grid.append(
            Candidate(support, rules.rule_count, scores.ndcg, scores.hit_rate, scores.fill_share)
        )
        if _past_the_peak(grid):
            break
    best = max(grid, key=lambda candidate: (candidate.ndcg, candidate.min_support))
    tuning = Tuning(
        requested=requested(settings),
        method=f"best held-out NDCG@{K} of {len(grid)} supports",
        held_out_playlists=len(split.queries),
        seconds=_since(started),
        grid=[asdict(candidate) for candidate in grid],
    )
    return best.min_support, tuning


def _rule_count(counts: PairCounts, min_count: int, settings: Settings) -> int:
    """Rules of two songs the whole dataset gives at `min_count` (longer ones only add)."""
    return pair_rules(counts, min_count, settings.min_confidence).height


def _params(settings: Settings, support: float) -> MiningParams:
    return MiningParams(support, settings.min_confidence, settings.max_rule_length)


def _since(started: float) -> float:
    return time.perf_counter() - started
