"""RuleIndex: answers "what else would I like?" from a loaded model, without mutation.

The index keeps the model's flat arrays as they came off disk and finds rules by binary
search over the sorted antecedent keys. Building it normalises each name of the vocabulary
once, into the name tables (`names`: dicts for the most popular songs, sorted keys for all,
which the page's song search reuses) and reads the group offsets once; a request costs a
binary search per liked song and per combination of liked songs an antecedent could hold
(or, for many songs, a walk of their key ranges), never a scan of the rule list.

Scoring: every rule whose antecedent the user sent adds its weight to its consequent's
score, so a song that goes with several liked songs outranks one that goes with a single
one (see the model format for what a weight is). Songs are ranked by score, equal scores
going to the more popular song (the smaller id). Each antecedent holds a bounded number of
rules, so a request costs at most that many additions per matched antecedent. Songs the user
sent are never recommended. When the rules give fewer than k songs, the most popular songs
the user did not send fill the rest (`filled` says how many).

Explanations are the scoring itself, read back: a recommended song's reasons are the rules
that added to its score, each its antecedent (in the request's spelling) and its weight,
heaviest first, ties in key order (the order the sums are added in).
"""

from __future__ import annotations

import operator
from array import array
from bisect import bisect_left
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import combinations
from math import comb
from typing import Any, NamedTuple

from recsys.model.antecedents import (
    MAX_ANTECEDENT,
    decode_antecedent,
    encode_antecedent,
    first_item_floor,
)
from recsys.model.format import ModelFile
from recsys.model.names import HEAD, name_tables, stacks_marks
from recsys.model.slices import PYTHON_SLICE, SLICE, Pace, full_speed
from recsys.songs import normalize_song_name

# Reasons given per recommended song, the heaviest: a song matched by hundreds of liked
# songs is explained by its strongest few, and an answer stays bounded by k times this.
MAX_REASONS = 10

_WEIGHT = operator.itemgetter(0)

# Below this many combinations, looking each up beats even measuring the alternative.
_LOOKUPS_WITHOUT_A_SECOND_THOUGHT = 64


class Reason(NamedTuple):
    """One rule behind a recommended song: its antecedent, as the request spelled those
    songs, and the weight it added to the song's score. (A tuple: an answer holds up to
    k x MAX_REASONS of them, and a frozen dataclass costs several times more to make.)"""

    liked: tuple[str, ...]
    weight: float


@dataclass(slots=True)
class Recommendation:
    """One answer: songs in the dataset's spelling, and how the answer was made. (Not
    frozen: every request makes one, and a frozen dataclass costs twice as much to make.)

    `songs_without_rules` are sent songs the model knows that recommend nothing alone:
    too rare to share a playlist often enough with any other song. `because`, when asked
    for, is aligned with `songs`: each song's reasons, none for a popularity fill.
    """

    songs: list[str]
    unknown_songs: list[str]
    filled: int
    songs_without_rules: list[str]
    because: list[list[Reason]] | None = None


class RuleIndex:
    """Immutable view of one model; safe to share between concurrent requests."""

    def __init__(
        self,
        model: ModelFile,
        pace: Pace = full_speed,
        song_keys: Sequence[str] | None = None,
        head: int = HEAD,
    ) -> None:
        """Index `model`, pacing the work; `song_keys`, when the caller has them already
        (the models of one tuning share a vocabulary), are `normalize_song_name` of each
        name of the vocabulary, in order, and are not computed again. The `head` most
        popular songs keep dicts of their own (see `names`)."""
        arrays = model.arrays
        self.header: dict[str, Any] = {
            key: value for key, value in model.header.items() if key not in ("vocabulary", "arrays")
        }
        self.vocabulary = model.vocabulary
        self._song_count = len(self.vocabulary)
        self._given_keys = song_keys
        names = name_tables(self.vocabulary, song_keys, head, pace)
        self._head_names, self._ids, self._exact = names.head_names, names.ids, names.exact
        self.sorted_keys = names.sorted_keys  # every song's key, for the page's search too
        self._keys = arrays["antecedent_keys"]
        self._offsets = arrays["group_offsets"]
        self._consequents = arrays["consequents"]
        self._weights = arrays["weights"]
        self.rules_per_group = _largest_group(self._offsets, pace)
        self._group_alone = _groups_of_songs_alone(self._keys, self._song_count, pace)
        self._max_antecedent = min(MAX_ANTECEDENT, self.header["params"]["max_rule_length"] - 1)

    @property
    def song_count(self) -> int:
        return self._song_count

    @property
    def rule_count(self) -> int:
        return len(self._consequents)

    @property
    def song_keys(self) -> Sequence[str]:
        """Each song's key, by id: those given when the index was built, else normalised
        now (for offline tools such as the tuning; the API never asks)."""
        if self._given_keys is not None:
            return self._given_keys
        return [normalize_song_name(name) for name in self.vocabulary]

    def popular(self, limit: int) -> list[str]:
        """The `limit` most popular songs (ids are popularity ranks)."""
        head = self._head_names
        if limit <= len(head):
            return head[:limit]
        return head + self.vocabulary[len(head) : limit]

    def normalising_cost(self, songs: list[str]) -> int:
        """Characters of `songs` that `song_ids` would have to normalise beyond ASCII."""
        exact = self._exact
        return sum(
            len(song)
            for song in songs
            if not song.isascii() and song not in exact and not stacks_marks(song)
        )

    def song_ids(self, songs: list[str]) -> tuple[dict[int, str], list[str]]:
        """Known song ids, each with its first spelling sent (in request order), and the
        songs the model lacks."""
        known: dict[int, str] = {}
        unknown: list[str] = []
        for song in songs:
            song_id = self._exact.get(song)
            if song_id is None and not stacks_marks(song):
                key = normalize_song_name(song)
                song_id = self._ids.get(key)
                if song_id is None:  # not a popular song: past the head, or unknown
                    song_id = self.sorted_keys.find(key.encode())
            if song_id is None:
                unknown.append(song)
            else:
                known.setdefault(song_id, song)
        return known, unknown

    def recommend(self, songs: list[str], k: int, explain: bool = False) -> Recommendation:
        """Top `k` songs for someone who likes `songs`; with `explain`, the rules behind
        each (at most twice the work of the answer alone)."""
        known, unknown = self.song_ids(songs)
        taken = set(known)
        groups, alone = self._matching_groups(sorted(taken))
        top = self._best_scored(groups, taken, k)
        because = self._reasons(groups, top, known) if explain else None
        filled = 0
        song = 0
        while len(top) < k and song < self._song_count:
            if song not in taken:
                top.append(song)
                taken.add(song)
                filled += 1
            song += 1
        return Recommendation(
            songs=self._names_of(top),
            unknown_songs=unknown,
            filled=filled,
            songs_without_rules=[spelling for song, spelling in known.items() if song not in alone],
            because=None if because is None else because + [[] for _ in range(filled)],
        )

    def _names_of(self, songs: list[int]) -> list[str]:
        """The names of `songs`: from the head's list while they are popular songs (an
        answer's usually all are, and then cost what a list of every name would)."""
        head = self._head_names
        try:
            return [head[song] for song in songs]
        except IndexError:
            vocabulary = self.vocabulary
            return [head[song] if song < len(head) else vocabulary[song] for song in songs]

    def _reasons(
        self, groups: list[int], chosen: list[int], spellings: dict[int, str]
    ) -> list[list[Reason]]:
        """For each chosen song, the rules of `groups` that score it, heaviest first (a
        stable sort: equal weights stay in key order), at most MAX_REASONS."""
        position = {song: n for n, song in enumerate(chosen)}
        found: list[list[tuple[float, int]]] = [[] for _ in chosen]
        weights, consequents, offsets = self._weights, self._consequents, self._offsets
        for nth, group in enumerate(groups):
            start, end = offsets[group], offsets[group + 1]
            for song, weight in zip(consequents[start:end], weights[start:end], strict=True):
                if song in position:
                    found[position[song]].append((weight, nth))
        liked = [
            tuple(spellings[song] for song in decode_antecedent(self._keys[group]))
            for group in groups
        ]
        return [
            [
                Reason(liked[nth], weight)
                for weight, nth in (
                    sorted(rules, key=_WEIGHT, reverse=True)[:MAX_REASONS]  # stable
                    if len(rules) > 1
                    else rules
                )
            ]
            for rules in found
        ]

    def _best_scored(self, groups: list[int], taken: set[int], k: int) -> list[int]:
        """The k highest summed weights of the matched groups' consequents, not `taken`;
        `taken` gains the songs chosen."""
        if not groups:
            return []
        if len(groups) == 1:  # one liked song with rules (common): its group is the order
            start, end = self._offsets[groups[0]], self._offsets[groups[0] + 1]
            chosen = []
            for song in self._consequents[start:end]:
                if song not in taken:
                    taken.add(song)
                    chosen.append(song)
                    if len(chosen) == k:
                        break
            return chosen
        scores = self._summed_weights(groups)
        for song in taken:
            scores.pop(song, None)
        if len(scores) > k:  # only songs scoring at least the k-th best can be chosen
            floor = sorted(scores.values(), reverse=True)[k - 1]
            ranked = sorted(song for song, score in scores.items() if score >= floor)
        else:
            ranked = sorted(scores)
        ranked.sort(key=scores.__getitem__, reverse=True)  # stable: ties to the popular
        chosen = ranked[:k]
        taken.update(chosen)
        return chosen

    def _summed_weights(self, groups: list[int]) -> dict[int, float]:
        """Each consequent of the groups with the sum of its weights, added in key order
        so that the same request gives the same sums, to the last bit, every time."""
        weights, consequents, offsets = self._weights, self._consequents, self._offsets
        first, *rest = groups
        start, end = offsets[first], offsets[first + 1]
        scores = dict(zip(consequents[start:end], weights[start:end], strict=True))
        get = scores.get
        for group in rest:
            start, end = offsets[group], offsets[group + 1]
            for song, weight in zip(consequents[start:end], weights[start:end], strict=True):
                scores[song] = get(song, 0.0) + weight
        return scores

    def _matching_groups(self, liked: list[int]) -> tuple[list[int], set[int]]:
        """Groups whose antecedent is a subset of `liked` (sorted ids), in key order; and
        the liked songs that have rules of their own (a one-song antecedent).

        Two exact strategies: look up every combination of liked songs (cheap for the few
        songs people usually send), or, when there are many, walk the key ranges of the
        antecedents that start with a liked song and test each.
        """
        keys = self._keys
        if not liked or not keys:
            return [], set()
        groups, alone = self._single_groups(liked)
        if self._max_antecedent == 1:
            return groups, alone
        lookup_cost = sum(comb(len(liked), size) for size in range(2, self._max_antecedent + 1))
        if lookup_cost > _LOOKUPS_WITHOUT_A_SECOND_THOUGHT:
            ranges = [self._first_item_range(song) for song in liked]
            if sum(end - start for start, end in ranges) < lookup_cost:
                members = set(liked)
                for song, (start, end) in zip(liked, ranges, strict=True):
                    first = start + (song in alone)  # the one-song key opens its range
                    groups.extend(
                        group
                        for group in range(first, end)
                        if members.issuperset(decode_antecedent(keys[group]))
                    )
                return sorted(groups), alone
        count = len(keys)
        for size in range(2, self._max_antecedent + 1):
            for antecedent in combinations(liked, size):
                key = encode_antecedent(antecedent)
                group = bisect_left(keys, key)
                if group < count and keys[group] == key:
                    groups.append(group)
        return sorted(groups), alone

    def _single_groups(self, liked: list[int]) -> tuple[list[int], set[int]]:
        """The groups of one-song antecedents among `liked` (in key order, as `liked` is
        sorted), and those songs."""
        group_alone = self._group_alone
        groups = []
        alone = set()
        for song in liked:
            group = group_alone[song]
            if group >= 0:
                groups.append(group)
                alone.add(song)
        return groups, alone

    def _first_item_range(self, song: int) -> tuple[int, int]:
        return (
            bisect_left(self._keys, first_item_floor(song)),
            bisect_left(self._keys, first_item_floor(song + 1)),
        )


def _groups_of_songs_alone(keys: array, songs: int, pace: Pace) -> array:
    """Song id -> the group of its one-song antecedent, or -1: a request's songs find
    their own rules by one look-up each, not a binary search. (A one-song key is its
    `first_item_floor`: no bits below the first item's.)"""
    below_first = first_item_floor(0) - 1
    shift = below_first.bit_length()
    table = array("i", [-1]) * songs
    for start in range(0, len(keys), PYTHON_SLICE):
        for group, key in enumerate(keys[start : start + PYTHON_SLICE], start):
            if not key & below_first:
                table[(key >> shift) - 1] = group
        pace()
    return table


def _largest_group(offsets: array, pace: Pace) -> int:
    """The most rules one group holds, a slice of groups at a time (see format.SLICE)."""
    largest = 0
    for start in range(0, len(offsets) - 1, SLICE):
        ends, starts = offsets[start + 1 : start + SLICE + 1], offsets[start : start + SLICE]
        largest = max(largest, max(map(operator.sub, ends, starts)))
        pace()
    return largest
