"""RuleIndex: answers "what else would I like?" from a loaded model, without mutation.

The index keeps the model's flat arrays as they came off disk and finds rules by binary
search over the sorted antecedent keys, so building it costs one dict over the vocabulary
and a request costs a few look-ups per liked song, never a scan of the rule list.

Scoring: a candidate song takes the best rule that recommends it, compared by confidence,
then lift, then support; equal scores go to the more popular song. The trainer stores
that order as each rule's `rank`, so serving compares small integers only. Songs the user sent are
never recommended. When the rules give fewer than k songs, the most popular songs the user
did not send fill the rest (`filled` says how many).
"""

from __future__ import annotations

import heapq
import re
import sys
import unicodedata
from bisect import bisect_left
from dataclasses import dataclass
from itertools import combinations
from math import comb
from typing import Any

from recsys.model.format import (
    MAX_ANTECEDENT,
    ModelFile,
    decode_antecedent,
    encode_antecedent,
    first_item_floor,
)
from recsys.songs import normalize_song_name

# Canonical ordering sorts each run of combining marks with a quadratic insertion sort, so
# a crafted name of hundreds of stacked marks costs milliseconds to normalise. No song
# name stacks this many marks on one letter; a name that does is matched only exactly.
MAX_MARK_RUN = 32
_MARKS = "".join(
    chr(code) for code in range(sys.maxunicode + 1) if unicodedata.combining(chr(code))
)
_LONG_MARK_RUN = re.compile(f"[{re.escape(_MARKS)}]{{{MAX_MARK_RUN + 1},}}")

# Below this many combinations, looking each up beats even measuring the alternative.
_LOOKUPS_WITHOUT_A_SECOND_THOUGHT = 64


@dataclass(frozen=True)
class Recommendation:
    """One answer: songs in the dataset's spelling, and how the answer was made."""

    songs: list[str]
    unknown_songs: list[str]
    filled: int


class RuleIndex:
    """Immutable view of one model; safe to share between concurrent requests."""

    def __init__(self, model: ModelFile) -> None:
        arrays = model.arrays
        self.header: dict[str, Any] = {
            key: value for key, value in model.header.items() if key not in ("vocabulary", "arrays")
        }
        self._names: list[str] = model.vocabulary
        # Most clients send names exactly as the model spells them: `_exact` answers those
        # with one dict hit; anything else is normalised and looked up in `_ids`. Two
        # spellings of one song map to its first (most popular) id.
        self._ids: dict[str, int] = {}
        self._exact: dict[str, int] = {}
        for song_id, name in enumerate(self._names):
            canonical = self._ids.setdefault(normalize_song_name(name), song_id)
            self._exact.setdefault(name, canonical)
        self._keys = arrays["antecedent_keys"]
        self._offsets = arrays["group_offsets"]
        self._consequents = arrays["consequents"]
        self._rank = arrays["rank"]
        self._max_antecedent = min(MAX_ANTECEDENT, self.header["params"]["max_rule_length"] - 1)

    @property
    def song_count(self) -> int:
        return len(self._names)

    @property
    def rule_count(self) -> int:
        return len(self._consequents)

    def popular(self, limit: int) -> list[str]:
        """The `limit` most popular songs (ids are popularity ranks)."""
        return self._names[:limit]

    def normalising_cost(self, songs: list[str]) -> int:
        """Characters of `songs` that `song_ids` would have to normalise beyond ASCII."""
        exact = self._exact
        return sum(
            len(song)
            for song in songs
            if not song.isascii() and song not in exact and not _LONG_MARK_RUN.search(song)
        )

    def song_ids(self, songs: list[str]) -> tuple[list[int], list[str]]:
        """Known song ids (deduplicated, in request order) and the songs the model lacks."""
        known: dict[int, None] = {}
        unknown: list[str] = []
        for song in songs:
            song_id = self._exact.get(song)
            if song_id is None and not _LONG_MARK_RUN.search(song):
                song_id = self._ids.get(normalize_song_name(song))
            if song_id is None:
                unknown.append(song)
            else:
                known[song_id] = None
        return list(known), unknown

    def recommend(self, songs: list[str], k: int) -> Recommendation:
        """Top `k` songs for someone who likes `songs`."""
        known, unknown = self.song_ids(songs)
        taken = set(known)
        top = self._best_consequents(self._matching_groups(sorted(taken)), taken, k)
        filled = 0
        song = 0
        while len(top) < k and song < len(self._names):
            if song not in taken:
                top.append(song)
                taken.add(song)
                filled += 1
            song += 1
        return Recommendation(
            songs=[self._names[song] for song in top], unknown_songs=unknown, filled=filled
        )

    def _best_consequents(self, groups: list[int], taken: set[int], k: int) -> list[int]:
        """Merge the matched groups' rules, best rank first, until k new songs are found.

        Each group is sorted by rank, so the first time a song comes out of the merge is
        its best rule: the merge stops after k new songs plus the few duplicates and liked
        songs it skips. `taken` gains the songs chosen.
        """
        ranks, consequents, offsets = self._rank, self._consequents, self._offsets
        if len(groups) == 1:  # one liked song with rules (common): its group is the answer
            chosen = []
            for song in consequents[offsets[groups[0]] : offsets[groups[0] + 1]]:
                if song not in taken:
                    taken.add(song)
                    chosen.append(song)
                    if len(chosen) == k:
                        break
            return chosen
        heap = [(ranks[offsets[g]], offsets[g], offsets[g + 1]) for g in groups]
        heapq.heapify(heap)
        chosen: list[int] = []
        while heap and len(chosen) < k:
            _, rule, end = heap[0]
            song = consequents[rule]
            if song not in taken:
                taken.add(song)
                chosen.append(song)
            rule += 1
            if rule < end:
                heapq.heapreplace(heap, (ranks[rule], rule, end))
            else:
                heapq.heappop(heap)
        return chosen

    def _matching_groups(self, liked: list[int]) -> list[int]:
        """Groups whose antecedent is a subset of `liked` (sorted ids).

        Two exact strategies: look up every combination of liked songs (cheap for the few
        songs people usually send), or, when there are many, walk the key ranges of the
        antecedents that start with a liked song and test each.
        """
        keys = self._keys
        if not liked or not keys:
            return []
        lookup_cost = sum(comb(len(liked), size) for size in range(1, self._max_antecedent + 1))
        if lookup_cost > _LOOKUPS_WITHOUT_A_SECOND_THOUGHT:
            ranges = [self._first_item_range(song) for song in liked]
            if sum(end - start for start, end in ranges) < lookup_cost:
                members = set(liked)
                return [
                    group
                    for start, end in ranges
                    for group in range(start, end)
                    if members.issuperset(decode_antecedent(keys[group]))
                ]
        count = len(keys)
        groups = []
        for song in liked:  # single-song antecedents, without building tuples
            key = first_item_floor(song)
            group = bisect_left(keys, key)
            if group < count and keys[group] == key:
                groups.append(group)
        for size in range(2, self._max_antecedent + 1):
            for antecedent in combinations(liked, size):
                key = encode_antecedent(antecedent)
                group = bisect_left(keys, key)
                if group < count and keys[group] == key:
                    groups.append(group)
        return groups

    def _first_item_range(self, song: int) -> tuple[int, int]:
        return (
            bisect_left(self._keys, first_item_floor(song)),
            bisect_left(self._keys, first_item_floor(song + 1)),
        )
