"""RuleIndex: answers "what else would I like?" from a loaded model, without mutation.

The index keeps the model's flat arrays as they came off disk and finds rules by binary
search over the sorted antecedent keys, so building it costs one dict over the vocabulary
and a request costs a few look-ups per liked song, never a scan of the rule list.

Scoring: a candidate song takes the best rule that recommends it, compared by confidence,
then lift, then support; equal scores go to the more popular song. Songs the user sent are
never recommended. When the rules give fewer than k songs, the most popular songs the user
did not send fill the rest (`filled` says how many).
"""

from __future__ import annotations

import heapq
import re
import unicodedata
from bisect import bisect_left
from dataclasses import dataclass
from itertools import combinations
from math import comb
from typing import Any

from recsys.artifact import (
    MAX_ANTECEDENT,
    Model,
    decode_antecedent,
    encode_antecedent,
    first_item_floor,
)

_SPACES = re.compile(r"\s+")


def normalize_song_name(name: str) -> str:
    """The key two spellings of one song share: NFC, case-folded, whitespace collapsed."""
    return _SPACES.sub(" ", unicodedata.normalize("NFC", name).casefold()).strip()


@dataclass(frozen=True)
class Recommendation:
    """One answer: songs in the dataset's spelling, and how the answer was made."""

    songs: list[str]
    unknown_songs: list[str]
    filled: int


class RuleIndex:
    """Immutable view of one model; safe to share between concurrent requests."""

    def __init__(self, model: Model) -> None:
        arrays = model.arrays
        self.header: dict[str, Any] = {
            key: value for key, value in model.header.items() if key not in ("vocabulary", "arrays")
        }
        self._names: list[str] = model.vocabulary
        self._ids: dict[str, int] = {}
        for song_id, name in enumerate(self._names):
            self._ids.setdefault(normalize_song_name(name), song_id)
        self._keys = arrays["antecedent_keys"]
        self._offsets = arrays["group_offsets"]
        self._consequents = arrays["consequents"]
        self._confidence = arrays["confidence"]
        self._lift = arrays["lift"]
        self._support = arrays["support"]
        self._max_antecedent = min(MAX_ANTECEDENT, self.header["params"]["max_rule_length"] - 1)

    @property
    def song_count(self) -> int:
        return len(self._names)

    @property
    def rule_count(self) -> int:
        return len(self._consequents)

    def song_ids(self, songs: list[str]) -> tuple[list[int], list[str]]:
        """Known song ids (deduplicated, in request order) and the songs the model lacks."""
        known: dict[int, None] = {}
        unknown: list[str] = []
        for song in songs:
            song_id = self._ids.get(normalize_song_name(song))
            if song_id is None:
                unknown.append(song)
            else:
                known[song_id] = None
        return list(known), unknown

    def recommend(self, songs: list[str], k: int) -> Recommendation:
        """Top `k` songs for someone who likes `songs`."""
        known, unknown = self.song_ids(songs)
        liked = set(known)
        best: dict[int, tuple[float, float, float]] = {}
        for group in self._matching_groups(sorted(liked)):
            taken = 0
            for rule in range(self._offsets[group], self._offsets[group + 1]):
                song = self._consequents[rule]
                if song in liked:
                    continue
                score = (self._confidence[rule], self._lift[rule], self._support[rule])
                if score > best.get(song, (-1.0, -1.0, -1.0)):
                    best[song] = score
                taken += 1
                if taken >= k:  # later rules of a sorted group cannot enter the top k
                    break
        top = heapq.nsmallest(k, best, key=lambda song: (_negated(best[song]), song))
        filled = 0
        if len(top) < k:
            chosen = liked.union(top)
            for song in range(len(self._names)):
                if len(top) >= k:
                    break
                if song not in chosen:
                    top.append(song)
                    filled += 1
        return Recommendation(
            songs=[self._names[song] for song in top], unknown_songs=unknown, filled=filled
        )

    def _matching_groups(self, liked: list[int]) -> list[int]:
        """Groups whose antecedent is a subset of `liked` (sorted ids).

        Two exact strategies; the cheaper one for this request runs: look up every
        combination of liked songs, or walk the key ranges of antecedents starting with a
        liked song and test each. Few liked songs favour the first, many the second.
        """
        if not liked or not self._keys:
            return []
        ranges = [self._first_item_range(song) for song in liked]
        walk_cost = sum(end - start for start, end in ranges)
        lookup_cost = sum(comb(len(liked), size) for size in range(1, self._max_antecedent + 1))
        if walk_cost <= lookup_cost:
            members = set(liked)
            return [
                group
                for start, end in ranges
                for group in range(start, end)
                if members.issuperset(decode_antecedent(self._keys[group]))
            ]
        groups = []
        for size in range(1, self._max_antecedent + 1):
            for antecedent in combinations(liked, size):
                key = encode_antecedent(antecedent)
                group = bisect_left(self._keys, key)
                if group < len(self._keys) and self._keys[group] == key:
                    groups.append(group)
        return groups

    def _first_item_range(self, song: int) -> tuple[int, int]:
        return (
            bisect_left(self._keys, first_item_floor(song)),
            bisect_left(self._keys, first_item_floor(song + 1)),
        )


def _negated(score: tuple[float, float, float]) -> tuple[float, float, float]:
    return (-score[0], -score[1], -score[2])
