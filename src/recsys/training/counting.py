"""Counting pairs of songs that share playlists, in memory that follows the songs.

Every pair {a, b} of songs in one playlist is a co-occurrence; a pair is frequent when
`min_count` playlists or more hold it. The co-occurrences of a dataset grow with the
squares of its playlists' lengths (hundreds of millions for the Million Playlist
Dataset), so they are never all made at once. Rows are sorted by playlist, then song, so
each row's later rows in its playlist are its pairs with bigger song ids. Songs are then
taken in blocks of first songs whose pairs fit `BLOCK_ROWS`: every pair whose first song
is in the block is made and counted there and nowhere else, so a block's counts are final
and only its frequent pairs are kept. Peak memory is the rows, one block, and the frequent
pairs found; no table of all distinct pairs is ever held.

A block is counted by `bincount` over its (first, second) cells when it has few cells for
its rows (popular songs), by sorting otherwise (the long tail); both are exact.

Given what the model keeps of each song (`heaviest.Heaviest`), only the pairs that can be
one of its rules are kept: each block's, and again whenever the kept pairs pile up, so
memory follows the songs times their rules, not the pairs of two playlists or more.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import polars as pl

from recsys.training.heaviest import Heaviest, heaviest_pairs

BLOCK_ROWS = 1 << 21  # co-occurrences made at once: about 40 bytes each, all arrays counted
KEPT_ROWS = 1 << 24  # kept pairs that are pruned again once this many pile up
PAIR_SCHEMA = {"a": pl.Int32, "b": pl.Int32, "count": pl.UInt32}


def frequent_pairs(
    pairs: pl.DataFrame, songs: int, min_count: int, keep: Heaviest | None = None
) -> pl.DataFrame:
    """Pairs of songs held by at least `min_count` playlists: a < b, count; sorted by (a, b).
    With `keep`, only those that can be one of the model's rules (`heaviest_pairs`).

    `pairs` holds one row per (`pid`, `id`), deduplicated; ids are below `songs`.
    """
    if pairs.height == 0:
        return pl.DataFrame(schema=PAIR_SCHEMA)
    key = pairs["pid"].to_numpy().astype(np.int64) * songs + pairs["id"].to_numpy()
    key.sort()
    playlist, song = np.divmod(key, songs)
    del key
    later = _later_in_playlist(playlist)
    del playlist
    song = song.astype(np.int32)
    blocks: Iterator[pl.DataFrame] = (
        _count_block(song, later, rows, block, songs, min_count)
        for rows, block in _blocks(song, later, songs)
    )
    if keep is not None:
        blocks = _heaviest_of(blocks, np.bincount(song, minlength=songs), keep)
    found = list(blocks)
    return pl.concat(found) if found else pl.DataFrame(schema=PAIR_SCHEMA)


def _heaviest_of(
    blocks: Iterator[pl.DataFrame], counts: np.ndarray, keep: Heaviest
) -> Iterator[pl.DataFrame]:
    """The pairs of `blocks` the model can use: pruned block by block, and all kept so far
    whenever they pile up to twice what the last prune left (KEPT_ROWS at least, so the
    work stays linear); a last prune makes them those of the whole."""
    counts = counts.astype(np.float64)
    kept: list[pl.DataFrame] = []
    held, limit = 0, KEPT_ROWS
    for block in blocks:
        kept.append(heaviest_pairs(block, counts, keep))
        held += kept[-1].height
        if held > limit:
            kept = [heaviest_pairs(pl.concat(kept), counts, keep)]
            held = kept[0].height
            limit = max(KEPT_ROWS, 2 * held)
    if kept:
        yield heaviest_pairs(pl.concat(kept), counts, keep)


def _later_in_playlist(playlist: np.ndarray) -> np.ndarray:
    """For each row of rows sorted by playlist: how many rows of its playlist follow it."""
    starts = np.flatnonzero(np.diff(playlist, prepend=playlist[0] - 1))
    ends = np.append(starts[1:], len(playlist))
    end_of_row = np.repeat(ends, ends - starts)
    return (end_of_row - np.arange(1, len(playlist) + 1)).astype(np.int32)


def _blocks(
    song: np.ndarray, later: np.ndarray, songs: int
) -> Iterator[tuple[np.ndarray, tuple[int, int]]]:
    """Per block: the rows whose song is in it, and its range of first songs [first, last).

    Blocks are runs of first songs whose co-occurrences add up to about BLOCK_ROWS; a
    single song with more is a block of its own (it holds at most one song's pairs).
    """
    by_song = np.argsort(song, kind="stable").astype(np.int64)
    made = np.cumsum(np.bincount(song, weights=later, minlength=songs).astype(np.int64))
    row_end = np.cumsum(np.bincount(song, minlength=songs))
    first = 0
    while first < songs:
        before = made[first - 1] if first else 0
        last = max(int(np.searchsorted(made, before + BLOCK_ROWS, side="right")), first + 1)
        last = min(last, songs)
        start = row_end[first - 1] if first else 0
        yield by_song[start : row_end[last - 1]], (first, last)
        first = last


def _count_block(
    song: np.ndarray,
    later: np.ndarray,
    rows: np.ndarray,
    block: tuple[int, int],
    songs: int,
    min_count: int,
) -> pl.DataFrame:
    """The frequent pairs whose first song is in `block` (a range of ids)."""
    first, last = block
    partners = later[rows].astype(np.int64)
    row = np.repeat(rows, partners)
    step = np.arange(1, len(row) + 1) - np.repeat(np.cumsum(partners) - partners, partners)
    cell = (song[row].astype(np.int64) - first) * songs + song[row + step]
    del row, step
    cells = (last - first) * songs
    if cells <= 4 * len(cell):
        counts = np.bincount(cell, minlength=cells)
        kept = np.flatnonzero(counts >= min_count)
        counts = counts[kept]
    else:
        kept, counts = np.unique(cell, return_counts=True)
        frequent = counts >= min_count
        kept, counts = kept[frequent], counts[frequent]
    a, b = np.divmod(kept, songs)
    return pl.DataFrame({"a": a + first, "b": b, "count": counts}, schema=PAIR_SCHEMA, strict=False)
