"""The tuner's candidate models hold only the songs the held-out queries send, and their
rules exactly as the whole model of the train part has them: every query gets the same
answer, and the whole model's size is counted right."""

from __future__ import annotations

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from recsys.model.build import DatasetInfo
from recsys.model.rules import MiningParams, RuleSet
from recsys.training.candidates import candidate_rules, sent_counts
from recsys.training.holdout import Split, index_of, split_playlists
from recsys.training.mining import MiningError, count_pairs, rule_threshold, rules_at
from recsys.training.playlists import Playlists, clean_pairs, load_playlists
from tests.support.paths import SAMPLE_DS1

NO_DATASET = DatasetInfo("held-out split", "", 0)


def rules_by_antecedent(rules: RuleSet) -> dict[int, list[tuple[int, float]]]:
    """Each antecedent's rules (consequent, weight), in the order the model serves them."""
    found = {}
    for at, key in enumerate(rules.antecedent_keys):
        start, end = rules.group_offsets[at], rules.group_offsets[at + 1]
        found[key] = list(zip(rules.consequents[start:end], rules.weights[start:end], strict=True))
    return found


def assert_same_for_the_queries(split: Split, params: MiningParams, sample: bool = True) -> None:
    """The candidate of `params` against the whole model; where the whole model refuses
    the budget, the candidate must refuse it too (allowed only off the `sample`)."""
    threshold = rule_threshold(params, split.train.playlist_count)
    seeds = [seed for query in split.queries for seed in query.seeds]
    counts = sent_counts(split.train, seeds, {threshold}, params.min_confidence)
    try:
        whole = rules_at(count_pairs(split.train, threshold), threshold, params)
    except MiningError:
        assert not sample
        with pytest.raises(MiningError, match="RECSYS_MAX_RULES"):
            candidate_rules(counts, params)
        return
    sent, rule_count = candidate_rules(counts, params)
    assert rule_count == whole.rule_count
    assert sent.rules_per_song == whole.rules_per_song
    assert (sent.vocabulary, sent.counts) == (whole.vocabulary, whole.counts)
    assert sent.frequent_songs == whole.frequent_songs
    whole_rules, sent_rules = rules_by_antecedent(whole), rules_by_antecedent(sent)
    assert sent_rules.items() <= whole_rules.items()  # each sent song's rules, whole
    if sample:
        assert len(sent_rules) < len(whole_rules)  # and not every song's
    whole_index = index_of(whole, params, NO_DATASET).index
    sent_index = index_of(sent, params, NO_DATASET).index
    spelling = split.train.spelling
    for query in split.queries:
        asked = [spelling[seed] for seed in query.seeds]
        assert sent_index.recommend(asked, 10) == whole_index.recommend(asked, 10)


@pytest.fixture(scope="module")
def sample_split() -> Split:
    return split_playlists(load_playlists(SAMPLE_DS1), test_fraction=0.1, seeds=5, seed=0)


@pytest.mark.parametrize(
    "params",
    [
        MiningParams(0.0, 0.0, 2, popularity_damping=0.0, min_count=2),
        MiningParams(0.0, 0.0, 2, popularity_damping=0.3, min_count=1),
        MiningParams(0.0, 0.2, 2, popularity_damping=0.5, rules_per_song=5, min_count=2),
        MiningParams(0.02, 0.0, 2, popularity_damping=0.1, min_count=1),
        MiningParams(0.0, 0.0, 2, popularity_damping=0.2, min_count=2, max_rules=30_000),
    ],
    ids=["confidence", "damped, pairs seen once", "min_confidence", "min_support", "budget"],
)
def test_a_candidate_answers_the_queries_as_the_whole_model_does(
    sample_split: Split, params: MiningParams
) -> None:
    assert_same_for_the_queries(sample_split, params)


def test_a_budget_no_song_fits_is_the_whole_model_s_error(sample_split: Split) -> None:
    params = MiningParams(0.0, 0.0, 2, min_count=2, max_rules=10)
    counts = sent_counts(sample_split.train, ["anything"], {2}, 0.0)
    with pytest.raises(MiningError, match="RECSYS_MAX_RULES"):
        candidate_rules(counts, params)


def playlists_of(baskets: list[list[int]]) -> Playlists:
    rows = [(str(pid), f"song {song}") for pid, basket in enumerate(baskets) for song in basket]
    return clean_pairs(pl.DataFrame(rows, schema=["pid", "track_name"], orient="row"))


@settings(max_examples=60, deadline=None)
@given(
    baskets=st.lists(
        st.lists(st.integers(0, 25), min_size=6, max_size=14, unique=True),
        min_size=12,
        max_size=40,
    ),
    min_count=st.integers(1, 3),
    damping=st.sampled_from([0.0, 0.3, 0.5]),
    per_song=st.integers(1, 4),
    min_confidence=st.sampled_from([0.0, 0.3]),
    max_rules=st.sampled_from([30, 10_000_000]),
)
def test_candidates_match_the_whole_model_on_any_playlists(
    baskets: list[list[int]],
    min_count: int,
    damping: float,
    per_song: int,
    min_confidence: float,
    max_rules: int,
) -> None:
    """Ties, songs sent by several queries, budgets that bind: still the same answers."""
    split = split_playlists(playlists_of(baskets), test_fraction=0.25, seeds=3, seed=0)
    params = MiningParams(
        0.0, min_confidence, 2, damping, per_song, min_count=min_count, max_rules=max_rules
    )
    assert_same_for_the_queries(split, params, sample=False)
