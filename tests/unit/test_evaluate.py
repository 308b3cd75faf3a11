"""Offline evaluation: metrics against hand-computed values, the split, the baselines, and a
planted rule that the whole pipeline (mine, model file, RuleIndex) must find."""

from __future__ import annotations

import csv
import math
import random
from pathlib import Path

import polars as pl
import pytest

from recsys.model.build import DatasetInfo
from recsys.model.rules import MiningParams
from recsys.settings import load_settings
from recsys.tools.ease import DEFAULT_LAMBDA, tuned_ease
from recsys.tools.evaluate import (
    EvaluateOptions,
    EvaluationError,
    evaluate,
    evaluate_playlists,
    random_recommender,
)
from recsys.tools.knn import DEFAULT, tuned_knn
from recsys.tools.validation import best, validation_split
from recsys.training.fetch import Snapshot, fetched
from recsys.training.holdout import (
    HoldoutError,
    index_of,
    popularity_recommender,
    rules_recommender,
    split_playlists,
)
from recsys.training.mining import mine
from recsys.training.playlists import Playlists, clean_pairs, load_playlists
from recsys.training.scoring import (
    Answer,
    Query,
    hit_rate_at_k,
    ndcg_at_k,
    precision_at_k,
    r_precision,
    recall_at_k,
    score,
)

LOG2_3 = math.log2(3)


# Metrics, by hand. Ranked answer a b c d e; the playlist hid b, e and x.
RANKED = ["a", "b", "c", "d", "e"]
HIDDEN = frozenset({"b", "e", "x"})


def test_hit_rate() -> None:
    assert hit_rate_at_k(RANKED, HIDDEN, 1) == 0.0  # a
    assert hit_rate_at_k(RANKED, HIDDEN, 2) == 1.0  # a b
    assert hit_rate_at_k(RANKED, frozenset({"z"}), 5) == 0.0


def test_precision_divides_by_k_even_for_short_answers() -> None:
    assert precision_at_k(RANKED, HIDDEN, 3) == pytest.approx(1 / 3)  # b
    assert precision_at_k(RANKED, HIDDEN, 5) == pytest.approx(2 / 5)  # b, e
    assert precision_at_k(["b"], HIDDEN, 10) == pytest.approx(1 / 10)


def test_recall_divides_by_hidden() -> None:
    assert recall_at_k(RANKED, HIDDEN, 3) == pytest.approx(1 / 3)
    assert recall_at_k(RANKED, HIDDEN, 5) == pytest.approx(2 / 3)


def test_ndcg_with_binary_relevance() -> None:
    # k=3: one hit at position 2 -> DCG = 1/log2(3); ideal: 3 hits -> 1 + 1/log2(3) + 1/2.
    assert ndcg_at_k(RANKED, HIDDEN, 3) == pytest.approx((1 / LOG2_3) / (1 + 1 / LOG2_3 + 0.5))
    # k=5: hits at positions 2 and 5 -> 1/log2(3) + 1/log2(6); ideal still over 3 hits.
    assert ndcg_at_k(RANKED, HIDDEN, 5) == pytest.approx(
        (1 / LOG2_3 + 1 / math.log2(6)) / (1 + 1 / LOG2_3 + 0.5)
    )
    assert ndcg_at_k(RANKED, frozenset({"z"}), 5) == 0.0


def test_ndcg_ideal_stops_at_the_number_hidden() -> None:
    # One hidden song found first is perfect, however large k is.
    assert ndcg_at_k(["a", "q"], frozenset({"a"}), 10) == pytest.approx(1.0)
    assert ndcg_at_k(["q", "a"], frozenset({"a"}), 10) == pytest.approx(1 / LOG2_3)


def test_r_precision_cuts_at_the_number_hidden() -> None:
    assert r_precision(RANKED, HIDDEN) == pytest.approx(1 / 3)  # a b c: one hit
    assert r_precision(["b", "x", "a", "e"], HIDDEN) == pytest.approx(2 / 3)  # b x a
    assert r_precision(["e", "b"], frozenset({"b", "e"})) == 1.0


def test_score_averages_per_query_and_counts_coverage_and_fill() -> None:
    answers = {
        ("s1",): Answer(["a", "b"], filled=0),
        ("s2",): Answer(["a", "c"], filled=1),
    }
    asked: list[tuple[tuple[str, ...], int]] = []

    def recommend(seeds: list[str], n: int) -> Answer:
        asked.append((tuple(seeds), n))
        return Answer(answers[tuple(seeds)].songs[:n], answers[tuple(seeds)].filled)

    queries = [
        Query("1", ["s1"], frozenset({"b"})),  # hit at 2
        Query("2", ["s2"], frozenset({"z", "y", "x"})),  # nothing
    ]
    scores = score(recommend, queries, k=2, catalogue_size=10)
    assert scores.hit_rate == 0.5
    assert scores.precision == pytest.approx((1 / 2 + 0) / 2)
    assert scores.recall == pytest.approx((1 / 1 + 0) / 2)
    assert scores.ndcg == pytest.approx((1 / LOG2_3 + 0) / 2)
    assert scores.r_precision == 0.0  # query 1 asks for 1 song: "a", a miss
    assert scores.coverage == pytest.approx(3 / 10)  # a, b, c
    assert scores.fill_share == 0.5
    # top-k answers, then one of |hidden| songs for R-precision
    assert asked == [(("s1",), 2), (("s1",), 1), (("s2",), 2), (("s2",), 3)]


# The split.


def playlists_of(baskets: dict[str, list[str]]) -> Playlists:
    rows = [(pid, song) for pid, songs in baskets.items() for song in songs]
    return clean_pairs(pl.DataFrame(rows, schema=["pid", "track_name"], orient="row"))


def varied_baskets(count: int = 60) -> dict[str, list[str]]:
    rng = random.Random(1)
    return {
        f"p{pid}": rng.sample([f"song {n}" for n in range(40)], rng.randint(2, 12))
        for pid in range(count)
    }


def test_split_is_deterministic_by_pid_not_row_order() -> None:
    baskets = varied_baskets()
    first = split_playlists(playlists_of(baskets), test_fraction=0.25, seeds=3, seed=4)
    shuffled = dict(reversed(list(baskets.items())))
    shuffled = {pid: list(reversed(songs)) for pid, songs in shuffled.items()}
    again = split_playlists(playlists_of(shuffled), test_fraction=0.25, seeds=3, seed=4)
    assert first.queries == again.queries
    assert first.test_playlists == 15
    assert first.train.playlist_count == 45
    other = split_playlists(playlists_of(baskets), test_fraction=0.25, seeds=3, seed=5)
    assert {q.pid for q in other.queries} != {q.pid for q in first.queries}


def test_queries_send_seeds_and_hide_the_rest_and_skip_short_playlists() -> None:
    baskets = varied_baskets()
    split = split_playlists(playlists_of(baskets), test_fraction=0.25, seeds=3, seed=4)
    test_pids = {q.pid for q in split.queries}
    train_pids = set(split.train.pairs["pid"].unique().to_list())
    assert not test_pids & train_pids
    short = [pid for pid, songs in baskets.items() if len(songs) <= 3]
    assert not test_pids & set(short)
    assert split.skipped == split.test_playlists - len(split.queries)
    for query in split.queries:
        assert len(query.seeds) == 3
        assert not set(query.seeds) & query.hidden
        assert set(query.seeds) | query.hidden == set(baskets[query.pid])


def test_options_refuse_nonsense() -> None:
    with pytest.raises(EvaluationError, match="--test-fraction"):
        EvaluateOptions(test_fraction=1.0)
    with pytest.raises(EvaluationError, match="--seeds must be at least 1, not 0"):
        EvaluateOptions(seeds=0)
    with pytest.raises(EvaluationError, match="--k must be at least 1"):
        EvaluateOptions(k=-1)


def test_split_refuses_what_cannot_be_evaluated() -> None:
    playlists = playlists_of(varied_baskets(4))
    with pytest.raises(HoldoutError, match="both need at least one"):
        split_playlists(playlists, test_fraction=0.1, seeds=1, seed=0)  # rounds to 0 tested
    with pytest.raises(HoldoutError, match="more than 50 songs"):
        split_playlists(playlists, test_fraction=0.5, seeds=50, seed=0)


# Baselines.


def test_popularity_skips_the_songs_sent() -> None:
    recommend = popularity_recommender(["a", "b", "c", "d"])
    assert recommend(["b"], 2) == Answer(["a", "c"])
    assert recommend(["a", "b"], 5) == Answer(["c", "d"])


def test_random_is_seeded_and_never_sends_a_seed_back() -> None:
    catalogue = [f"s{n}" for n in range(100)]
    first = random_recommender(catalogue, seed=3)(["s1", "s2"], 20)
    assert first == random_recommender(list(reversed(catalogue)), seed=3)(["s1", "s2"], 20)
    assert first != random_recommender(catalogue, seed=4)(["s1", "s2"], 20)
    assert len(set(first.songs)) == 20
    assert not {"s1", "s2"} & set(first.songs)


# A planted rule: "Song A" is always followed by "Song B" (and nothing else is), while the
# most popular song sits in every other playlist. The rules must find B from A (and A from
# B) every time; popularity, answering the hit song, never does.

PLANTED = ("Song A", "Song B")


def planted_csv(path: Path) -> Path:
    rng = random.Random(0)
    noise = [f"Noise {n}" for n in range(300)]
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["pid", "track_name"])
        for pid in range(200):
            songs = list(PLANTED) if pid % 10 < 3 else ["Hit Song", *rng.sample(noise, 5)]
            writer.writerows((pid, song) for song in songs)
    return path


def load_planted(tmp_path: Path) -> tuple[Playlists, Snapshot]:
    with fetched(
        str(planted_csv(tmp_path / "planted.csv")), max_bytes=1 << 20, timeout=5, deadline=60
    ) as snap:
        assert snap.path is not None
        return load_playlists(snap.path), snap


def test_evaluation_finds_a_planted_rule(tmp_path: Path) -> None:
    playlists, snapshot = load_planted(tmp_path)
    split = split_playlists(playlists, test_fraction=0.25, seeds=1, seed=0)
    params = MiningParams(0.03, 0.1, 3)
    dataset = DatasetInfo("planted.csv", snapshot.sha256 or "", snapshot.size)
    model = index_of(mine(split.train, params), params, dataset)
    assert model.index.rule_count == model.rule_set.rule_count > 0
    keys = {song.casefold() for song in PLANTED}
    planted = [query for query in split.queries if set(query.seeds) <= keys]
    assert len(planted) >= 10
    size = len(model.catalogue)
    rules = score(
        rules_recommender(model.index, playlists.spelling), planted, k=1, catalogue_size=size
    )
    popular = score(popularity_recommender(model.catalogue), planted, k=1, catalogue_size=size)
    assert rules.hit_rate == 1.0
    assert rules.ndcg == 1.0
    assert rules.fill_share == 0.0
    assert popular.hit_rate == 0.0


def test_evaluate_runs_the_whole_command_path(tmp_path: Path) -> None:
    path = planted_csv(tmp_path / "planted.csv")
    lines: list[str] = []
    result = evaluate(
        load_settings(min_support=0.05),
        str(path),
        EvaluateOptions(test_fraction=0.25, seeds=1, k=1, seed=0),
        report=lines.append,
    )
    assert result.params.min_support == 0.05
    assert result.test_playlists + result.skipped_playlists == 50
    assert result.train_playlists == 150
    summary = result.to_json()
    methods = {"rules", "ease", "knn", "cooccurrence", "popularity", "random"}
    assert set(summary) >= methods | {"k", "seeds", "test_playlists", "baselines"}
    assert summary["rules"]["hit_rate"] > summary["popularity"]["hit_rate"]
    for baseline in ("ease", "knn"):  # the planted pair is what any item-item model finds
        assert summary[baseline]["hit_rate"] > summary["popularity"]["hit_rate"]
    stages = [line.split()[0] for line in lines]
    assert stages[:2] == ["load", "split"]
    assert stages[-3:] == ["train", "baselines", "score"]


# The tuned baselines: chosen on the train part only.


def test_baselines_are_tuned_without_the_test_playlists(tmp_path: Path) -> None:
    """Change only what the test playlists hold: the baselines' choice must not move."""
    playlists, snapshot = load_planted(tmp_path)
    split = split_playlists(playlists, test_fraction=0.25, seeds=1, seed=0)
    test_pids = set(split.test.named()["pid"].to_list())
    validation = validation_split(split.train, test_fraction=0.25, seeds=1, seed=0)
    assert validation is not None
    seen = set(validation.train.named()["pid"]) | {query.pid for query in validation.queries}
    assert seen
    assert not seen & test_pids
    rows = playlists.named()
    noisy = pl.concat(
        [rows, pl.DataFrame({"pid": sorted(test_pids), "song": "extra noise"})]
    ).rename({"song": "track_name"})
    runs = [
        evaluate_playlists(
            data,
            load_settings(min_support=0.05),
            EvaluateOptions(test_fraction=0.25, seeds=1, k=1, seed=0),
            url="planted.csv",
            snapshot=snapshot,
            report=lambda _line: None,
        )
        for data in (playlists, clean_pairs(noisy))
    ]
    assert runs[0].baselines == runs[1].baselines
    assert runs[0].baselines["ease"]["validation_queries"] == len(validation.queries)


def test_baselines_keep_their_defaults_when_the_train_part_cannot_be_split() -> None:
    train = playlists_of({"p1": ["a", "b"], "p2": ["b", "c"], "p3": ["a", "c"]})
    assert validation_split(train, test_fraction=0.1, seeds=1, seed=0) is None
    ease, knn = tuned_ease(train, None, 10), tuned_knn(train, None, 10)
    assert ease.params["lambda"] == DEFAULT_LAMBDA
    assert (knn.params["neighbours"], knn.params["alpha"]) == DEFAULT
    assert ease.validation_queries == knn.validation_queries == 0
    assert ease.recommend(["a"], 2).songs == knn.recommend(["a"], 2).songs == ["b", "c"]


def test_ties_in_validation_go_to_the_first_point_of_the_grid() -> None:
    assert best({3: 0.5, 1: 0.7, 2: 0.7}) == 1
