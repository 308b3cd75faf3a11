"""Quality benchmark: `recsys evaluate` over a grid of rule parameters and two scorings.

Every grid point is built by the trainer's code (`mining.rules_at` on one count of each
split's pairs), goes through the model file format and is answered by the real RuleIndex,
on three splits of the default-size synthetic ds1 (seeds 0, 1, 2): a difference smaller
than the spread between splits is noise, not evidence. The axes are the ones `recsys
train` exposes: the playlists a pair must share (RECSYS_MIN_PAIR_COUNT, or a share of
playlists with RECSYS_MIN_SUPPORT), the popularity damping, the rules each song keeps, and
rules of three songs. One dataset's best is not a default for all: the last section
(bench/quality_families.py) scores the default `recsys train` chooses on every family
against EASE and item-kNN.

The scoring experiment ranks the same rules by their single best weight, as the index did
before it added the weights up. A Python copy of the index's sum is checked in every run to
give exactly its answers, which is what makes the other column comparable.
"""

from __future__ import annotations

import resource
import statistics
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from pathlib import Path

from bench.common import machine, table
from bench.quality_families import section as families_section
from bench.train import dataset, recsys_train
from recsys.model.build import DatasetInfo
from recsys.model.format import decode_antecedent
from recsys.model.rules import MiningParams, RuleSet
from recsys.settings import Settings
from recsys.songs import normalize_song_name
from recsys.tools.evaluate import random_recommender
from recsys.training.holdout import (
    index_of,
    popularity_recommender,
    rules_recommender,
    split_playlists,
)
from recsys.training.mining import count_pairs, projected_itemsets, rule_threshold, rules_at
from recsys.training.playlists import Playlists, load_playlists
from recsys.training.scoring import Answer, Query, Recommender, Scores, score
from recsys.training.tuning import DAMPINGS, choose

K = 10
SEEDS = 5
TEST_FRACTION = 0.1
SPLIT_SEEDS = (0, 1, 2)
DEFAULTS = Settings()
PER_SONG = (5, 10, 20, 50, 100)  # scored at the default shape
BUDGET_RUNS = 3
SCORE_FIELDS = [item.name for item in fields(Scores)]
GRID_METRICS = ("hit_rate", "ndcg", "r_precision", "coverage")
INDEX = "sum of weights (index)"
BEST_RULE = "best single rule"


@dataclass(frozen=True)
class Shape:
    """What makes a rule: playlists shared (a count, or a share of all), songs per rule."""

    min_count: int
    min_support: float
    max_rule_length: int

    def __str__(self) -> str:
        share = f", min_support {self.min_support:g}" if self.min_support else ""
        return f"pairs in {self.min_count}+ playlists{share}, rules of {self.max_rule_length}"


# Rules of three songs need a share: at two playlists, a course playlist of 100 songs
# alone holds 160,000 triples. Each such shape has its rules-of-two twin beside it.
DEFAULT_SHAPE = Shape(2, 0.0, DEFAULTS.max_rule_length)  # where every budget is scored
SHAPES = (
    Shape(1, 0.0, 2),
    DEFAULT_SHAPE,
    Shape(3, 0.0, 2),
    Shape(5, 0.0, 2),
    Shape(2, 0.02, 2),
    Shape(2, 0.02, 3),
    Shape(2, 0.01, 2),
    Shape(2, 0.01, 3),
)


@dataclass(frozen=True)
class Config:
    shape: Shape
    damping: float
    per_song: int

    def params(self) -> MiningParams:
        return MiningParams(
            self.shape.min_support,
            DEFAULTS.min_confidence,
            self.shape.max_rule_length,
            popularity_damping=self.damping,
            rules_per_song=self.per_song,
            min_count=self.shape.min_count,
            max_rules=DEFAULTS.max_rules,
        )


@dataclass
class Measured:
    """One configuration over all splits: per scorer, the scores of each split."""

    config: Config
    rules: list[int] = field(default_factory=list)
    model_bytes: list[int] = field(default_factory=list)
    scores: dict[str, list[Scores]] = field(default_factory=dict)

    def mean(self, metric: str, scorer: str = INDEX) -> float:
        return statistics.fmean(getattr(scores, metric) for scores in self.scores[scorer])


def experimental_recommender(
    rule_set: RuleSet, aggregate: Callable[[list[float]], float]
) -> Recommender:
    """Rank the consequents of the seeds' one-song rules by `aggregate` of their weights,
    ties to the popular song; fill with popular songs, like the index."""
    ids: dict[str, int] = {}
    for song, name in enumerate(rule_set.vocabulary):
        ids.setdefault(normalize_song_name(name), song)
    keys = [normalize_song_name(name) for name in rule_set.vocabulary]
    by_song: dict[int, list[tuple[int, float]]] = {}
    for group, key in enumerate(rule_set.antecedent_keys):
        start, end = rule_set.group_offsets[group], rule_set.group_offsets[group + 1]
        (song,) = decode_antecedent(key)
        by_song[song] = list(
            zip(rule_set.consequents[start:end], rule_set.weights[start:end], strict=True)
        )

    def recommend(seeds: list[str], n: int) -> Answer:
        liked = sorted({ids[song] for song in seeds if song in ids})
        matching: dict[int, list[float]] = {}
        for song in liked:  # in key order, as the index adds them up
            for consequent, weight in by_song.get(song, ()):
                matching.setdefault(consequent, []).append(weight)
        scored = {song: aggregate(w) for song, w in matching.items() if song not in liked}
        ranked = sorted(scored, key=lambda song: (-scored[song], song))[:n]
        chosen = set(ranked).union(liked)
        fill = [song for song in range(len(keys)) if song not in chosen][: n - len(ranked)]
        return Answer([keys[song] for song in ranked + fill], filled=len(fill))

    return recommend


def stored(weights: list[float]) -> float:
    """The index's sum: Python floats added in order, starting from 0."""
    total = 0.0
    for weight in weights:
        total += weight
    return total


def check_reproduction(index_answers: Recommender, copy: Recommender, queries: list[Query]) -> None:
    """The experiment is only comparable if the copy of the index's scoring is exact."""
    for query in queries:
        for n in (K, len(query.hidden)):
            if index_answers(query.seeds, n) != copy(query.seeds, n):
                raise AssertionError(f"experimental index scorer differs on playlist {query.pid}")


def configs() -> list[Config]:
    """Every damping at every shape with the default budget; every budget at the default
    shape."""
    grid = [
        Config(shape, damping, DEFAULTS.rules_per_song) for shape in SHAPES for damping in DAMPINGS
    ]
    grid += [
        Config(DEFAULT_SHAPE, damping, per_song)
        for per_song in PER_SONG
        if per_song != DEFAULTS.rules_per_song
        for damping in DAMPINGS
    ]
    return grid


def measure_split(
    playlists: Playlists, split_seed: int, grid: dict[Config, Measured]
) -> tuple[list[Query], list[str], Playlists]:
    """Every configuration on one split; returns its queries, catalogue and train part."""
    split = split_playlists(playlists, test_fraction=TEST_FRACTION, seeds=SEEDS, seed=split_seed)
    total = split.train.playlist_count
    for shape in SHAPES:
        shape_params = Config(shape, 0.0, 1).params()
        min_count = rule_threshold(shape_params, total)
        counts = count_pairs(split.train, min_count)
        longer = None
        if shape.max_rule_length > 2:
            longer = projected_itemsets(counts.co, counts.pairs, min_count, shape.max_rule_length)
        for config in (config for config in grid if config.shape == shape):
            rule_set = rules_at(counts, min_count, config.params(), longer)
            model = index_of(rule_set, config.params(), DatasetInfo("bench split", "", 0))
            measured = grid[config]
            measured.rules.append(rule_set.rule_count)
            measured.model_bytes.append(model.model_bytes)
            methods = {INDEX: rules_recommender(model.index, playlists.spelling)}
            if shape.max_rule_length == 2 and config.per_song == DEFAULTS.rules_per_song:
                check_reproduction(
                    methods[INDEX], experimental_recommender(rule_set, stored), split.queries
                )
                methods[BEST_RULE] = experimental_recommender(rule_set, max)
            for name, recommend in methods.items():
                measured.scores.setdefault(name, []).append(
                    score(recommend, split.queries, k=K, catalogue_size=len(model.catalogue))
                )
            catalogue = model.catalogue
    return split.queries, catalogue, split.train


@dataclass
class Baselines:
    popularity: list[Scores] = field(default_factory=list)
    random: list[Scores] = field(default_factory=list)
    default: list[Scores] = field(default_factory=list)
    default_choices: list[float] = field(default_factory=list)


def measure_grid(path: Path) -> tuple[list[Measured], Baselines, int]:
    """Every configuration, the default's choice and the baselines on every split."""
    playlists = load_playlists(path)
    grid = {config: Measured(config) for config in configs()}
    baselines = Baselines()
    queries = 0
    for split_seed in SPLIT_SEEDS:
        split_queries, catalogue, train = measure_split(playlists, split_seed, grid)
        queries += len(split_queries)
        choice = choose(train, DEFAULTS, lambda _line: None)
        default = index_of(choice.rules, choice.params, DatasetInfo("bench split", "", 0))
        baselines.default_choices.append(choice.params.popularity_damping)
        for scores, recommend in (
            (baselines.default, rules_recommender(default.index, playlists.spelling)),
            (baselines.popularity, popularity_recommender(catalogue)),
            (baselines.random, random_recommender(catalogue, split_seed)),
        ):
            scores.append(score(recommend, split_queries, k=K, catalogue_size=len(catalogue)))
        print(f"split {split_seed}: {len(grid)} configurations scored", flush=True)
    return list(grid.values()), baselines, queries


@dataclass(frozen=True)
class Budget:
    """Default `recsys train` on the whole ds1 as a process, over BUDGET_RUNS runs: median
    CPU and wall seconds (a time target is about the typical run), the largest peak (a
    memory limit kills the worst run, not the typical one)."""

    cpu_seconds: float
    wall_seconds: float
    peak_mb: float


def measure_budget(path: Path) -> Budget:
    """CPU seconds (user + system) as well as wall: other work on a shared machine
    stretches wall time but not CPU time."""
    cpu, wall, peak = [], [], []
    for _ in range(BUDGET_RUNS):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        run = recsys_train(path, "auto", cutoff=120)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        if run.returncode != 0:
            return Budget(float("inf"), float("inf"), run.peak_rss_mb)
        cpu.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
        wall.append(run.seconds)
        peak.append(run.peak_rss_mb)
    return Budget(statistics.median(cpu), statistics.median(wall), max(peak))


def mean_of(scores: list[Scores], metric: str) -> float:
    return statistics.fmean(getattr(item, metric) for item in scores)


def spread(values: list[float]) -> str:
    return f"{statistics.fmean(values):.3f} ({min(values):.3f}-{max(values):.3f})"


def grid_rows(grid: list[Measured], popularity_ndcg: float) -> list[list[object]]:
    return [
        [
            measured.config.shape.min_count,
            measured.config.shape.min_support or "-",
            measured.config.shape.max_rule_length,
            measured.config.damping,
            measured.config.per_song,
            round(statistics.fmean(measured.rules)),
            round(statistics.fmean(measured.model_bytes) / 1024),
            *(f"{measured.mean(metric):.3f}" for metric in GRID_METRICS),
            f"{measured.mean('fill_share'):.2f}",
            f"{measured.mean('ndcg') / popularity_ndcg:.2f}x",
        ]
        for measured in grid
    ]


def scorer_rows(grid: list[Measured]) -> list[list[object]]:
    return [
        [
            str(measured.config.shape),
            measured.config.damping,
            *(
                f"{measured.mean('hit_rate', name):.3f} / {measured.mean('ndcg', name):.3f}"
                for name in (INDEX, BEST_RULE)
            ),
        ]
        for measured in grid
        if BEST_RULE in measured.scores
    ]


def baseline_rows(baselines: Baselines) -> list[list[object]]:
    return [
        [name, *(f"{mean_of(scores, metric):.3f}" for metric in SCORE_FIELDS)]
        for name, scores in (
            ("default (auto)", baselines.default),
            ("popularity", baselines.popularity),
            ("random", baselines.random),
        )
    ]


def best(grid: list[Measured]) -> Measured:
    """Best NDCG@k, compared at the table's three decimals (finer differences are far
    below the spread between splits); ties to the smaller model."""
    return max(grid, key=lambda m: (round(m.mean("ndcg"), 3), -statistics.fmean(m.model_bytes)))


def verdicts(grid: list[Measured], baselines: Baselines, budget: Budget) -> list[str]:
    top = best(grid)
    ndcg = [scores.ndcg for scores in baselines.default]
    hits = [scores.hit_rate for scores in baselines.default]
    popular_ndcg = mean_of(baselines.popularity, "ndcg")
    popular_hits = mean_of(baselines.popularity, "hit_rate")
    gains = [
        measured.mean("ndcg") - measured.mean("ndcg", BEST_RULE)
        for measured in grid
        if BEST_RULE in measured.scores
    ]
    longer = [
        (measured.mean("ndcg") - twin.mean("ndcg"), measured.config.shape.min_support)
        for measured in grid
        for twin in grid
        if measured.config.shape.max_rule_length == 3
        and twin.config
        == Config(
            Shape(2, measured.config.shape.min_support, 2),
            measured.config.damping,
            measured.config.per_song,
        )
    ]
    choices = ", ".join(f"{choice:g}" for choice in baselines.default_choices)
    return [
        f"- default (popularity_damping auto: {choices} on the splits): hit rate@{K} "
        f"{spread(hits)}, {statistics.fmean(hits) / popular_hits:.2f}x popularity; NDCG@{K} "
        f"{spread(ndcg)}, {statistics.fmean(ndcg) / popular_ndcg:.2f}x popularity (target: "
        "1.5x both)",
        f"- best of the grid ({top.config.shape}, damping {top.config.damping:g}, "
        f"{top.config.per_song} rules per song): NDCG@{K} {top.mean('ndcg'):.3f}; the default "
        f"reaches {statistics.fmean(ndcg) / top.mean('ndcg'):.0%} of it",
        f"- summing the weights against the best single rule: NDCG@{K} {min(gains):+.3f} to "
        f"{max(gains):+.3f} over the dampings",
        f"- rules of three songs against two at the same share: NDCG@{K} "
        f"{min(gain for gain, _ in longer):+.3f} to {max(gain for gain, _ in longer):+.3f}",
        f"- default training at ds1: {budget.wall_seconds:.2f} s wall, {budget.cpu_seconds:.2f} "
        f"CPU-seconds, {budget.peak_mb:.0f} MB peak (median of {BUDGET_RUNS} runs)",
    ]


def main() -> str:
    path = dataset()
    # The budget first: a child's peak RSS starts at its parent's high-water mark (Linux
    # keeps it across exec), so it is only the child's own while this process is small.
    budget = measure_budget(path)
    grid, baselines, queries = measure_grid(path)
    popularity_ndcg = mean_of(baselines.popularity, "ndcg")
    return "\n\n".join(
        [
            "## Quality (`python -m bench quality`)",
            f"`recsys evaluate` on the synthetic ds1 (`recsys synth`, seed 0: 2,300 playlists): "
            f"{TEST_FRACTION:.0%} of playlists held out, {SEEDS} seed songs sent per test "
            f"playlist, top {K} scored. Every figure is the mean over the splits of `--seed` "
            f"{', '.join(map(str, SPLIT_SEEDS))} ({queries} queries in all); ranges are "
            f"min-max over the splits. {machine()}. One split: `recsys evaluate "
            "bench/out/synth/ds1.csv --min-pair-count N --popularity-damping D "
            "--rules-per-song R --seed S`.",
            "### Baselines",
            table(["method", *SCORE_FIELDS], baseline_rows(baselines)),
            "### Rule parameters, scored by the index",
            "Pairs: playlists a rule's songs must share; share: RECSYS_MIN_SUPPORT where set. "
            "Rules and model size: mean over the splits' models.",
            table(
                [
                    "pairs",
                    "share",
                    "max_len",
                    "damping",
                    "per song",
                    "rules",
                    "model KB",
                    f"hit@{K}",
                    f"ndcg@{K}",
                    "r-prec",
                    "coverage",
                    "fill",
                    "ndcg / popularity",
                ],
                grid_rows(grid, popularity_ndcg),
            ),
            f"### Scoring (experiment; hit rate@{K} / NDCG@{K})",
            "The same rules (each song's default budget), ranked by the sum of the weights "
            "that point at a song (the index) or by the single heaviest one (the index before "
            "issue 22). A Python copy of the index's sum is checked in every run to give "
            "exactly its answers.",
            table(["shape", "damping", INDEX, BEST_RULE], scorer_rows(grid)),
            "### Choice",
            "\n".join(verdicts(grid, baselines, budget)),
            families_section(),
        ]
    )
