"""The co-occurrence baseline on playlists small enough to score by hand.

Train playlists: 1 {A, B, C}, 2 {A, B}, 3 {A, D}, 4 {B, C}, 5 {E}. Playlist counts:
A 3, B 3, C 2, D 1, E 1; popularity order A, B (tie broken by name), C, D, E. Pairs:
co(A,B) = 2, co(A,C) = 1, co(A,D) = 1, co(B,C) = 2; nothing else shares a playlist.
"""

from __future__ import annotations

import math

import polars as pl
import pytest

from recsys.tools.cooccurrence import cooccurrence_recommender
from recsys.training.playlists import Playlists, clean_pairs
from recsys.training.scoring import Answer, Recommender

PLAYLISTS = {"1": "ABC", "2": "AB", "3": "AD", "4": "BC", "5": "E"}


def train() -> Playlists:
    rows = [(pid, song) for pid, songs in PLAYLISTS.items() for song in songs]
    return clean_pairs(
        pl.DataFrame({"pid": [pid for pid, _ in rows], "track_name": [s for _, s in rows]})
    )


@pytest.fixture
def recommend() -> Recommender:
    return cooccurrence_recommender(train())


def test_one_seed_ranks_by_cosine_not_raw_counts(recommend: Recommender) -> None:
    # From A: B 2/sqrt(3*3) = 0.667, D 1/sqrt(3*1) = 0.577, C 1/sqrt(3*2) = 0.408.
    # Raw counts would put C level with D; the rarer D is the stronger sign.
    assert 2 / 3 > 1 / math.sqrt(3) > 1 / math.sqrt(6)
    assert recommend(["a"], 3) == Answer(["b", "d", "c"])
    # From B: C 2/sqrt(3*2) = 0.816 beats A 2/sqrt(3*3) = 0.667, though both share two
    # playlists with B and A is the more popular.
    assert recommend(["b"], 2) == Answer(["c", "a"])


def test_scores_add_up_over_the_seeds(recommend: Recommender) -> None:
    # From A and C: B 0.667 + 0.816, D 0.577 + 0; the seeds themselves are never sent back.
    assert recommend(["a", "c"], 2) == Answer(["b", "d"])


def test_fills_with_popular_songs_when_too_few_co_occur(recommend: Recommender) -> None:
    # From B only C and A co-occur; D and E come from popularity, in that order.
    assert recommend(["b"], 4) == Answer(["c", "a", "d", "e"], filled=2)
    # Asked for more songs than there are: all that is left, nothing invented.
    assert recommend(["a"], 10) == Answer(["b", "d", "c", "e"], filled=1)


def test_unknown_seeds_are_ignored(recommend: Recommender) -> None:
    assert recommend(["never heard"], 2) == Answer(["a", "b"], filled=2)
    assert recommend(["never heard", "a"], 1) == Answer(["b"])


def test_a_shorter_answer_is_a_prefix_of_a_longer_one(recommend: Recommender) -> None:
    longer = recommend(["a", "c"], 4)
    assert recommend(["a", "c"], 1).songs == longer.songs[:1]
    assert recommend(["a", "c"], 4) == longer  # asked again: the same answer
