"""Offline quality: hide part of each held-out playlist, recommend from the rest, score it.

This follows the RecSys Challenge 2018 on Spotify's Million Playlist Dataset. Playlists
are split by pid into a train and a test part; the model is trained on the train part
through the same code as `recsys train` (mine, encode, decode) and answered by the real
`RuleIndex`, so the numbers include its name normalisation and its popularity fill. Each
test playlist sends `seeds` of its songs and the answer is scored against the songs it
kept hidden. Five baselines are scored on the same queries, trained on the same split:
EASE (`recsys.tools.ease`) and a tuned item-kNN (`recsys.tools.knn`), the strong
item-item models the rules are measured against, their hyper-parameters chosen on a
validation split of the train part (`recsys.tools.validation`), never on the test
playlists; item-to-item co-occurrence (songs that share playlists with the ones sent, see
`recsys.tools.cooccurrence`); the most popular songs; and random songs. A model that
cannot beat popularity is not worth serving; one that cannot beat co-occurrence is not
worth its thresholds, since counting pairs needs none; EASE says how much an item-item
model of the same data can do.

Seeds are a deterministic random choice among a playlist's songs, not its first songs in
file order: a playlist CSV's row order is not something the loader promises to keep, and
a random choice matches the challenge's "random N tracks" category. Everything random
here (the split, the seeds, the random baseline) is derived from `seed`, so one seed
always gives the same numbers.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from recsys.errors import RecsysError
from recsys.model.build import DatasetInfo
from recsys.model.rules import MiningParams, Tuning
from recsys.settings import Settings
from recsys.tools.cooccurrence import cooccurrence_recommender
from recsys.tools.ease import tuned_ease
from recsys.tools.knn import tuned_knn
from recsys.tools.validation import Tuned, validation_split
from recsys.training.fetch import Snapshot, fetched_dataset
from recsys.training.holdout import (
    index_of,
    popularity_recommender,
    rules_recommender,
    split_playlists,
)
from recsys.training.playlists import Playlists, load_playlists
from recsys.training.scoring import Answer, Recommender, Scores, score
from recsys.training.tuning import choose

Reporter = Callable[[str], None]
METHODS = ("rules", "ease", "knn", "cooccurrence", "popularity", "random")


class EvaluationError(RecsysError):
    """Options that leave nothing to evaluate."""


def random_recommender(catalogue: list[str], seed: int) -> Recommender:
    """n songs of the train split drawn at random (not the ones sent), seeded per query."""
    ordered = sorted(catalogue)

    def recommend(seeds: list[str], n: int) -> Answer:
        sent = set(seeds)
        rng = random.Random(f"{seed}:{n}:{'|'.join(seeds)}")
        drawn = rng.sample(ordered, min(len(ordered), n + len(sent)))
        return Answer([song for song in drawn if song not in sent][:n])

    return recommend


@dataclass(frozen=True)
class EvaluateOptions:
    """How to evaluate: the command's flags other than the mining parameters."""

    test_fraction: float = 0.1
    seeds: int = 5
    k: int = 10
    seed: int = 0

    def __post_init__(self) -> None:
        if not 0 < self.test_fraction < 1:
            raise EvaluationError(
                f"--test-fraction must be between 0 and 1, not {self.test_fraction:g}"
            )
        for name in ("seeds", "k"):
            if getattr(self, name) < 1:
                raise EvaluationError(f"--{name} must be at least 1, not {getattr(self, name)}")


@dataclass(frozen=True)
class Evaluation:
    """What `recsys evaluate` reports; `to_json` is the `--json` contract."""

    options: EvaluateOptions
    params: MiningParams  # as chosen, where the settings say "auto"
    tuning: Tuning
    methods: dict[str, Scores]
    test_playlists: int  # used: held out and long enough
    skipped_playlists: int
    train_playlists: int
    catalogue_songs: int
    rules: int
    model_bytes: int
    train_seconds: float
    baselines: dict[str, dict[str, Any]]  # the tuned baselines' hyper-parameters

    def to_json(self) -> dict[str, Any]:
        return {
            **{name: asdict(scores) for name, scores in self.methods.items()},
            "k": self.options.k,
            "seeds": self.options.seeds,
            "test_playlists": self.test_playlists,
            "skipped_playlists": self.skipped_playlists,
            "train_playlists": self.train_playlists,
            "catalogue_songs": self.catalogue_songs,
            "test_fraction": self.options.test_fraction,
            "seed": self.options.seed,
            "params": asdict(self.params),
            "tuning": asdict(self.tuning),
            "model": {
                "rules": self.rules,
                "bytes": self.model_bytes,
                "train_seconds": self.train_seconds,
            },
            "baselines": self.baselines,
        }


def evaluate_playlists(
    playlists: Playlists,
    settings: Settings,
    options: EvaluateOptions,
    *,
    url: str,
    snapshot: Snapshot,
    report: Reporter,
) -> Evaluation:
    """Split, train on the train part as `recsys train` would (choosing on it whatever
    the settings leave "auto"), score the rules and the baselines on the test part."""
    split = split_playlists(
        playlists, test_fraction=options.test_fraction, seeds=options.seeds, seed=options.seed
    )
    train_playlists = split.train.playlist_count
    report(
        f"split    {split.test_playlists} test playlists ({split.skipped} with at most "
        f"{options.seeds} songs skipped), {train_playlists} to train on"
    )
    mark = time.perf_counter()
    choice = choose(split.train, settings, report)
    dataset = DatasetInfo(url, snapshot.sha256 or "", snapshot.size)
    model = index_of(choice.rules, choice.params, dataset)
    train_seconds = time.perf_counter() - mark
    report(
        f"train    {train_seconds:6.2f} s  {model.rule_set.rule_count} rules, "
        f"{model.model_bytes} bytes"
    )
    catalogue = model.catalogue
    tuned = tuned_baselines(split.train, options, report)
    recommenders = {
        "rules": rules_recommender(model.index, playlists.spelling),
        **{name: baseline.recommend for name, baseline in tuned.items()},
        "cooccurrence": cooccurrence_recommender(split.train),
        "popularity": popularity_recommender(catalogue),
        "random": random_recommender(catalogue, options.seed),
    }
    mark = time.perf_counter()
    methods = {
        name: score(recommend, split.queries, k=options.k, catalogue_size=len(catalogue))
        for name, recommend in recommenders.items()
    }
    report(f"score    {time.perf_counter() - mark:6.2f} s  {len(split.queries)} queries")
    return Evaluation(
        options=options,
        params=choice.params,
        tuning=choice.tuning,
        methods=methods,
        test_playlists=len(split.queries),
        skipped_playlists=split.skipped,
        train_playlists=train_playlists,
        catalogue_songs=len(catalogue),
        rules=model.rule_set.rule_count,
        model_bytes=model.model_bytes,
        train_seconds=train_seconds,
        baselines={name: baseline.report() for name, baseline in tuned.items()},
    )


def tuned_baselines(
    train: Playlists, options: EvaluateOptions, report: Reporter
) -> dict[str, Tuned]:
    """EASE and kNN fitted on the train split, tuned on a validation split of it."""
    mark = time.perf_counter()
    validation = validation_split(
        train, test_fraction=options.test_fraction, seeds=options.seeds, seed=options.seed
    )
    tuned = {
        "ease": tuned_ease(train, validation, options.k),
        "knn": tuned_knn(train, validation, options.k),
    }
    reports = {name: baseline.report() for name, baseline in tuned.items()}
    report(f"baselines {time.perf_counter() - mark:5.2f} s  {baselines_line(reports)}")
    return tuned


def baselines_line(reports: dict[str, dict[str, Any]]) -> str:
    """One line: the baselines' chosen hyper-parameters, and what chose them."""
    ease, knn = reports["ease"], reports["knn"]
    queries = ease["validation_queries"]
    chosen = (
        f"tuned on {queries} validation queries from the train split"
        if queries
        else "defaults: too few train playlists to validate on"
    )
    return (
        f"ease lambda {ease['lambda']:g} ({EASE_SPACES[ease['space']].format(**ease)}); "
        f"knn {knn['neighbours']} neighbours, alpha {knn['alpha']:g}; {chosen}"
    )


EASE_SPACES = {
    "songs": "song space, exact, {dimension:,} x {dimension:,}",
    "playlists": "playlist space via the Woodbury identity, exact, {dimension:,} x {dimension:,}",
    "top songs": "song space on the {songs:,} most popular songs only",
}


def evaluate(
    settings: Settings, dataset: str, options: EvaluateOptions, *, report: Reporter
) -> Evaluation:
    """`recsys evaluate`: fetch and load a dataset as `train` does, then evaluate on it."""
    started = time.perf_counter()
    with fetched_dataset(settings, dataset) as snapshot:
        if snapshot.path is None:  # only a conditional GET says "not modified"; we send none
            raise EvaluationError(f"dataset server sent no content for {dataset}")
        playlists = load_playlists(snapshot.path)
        report(
            f"load     {time.perf_counter() - started:6.2f} s  {playlists.playlist_count} "
            f"playlists, {len(playlists.keys)} songs"
        )
        return evaluate_playlists(
            playlists,
            settings,
            options,
            url=dataset,
            snapshot=snapshot,
            report=report,
        )


def table(evaluation: Evaluation) -> str:
    """The human-readable report: one row per method."""
    k = evaluation.options.k
    headers = ("method", f"hit@{k}", f"prec@{k}", f"recall@{k}", f"ndcg@{k}", "r-prec", "cover")
    lines = [f"{headers[0]:<13}" + "".join(f"{name:>10}" for name in headers[1:]) + "      fill"]
    for name, scores in evaluation.methods.items():
        values = (
            scores.hit_rate,
            scores.precision,
            scores.recall,
            scores.ndcg,
            scores.r_precision,
            scores.coverage,
            scores.fill_share,
        )
        lines.append(f"{name:<13}" + "".join(f"{value:>10.3f}" for value in values))
    params = evaluation.params
    lines.append(
        f"{evaluation.test_playlists} test playlists ({evaluation.skipped_playlists} skipped), "
        f"{evaluation.options.seeds} seed songs each; trained on "
        f"{evaluation.train_playlists} playlists: {evaluation.rules} rules "
        f"(min_support {params.min_support:g}, min_confidence {params.min_confidence:g}, "
        f"max_rule_length {params.max_rule_length}, pairs in {params.min_count}+ playlists, "
        f"popularity_damping {params.popularity_damping:g}, {params.rules_per_song} per song)"
    )
    lines.append(f"baselines: {baselines_line(evaluation.baselines)}")
    return "\n".join(lines)
