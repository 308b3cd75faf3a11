"""The `mpd` family's catalogue: millions of songs, made with numpy in seconds.

`synth_catalogue` makes one song at a time with `random`, which suits a few hundred
thousand songs but takes about a minute and over a gigabyte for the Million Playlist
Dataset's 2.3 million: each song is a dataclass of five strings. Here every name is drawn
at once from the same words, syllables and decorations (so the names break naive CSV
handling the same way), titles are made unique ignoring case the same way, and each song
is kept as the CSV fragment it is written as plus integer arrays that say where its
album, artist and genre begin and end.

Songs are laid out genre by genre, artist by artist, album by album, so "a song of this
genre" or "another track of this album" is a range of indices: picks stay vectorised.
"""

from __future__ import annotations

import csv
import io
import itertools
import string
from dataclasses import dataclass

import numpy as np

from recsys.tools.synth_catalogue import (
    _ARTIST_DECORATIONS,
    _DECORATIONS,
    _SYLLABLES,
    _WORDS,
    _UniqueNames,
)

# The MPD has 2,262,292 tracks on 734,684 albums by 295,860 artists: about 3.1 of an
# album's tracks and 2.5 of an artist's albums are ever in a playlist.
TRACKS_PER_ALBUM = 3.1
ALBUMS_PER_ARTIST = 2.5
# English words, then every invented word of two or three syllables, capitalised.
_VOCABULARY = [word.capitalize() for word in _WORDS] + [
    "".join(syllables).capitalize()
    for count in (2, 3)
    for syllables in itertools.product(_SYLLABLES, repeat=count)
]
_ENGLISH_SHARE = 0.4
# Share of titles of 1, 2, 3 and 4 words. Few one-word titles: among 3 million, each
# word would recur hundreds of times, each a numeral ("Love MCCXL") to stay unique. As
# it is, about one title in nine carries a numeral.
_TITLE_WORDS = (0.03, 0.42, 0.4, 0.15)
_URI_CHARS = np.frombuffer((string.ascii_letters + string.digits).encode(), dtype=np.uint8)
_FRAGMENT_BATCH = 200_000  # songs turned into CSV text at a time


@dataclass(frozen=True)
class Layout:
    """Where each genre, artist and album begins: `*_bounds[i]` to `*_bounds[i + 1]`."""

    genre_bounds: np.ndarray
    artist_bounds: np.ndarray
    album_bounds: np.ndarray
    song_artist: np.ndarray  # the artist of each song
    song_album: np.ndarray  # the album of each song

    @property
    def songs(self) -> int:
        return int(self.album_bounds[-1])


@dataclass(frozen=True)
class MpdCatalogue:
    """The songs: layout, the CSV text each is written as, and a latent popularity.

    `score` ranks songs by popularity (higher is more popular); it adds an artist's, an
    album's and a song's own draw, so an artist's songs tend to be popular together.
    """

    layout: Layout
    fragments: list[bytes]  # "track_name,artist_name,album_name,track_uri,duration_ms"
    titles: list[str]
    artist_names: list[str]
    score: np.ndarray


def _bounds(sizes: np.ndarray, total: int) -> np.ndarray:
    """Starts of consecutive groups of these sizes, cut where they reach `total`."""
    ends = np.cumsum(sizes)
    count = int(np.searchsorted(ends, total)) + 1
    return np.concatenate(([0], np.minimum(ends[:count], total))).astype(np.int64)


def make_layout(rng: np.random.Generator, songs: int, genres: int) -> Layout:
    """Albums of about 3 songs, artists of about 2.5 albums, each artist in one genre."""
    album_bounds = _bounds(np.minimum(rng.geometric(1 / TRACKS_PER_ALBUM, songs), 30), songs)
    albums = len(album_bounds) - 1
    per_artist = np.minimum(rng.geometric(1 / ALBUMS_PER_ARTIST, albums), 50)
    artist_albums = _bounds(per_artist, albums)
    artists = len(artist_albums) - 1
    # Genres drawn per artist, then sorted: the same as a random genre each, laid out.
    artist_genres = np.sort(rng.integers(0, genres, artists))
    genre_artists = np.searchsorted(artist_genres, np.arange(genres + 1))
    artist_bounds = album_bounds[artist_albums]
    return Layout(
        genre_bounds=artist_bounds[genre_artists],
        artist_bounds=artist_bounds,
        album_bounds=album_bounds,
        song_artist=np.repeat(np.arange(artists, dtype=np.int32), np.diff(artist_bounds)),
        song_album=np.repeat(np.arange(albums, dtype=np.int32), np.diff(album_bounds)),
    )


def phrases(rng: np.random.Generator, count: int, word_counts: tuple[float, ...]) -> list[str]:
    """`count` phrases of 1..len(word_counts) words, with those probabilities."""
    lengths = rng.choice(len(word_counts), size=count, p=word_counts) + 1
    total = int(lengths.sum())
    english = rng.random(total) < _ENGLISH_SHARE
    picks = np.where(
        english,
        rng.integers(0, len(_WORDS), total),
        rng.integers(len(_WORDS), len(_VOCABULARY), total),
    )
    words = [_VOCABULARY[pick] for pick in picks.tolist()]
    out, start = [], 0
    for end in np.cumsum(lengths).tolist():
        out.append(" ".join(words[start:end]))
        start = end
    return out


def decorate(
    rng: np.random.Generator, names: list[str], patterns: tuple[str, ...], odds: float
) -> None:
    """Put a share `odds` of the names in a pattern (quotes, commas, "feat."), in place."""
    chosen = np.flatnonzero(rng.random(len(names)) < odds).tolist()
    which = rng.integers(0, len(patterns), len(chosen)).tolist()
    extras = phrases(rng, 2 * len(chosen), (1.0,))
    for index, (at, pattern) in enumerate(zip(chosen, which, strict=True)):
        # str.format ignores the extra words a pattern has no place for
        names[at] = patterns[pattern].format(names[at], *extras[2 * index : 2 * index + 2])


def unique_titles(rng: np.random.Generator, count: int) -> list[str]:
    """Titles unique ignoring case, as in `synth_catalogue`: "Love", "Love II", ..."""
    titles = phrases(rng, count, _TITLE_WORDS)
    decorate(rng, titles, _DECORATIONS, 0.12)
    names = _UniqueNames()
    return [names.claim(title) for title in titles]


def fragments(
    rng: np.random.Generator,
    layout: Layout,
    titles: list[str],
    artist_names: list[str],
    album_names: list[str],
) -> list[bytes]:
    """Each song's row after its pid, quoted as `csv` quotes it, with a URI and duration."""
    songs = layout.songs
    out: list[bytes] = []
    for start in range(0, songs, _FRAGMENT_BATCH):
        end = min(songs, start + _FRAGMENT_BATCH)
        codes = _URI_CHARS[rng.integers(0, len(_URI_CHARS), (end - start, 22))]
        uris = ("spotify:track:" + uri.decode() for uri in codes.view("S22").ravel().tolist())
        rows = zip(
            titles[start:end],
            (artist_names[i] for i in layout.song_artist[start:end].tolist()),
            (album_names[i] for i in layout.song_album[start:end].tolist()),
            uris,
            rng.integers(90_000, 420_001, end - start).tolist(),
            strict=False,
        )
        buffer = io.StringIO()
        csv.writer(buffer, lineterminator="\n").writerows(rows)
        out.extend(buffer.getvalue().encode().split(b"\n")[:-1])
    return out


def make_mpd_catalogue(rng: np.random.Generator, songs: int, genres: int) -> MpdCatalogue:
    """The catalogue, deterministic by `rng`'s seed."""
    layout = make_layout(rng, songs, genres)
    artists, albums = len(layout.artist_bounds) - 1, len(layout.album_bounds) - 1
    artist_names = phrases(rng, artists, (0.5, 0.5))
    decorate(rng, artist_names, _ARTIST_DECORATIONS, 0.08)
    album_names = phrases(rng, albums, (0.4, 0.35, 0.25))
    titles = unique_titles(rng, songs)
    score = (
        rng.normal(0.0, 1.0, artists)[layout.song_artist]
        + rng.normal(0.0, 0.5, albums)[layout.song_album]
        + rng.normal(0.0, 0.7, songs)
    )
    return MpdCatalogue(
        layout=layout,
        fragments=fragments(rng, layout, titles, artist_names, album_names),
        titles=titles,
        artist_names=artist_names,
        score=score,
    )
