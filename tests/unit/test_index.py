"""RuleIndex: scoring, unknown songs, the popularity fill, both lookup strategies, and the
explanations, which must be the scoring read back."""

from __future__ import annotations

import random
import unicodedata
from array import array
from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from recsys.model.format import ARRAY_TYPES, ModelFile, encode_antecedent
from recsys.model.index import MAX_REASONS, Reason, RuleIndex
from recsys.model.names import HEAD
from recsys.model.vocabulary import Vocabulary
from recsys.songs import normalize_song_name

# Songs by popularity: 0 A, 1 B, 2 C, 3 D, 4 E, 5 F.
VOCABULARY = ["Alpha", "Beyoncé – Halo", "Gamma", "Delta", "Epsilon", "Zeta"]
RULES = {  # antecedent -> [(consequent, weight)], heaviest first
    (0,): [(2, 0.5), (3, 0.25)],
    (1,): [(3, 0.375), (2, 0.125)],
    (0, 1): [(4, 0.75)],
    (2,): [(0, 0.5)],
}


def build(
    rules: dict = RULES,
    max_rule_length: int = 3,
    vocabulary: list[str] = VOCABULARY,
    head: int = HEAD,
) -> RuleIndex:
    """A model laid out as the trainer lays it out: groups in key order, heaviest first."""
    keys: list[int] = []
    offsets = [0]
    consequents: list[int] = []
    weights: list[float] = []
    for antecedent in sorted(rules, key=encode_antecedent):
        entries = sorted(rules[antecedent], key=lambda entry: (-entry[1], entry[0]))
        keys.append(encode_antecedent(antecedent))
        consequents.extend(consequent for consequent, _ in entries)
        weights.extend(weight for _, weight in entries)
        offsets.append(len(consequents))
    columns = {
        "counts": list(range(len(vocabulary), 0, -1)),
        "antecedent_keys": keys,
        "antecedent_counts": [1] * len(keys),
        "group_offsets": offsets,
        "consequents": consequents,
        "pair_counts": [1] * len(consequents),
        "weights": weights,
    }
    header = {"model_id": "m", "params": {"max_rule_length": max_rule_length}}
    arrays = {name: array(ARRAY_TYPES[name], values) for name, values in columns.items()}
    names = Vocabulary.of(vocabulary)
    arrays["names"], arrays["name_offsets"] = names.blob, names.offsets
    return RuleIndex(ModelFile(header=header, arrays=arrays), head=head)


def test_normalisation() -> None:
    assert normalize_song_name("  Beyonce\u0301  –\tHALO ") == "beyoncé – halo"


def test_weights_add_up_and_liked_songs_are_never_recommended() -> None:
    index = build()
    answer = index.recommend(["alpha", "BEYONCÉ – HALO"], k=3)
    # {A,B} -> E (0.75); C: A 0.5 + B 0.125; D: A 0.25 + B 0.375 (ties to the popular C)
    assert answer.songs == ["Epsilon", "Gamma", "Delta"]
    assert answer.filled == 0
    assert answer.unknown_songs == []
    assert answer.songs_without_rules == []


def test_two_weaker_rules_outrank_one_stronger() -> None:
    index = build({(0,): [(2, 0.5), (3, 0.4)], (1,): [(3, 0.4)]})
    assert index.recommend(["Alpha", "Beyoncé – Halo"], k=2).songs == ["Delta", "Gamma"]
    assert index.recommend(["Alpha"], k=2).songs == ["Gamma", "Delta"]


def test_known_songs_without_rules_are_told_apart_from_unknown_ones() -> None:
    answer = build().recommend(["ZETA", "Gamma", "Nobody Knows"], k=1)
    assert answer.songs == ["Alpha"]
    assert answer.unknown_songs == ["Nobody Knows"]
    assert answer.songs_without_rules == ["ZETA"]  # as sent


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


def test_reasons_are_the_rules_that_scored_each_song_heaviest_first() -> None:
    index = build()
    answer = index.recommend(["alpha", "BEYONCÉ – HALO", "Nobody"], k=4, explain=True)
    assert answer.songs == ["Epsilon", "Gamma", "Delta", "Zeta"]
    assert answer.filled == 1
    assert answer.because == [
        [Reason(("alpha", "BEYONCÉ – HALO"), 0.75)],  # a rule of three songs, as sent
        [Reason(("alpha",), 0.5), Reason(("BEYONCÉ – HALO",), 0.125)],
        [Reason(("BEYONCÉ – HALO",), 0.375), Reason(("alpha",), 0.25)],
        [],  # the popularity fill has no reasons
    ]


def test_explaining_changes_nothing_else() -> None:
    index = build()
    for songs in (["Alpha"], ["Gamma", "x"], ["alpha", "Beyoncé – Halo"], ["x"], VOCABULARY):
        plain = index.recommend(songs, k=4)
        explained = index.recommend(songs, k=4, explain=True)
        assert plain.because is None
        assert explained.because is not None
        assert len(explained.because) == len(explained.songs)
        assert replace(explained, because=None) == plain


def test_equal_weights_are_explained_in_key_order_and_at_most_max_reasons() -> None:
    songs = MAX_REASONS + 3
    vocabulary = [f"song {n}" for n in range(songs + 1)]
    rules = {(liked,): [(songs, 0.5)] for liked in range(songs)}  # all point at the last
    index = build(rules, max_rule_length=2, vocabulary=vocabulary)
    sent = list(reversed(vocabulary[:songs]))  # key order is id order, not request order
    answer = index.recommend(sent, k=1, explain=True)
    assert answer.songs == [vocabulary[songs]]
    assert answer.because == [[Reason((vocabulary[liked],), 0.5) for liked in range(MAX_REASONS)]]


def brute_force(rules: dict, liked: set[int], k: int, songs: int) -> list[int]:
    """Summed weights, summed in key order as stored (float32), ties to the smaller id."""
    scores: dict[int, float] = {}
    for antecedent in sorted(rules, key=encode_antecedent):
        if set(antecedent) <= liked:
            for consequent, weight in rules[antecedent]:
                stored = array("f", [weight])[0]
                scores[consequent] = scores.get(consequent, 0.0) + stored
    candidates = [song for song in scores if song not in liked]
    ranked = sorted(candidates, key=lambda song: (-scores[song], song))[:k]
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
        entry = (consequent, rng.choice([0.2, 0.5, 0.9, rng.random()]))
        if all(existing[0] != consequent for existing in rules.get(antecedent, [])):
            rules.setdefault(antecedent, []).append(entry)
    index = build(rules, max_rule_length=4, vocabulary=vocabulary)
    for size in (1, 2, 3, 5, 12, 25):
        liked = set(rng.sample(range(40), size))
        for k in (1, 5, 20):
            answer = index.recommend([vocabulary[song] for song in liked], k=k, explain=True)
            expected = [vocabulary[song] for song in brute_force(rules, liked, k, 40)]
            assert answer.songs == expected, (size, k)
            assert answer.because == [
                explained(rules, liked, vocabulary.index(song), vocabulary) for song in answer.songs
            ]


def explained(rules: dict, liked: set[int], song: int, vocabulary: list[str]) -> list[Reason]:
    """Brute force: the matched rules recommending `song`, heaviest first, ties in key
    order, at most MAX_REASONS."""
    found = [
        Reason(tuple(vocabulary[item] for item in antecedent), array("f", [weight])[0])
        for antecedent in sorted(rules, key=encode_antecedent)
        if set(antecedent) <= liked
        for consequent, weight in rules[antecedent]
        if consequent == song
    ]
    return sorted(found, key=lambda reason: -reason.weight)[:MAX_REASONS]


# --- songs past the head: found by their sorted keys, named by the vocabulary -----------


def chain_of(songs: int) -> dict:
    """Rules through every song: each recommends the next."""
    return {(song,): [((song + 1) % songs, 0.5)] for song in range(songs)}


STACKED = "a" + "\u0301" * 40  # matched only exactly (see names.stacks_marks)
TAIL = ["Alpha", "Beyoncé – Halo", "Straße", "ÉTÉ", "e\u0301te\u0301 ", "halo", STACKED, "Zeta"]


def spellings(name: str) -> list[str]:
    """Ways a client may send `name`: as spelled, in other cases, decomposed, spaced."""
    return [
        name,
        name.upper(),
        name.casefold(),
        unicodedata.normalize("NFD", name),
        f"  {name}\t",
        name.replace(" ", "   "),
    ]


def test_a_tiny_head_finds_every_spelling_as_a_large_one_does() -> None:
    rules = chain_of(len(TAIL))
    tiny, large = (build(rules, 2, TAIL, head) for head in (2, HEAD))
    sent = [spelling for name in TAIL for spelling in spellings(name)]
    sent += ["Nobody Knows", "straße x", "a" + "\u0301" * 39, STACKED.upper()]
    assert tiny.song_ids(sent) == large.song_ids(sent)
    known, unknown = tiny.song_ids(sent)
    assert (known[2], known[3]) == ("Straße", "ÉTÉ")  # past the head, found
    assert known[6] == STACKED  # past the head, sent exactly
    assert {"Nobody Knows", STACKED.upper()} <= set(unknown)
    sent_twice = ["e\u0301te\u0301", "ÉTÉ", "e\u0301te\u0301 "]  # two songs of one key
    assert tiny.song_ids(sent_twice)[0] == {3: "e\u0301te\u0301"}  # the first song
    assert tiny.song_ids(["HALO"])[0] == {5: "HALO"}
    for song in range(len(TAIL)):
        liked = spellings(TAIL[song])[1:2]
        assert tiny.recommend(liked, 3, explain=True) == large.recommend(liked, 3, explain=True)
    assert [tiny.popular(n) for n in range(10)] == [TAIL[:n] for n in range(10)]
    assert tiny.recommend(["Zeta"], 1).songs == ["Alpha"]
    assert tiny.recommend(["Straße"], 1).songs == ["ÉTÉ"]  # a name past the head


NAMES = st.lists(
    st.text(alphabet="abAB \u00e9e\u0301\u00dfs\u0130\u212b", min_size=1, max_size=5).filter(
        str.strip
    ),
    min_size=2,
    max_size=30,
)


@settings(max_examples=300, deadline=None)
@given(names=NAMES, head=st.integers(0, 4), extra=st.lists(st.text(max_size=4), max_size=4))
def test_any_head_answers_as_the_whole_vocabulary_in_dicts_would(
    names: list[str], head: int, extra: list[str]
) -> None:
    rules = chain_of(len(names))
    small, large = (build(rules, 2, names, size) for size in (head, HEAD))
    sent = [spelling for name in names for spelling in spellings(name)] + extra
    assert small.song_ids(sent) == large.song_ids(sent)
    assert small.popular(len(names) + 1) == large.popular(len(names) + 1) == names
    for name in names:
        liked = [name.upper()]
        assert small.recommend(liked, 3, explain=True) == large.recommend(liked, 3, explain=True)
