"""Mining is exact: brute-force counts and efficient-apriori on raw strings agree with it."""

from __future__ import annotations

import itertools
from array import array
from bisect import bisect_right
from itertools import combinations

import polars as pl
import pytest
from efficient_apriori import apriori
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from recsys.model.format import decode_antecedent
from recsys.model.rules import MiningParams, RuleSet
from recsys.training import mining
from recsys.training.mining import mine, minimum_count
from recsys.training.playlists import clean_pairs

SONGS = [f"song {letter}" for letter in "abcdefghij"]


def expand(rules: RuleSet) -> dict[tuple[frozenset[str], str], tuple[float, float, float]]:
    """(antecedent names, consequent name) -> (support, confidence, lift), as the model's
    counts give them (`catalog.rule_measures` computes them alike)."""
    names = rules.vocabulary
    out = {}
    for rule, consequent in enumerate(rules.consequents):
        group = bisect_right(rules.group_offsets, rule) - 1
        antecedent = decode_antecedent(rules.antecedent_keys[group])
        key = (frozenset(names[song] for song in antecedent), names[consequent])
        together = rules.pair_counts[rule]
        confidence = together / rules.antecedent_counts[group]
        lift = confidence / (rules.counts[consequent] / rules.playlists)
        out[key] = (together / rules.playlists, confidence, lift)
        assert rules.weights[rule] == array("f", [confidence])[0]  # damping 0: confidence
    return out


def mine_baskets(baskets: list[set[str]], params: MiningParams) -> RuleSet:
    rows = [(str(pid), song) for pid, basket in enumerate(baskets) for song in sorted(basket)]
    frame = pl.DataFrame(rows, schema=["pid", "track_name"], orient="row")
    return mine(clean_pairs(frame), params)


baskets_strategy = st.lists(
    st.sets(st.sampled_from(SONGS), min_size=1, max_size=8), min_size=1, max_size=40
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    baskets=baskets_strategy,
    min_support=st.sampled_from([0.05, 0.1, 0.2, 1 / 3, 0.5, 0.7]),
    min_confidence=st.sampled_from([0.0, 0.1, 0.5, 0.8, 1.0]),
    max_length=st.integers(min_value=2, max_value=4),
)
def test_rules_match_brute_force_and_efficient_apriori(
    baskets: list[set[str]], min_support: float, min_confidence: float, max_length: int
) -> None:
    rules = expand(mine_baskets(baskets, MiningParams(min_support, min_confidence, max_length)))
    total = len(baskets)

    def count(items: frozenset[str]) -> int:
        return sum(1 for basket in baskets if items <= basket)

    for (antecedent, consequent), (support, confidence, lift) in rules.items():
        full = antecedent | {consequent}
        assert support == count(full) / total
        assert confidence == count(full) / count(antecedent)
        assert lift == confidence / (count(frozenset([consequent])) / total)
        assert support >= min_support
        assert confidence >= min_confidence

    # Brute force over every possible rule: nothing that qualifies is missing.
    vocabulary = sorted(set().union(*baskets))
    for size in range(2, max_length + 1):
        for itemset in combinations(vocabulary, size):
            full = frozenset(itemset)
            if count(full) / total < min_support:
                continue
            for consequent in itemset:
                antecedent = full - {consequent}
                if count(full) / count(antecedent) >= min_confidence:
                    assert (antecedent, consequent) in rules

    _, reference = apriori(
        [tuple(basket) for basket in baskets],
        min_support=min_support,
        min_confidence=min_confidence,
        max_length=max_length,
    )
    expected = {
        (frozenset(rule.lhs), rule.rhs[0]): (rule.support, rule.confidence)
        for rule in reference
        if len(rule.rhs) == 1
    }
    assert set(expected) == set(rules)
    for key, (support, confidence) in expected.items():
        assert rules[key][0] == support
        assert rules[key][1] == confidence


@given(
    support=st.floats(min_value=1e-4, max_value=1.0),
    playlists=st.integers(min_value=1, max_value=100_000),
)
def test_minimum_count_is_the_threshold_efficient_apriori_applies(
    support: float, playlists: int
) -> None:
    count = minimum_count(support, playlists)
    assert count / playlists >= support or count == playlists
    if count > 1:
        assert (count - 1) / playlists < support


def test_songs_are_ranked_by_popularity_and_keep_their_spelling() -> None:
    baskets = [{"Hey Jude", "Let It Be"}, {"Hey Jude"}, {"Hey Jude", "Yesterday"}]
    rules = mine_baskets(baskets, MiningParams(0.5, 0.1, 3))
    assert rules.vocabulary[0] == "Hey Jude"
    assert rules.counts[0] == 3
    assert rules.frequent_songs == 1  # only Hey Jude is in at least half the playlists
    assert rules.rule_count == 0


def test_the_same_data_always_gives_the_same_rules() -> None:
    """Ties in score must not leave the rule order (and so the model file) to chance."""
    from recsys.training.playlists import load_playlists
    from tests.support.paths import SAMPLE_DS1

    playlists = load_playlists(SAMPLE_DS1)
    params = MiningParams(0.0, 0.0, 2, popularity_damping=0.3, rules_per_song=5, min_count=2)
    runs = [mine(playlists, params) for _ in range(3)]
    assert runs[0] == runs[1] == runs[2]
    rules = runs[0]
    for start, end in itertools.pairwise(rules.group_offsets):
        order = [(-rules.weights[rule], rules.consequents[rule]) for rule in range(start, end)]
        assert order == sorted(order)  # heaviest first, equal weights to the popular song


def test_a_catalogue_larger_than_the_format_keeps_its_most_popular_songs(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    baskets = [{"song a", "song b"}, {"song a", "song b", "song c"}, {"song a", "song d"}]
    params = MiningParams(0.5, 0.1, 2)
    whole = mine_baskets(baskets, params)
    monkeypatch.setattr(mining, "MAX_SONGS", 2)
    capped = mine_baskets(baskets, params)
    assert capped.vocabulary == whole.vocabulary[:2] == ["song a", "song b"]
    assert capped.counts == whole.counts[:2]
    assert capped.consequents == whole.consequents  # every rule is among the kept songs
    monkeypatch.setattr(mining, "MAX_SONGS", 1)
    with pytest.raises(mining.MiningError, match="2 frequent songs; the model format holds 1"):
        mine_baskets(baskets, params)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    baskets=baskets_strategy,
    min_count=st.integers(min_value=1, max_value=3),
    damping=st.sampled_from([0.0, 0.25, 0.5, 1.0]),
    per_song=st.integers(min_value=1, max_value=4),
    max_rules=st.sampled_from([3, 10, 1000]),
)
def test_each_song_keeps_its_heaviest_rules_within_the_budget(
    baskets: list[set[str]], min_count: int, damping: float, per_song: int, max_rules: int
) -> None:
    """Brute force: every song in a pair of `min_count` playlists keeps the heaviest
    `n` of its rules, n the same for all songs and as large as `max_rules` allows."""
    params = MiningParams(0.0, 0.0, 2, damping, per_song, min_count, max_rules)
    try:
        rules = mine_baskets(baskets, params)
    except mining.MiningError:
        return  # checked below: only when even one rule per song is over the budget
    count = {song: sum(song in basket for basket in baskets) for song in SONGS}
    candidates: dict[str, list[tuple[float, int, str]]] = {}
    for a, b in itertools.permutations(SONGS, 2):
        together = sum(a in basket and b in basket for basket in baskets)
        if together >= min_count:
            weight = array("f", [together / (count[a] ** (1 - damping) * count[b] ** damping)])
            rank = rules.vocabulary.index(b)
            candidates.setdefault(a, []).append((-weight[0], rank, b))
    kept = rules.rules_per_song
    assert sum(min(kept, len(c)) for c in candidates.values()) <= max_rules
    if kept < per_song:  # one more rule per song would be over the budget
        assert sum(min(kept + 1, len(c)) for c in candidates.values()) > max_rules
    expected = {(frozenset([a]), b) for a, c in candidates.items() for _, _, b in sorted(c)[:kept]}
    assert set(expand_unchecked(rules)) == expected


def expand_unchecked(rules: RuleSet) -> list[tuple[frozenset[str], str]]:
    names = rules.vocabulary
    return [
        (
            frozenset(
                names[song]
                for song in decode_antecedent(
                    rules.antecedent_keys[bisect_right(rules.group_offsets, rule) - 1]
                )
            ),
            names[consequent],
        )
        for rule, consequent in enumerate(rules.consequents)
    ]


def test_a_budget_under_one_rule_per_song_is_a_clear_error() -> None:
    baskets = [{"song a", "song b"}, {"song a", "song c"}]
    with pytest.raises(mining.MiningError, match="RECSYS_MAX_RULES"):
        mine_baskets(baskets, MiningParams(0.0, 0.0, 2, max_rules=2))
