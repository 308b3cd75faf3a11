"""Quality on every synthetic family: does the default hold on data no one tuned it for?

Defaults chosen on one dataset fit that dataset's shape: a threshold that suits the
course's 2,300 playlists of 100 songs keeps almost nothing of a catalogue with a real long
tail. So each family of `recsys synth` (course, flat, longtail, mpd), at its own size
(mpd's million playlists excepted: see OWN_SIZE_LIMIT), at ds1's size and at 300
playlists, gets the same table: the grid `recsys train` chooses from (popularity dampings
and the playlists a pair must share; rules of two songs, 20 per song), the model it builds
by default, and the
baselines of `recsys evaluate` (EASE, item-kNN, co-occurrence and popularity), all
trained on the same splits and scored on the same queries. EASE is the yardstick: the
default's NDCG@10 is read as a share of EASE's on the same splits.

The grid is counted once per split at one playlist; every other point is built from
those counts (`mining.rules_at`, which `mine` itself ends with). The default
is chosen from the train split only, so it never sees the queries it is scored on; so are
EASE's lambda and kNN's neighbours and alpha, on a validation split of that train part.

One split of 300 playlists holds only 30 queries, so that size is averaged over more
splits; the long tail at its own size over one, since EASE there inverts a matrix of
6,300 train playlists once per lambda, which costs minutes.

`python -m bench.quality_families` prints this section alone; `python -m bench quality`
writes it into bench/RESULTS.md with the rest of the quality benchmark.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path

from bench.common import OUT, table
from recsys.model.build import DatasetInfo
from recsys.model.rules import MiningParams
from recsys.settings import Settings
from recsys.tools.cooccurrence import cooccurrence_recommender
from recsys.tools.ease import tuned_ease
from recsys.tools.knn import tuned_knn
from recsys.tools.synth import FAMILIES, synthesize
from recsys.tools.validation import validation_split
from recsys.training.holdout import (
    Split,
    index_of,
    popularity_recommender,
    rules_recommender,
    split_playlists,
)
from recsys.training.mining import count_pairs, rules_at
from recsys.training.playlists import Playlists, load_playlists
from recsys.training.scoring import Recommender, Scores, score
from recsys.training.tuning import DAMPINGS, PAIR_COUNTS, choose

K = 10
SEEDS = 5
TEST_FRACTION = 0.1
SPLIT_SEEDS = (0, 1, 2)
SMALL_SPLIT_SEEDS = (0, 1, 2, 3, 4)  # at SMALL: 30 queries a split
LARGE = 5000  # playlists: from this size on, one split (EASE's inversions take minutes)
LARGE_SPLIT_SEEDS = (0,)
DEFAULTS = Settings()
# (playlists a pair must share, popularity damping): the grid auto chooses from
GRID = [(count, damping) for count in PAIR_COUNTS for damping in DAMPINGS]
LENGTH = 2
SMALL = 300  # playlists: the bundled sample's size
# playlists: a family larger than this (mpd's 1,000,000) is measured at DS1 and SMALL
# only; mining it at its own size is a scale benchmark, not a quality one.
OWN_SIZE_LIMIT = 10_000
NEAR_BEST = 0.9  # the default's NDCG@10, as a share of the grid's best
NEAR_EASE = 0.95  # the default's NDCG@10, as a share of EASE's
OVER_POPULARITY = 1.5  # on hit rate and NDCG@10 both
DEFAULT = "default"
EASE, KNN = "EASE", "kNN"
BASELINES = (EASE, KNN, "co-occurrence", "popularity")
NO_DATASET = DatasetInfo("bench split", "", 0)


@dataclass
class Row:
    """One method over the splits: scores; for rules, their count, the damping (chosen, for
    the default) and the playlists a pair must share."""

    scores: list[Scores] = field(default_factory=list)
    rules: list[int] = field(default_factory=list)
    dampings: list[float] = field(default_factory=list)
    min_counts: list[int] = field(default_factory=list)
    chosen: list[str] = field(default_factory=list)  # a tuned baseline's values, per split

    def mean(self, metric: str) -> float:
        return statistics.fmean(getattr(scores, metric) for scores in self.scores)


@dataclass
class FamilyResult:
    family: str
    playlists: int
    rows: int  # of the CSV
    songs: int  # distinct, after normalisation
    queries: int
    seconds: float
    methods: dict[str, Row]  # the grid's points, DEFAULT, then BASELINES


def family_dataset(family: str, playlists: int) -> Path:
    """ds1.csv of the family at this size (seed 0), generated once into bench/out."""
    folder = OUT / f"synth-{family}-{playlists}"
    if not (folder / "ds1.csv").exists():
        synthesize(folder, family=family, playlists=playlists, seed=0)
    return folder / "ds1.csv"


def _scored(recommend: Recommender, queries: list, catalogue: int) -> Scores:
    return score(recommend, queries, k=K, catalogue_size=catalogue)


def measure_split(data: Playlists, split_seed: int, methods: dict[str, Row]) -> int:
    """Score the grid, the default and the baselines on one split; return its queries."""
    split = split_playlists(data, test_fraction=TEST_FRACTION, seeds=SEEDS, seed=split_seed)
    counts = count_pairs(split.train, min(count for count, _ in GRID))
    for min_count, damping in GRID:
        params = MiningParams(
            0.0, 0.0, LENGTH, damping, DEFAULTS.rules_per_song, min_count, DEFAULTS.max_rules
        )
        model = index_of(rules_at(counts, min_count, params), params, NO_DATASET)
        row = methods.setdefault(f"pairs {min_count}+, damping {damping:g}", Row())
        row.rules.append(model.rule_set.rule_count)
        row.dampings.append(damping)
        row.min_counts.append(min_count)
        recommend = rules_recommender(model.index, data.spelling)
        row.scores.append(_scored(recommend, split.queries, len(model.catalogue)))
    del counts
    choice = choose(split.train, DEFAULTS, lambda _line: None)
    chosen = choice.params
    default = index_of(choice.rules, chosen, NO_DATASET)
    row = methods.setdefault(DEFAULT, Row())
    row.rules.append(default.rule_set.rule_count)
    row.dampings.append(chosen.popularity_damping)
    row.min_counts.append(chosen.min_count)
    recommend = rules_recommender(default.index, data.spelling)
    row.scores.append(_scored(recommend, split.queries, len(default.catalogue)))
    catalogue = default.catalogue
    measure_tuned(split, split_seed, methods, len(catalogue))
    for name, baseline in (
        ("co-occurrence", cooccurrence_recommender(split.train)),
        ("popularity", popularity_recommender(catalogue)),
    ):
        methods.setdefault(name, Row()).scores.append(
            _scored(baseline, split.queries, len(catalogue))
        )
    return len(split.queries)


def measure_tuned(split: Split, split_seed: int, methods: dict[str, Row], catalogue: int) -> None:
    """EASE and kNN as `recsys evaluate` scores them: tuned on a validation split of the
    train part, fitted on all of it."""
    validation = validation_split(
        split.train, test_fraction=TEST_FRACTION, seeds=SEEDS, seed=split_seed
    )
    ease = tuned_ease(split.train, validation, K)
    knn = tuned_knn(split.train, validation, K)
    for name, tuned, chosen in (
        (EASE, ease, f"{ease.params['lambda']:g}"),
        (KNN, knn, f"{knn.params['neighbours']}/{knn.params['alpha']:g}"),
    ):
        row = methods.setdefault(name, Row())
        row.chosen.append(chosen)
        row.scores.append(_scored(tuned.recommend, split.queries, catalogue))


def split_seeds(playlists: int) -> tuple[int, ...]:
    if playlists <= SMALL:
        return SMALL_SPLIT_SEEDS
    return LARGE_SPLIT_SEEDS if playlists >= LARGE else SPLIT_SEEDS


def measure_family(family: str, playlists: int) -> FamilyResult:
    started = time.perf_counter()
    path = family_dataset(family, playlists)
    data = load_playlists(path)
    methods: dict[str, Row] = {}
    queries = sum(measure_split(data, split_seed, methods) for split_seed in split_seeds(playlists))
    result = FamilyResult(
        family=family,
        playlists=playlists,
        rows=data.pairs.height,
        songs=len(data.keys),
        queries=queries,
        seconds=time.perf_counter() - started,
        methods=methods,
    )
    print(f"family {family} ({playlists} playlists): {result.seconds:.0f} s", flush=True)
    return result


def grid_best(result: FamilyResult) -> tuple[str, Row]:
    grid = [(name, row) for name, row in result.methods.items() if row.rules and name != DEFAULT]
    return max(grid, key=lambda item: item[1].mean("ndcg"))


def label(name: str, row: Row) -> str:
    """The method, with what was chosen per split in brackets."""
    if name == DEFAULT:
        return f"default (damping {', '.join(f'{damping:g}' for damping in row.dampings)})"
    if name == EASE:
        return f"EASE (lambda {', '.join(row.chosen)})"
    if name == KNN:
        return f"kNN (neighbours/alpha {', '.join(row.chosen)})"
    return name


def family_rows(result: FamilyResult) -> list[list[object]]:
    popularity = result.methods["popularity"]
    ease = result.methods[EASE]
    rows = []
    for name, row in result.methods.items():
        rows.append(
            [
                label(name, row),
                "/".join(str(count) for count in sorted(set(row.min_counts))) or "-",
                round(statistics.fmean(row.rules)) if row.rules else "-",
                *(f"{row.mean(metric):.3f}" for metric in ("hit_rate", "ndcg", "r_precision")),
                "-" if name == "popularity" else f"{row.mean('fill_share'):.2f}",
                f"{row.mean('hit_rate') / popularity.mean('hit_rate'):.2f}x",
                f"{row.mean('ndcg') / popularity.mean('ndcg'):.2f}x",
                f"{row.mean('ndcg') / ease.mean('ndcg'):.2f}",
            ]
        )
    return rows


def _met(ok: bool) -> str:
    return "" if ok else "; missed"


def family_verdict(result: FamilyResult) -> str:
    """The acceptance: near the grid's best, well above popularity on both metrics, and
    near EASE."""
    return "\n".join((grid_verdict(result), ease_verdict(result)))


def ease_verdict(result: FamilyResult) -> str:
    default, ease, knn = (result.methods[name].mean("ndcg") for name in (DEFAULT, EASE, KNN))
    share = default / ease
    return (
        f"- family {result.family} ({result.playlists:,} playlists): default NDCG@{K} / EASE: "
        f"{share:.2f} (target: at least {NEAR_EASE:g}{_met(share >= NEAR_EASE)}); default "
        f"{default:.3f}, EASE {ease:.3f}, kNN {knn:.3f}"
    )


def grid_verdict(result: FamilyResult) -> str:
    """Near the grid's best, and well above popularity on both metrics."""
    default = result.methods[DEFAULT]
    popularity = result.methods["popularity"]
    best_name, best = grid_best(result)
    share = default.mean("ndcg") / best.mean("ndcg")
    hit_ratio = default.mean("hit_rate") / popularity.mean("hit_rate")
    ndcg_ratio = default.mean("ndcg") / popularity.mean("ndcg")
    cooccurrence = result.methods["co-occurrence"].mean("ndcg")
    return (
        f"- family {result.family} ({result.playlists:,} playlists): default NDCG@{K} "
        f"{default.mean('ndcg'):.3f} is {share:.0%} of the grid's best ({best.mean('ndcg'):.3f}, "
        f"{best_name}) (target: at least {NEAR_BEST:.0%}{_met(share >= NEAR_BEST)}); "
        f"{hit_ratio:.2f}x popularity's hit rate@{K} and {ndcg_ratio:.2f}x its NDCG@{K} "
        f"(target: {OVER_POPULARITY:g}x both"
        f"{_met(min(hit_ratio, ndcg_ratio) >= OVER_POPULARITY)}); co-occurrence NDCG@{K} "
        f"{cooccurrence:.3f}"
    )


DS1 = 2300  # playlists: the course dataset's size


def sizes() -> list[tuple[str, int]]:
    """Every family at ds1 size and at SMALL, and at its own size where that differs
    (and is at most OWN_SIZE_LIMIT)."""
    return [
        (name, playlists)
        for name, family in FAMILIES.items()
        for playlists in sorted({family.playlists, DS1, SMALL}, reverse=True)
        if playlists <= OWN_SIZE_LIMIT
    ]


def section() -> str:
    """The markdown of the families' section, measured now."""
    results = [measure_family(family, playlists) for family, playlists in sizes()]
    headers = [
        "method",
        "min playlists",
        "rules",
        f"hit@{K}",
        f"ndcg@{K}",
        "r-prec",
        "fill",
        "hit / popularity",
        "ndcg / popularity",
        "ndcg / EASE",
    ]
    parts = [
        "### Families: the default on data no one tuned for",
        f'Every family of `recsys synth` (seed 0; docs/training.md, "Synthetic data") at '
        f"{DS1:,} playlists (ds1's size), at {SMALL}, and at its own size. Per dataset: "
        "the mean over the splits of "
        f"`--seed` {', '.join(map(str, SPLIT_SEEDS))} ({', '.join(map(str, SMALL_SPLIT_SEEDS))} "
        f"at {SMALL} playlists, {', '.join(map(str, LARGE_SPLIT_SEEDS))} from {LARGE:,}), "
        f"{TEST_FRACTION:.0%} of playlists held "
        f"out, {SEEDS} seed songs sent, top {K} scored. Rows of pairs and a damping: rules "
        f"of {LENGTH} songs, {DEFAULTS.rules_per_song} per song, from pairs in that many "
        "playlists or more, at that popularity damping. `default`: what `recsys train` "
        "builds, on each split's train part (its chosen damping per split in brackets). "
        "Min playlists: how many playlists a pair must share. Fill: share of answers completed "
        "with popular songs. EASE and kNN are `recsys evaluate`'s baselines: lambda, and "
        "kNN's neighbours and alpha, chosen per split on a validation split of its train "
        "part (values per split in brackets). Ndcg / EASE: the row's NDCG@10 over EASE's.",
    ]
    for result in results:
        parts.append(
            f"#### {result.family}, {result.playlists:,} playlists ({result.rows:,} rows, "
            f"{result.songs:,} songs; {result.queries} queries; {result.seconds:.0f} s)"
        )
        parts.append(table(headers, family_rows(result)))
    parts.append("\n".join(family_verdict(result) for result in results))
    return "\n\n".join(parts)


if __name__ == "__main__":
    print(section())
