"""Vocabulary: song names as two flat arrays, read back as the list they were made from;
and SortedKeys, every distinct key of a vocabulary in byte order, against brute force."""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from recsys.model.song_keys import SortedKeys
from recsys.model.vocabulary import Vocabulary, as_vocabulary
from recsys.songs import normalize_song_name

NAMES = ["Halo", "Beyoncé – Halo", "Straße", "日本の歌", "Ça va 🎵", "e\u0301te\u0301", "x"]


def test_names_come_back_as_they_went_in() -> None:
    vocabulary = Vocabulary.of(NAMES)
    assert isinstance(vocabulary, Sequence)
    assert len(vocabulary) == len(NAMES)
    assert list(vocabulary) == NAMES
    assert [vocabulary[song] for song in range(len(NAMES))] == NAMES
    assert vocabulary[-1] == NAMES[-1]
    assert vocabulary[-len(NAMES)] == NAMES[0]
    assert "Straße" in vocabulary
    assert vocabulary.index("日本の歌") == 3
    assert len(vocabulary.blob) == sum(len(name.encode()) for name in NAMES)
    assert vocabulary.offsets[0] == 0
    assert vocabulary.offsets[-1] == len(vocabulary.blob)


@pytest.mark.parametrize(
    "part",
    [
        slice(None),
        slice(2, 5),
        slice(0, 0),
        slice(5, 2),
        slice(-3, None),
        slice(None, 100),
        slice(1, None, 2),
        slice(None, None, -1),
    ],
)
def test_slices_are_lists_of_names(part: slice) -> None:
    assert Vocabulary.of(NAMES)[part] == NAMES[part]


def test_an_index_past_either_end_is_an_index_error() -> None:
    vocabulary = Vocabulary.of(NAMES)
    for index in (len(NAMES), -len(NAMES) - 1):
        with pytest.raises(IndexError):
            vocabulary[index]
    empty = Vocabulary.of([])
    assert len(empty) == 0
    assert list(empty) == []
    assert empty[:5] == []


def test_encoding_paces_and_a_vocabulary_is_not_encoded_again() -> None:
    paces: list[int] = []
    vocabulary = Vocabulary.of((f"song {n}" for n in range(1000)), pace=lambda: paces.append(1))
    assert len(paces) >= 1000 // 64
    assert as_vocabulary(vocabulary) is vocabulary
    assert list(as_vocabulary(["a", "é"])) == ["a", "é"]


def test_a_name_that_is_not_text_cannot_be_encoded() -> None:
    with pytest.raises(UnicodeEncodeError):
        Vocabulary.of(["fine", "lone \ud800 surrogate"])


@settings(max_examples=200)
@given(st.lists(st.text(min_size=1, max_size=8)))
def test_any_names_round_trip(names: list[str]) -> None:
    names = [name for name in names if not any("\ud800" <= c <= "\udfff" for c in name)]
    vocabulary = Vocabulary.of(names)
    assert list(vocabulary) == names
    assert vocabulary[1:-1] == names[1:-1]


# --- SortedKeys --------------------------------------------------------------------------

SPELLINGS = st.text(alphabet="abAB \u00e9e\u0301\u00dfs\u0130", min_size=1, max_size=5)


def firsts(names: list[str]) -> dict[bytes, int]:
    """Each distinct key, as bytes, with the first song that has it."""
    found: dict[bytes, int] = {}
    for song, name in enumerate(names):
        found.setdefault(normalize_song_name(name).encode(), song)
    return found


@settings(max_examples=300, deadline=None)
@given(names=st.lists(SPELLINGS, max_size=40), probe=SPELLINGS)
def test_sorted_keys_find_each_key_s_first_song(names: list[str], probe: str) -> None:
    keys = SortedKeys.of(names)
    expected = firsts(names)
    assert len(keys) == len(expected)
    assert list(keys.ids) == [expected[key] for key in sorted(expected)]
    for key, song in expected.items():
        assert keys.find(key) == song
    wanted = normalize_song_name(probe).encode()
    assert keys.find(wanted) == expected.get(wanted)


@settings(max_examples=300, deadline=None)
@given(names=st.lists(SPELLINGS, max_size=40), prefix=st.text(alphabet="abAB \u00e9s", max_size=3))
def test_a_prefix_s_run_holds_exactly_the_keys_that_start_with_it(
    names: list[str], prefix: str
) -> None:
    keys = SortedKeys.of(names)
    wanted = normalize_song_name(prefix).encode()
    start, end = keys.run(wanted)
    ordered = sorted(firsts(names).items())
    assert [song for key, song in ordered[start:end]] == [
        song for key, song in ordered if key.startswith(wanted)
    ]


def test_many_buckets_sort_as_one_list_would() -> None:
    names = [
        f"{'Été' if n % 3 else 'ete'} {n * 7919 % 5003} {'x' * (n % 4)}" for n in range(20_000)
    ]
    names += names[:300]  # spellings again: their first songs keep the keys
    paces: list[int] = []
    keys = SortedKeys.of(names, pace=lambda: paces.append(1))
    expected = firsts(names)
    assert list(keys.ids) == [expected[key] for key in sorted(expected)]
    assert len(paces) > len(names) // 64
