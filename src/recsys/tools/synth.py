"""Synthetic playlist datasets in the course's CSV shape.

Real playlist data cannot ship with the project, yet tests, benchmarks and the demo need
data whose statistics look like it: a few hit songs and a long tail (Zipf popularity),
taste clusters that make real co-occurrence rules (latent genres, albums listened to
together), playlist lengths that vary a lot (lognormal), and names that break naive CSV
handling (commas, quotes, non-ASCII letters). ``ds2`` keeps the catalogue and drifts the
tastes, so retraining on it changes some rules: the course's "new dataset" case.
"""

from __future__ import annotations

import csv
import math
import random
import string
from dataclasses import dataclass
from itertools import accumulate
from pathlib import Path

PLAYLIST_COLUMNS = ("pid", "track_name", "artist_name", "album_name", "track_uri", "duration_ms")
SONG_COLUMNS = ("artist_name", "track_name")

_SYLLABLES = [
    "la",
    "ri",
    "mo",
    "sa",
    "ven",
    "to",
    "ka",
    "lu",
    "ne",
    "ra",
    "fa",
    "so",
    "mi",
    "do",
    "ze",
    "ro",
    "ba",
    "ti",
    "na",
    "ko",
    "é",
    "ö",
    "ñ",
    "ü",
    "ø",
    "å",
    "ç",
    "ß",
    "ł",
    "ő",
]
_WORDS = [
    "love",
    "night",
    "fire",
    "summer",
    "heart",
    "dream",
    "city",
    "light",
    "rain",
    "river",
    "gold",
    "blue",
    "wild",
    "run",
    "home",
    "señorita",
    "niño",
    "café",
    "über",
    "mädchen",
    "søndag",
    "été",
    "corazón",
    "fiesta",
    "día",
    "noche",
    "hold",
    "forever",
    "dance",
    "shadow",
    "echo",
    "ocean",
    "thunder",
    "velvet",
    "neon",
    "paper",
    "ghost",
]
_DECORATIONS = (
    '"{}"',
    "{}, Pt. 2",
    "{}, {}",
    "Don't {}",
    "{} (Live)",
    "{} – Remastered",
    "{} feat. {}",
)
_ARTIST_DECORATIONS = ("{}, {} & {}", "The {}s", "{} y los {}", '{} "{}"')


@dataclass(frozen=True)
class Song:
    """One catalogue entry; ``genre`` and ``album`` drive co-occurrence, not written out."""

    track_name: str
    artist_name: str
    album_name: str
    track_uri: str
    duration_ms: int
    genre: int
    album: int


def _word(rng: random.Random) -> str:
    if rng.random() < 0.6:
        return rng.choice(_WORDS).capitalize()
    syllables = "".join(rng.choice(_SYLLABLES) for _ in range(rng.randint(2, 3)))
    return syllables.capitalize()


def _phrase(rng: random.Random, words: int) -> str:
    return " ".join(_word(rng) for _ in range(words))


def _decorated(rng: random.Random, patterns: tuple[str, ...], base: str, odds: float) -> str:
    if rng.random() >= odds:
        return base
    pattern = rng.choice(patterns)
    extra = [_word(rng) for _ in range(pattern.count("{}") - 1)]
    return pattern.format(base, *extra)


def _unique(name: str, taken: set[str]) -> str:
    candidate, n = name, 2
    while candidate.casefold() in taken:
        candidate, n = f"{name} {_roman(n)}", n + 1
    taken.add(candidate.casefold())
    return candidate


def _roman(n: int) -> str:
    numerals = ((10, "X"), (9, "IX"), (5, "V"), (4, "IV"), (1, "I"))
    out = ""
    for value, numeral in numerals:
        while n >= value:
            out, n = out + numeral, n - value
    return out


def make_catalogue(rng: random.Random, songs: int, genres: int) -> list[Song]:
    """Songs grouped in albums of 6-14 tracks by one artist, each album in one genre."""
    catalogue: list[Song] = []
    taken: set[str] = set()
    uri_chars = string.ascii_letters + string.digits
    album = 0
    while len(catalogue) < songs:
        artist = _decorated(rng, _ARTIST_DECORATIONS, _phrase(rng, rng.randint(1, 2)), 0.08)
        album_name = _phrase(rng, rng.randint(1, 3))
        genre = album % genres  # round robin: no genre is left empty
        for _ in range(min(rng.randint(6, 14), songs - len(catalogue))):
            title = _decorated(rng, _DECORATIONS, _phrase(rng, rng.randint(1, 4)), 0.12)
            catalogue.append(
                Song(
                    track_name=_unique(title, taken),
                    artist_name=artist,
                    album_name=album_name,
                    track_uri="spotify:track:" + "".join(rng.choices(uri_chars, k=22)),
                    duration_ms=rng.randint(90_000, 420_000),
                    genre=genre,
                    album=album,
                )
            )
        album += 1
    return catalogue


@dataclass(frozen=True)
class Tastes:
    """How listeners pick songs; the defaults give rule counts like the course's ds1."""

    genres: int = 20  # about 300 songs each in the default catalogue of 6,000
    zipf_exponent: float = 0.6  # popularity skew within a genre and overall
    hit_share: float = 0.05  # picks from the overall charts instead of a favourite genre
    album_share: float = 0.2  # chance a pick pulls in a second track of its album


class _TasteModel:
    """Zipf popularity within each genre; `drift` re-ranks part of each genre."""

    def __init__(self, catalogue: list[Song], tastes: Tastes, rng: random.Random, drift: float):
        genres = tastes.genres
        self.tastes = tastes
        self.catalogue = catalogue
        self.by_genre: list[list[int]] = [[] for _ in range(genres)]
        for index, song in enumerate(catalogue):
            self.by_genre[song.genre].append(index)
        self.by_album: dict[int, list[int]] = {}
        for index, song in enumerate(catalogue):
            self.by_album.setdefault(song.album, []).append(index)
        for members in self.by_genre:
            _drift_ranks(members, rng, drift)
        self.genre_cum = [
            _zipf_cumulative(len(members), tastes.zipf_exponent) for members in self.by_genre
        ]
        global_order = list(range(len(catalogue)))
        _drift_ranks(global_order, rng, drift)
        self.global_order = global_order
        self.global_cum = _zipf_cumulative(len(catalogue), tastes.zipf_exponent)
        genre_weights = [1.0 / (g + 1) ** 0.7 for g in range(genres)]
        _drift_ranks(genre_weights, rng, drift)
        self.genre_weights_cum = list(accumulate(genre_weights))

    def playlist(self, rng: random.Random, length: int) -> list[int]:
        tastes = rng.choices(range(len(self.by_genre)), cum_weights=self.genre_weights_cum, k=2)
        chosen: dict[int, None] = {}
        for _ in range(length * 4):
            if len(chosen) >= length:
                break
            roll = rng.random()
            if roll < self.tastes.hit_share:
                (index,) = rng.choices(self.global_order, cum_weights=self.global_cum)
            else:
                genre = tastes[0] if roll < 0.75 else tastes[1]
                (index,) = rng.choices(self.by_genre[genre], cum_weights=self.genre_cum[genre])
            chosen[index] = None
            if (
                rng.random() < self.tastes.album_share
            ):  # people add a second track of an album they like
                chosen[rng.choice(self.by_album[self.catalogue[index].album])] = None
        return list(chosen)


def _zipf_cumulative(n: int, exponent: float) -> list[float]:
    return list(accumulate(1.0 / (rank + 1) ** exponent for rank in range(n)))


def _drift_ranks(items: list, rng: random.Random, share: float) -> None:
    """Swap a share of positions in place: the same catalogue, other favourites."""
    for _ in range(int(len(items) * share / 2)):
        a, b = rng.randrange(len(items)), rng.randrange(len(items))
        items[a], items[b] = items[b], items[a]


def write_playlists(
    path: Path,
    catalogue: list[Song],
    taste: _TasteModel,
    rng: random.Random,
    playlists: int,
    mean_length: float,
) -> int:
    """Write one dataset; return the number of rows."""
    sigma = 0.6
    mu = math.log(mean_length) - sigma**2 / 2
    rows = 0
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(PLAYLIST_COLUMNS)
        for pid in range(playlists):
            length = max(2, min(len(catalogue), round(rng.lognormvariate(mu, sigma))))
            for index in taste.playlist(rng, length):
                song = catalogue[index]
                writer.writerow(
                    (
                        pid,
                        song.track_name,
                        song.artist_name,
                        song.album_name,
                        song.track_uri,
                        song.duration_ms,
                    )
                )
                rows += 1
    return rows


@dataclass(frozen=True)
class SynthReport:
    """What `synthesize` wrote, for the CLI to print."""

    files: dict[str, int]


def synthesize(
    out_dir: Path,
    *,
    playlists: int = 2300,
    songs: int = 6000,
    tastes: Tastes = Tastes(),
    mean_length: float = 100.0,
    seed: int = 0,
    drift: float = 0.3,
) -> SynthReport:
    """Write ds1.csv, ds2.csv and songs.csv into `out_dir`, deterministic by `seed`."""
    if songs < 14 * tastes.genres:
        raise ValueError(f"{songs} songs are too few for {tastes.genres} genres of albums")
    out_dir.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    catalogue = make_catalogue(rng, songs, tastes.genres)
    files: dict[str, int] = {}
    with (out_dir / "songs.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(SONG_COLUMNS)
        writer.writerows((song.artist_name, song.track_name) for song in catalogue)
    files["songs.csv"] = len(catalogue)
    for name, drift_share in (("ds1.csv", 0.0), ("ds2.csv", drift)):
        dataset_rng = random.Random(f"{seed}-{name}")
        taste = _TasteModel(catalogue, tastes, random.Random(f"{seed}-drift"), drift_share)
        files[name] = write_playlists(
            out_dir / name, catalogue, taste, dataset_rng, playlists, mean_length
        )
    return SynthReport(files=files)
