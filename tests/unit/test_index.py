"""RuleIndex: scoring, unknown songs, the popularity fill, both lookup strategies."""

from __future__ import annotations

from array import array

import pytest

from recsys.artifact import ARRAY_TYPES, Model, encode_antecedent
from recsys.index import RuleIndex, normalize_song_name

# Songs by popularity: 0 A, 1 B, 2 C, 3 D, 4 E, 5 F.
VOCABULARY = ["Alpha", "Beyoncé – Halo", "Gamma", "Delta", "Epsilon", "Zeta"]
RULES = {  # antecedent -> [(consequent, confidence, lift, support)], best first
    (0,): [(2, 0.9, 2.0, 0.3), (3, 0.5, 1.5, 0.2)],
    (1,): [(3, 0.8, 1.1, 0.2), (2, 0.4, 1.0, 0.1)],
    (0, 1): [(4, 0.95, 3.0, 0.1)],
    (2,): [(0, 0.7, 1.2, 0.3)],
}


def build(rules: dict = RULES, max_rule_length: int = 3) -> RuleIndex:
    keys, offsets, consequents, confidence, lift, support = [], [0], [], [], [], []
    for antecedent in sorted(rules):
        keys.append(encode_antecedent(antecedent))
        # The model format's invariant: best rule first within a group.
        ranked = sorted(rules[antecedent], key=lambda r: (-r[1], -r[2], -r[3], r[0]))
        for consequent, conf, lft, sup in ranked:
            consequents.append(consequent)
            confidence.append(conf)
            lift.append(lft)
            support.append(sup)
        offsets.append(len(consequents))
    order = sorted(range(len(keys)), key=keys.__getitem__)
    assert order == list(range(len(keys)))
    columns = {
        "counts": [60, 50, 40, 30, 20, 10],
        "antecedent_keys": keys,
        "group_offsets": offsets,
        "consequents": consequents,
        "confidence": confidence,
        "lift": lift,
        "support": support,
    }
    header = {
        "model_id": "m",
        "params": {"max_rule_length": max_rule_length},
        "vocabulary": VOCABULARY,
    }
    arrays = {name: array(ARRAY_TYPES[name], values) for name, values in columns.items()}
    return RuleIndex(Model(header=header, arrays=arrays))


def test_normalisation() -> None:
    assert normalize_song_name("  Beyonce\u0301  –\tHALO ") == "beyoncé – halo"


def test_best_rule_wins_and_liked_songs_are_never_recommended() -> None:
    index = build()
    answer = index.recommend(["alpha", "BEYONCÉ – HALO"], k=3)
    # {A,B} -> E (0.95) beats A -> C (0.9) beats B -> D (0.8); A and B are liked.
    assert answer.songs == ["Epsilon", "Gamma", "Delta"]
    assert answer.filled == 0
    assert answer.unknown_songs == []


def test_unknown_songs_are_reported_and_fill_uses_popularity() -> None:
    index = build()
    answer = index.recommend(["Gamma", "Nobody Knows"], k=3)
    assert answer.songs == ["Alpha", "Beyoncé – Halo", "Delta"]  # C -> A, then fill
    assert answer.unknown_songs == ["Nobody Knows"]
    assert answer.filled == 2


def test_nothing_known_is_all_popularity() -> None:
    answer = build().recommend(["x", "y"], k=2)
    assert answer.songs == ["Alpha", "Beyoncé – Halo"]
    assert answer.filled == 2


def test_k_limits_and_everything_liked() -> None:
    index = build()
    assert index.recommend(["Alpha"], k=1).songs == ["Gamma"]
    everything = index.recommend(VOCABULARY, k=5)
    assert everything.songs == []


def brute_force(rules: dict, liked: set[int], k: int) -> list[int]:
    best: dict[int, tuple] = {}
    for antecedent, entries in rules.items():
        if set(antecedent) <= liked:
            for consequent, conf, lift, support in entries:
                if consequent not in liked:
                    best[consequent] = max(best.get(consequent, ()), (conf, lift, support))
    ranked = sorted(best, key=lambda song: (tuple(-x for x in best[song]), song))[:k]
    fill = [song for song in range(len(VOCABULARY)) if song not in liked and song not in ranked]
    return ranked + fill[: k - len(ranked)]


@pytest.mark.parametrize("liked", [[0], [0, 1], [0, 1, 2], [0, 1, 2, 3], [1, 3], [3, 4]])
def test_both_lookup_strategies_match_brute_force(liked: list[int]) -> None:
    # Many antecedents start with song 0: walking its key range is the dearer strategy for
    # one or two liked songs, looking up every combination the dearer one for four.
    rules = {
        (0, other): [(5, 0.1 * other, 1.0, 0.1), (other + 1, 0.2, 1.0, 0.1)]
        for other in range(1, 5)
    }
    rules[(0,)] = [(4, 0.05, 1.0, 0.1)]
    rules[(1, 3)] = [(2, 0.3, 2.0, 0.1)]
    rules[(3,)] = [(5, 0.25, 1.0, 0.1)]
    index = build(rules)
    for k in (1, 2, 4):
        answer = index.recommend([VOCABULARY[song] for song in liked], k=k)
        expected = [VOCABULARY[song] for song in brute_force(rules, set(liked), k)]
        assert answer.songs == expected
