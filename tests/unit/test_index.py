"""RuleIndex: scoring, unknown songs, the popularity fill, both lookup strategies."""

from __future__ import annotations

import random
from array import array

import pytest

from recsys.model.format import ARRAY_TYPES, ModelFile, encode_antecedent
from recsys.model.index import RuleIndex
from recsys.songs import normalize_song_name

# Songs by popularity: 0 A, 1 B, 2 C, 3 D, 4 E, 5 F.
VOCABULARY = ["Alpha", "Beyoncé – Halo", "Gamma", "Delta", "Epsilon", "Zeta"]
RULES = {  # antecedent -> [(consequent, confidence, lift, support)], best first
    (0,): [(2, 0.9, 2.0, 0.3), (3, 0.5, 1.5, 0.2)],
    (1,): [(3, 0.8, 1.1, 0.2), (2, 0.4, 1.0, 0.1)],
    (0, 1): [(4, 0.95, 3.0, 0.1)],
    (2,): [(0, 0.7, 1.2, 0.3)],
}


def build(
    rules: dict = RULES, max_rule_length: int = 3, vocabulary: list[str] = VOCABULARY
) -> RuleIndex:
    """A model laid out as the trainer lays it out: global ranks, groups sorted by rank."""
    flat = [
        (antecedent, consequent, conf, lift, support)
        for antecedent, entries in rules.items()
        for consequent, conf, lift, support in entries
    ]
    by_score = sorted(flat, key=lambda r: (-r[2], -r[3], -r[4], r[1]))
    ranked = sorted(
        ((r[0], by_score.index(r), r) for r in flat),
        key=lambda item: (encode_antecedent(item[0]), item[1]),
    )
    keys: list[int] = []
    offsets = [0]
    columns: dict[str, list] = {
        name: [] for name in ("consequents", "confidence", "lift", "support", "rank")
    }
    for antecedent, rank, (_, consequent, conf, lift, support) in ranked:
        key = encode_antecedent(antecedent)
        if not keys or keys[-1] != key:
            if keys:
                offsets.append(len(columns["rank"]))
            keys.append(key)
        for name, value in zip(
            ("consequents", "confidence", "lift", "support", "rank"),
            (consequent, conf, lift, support, rank),
            strict=True,
        ):
            columns[name].append(value)
    offsets.append(len(columns["rank"]))
    columns.update(
        counts=list(range(len(vocabulary), 0, -1)), antecedent_keys=keys, group_offsets=offsets
    )
    header = {
        "model_id": "m",
        "params": {"max_rule_length": max_rule_length},
        "vocabulary": vocabulary,
    }
    arrays = {name: array(ARRAY_TYPES[name], values) for name, values in columns.items()}
    return RuleIndex(ModelFile(header=header, arrays=arrays))


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


def brute_force(rules: dict, liked: set[int], k: int, songs: int) -> list[int]:
    best: dict[int, tuple] = {}
    for antecedent, entries in rules.items():
        if set(antecedent) <= liked:
            for consequent, conf, lift, support in entries:
                if consequent not in liked:
                    best[consequent] = max(best.get(consequent, ()), (conf, lift, support))
    ranked = sorted(best, key=lambda song: (tuple(-x for x in best[song]), song))[:k]
    fill = [song for song in range(songs) if song not in liked and song not in ranked]
    return ranked + fill[: k - len(ranked)]


@pytest.mark.parametrize("seed", range(5))
def test_both_lookup_strategies_match_brute_force(seed: int) -> None:
    # Few liked songs are matched by looking up each combination; many (here up to 25,
    # hundreds of combinations) by walking the key ranges of their antecedents.
    rng = random.Random(seed)
    vocabulary = [f"song {n}" for n in range(40)]
    rules: dict[tuple[int, ...], list] = {}
    for _ in range(120):
        antecedent = tuple(sorted(rng.sample(range(40), rng.choice([1, 2, 2, 3]))))
        consequent = rng.choice([n for n in range(40) if n not in antecedent])
        entry = (consequent, rng.choice([0.2, 0.5, 0.9]), rng.random() * 3, rng.random())
        if all(existing[0] != consequent for existing in rules.get(antecedent, [])):
            rules.setdefault(antecedent, []).append(entry)
    index = build(rules, max_rule_length=4, vocabulary=vocabulary)
    for size in (1, 2, 3, 5, 12, 25):
        liked = set(rng.sample(range(40), size))
        for k in (1, 5, 20):
            answer = index.recommend([vocabulary[song] for song in liked], k=k)
            expected = [vocabulary[song] for song in brute_force(rules, liked, k, 40)]
            assert answer.songs == expected, (size, k)
