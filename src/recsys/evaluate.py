"""Offline quality: hide part of each held-out playlist, recommend from the rest, score it.

This follows the RecSys Challenge 2018 on Spotify's Million Playlist Dataset. Playlists
are split by pid into a train and a test part; the model is trained on the train part
through the same code as `recsys train` (mine, encode, decode) and answered by the real
`RuleIndex`, so the numbers include its name normalisation and its popularity fill. Each
test playlist sends `seeds` of its songs and the answer is scored against the songs it
kept hidden. Two baselines are scored on the same queries: the most popular songs, and
random songs. A model that cannot beat the first is not worth serving.

Seeds are a deterministic random choice among a playlist's songs, not its first songs in
file order: a playlist CSV's row order is not something the loader promises to keep, and
a random choice matches the challenge's "random N tracks" category. Everything random
here (the split, the seeds, the random baseline) is derived from `seed`, so one seed
always gives the same numbers.
"""

from __future__ import annotations

import hashlib
import math
import random
import time
from collections.abc import Callable, Sequence, Set
from dataclasses import asdict, dataclass
from typing import Any

import polars as pl

from recsys.artifact import decode_model
from recsys.dataset import Playlists, Snapshot, fetched, load_playlists
from recsys.errors import RecsysError
from recsys.index import RuleIndex, normalize_song_name
from recsys.mining import MiningParams, RuleSet, mine
from recsys.settings import Settings
from recsys.trainer import build_header, encode_rules, fingerprint, new_model_id, params_of

Reporter = Callable[[str], None]
METHODS = ("rules", "popularity", "random")


class EvaluationError(RecsysError):
    """Options or data that leave nothing to evaluate."""


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
class Split:
    """The train playlists, and the queries made from the test playlists."""

    train: Playlists
    queries: list[Query]
    test_playlists: int
    skipped: int  # test playlists with too few songs to keep any hidden


def _rank(seed: int, pid: str) -> bytes:
    return hashlib.sha256(f"{seed}:{pid}".encode()).digest()


def split_playlists(playlists: Playlists, *, test_fraction: float, seeds: int, seed: int) -> Split:
    """Hold out round(test_fraction * playlists) playlists, chosen by a hash of (seed, pid).

    Hashing pids rather than shuffling rows makes the split independent of the file's row
    order. Each test playlist sends `seeds` of its songs, chosen at random (seeded by seed
    and pid), and hides the rest; playlists with no more than `seeds` songs are skipped.
    """
    pids = sorted(playlists.pairs["pid"].unique().to_list(), key=lambda pid: _rank(seed, pid))
    held_out = round(test_fraction * len(pids))
    if held_out < 1 or held_out >= len(pids):
        raise EvaluationError(
            f"a test fraction of {test_fraction} of {len(pids)} playlists leaves "
            f"{held_out} to test and {len(pids) - held_out} to train; both need at least one"
        )
    test_pids = pids[:held_out]
    in_test = pl.col("pid").is_in(test_pids)
    train = Playlists(pairs=playlists.pairs.filter(~in_test), spelling=playlists.spelling)
    songs_by_pid = dict(
        playlists.pairs.filter(in_test).group_by("pid").agg(pl.col("song")).iter_rows()
    )
    queries = []
    for pid in test_pids:
        songs = sorted(songs_by_pid[pid])
        if len(songs) <= seeds:
            continue
        random.Random(f"{seed}:{pid}").shuffle(songs)
        queries.append(Query(pid=pid, seeds=songs[:seeds], hidden=frozenset(songs[seeds:])))
    if not queries:
        raise EvaluationError(
            f"no test playlist has more than {seeds} songs; lower --seeds or raise --test-fraction"
        )
    return Split(
        train=train,
        queries=queries,
        test_playlists=held_out,
        skipped=held_out - len(queries),
    )


@dataclass(frozen=True)
class TrainedModel:
    """The model trained on the train split, as the API would serve it."""

    index: RuleIndex
    rule_set: RuleSet
    model_bytes: int

    @property
    def catalogue(self) -> list[str]:
        """Song keys of the train split, most popular first (ids are popularity ranks)."""
        return [normalize_song_name(name) for name in self.rule_set.vocabulary]


def build_model(
    rule_set: RuleSet, params: MiningParams, *, url: str, snapshot: Snapshot
) -> TrainedModel:
    """Encode mined rules into a model file and load the index from those bytes.

    Going through the file format (not straight from `mine`) means the index under test is
    built exactly as a served one is. The header names the whole dataset; the model is
    never written anywhere, so nothing reads that.
    """
    digest = fingerprint(snapshot.sha256 or "", params)
    header = build_header(
        rule_set,
        params,
        model_id=new_model_id(digest),
        dataset={"url": url, "sha256": snapshot.sha256, "bytes": snapshot.size},
        digest=digest,
    )
    content = encode_rules(rule_set, header)
    return TrainedModel(
        index=RuleIndex(decode_model(content)), rule_set=rule_set, model_bytes=len(content)
    )


def train_index(
    train: Playlists, params: MiningParams, *, url: str, snapshot: Snapshot
) -> TrainedModel:
    """Mine, encode and decode exactly as `recsys train` does, without publishing."""
    return build_model(mine(train, params), params, url=url, snapshot=snapshot)


def rules_recommender(index: RuleIndex, spelling: dict[str, str]) -> Recommender:
    """The index as a user meets it: seeds sent in the dataset's spelling, names back."""

    def recommend(seeds: list[str], n: int) -> Answer:
        answer = index.recommend([spelling[key] for key in seeds], n)
        return Answer([normalize_song_name(name) for name in answer.songs], answer.filled)

    return recommend


def popularity_recommender(ranking: list[str]) -> Recommender:
    """The n most popular songs of the train split that were not sent."""

    def recommend(seeds: list[str], n: int) -> Answer:
        sent = set(seeds)
        return Answer([song for song in ranking[: n + len(sent)] if song not in sent][:n])

    return recommend


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
    params: MiningParams
    methods: dict[str, Scores]
    test_playlists: int  # used: held out and long enough
    skipped_playlists: int
    train_playlists: int
    catalogue_songs: int
    rules: int
    model_bytes: int
    train_seconds: float

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
            "model": {
                "rules": self.rules,
                "bytes": self.model_bytes,
                "train_seconds": self.train_seconds,
            },
        }


def evaluate_playlists(
    playlists: Playlists,
    params: MiningParams,
    options: EvaluateOptions,
    *,
    url: str,
    snapshot: Snapshot,
    report: Reporter,
) -> Evaluation:
    """Split, train on the train part, score the rules and both baselines on the test part."""
    split = split_playlists(
        playlists, test_fraction=options.test_fraction, seeds=options.seeds, seed=options.seed
    )
    train_playlists = split.train.playlist_count
    report(
        f"split    {split.test_playlists} test playlists ({split.skipped} with at most "
        f"{options.seeds} songs skipped), {train_playlists} to train on"
    )
    mark = time.perf_counter()
    model = train_index(split.train, params, url=url, snapshot=snapshot)
    train_seconds = time.perf_counter() - mark
    report(
        f"train    {train_seconds:6.2f} s  {model.rule_set.rule_count} rules, "
        f"{model.model_bytes} bytes"
    )
    catalogue = model.catalogue
    recommenders = {
        "rules": rules_recommender(model.index, playlists.spelling),
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
        params=params,
        methods=methods,
        test_playlists=len(split.queries),
        skipped_playlists=split.skipped,
        train_playlists=train_playlists,
        catalogue_songs=len(catalogue),
        rules=model.rule_set.rule_count,
        model_bytes=model.model_bytes,
        train_seconds=train_seconds,
    )


def evaluate(
    settings: Settings, dataset: str, options: EvaluateOptions, *, report: Reporter
) -> Evaluation:
    """`recsys evaluate`: fetch and load a dataset as `train` does, then evaluate on it."""
    started = time.perf_counter()
    with fetched(
        dataset, max_bytes=settings.max_dataset_bytes, timeout=settings.http_timeout
    ) as snapshot:
        if snapshot.path is None:  # only a conditional GET says "not modified"; we send none
            raise EvaluationError(f"dataset server sent no content for {dataset}")
        playlists = load_playlists(snapshot.path)
        report(
            f"load     {time.perf_counter() - started:6.2f} s  {playlists.playlist_count} "
            f"playlists, {len(playlists.spelling)} songs"
        )
        return evaluate_playlists(
            playlists,
            params_of(settings),
            options,
            url=dataset,
            snapshot=snapshot,
            report=report,
        )


def table(evaluation: Evaluation) -> str:
    """The human-readable report: one row per method."""
    k = evaluation.options.k
    headers = ("method", f"hit@{k}", f"prec@{k}", f"recall@{k}", f"ndcg@{k}", "r-prec", "cover")
    lines = [f"{headers[0]:<11}" + "".join(f"{name:>10}" for name in headers[1:]) + "      fill"]
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
        lines.append(f"{name:<11}" + "".join(f"{value:>10.3f}" for value in values))
    params = evaluation.params
    lines.append(
        f"{evaluation.test_playlists} test playlists ({evaluation.skipped_playlists} skipped), "
        f"{evaluation.options.seeds} seed songs each; trained on "
        f"{evaluation.train_playlists} playlists: {evaluation.rules} rules "
        f"(min_support {params.min_support:g}, min_confidence {params.min_confidence:g}, "
        f"max_rule_length {params.max_rule_length})"
    )
    return "\n".join(lines)
