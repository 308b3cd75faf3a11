"""Held-out playlists: split a dataset, train on one part, answer the other as served.

Both `recsys evaluate` and the trainer's choice of `min_support` measure quality this way.
The model is built through the same code as a published one (mine, build, decode) and
answered by the same `RuleIndex`, so the scores include its name normalisation and its
popularity fill. Everything random is derived from a seed, so one seed always gives the
same split and the same numbers.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Iterable
from dataclasses import dataclass

import polars as pl

from recsys.errors import RecsysError
from recsys.model.build import DatasetInfo, build_model
from recsys.model.format import decode_model
from recsys.model.index import RuleIndex
from recsys.model.rules import MiningParams, RuleSet
from recsys.songs import normalize_song_name
from recsys.training.playlists import Playlists
from recsys.training.scoring import Answer, Query, Recommender


class HoldoutError(RecsysError):
    """A split that leaves nothing to train on or nothing to test."""


@dataclass(frozen=True)
class Split:
    """The train playlists, and the queries made from the test playlists."""

    train: Playlists
    test: Playlists  # the held-out playlists, whole
    queries: list[Query]
    test_playlists: int
    skipped: int  # test playlists with too few songs to keep any hidden


def _rank(seed: int, pid: str) -> bytes:
    return hashlib.sha256(f"{seed}:{pid}".encode()).digest()


def _by_rank(playlists: Playlists, seed: int) -> tuple[pl.Series, list[int]]:
    """The playlist numbers, and their positions in the order a hash of (seed, pid) gives."""
    numbers = playlists.pairs["pid"].unique()
    names = playlists.pids.gather(numbers).to_list()
    return numbers, sorted(range(len(names)), key=lambda at: _rank(seed, names[at]))


def sample_playlists(playlists: Playlists, limit: int, seed: int) -> Playlists:
    """At most `limit` playlists, chosen as `split_playlists` chooses (by a hash of seed and
    pid, whatever the file's order); all of them, the same object, if there are no more."""
    if playlists.playlist_count <= limit:
        return playlists
    numbers, order = _by_rank(playlists, seed)
    return playlists.subset(pl.col("pid").is_in(numbers.gather(order[:limit]).implode()))


def split_playlists(playlists: Playlists, *, test_fraction: float, seeds: int, seed: int) -> Split:
    """Hold out round(test_fraction * playlists) playlists, chosen by a hash of (seed, pid).

    Hashing pids rather than shuffling rows makes the split independent of the file's row
    order. Each test playlist sends `seeds` of its songs, chosen at random (seeded by seed
    and pid), and hides the rest; playlists with no more than `seeds` songs are skipped.
    """
    numbers, order = _by_rank(playlists, seed)
    held_out = round(test_fraction * len(order))
    if held_out < 1 or held_out >= len(order):
        raise HoldoutError(
            f"a test fraction of {test_fraction} of {len(order)} playlists leaves "
            f"{held_out} to test and {len(order) - held_out} to train; both need at least one"
        )
    test_numbers = numbers.gather(order[:held_out])
    in_test = pl.col("pid").is_in(test_numbers.implode())
    train = playlists.subset(~in_test)
    test = playlists.subset(in_test)
    songs_by_pid = dict(test.pairs.group_by("pid").agg(pl.col("song").sort()).iter_rows())
    keys = playlists.keys
    queries = []
    for number in test_numbers.to_list():
        # song numbers sort as their keys do
        songs = keys.gather(songs_by_pid[number]).to_list()
        if len(songs) <= seeds:
            continue
        pid = playlists.pids[number]
        random.Random(f"{seed}:{pid}").shuffle(songs)
        queries.append(Query(pid=pid, seeds=songs[:seeds], hidden=frozenset(songs[seeds:])))
    if not queries:
        raise HoldoutError(
            f"no test playlist has more than {seeds} songs; lower --seeds or raise --test-fraction"
        )
    return Split(
        train=train,
        test=test,
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
        return list(self.index.song_keys)


class SongKeys:
    """Song-name keys by spelling, each normalised once and then remembered.

    The models a tuning scores share the train split's vocabulary, and their answers name
    its songs: one `SongKeys` for all of them normalises each name once, not once per
    model and again in every answer.
    """

    def __init__(self) -> None:
        self._known: dict[str, str] = {}

    def of(self, names: Iterable[str]) -> list[str]:
        """`normalize_song_name` of each of `names`."""
        known = self._known
        keys = []
        for name in names:
            key = known.get(name)
            if key is None:
                key = known[name] = normalize_song_name(name)
            keys.append(key)
        return keys


def index_of(
    rule_set: RuleSet, params: MiningParams, dataset: DatasetInfo, keys: SongKeys | None = None
) -> TrainedModel:
    """Encode mined rules into a model file and load the index from those bytes.

    Going through the file format (not straight from `mine`) means the index under test is
    built exactly as a served one is. The model is never written anywhere. `keys`, when
    several models share a vocabulary, spares the index normalising it again.
    """
    built = build_model(rule_set, params, dataset)
    model = decode_model(built.content)
    song_keys = keys.of(model.vocabulary) if keys is not None else None
    return TrainedModel(
        index=RuleIndex(model, song_keys=song_keys),
        rule_set=rule_set,
        model_bytes=len(built.content),
    )


def rules_recommender(
    index: RuleIndex, spelling: dict[str, str], keys: SongKeys | None = None
) -> Recommender:
    """The index as a user meets it: seeds sent in the dataset's spelling, names back (as
    keys, normalised through `keys` when the caller shares one)."""
    answer_keys = keys if keys is not None else SongKeys()

    def recommend(seeds: list[str], n: int) -> Answer:
        answer = index.recommend([spelling[key] for key in seeds], n)
        return Answer(answer_keys.of(answer.songs), answer.filled)

    return recommend


def popularity_recommender(ranking: list[str]) -> Recommender:
    """The n most popular songs of the train split that were not sent."""

    def recommend(seeds: list[str], n: int) -> Answer:
        sent = set(seeds)
        return Answer([song for song in ranking[: n + len(sent)] if song not in sent][:n])

    return recommend
