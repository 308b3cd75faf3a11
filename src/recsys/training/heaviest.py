"""Which counted pairs a model can use, so that counting keeps no others.

A model keeps each song's `per_song` heaviest rules (`weighting`). A pair of songs that is
far from the heaviest rules of both its songs can never become a rule: on the Million
Playlist Dataset's shape, pairs of two playlists or more run to hundreds of millions, and
the rules a model keeps to a few per song.

For each song as antecedent, a rule stays if its weight is within TOLERANCE of the
`per_song`-th heaviest weight among all of that song's rules (or the song has fewer); a
pair stays if either of its two rules does. This needs all of a song's rules at once,
which the counter has (each block counts its songs with every other song). TOLERANCE
covers the float32 rounding of the stored weights, so every rule
`weighting.serving_order` would keep (equal float32 weights included) is among the pairs
kept.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

TOLERANCE = 1e-6  # float32 rounds a weight by at most 2 ** -24 of it


@dataclass(frozen=True)
class Heaviest:
    """What a model keeps of each song's rules: its `per_song` heaviest at `damping`, of
    those that reach `min_confidence`."""

    damping: float
    per_song: int
    min_confidence: float = 0.0


@dataclass(frozen=True)
class SongPowers:
    """Each song's playlists (`counts`, by song id) and the powers of them a rule's weight
    divides by at a damping: computed once per count of the songs, not once per block of
    pairs (at the MPD's 2.3 million songs, raising every count per block was most of the
    counting's time)."""

    counts: np.ndarray
    as_antecedent: np.ndarray  # counts ** (1 - damping)
    as_consequent: np.ndarray  # counts ** damping

    @classmethod
    def of(cls, counts: np.ndarray, damping: float) -> SongPowers:
        counts = counts.astype(np.float64)
        return cls(counts, counts ** (1 - damping), counts**damping)


def heaviest_pairs(pairs: pl.DataFrame, powers: SongPowers, keep: Heaviest) -> pl.DataFrame:
    """The pairs (a, b, count) that are a rule the model could keep, in either direction;
    `powers` are those of each song id's playlists at `keep.damping`."""
    forward, backward = heaviest_directions(pairs, powers, keep)
    return pairs.filter(forward | backward)


def heaviest_directions(
    pairs: pl.DataFrame, powers: SongPowers, keep: Heaviest
) -> tuple[pl.Series, pl.Series]:
    """For each pair (a, b, count): whether a -> b, and whether b -> a, is a rule the model
    could keep, each judged among all the rules of its antecedent in `pairs`. (One
    direction's weights at a time: at the MPD's shape the pairs run to tens of millions.)"""
    if pairs.height == 0:
        return pl.Series([], dtype=pl.Boolean), pl.Series([], dtype=pl.Boolean)
    a = pairs["a"].to_numpy()
    b = pairs["b"].to_numpy()
    together = pairs["count"].to_numpy().astype(np.float64)
    stored = np.concatenate(
        [_stored(a, b, together, powers, keep), _stored(b, a, together, powers, keep)]
    )
    floor = _nth_heaviest(np.concatenate([a, b]), stored, keep.per_song)
    del stored
    return (
        pl.Series(_near(a, b, together, powers, keep, floor)),
        pl.Series(_near(b, a, together, powers, keep, floor)),
    )


def near_the_top(
    antecedent: np.ndarray,
    consequent: np.ndarray,
    together: np.ndarray,
    powers: SongPowers,
    keep: Heaviest,
) -> np.ndarray:
    """Which rules antecedent -> consequent (`together`: playlists holding both) are within
    TOLERANCE of their antecedent's per_song-th heaviest; each antecedent's rules must all
    be among these."""
    stored = _stored(antecedent, consequent, together, powers, keep)
    floor = _nth_heaviest(antecedent, stored, keep.per_song)
    return _near(antecedent, consequent, together, powers, keep, floor)


def _weight(
    antecedent: np.ndarray, consequent: np.ndarray, together: np.ndarray, powers: SongPowers
) -> np.ndarray:
    # each song's powers once, gathered per rule: the same floats as a power per rule
    return together / (powers.as_antecedent[antecedent] * powers.as_consequent[consequent])


def _stored(
    antecedent: np.ndarray,
    consequent: np.ndarray,
    together: np.ndarray,
    powers: SongPowers,
    keep: Heaviest,
) -> np.ndarray:
    """The rules' weights as the model stores them (float32), 0 below min_confidence.

    The per_song-th weights are taken among these, which places each within one float32
    step of the exact one, well inside TOLERANCE.
    """
    stored = _weight(antecedent, consequent, together, powers).astype(np.float32)
    if keep.min_confidence > 0:  # (0, the default: every rule is eligible)
        stored[together / powers.counts[antecedent] < keep.min_confidence] = 0
    return stored


def _near(
    antecedent: np.ndarray,
    consequent: np.ndarray,
    together: np.ndarray,
    powers: SongPowers,
    keep: Heaviest,
    floor: np.ndarray,
) -> np.ndarray:
    """Rules within TOLERANCE of their antecedent's `floor` (by song id), and eligible."""
    weight = _weight(antecedent, consequent, together, powers)
    near = weight >= floor[antecedent].astype(np.float64) * (1 - TOLERANCE)
    if keep.min_confidence > 0:
        near &= together / powers.counts[antecedent] >= keep.min_confidence
    return near


def _nth_heaviest(antecedent: np.ndarray, weight: np.ndarray, per_song: int) -> np.ndarray:
    """By song id: its per_song-th heaviest `weight` among its rules (float32, >= 0), or 0
    (keep all) when it has fewer."""
    nth = (
        pl.DataFrame({"antecedent": antecedent, "weight": weight})
        .group_by("antecedent")
        .agg(pl.col("weight").top_k(per_song).min(), pl.len())
        .filter(pl.col("len") >= per_song)
    )
    floor = np.zeros(int(antecedent.max()) + 1 if len(antecedent) else 0, dtype=np.float32)
    floor[nth["antecedent"].to_numpy()] = nth["weight"].to_numpy()
    return floor
