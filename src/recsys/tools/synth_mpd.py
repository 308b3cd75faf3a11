"""The `mpd` family: the Million Playlist Dataset's shape, at its size, in minutes.

The other families pick one song at a time with `random`: fine for thousands of
playlists, hours for the MPD's 66 million rows. Here a chunk of playlists is drawn at
once with numpy and written as bytes, so time grows with the rows and memory does not:
the catalogue and one chunk are all that is ever held.

Each song has a weight, its expected number of playlists up to a constant: a head that
grows with the playlists (the MPD's hits are in ~4.6% of playlists, whatever the sample
size) plus a tail that does not (a song in one or two playlists stays so). Every pick is
in proportion to weight within what it picks from (the charts, a genre, an album, an
artist) and a genre is chosen in proportion to its songs' weight, so each song is picked
about in proportion to its weight while playlists stay coherent: most picks come from
two favourite genres, and most pull in another song of the same album or artist.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from recsys.tools.synth import PLAYLIST_COLUMNS, SONG_COLUMNS, Family
from recsys.tools.synth_mpd_catalogue import Layout, MpdCatalogue, make_mpd_catalogue

# Fitted so that 1,000,000 playlists from 3,200,000 songs give the MPD's published
# figures (docs/training.md, "Synthetic data"): weight = head + tail, by popularity rank.
# Weights are relative: the playlists' lengths fix the rows, weights only share them out.
HEAD = 0.14  # head weight of the top song, per playlist
HEAD_OFFSET = 50.0  # ranks: the top ten are about as popular as each other
HEAD_EXPONENT = 1.2
TAIL_SCALE = 0.13  # tail weight at relative rank x: min(cap, scale * x ** -exponent) + floor
TAIL_EXPONENT = 2.5
TAIL_CAP = 500.0
TAIL_FLOOR = 0.6
ARTIST_SHARE = 0.45  # chance a pick pulls in another song by its artist
FIRST_GENRE_SHARE = 0.7  # of the genre picks, from the first favourite genre
CHUNK = 20_000  # playlists drawn and written at a time
ROUNDS = 4  # draws for playlists whose picks held too few distinct songs


@dataclass(frozen=True)
class MpdShape:
    """The family's tastes and lengths as the vectorised model reads them."""

    hit_share: float  # picks from the whole catalogue, not a favourite genre
    album_share: float  # chance a pick pulls in another track of its album
    mean_length: float
    sigma: float
    shortest: int
    longest: int


@dataclass(frozen=True)
class Popularity:
    """`edges[i]` to `edges[i + 1]` is song i's share of the cumulative weight."""

    edges: np.ndarray
    genre_base: np.ndarray  # cumulative weight before each genre's first song
    genre_weight: np.ndarray

    @property
    def total(self) -> float:
        return float(self.edges[-1])


def weights(songs: int, playlists: int) -> np.ndarray:
    """Weight by popularity rank, most popular first: the head and the tail above."""
    rank = np.arange(songs, dtype=np.float64)
    head = HEAD * playlists * (HEAD_OFFSET / (rank + HEAD_OFFSET)) ** HEAD_EXPONENT
    tail = np.minimum(TAIL_CAP, TAIL_SCALE * ((rank + 0.5) / songs) ** -TAIL_EXPONENT)
    return head + tail + TAIL_FLOOR


def popularity(
    score: np.ndarray, layout: Layout, playlists: int, drift: float, rng: np.random.Generator
) -> Popularity:
    """Weights by rank of `score`; `drift` swaps that share of ranks (ds2's new tastes)."""
    order = np.argsort(-score, kind="stable")
    swapped = rng.permutation(len(order))[: 2 * int(len(order) * drift / 2)]
    half = len(swapped) // 2
    order[swapped[:half]], order[swapped[half:]] = order[swapped[half:]], order[swapped[:half]]
    weight = np.empty(len(order), dtype=np.float64)
    weight[order] = weights(len(order), playlists)
    edges = np.concatenate(([0.0], np.cumsum(weight)))
    genre_edges = edges[layout.genre_bounds]
    return Popularity(edges, genre_edges[:-1], np.diff(genre_edges))


def _draw(
    pop: Popularity, base: np.ndarray | float, span: np.ndarray | float, u: np.ndarray
) -> np.ndarray:
    """The songs at cumulative weight base + u * span: in proportion to weight."""
    found = np.searchsorted(pop.edges, base + u * span, side="right") - 1
    return np.clip(found, 0, len(pop.edges) - 2)


def _other(
    pop: Popularity, starts: np.ndarray, ends: np.ndarray, songs: np.ndarray, u: np.ndarray
) -> np.ndarray:
    """Another song in each [start, end), in proportion to weight: the song itself is
    left out (a pull that drew it would be lost), unless it is the only one."""
    base, own = pop.edges[starts], pop.edges[songs]
    own_weight = pop.edges[songs + 1] - own
    at = base + u * (pop.edges[ends] - base - own_weight)
    at = np.where(at >= own, at + own_weight, at)
    found = np.searchsorted(pop.edges, at, side="right") - 1
    return np.clip(found, starts, ends - 1)


def _genre_of(layout: Layout, songs: np.ndarray) -> np.ndarray:
    return np.searchsorted(layout.genre_bounds, songs, side="right") - 1


def _base_picks(
    rng: np.random.Generator, pop: Popularity, layout: Layout, shape: MpdShape, draws: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """`draws[p]` picks for each playlist p from the charts or its favourite genres."""
    count = int(draws.sum())
    playlist = np.repeat(np.arange(len(draws)), draws)
    # two favourite genres each, as likely as their songs are popular
    favourites = _genre_of(layout, _draw(pop, 0.0, pop.total, rng.random((len(draws), 2))))
    kind = rng.random(count)
    chart = kind < shape.hit_share
    second = kind >= shape.hit_share + (1 - shape.hit_share) * FIRST_GENRE_SHARE
    genre = favourites[playlist, second.astype(np.int64)]
    base = np.where(chart, 0.0, pop.genre_base[genre])
    span = np.where(chart, pop.total, pop.genre_weight[genre])
    return playlist, _draw(pop, base, span, rng.random(count))


def draw_picks(
    rng: np.random.Generator, pop: Popularity, layout: Layout, shape: MpdShape, draws: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Picks, each maybe followed by a pull: another song of its album or artist.

    Returns (playlist, song) per pick, grouped by playlist in the order picked.
    """
    playlist, songs = _base_picks(rng, pop, layout, shape, draws)
    roll, u = rng.random(len(songs)), rng.random(len(songs))
    album = roll < shape.album_share
    artist = ~album & (roll < shape.album_share + ARTIST_SHARE)
    pulled = np.zeros(len(songs), dtype=np.int64)
    for chosen, owner, bounds in (
        (album, layout.song_album, layout.album_bounds),
        (artist, layout.song_artist, layout.artist_bounds),
    ):
        group = owner[songs[chosen]]
        pulled[chosen] = _other(pop, bounds[group], bounds[group + 1], songs[chosen], u[chosen])
    pulls = album | artist
    repeats = 1 + pulls
    out = np.repeat(songs, repeats)
    out[np.cumsum(repeats)[pulls] - 1] = pulled[pulls]
    return np.repeat(playlist, repeats), out


def first_unique(
    playlist: np.ndarray, songs: np.ndarray, lengths: np.ndarray, catalogue_size: int
) -> tuple[np.ndarray, np.ndarray]:
    """The first `lengths[p]` distinct songs of each playlist p, in the order picked.

    Dropping repeats is sampling without replacement, as a listener picks. Returns
    (songs, count per playlist); a playlist whose picks hold fewer distinct songs than
    its length keeps them all.
    """
    _, first = np.unique(playlist.astype(np.int64) * catalogue_size + songs, return_index=True)
    first.sort()
    owner = playlist[first]
    starts = np.searchsorted(owner, np.arange(len(lengths)))
    keep = np.arange(len(first)) - starts[owner] < lengths[owner]
    return songs[first[keep]], np.bincount(owner[keep], minlength=len(lengths))


def draw_lengths(rng: np.random.Generator, shape: MpdShape, playlists: int) -> np.ndarray:
    """Log-normal lengths with the shape's mean, rounded and cut to its bounds."""
    mu = math.log(shape.mean_length) - shape.sigma**2 / 2
    drawn = np.rint(rng.lognormal(mu, shape.sigma, playlists))
    return np.clip(drawn, shape.shortest, shape.longest).astype(np.int64)


def draws_for(lengths: np.ndarray, factor: int) -> np.ndarray:
    """Picks to draw per playlist. Pulls add about 0.7 picks per pick and repeats take
    some back: 0.8 per track and 4 more leave about one playlist in 100,000 short."""
    return factor * ((4 * lengths + 4) // 5 + 4)


def _fill(
    rng: np.random.Generator,
    catalogue: MpdCatalogue,
    pop: Popularity,
    shape: MpdShape,
    lengths: np.ndarray,
    factor: int,
) -> tuple[np.ndarray, np.ndarray]:
    playlist, songs = draw_picks(rng, pop, catalogue.layout, shape, draws_for(lengths, factor))
    return first_unique(playlist, songs, lengths, catalogue.layout.songs)


def _splice(
    songs: np.ndarray,
    counts: np.ndarray,
    which: np.ndarray,
    again: np.ndarray,
    again_counts: np.ndarray,
) -> np.ndarray:
    """`songs` with the playlists `which` replaced by `again` (grouped, `again_counts` each)."""
    parts = np.split(songs, np.cumsum(counts)[:-1])
    redrawn = np.split(again, np.cumsum(again_counts)[:-1])
    for index, part in zip(which.tolist(), redrawn, strict=True):
        parts[index] = part
    return np.concatenate(parts)


def draw_chunk(
    rng: np.random.Generator,
    catalogue: MpdCatalogue,
    pop: Popularity,
    shape: MpdShape,
    playlists: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Songs and their count per playlist for `playlists` playlists.

    A playlist whose picks repeat too much (a long one from a small catalogue) is drawn
    again with twice the picks, then four and eight times, so lengths hold to their
    bounds.
    """
    lengths = draw_lengths(rng, shape, playlists)
    songs, counts = _fill(rng, catalogue, pop, shape, lengths, 1)
    for attempt in range(1, ROUNDS):
        short = np.flatnonzero(counts < lengths)
        if len(short) == 0:
            break
        again, again_counts = _fill(rng, catalogue, pop, shape, lengths[short], 2**attempt)
        songs = _splice(songs, counts, short, again, again_counts)
        counts[short] = again_counts
    return songs, counts


def chunk_bytes(
    fragments: list[bytes], first_pid: int, songs: np.ndarray, counts: np.ndarray
) -> bytes:
    """The CSV rows of a chunk: pid, then the song's fragment, CRLF as `csv` ends rows."""
    rows = [fragments[song] for song in songs.tolist()]
    out, start = [], 0
    for pid, count in enumerate(counts.tolist(), first_pid):
        head = b"%d," % pid
        out.append(head + (b"\r\n" + head).join(rows[start : start + count]) + b"\r\n")
        start += count
    return b"".join(out)


def stream_rng(seed: int, *stream: int) -> np.random.Generator:
    """A generator per purpose and chunk, so each is the same however many came before."""
    return np.random.default_rng([seed % 2**64, *stream])


def write_dataset(
    path: Path,
    catalogue: MpdCatalogue,
    pop: Popularity,
    shape: MpdShape,
    playlists: int,
    stream: tuple[int, int],
) -> int:
    """Write one dataset chunk by chunk; return the number of rows."""
    rows = 0
    with path.open("wb") as handle:
        handle.write((",".join(PLAYLIST_COLUMNS) + "\r\n").encode())
        for chunk, first in enumerate(range(0, playlists, CHUNK)):
            size = min(CHUNK, playlists - first)
            songs, counts = draw_chunk(stream_rng(*stream, chunk), catalogue, pop, shape, size)
            handle.write(chunk_bytes(catalogue.fragments, first, songs, counts))
            rows += len(songs)
    return rows


def write_songs(path: Path, catalogue: MpdCatalogue) -> int:
    """songs.csv as the other families write it: the whole catalogue, in layout order."""
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(SONG_COLUMNS)
        artists = (catalogue.artist_names[i] for i in catalogue.layout.song_artist.tolist())
        writer.writerows(zip(artists, catalogue.titles, strict=False))
    return catalogue.layout.songs


def synthesize_mpd(
    out_dir: Path, family: Family, playlists: int, songs: int, seed: int, drift: float, ds2: bool
) -> dict[str, int]:
    """songs.csv, ds1.csv and with `ds2`, ds2.csv: the catalogue again, tastes drifted."""
    lengths, tastes = family.lengths, family.tastes
    shape = MpdShape(
        hit_share=tastes.hit_share,
        album_share=tastes.album_share,
        mean_length=lengths.mean,
        sigma=lengths.sigma,
        shortest=lengths.shortest,
        longest=songs if lengths.longest is None else min(lengths.longest, songs),
    )
    catalogue = make_mpd_catalogue(stream_rng(seed, 0), songs, tastes.genres)
    files = {"songs.csv": write_songs(out_dir / "songs.csv", catalogue)}
    for index, name in enumerate(("ds1.csv", "ds2.csv") if ds2 else ("ds1.csv",), 1):
        shift = drift if name == "ds2.csv" else 0.0
        pop = popularity(catalogue.score, catalogue.layout, playlists, shift, stream_rng(seed, 3))
        files[name] = write_dataset(out_dir / name, catalogue, pop, shape, playlists, (seed, index))
    return files
