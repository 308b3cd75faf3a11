"""Counting pairs of songs that share playlists, in memory that follows the songs.

Every pair {a, b} of songs in one playlist is a co-occurrence; a pair is frequent when
`min_count` playlists or more hold it. The co-occurrences of a dataset grow with the
squares of its playlists' lengths (billions for the Million Playlist Dataset), so they
are never all made at once, and they are counted in compiled code, not one numpy array
per step: with the rows as a sparse playlists x songs matrix X, the counts of a block of
songs with every song are the rows of X[:, block]^T X, one sparse product (scipy's). Songs
are taken in blocks whose co-occurrences fit `BLOCK_PAIRS`, so peak memory is the rows
(twice: by playlist and by song), one block's product and the pairs kept; no table of all
distinct pairs is ever held.

A block's product holds every pair of its songs, in both directions: each of its songs'
counts with every other song are final there. So, given what the model keeps of each song
(`heaviest.Heaviest`), each block keeps only the pairs that are one of its songs' rules,
exactly, and the pairs kept add up to the songs times their rules, not to the pairs of
two playlists or more.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

import numpy as np
import polars as pl
import scipy.sparse as sp

from recsys.training.heaviest import Heaviest, SongPowers, near_the_top

BLOCK_PAIRS = 1 << 24  # co-occurrences (in both directions) a block's product holds at most
# Blocks counted at once: scipy's product and numpy's sorts release the GIL, so threads
# use the cores. Each holds a block's product, so memory grows with them: two, the CPUs
# the trainer's pods get (deploy/), whatever the node has (a pod's CPU limit is not in
# its affinity mask), and one where the machine has one.
THREADS = min(2, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1)
PAIR_SCHEMA = {"a": pl.Int32, "b": pl.Int32, "count": pl.UInt32}
T = TypeVar("T")


def frequent_pairs(
    pairs: pl.DataFrame, songs: int, min_count: int, keep: Heaviest | None = None
) -> pl.DataFrame:
    """Pairs of songs held by at least `min_count` playlists: a < b, count; sorted by (a, b).
    With `keep`, only those that are a rule the model could keep, in either direction
    (`heaviest.heaviest_pairs` of all of them).

    `pairs` holds one row per (`pid`, `id`), deduplicated; ids are below `songs`.
    """
    if pairs.height == 0:
        return pl.DataFrame(schema=PAIR_SCHEMA)
    by_playlist, by_song = song_matrices(pairs, songs)
    powers = None if keep is None else SongPowers.of(np.diff(by_song.indptr), keep.damping)

    def count(first: int, product: sp.csr_matrix) -> pl.DataFrame:
        return _block_pairs(product, first, min_count, powers, keep)

    found = in_blocks(by_playlist, by_song, count)
    if not found:
        return pl.DataFrame(schema=PAIR_SCHEMA)
    every = pl.concat(found)
    # with `keep`, a pair kept as a rule of both its songs was found in both their blocks
    return every if keep is None else every.unique().sort("a", "b")


def song_matrices(pairs: pl.DataFrame, songs: int) -> tuple[sp.csr_matrix, sp.csr_matrix]:
    """The rows (`pid`, `id`; ids below `songs`) as a playlists x songs matrix of ones,
    and the same by song (its transpose)."""
    playlist, song = pairs["pid"].to_numpy(), pairs["id"].to_numpy()
    ones = np.ones(len(song), dtype=np.int32)  # int32 products: counts up to 2 ** 31
    shape = (int(playlist.max()) + 1 if len(playlist) else 0, songs)
    by_playlist = sp.csr_matrix((ones, (playlist, song)), shape=shape)
    return by_playlist, by_playlist.T.tocsr()


def in_blocks(
    by_playlist: sp.csr_matrix,
    by_song: sp.csr_matrix,
    work: Callable[[int, sp.csr_matrix], T],
) -> list[T]:
    """`work(first, product)` for each block of songs, in song order: `product` holds the
    counts of the block's songs (rows; `first` is the first one's id) with every song."""

    def count(block: tuple[int, int]) -> T:
        first, last = block
        return work(first, by_song[first:last] @ by_playlist)

    with ThreadPoolExecutor(THREADS) as threads:
        return list(threads.map(count, _blocks(by_playlist, by_song)))


def entries(
    product: sp.csr_matrix, first: int, min_count: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A block product's pairs of two songs in `min_count` playlists or more, both ways:
    (song, other song, playlists with both), grouped by song.

    Most of a product's entries are pairs seen once: they are dropped before anything
    else is made of them.
    """
    rows = np.repeat(
        np.arange(first, first + product.shape[0], dtype=np.int32), np.diff(product.indptr)
    )
    at = np.flatnonzero((product.data >= min_count) & (product.indices != rows))
    return rows[at], product.indices[at], product.data[at]


def _blocks(by_playlist: sp.csr_matrix, by_song: sp.csr_matrix) -> Iterator[tuple[int, int]]:
    """Runs of songs [first, last) whose co-occurrences add up to about BLOCK_PAIRS; a
    single song with more is a block of its own."""
    partners = np.diff(by_playlist.indptr) - 1  # each row's co-occurrences: the others
    made = _running_total(by_song, partners)
    songs = by_song.shape[0]
    first = 0
    while first < songs:
        before = made[first - 1] if first else 0
        last = max(int(np.searchsorted(made, before + BLOCK_PAIRS, side="right")), first + 1)
        last = min(last, songs)
        yield first, last
        first = last


def _running_total(by_song: sp.csr_matrix, partners: np.ndarray) -> np.ndarray:
    """The running total, by song, of its co-occurrences (its playlists' other rows)."""
    per_song = np.bincount(
        np.repeat(np.arange(by_song.shape[0]), np.diff(by_song.indptr)),
        weights=partners[by_song.indices],
        minlength=by_song.shape[0],
    )
    return np.cumsum(per_song.astype(np.int64))


def _block_pairs(
    product: sp.csr_matrix,
    first: int,
    min_count: int,
    powers: SongPowers | None,
    keep: Heaviest | None,
) -> pl.DataFrame:
    """The frequent pairs of a block's product (its songs' rows, first = the first song),
    each once (a < b), sorted; with `keep`, only its songs' rules a model could keep."""
    row, other, together = entries(product, first, min_count)
    if keep is None:  # each pair once: in the block of its smaller song
        wanted = other > row
        row, other, together = row[wanted], other[wanted], together[wanted]
        order = np.argsort((row.astype(np.int64) << 32) | other)  # (the product's columns
        return _frame(row[order], other[order], together[order])  # are in no set order)
    assert powers is not None
    rules = near_the_top(row, other, together.astype(np.float64), powers, keep)
    row, other, together = row[rules], other[rules], together[rules]
    return _frame(np.minimum(row, other), np.maximum(row, other), together)


def _frame(a: np.ndarray, b: np.ndarray, count: np.ndarray) -> pl.DataFrame:
    return pl.DataFrame({"a": a, "b": b, "count": count}, schema=PAIR_SCHEMA, strict=False)
