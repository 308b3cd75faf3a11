"""Which counted pairs a model can use, so that counting keeps no others.

A model keeps each song's `per_song` heaviest rules (`weighting`). A pair of songs that is
far from the heaviest of both its songs can never become a rule, so the counter may drop
it as soon as it has seen heavier ones: on the Million Playlist Dataset's shape, pairs of
two playlists or more run to hundreds of millions, and the rules a model keeps to a few
per song.

Dropping is exact, and gives the same pairs however the counting was cut up. For each
song as antecedent, a pair stays if its weight is within TOLERANCE of the `per_song`-th
heaviest weight of that song among the pairs at hand (or the song has fewer). Among more
pairs the `per_song`-th weight can only rise, so a pair dropped early would have been
dropped at the end; and the pairs left at the end are those within TOLERANCE of the
whole count's `per_song`-th weights, whatever was dropped before. TOLERANCE covers the
float32 rounding of the stored weights, so every rule `weighting.serving_order` would
keep (equal float32 weights included) is among the pairs kept.
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


def heaviest_pairs(pairs: pl.DataFrame, counts: np.ndarray, keep: Heaviest) -> pl.DataFrame:
    """The pairs (a, b, count) that are a rule the model could keep, in either direction;
    `counts` holds each song id's playlists."""
    forward, backward = heaviest_directions(pairs, counts, keep)
    return pairs.filter(forward | backward)


def heaviest_directions(
    pairs: pl.DataFrame, counts: np.ndarray, keep: Heaviest
) -> tuple[pl.Series, pl.Series]:
    """For each pair (a, b, count): whether a -> b, and whether b -> a, is a rule the model
    could keep. Each is judged among the pairs where its antecedent stands on the same
    side, a superset of its rules' rivals, so a rule kept is never missing."""
    if pairs.height == 0:
        return pl.Series([], dtype=pl.Boolean), pl.Series([], dtype=pl.Boolean)
    a = pairs["a"].to_numpy()
    b = pairs["b"].to_numpy()
    together = pairs["count"].to_numpy().astype(np.float64)
    return (
        pl.Series(_near_the_top(a, b, together, counts, keep)),
        pl.Series(_near_the_top(b, a, together, counts, keep)),
    )


def _near_the_top(
    antecedent: np.ndarray,
    consequent: np.ndarray,
    together: np.ndarray,
    counts: np.ndarray,
    keep: Heaviest,
) -> np.ndarray:
    """Rules antecedent -> consequent within TOLERANCE of their antecedent's per_song-th.

    The per_song-th weights are taken among the float32 weights (a pair below
    min_confidence weighs 0 there), which places each within one float32 step of the exact
    one, well inside TOLERANCE.
    """
    # each song's powers once, gathered per pair: the same floats as a power per pair
    as_antecedent, as_consequent = counts ** (1 - keep.damping), counts**keep.damping
    weight = together / (as_antecedent[antecedent] * as_consequent[consequent])
    stored = weight.astype(np.float32)
    eligible = None
    if keep.min_confidence > 0:  # (0, the default: every pair is)
        eligible = together / counts[antecedent] >= keep.min_confidence
        stored[~eligible] = 0
    floor = _per_song_floor(antecedent, stored, int(counts.shape[0]), keep.per_song)
    near = weight >= floor[antecedent].astype(np.float64) * (1 - TOLERANCE)
    return near if eligible is None else near & eligible


def _per_song_floor(
    antecedent: np.ndarray, weight: np.ndarray, songs: int, per_song: int
) -> np.ndarray:
    """By antecedent id: its per_song-th heaviest `weight`, or 0 (keep all) with fewer."""
    nth = (
        pl.DataFrame({"antecedent": antecedent, "weight": weight})
        .group_by("antecedent")
        .agg(pl.col("weight").top_k(per_song).min(), pl.len())
        .filter(pl.col("len") >= per_song)
    )
    floor = np.zeros(songs, dtype=np.float32)
    floor[nth["antecedent"].to_numpy()] = nth["weight"].to_numpy()
    return floor
