"""Synthetic playlist datasets in the course's CSV shape, in several families.

Real playlist data cannot ship with the project, yet tests, benchmarks and the demo need
data whose statistics look like it: a few hit songs and a long tail (Zipf popularity),
taste clusters that make real co-occurrence rules (latent genres, albums listened to
together), playlist lengths that vary a lot (lognormal), and names that break naive CSV
handling (commas, quotes, non-ASCII letters). ``ds2`` keeps the catalogue and drifts the
tastes, so retraining on it changes some rules: the course's "new dataset" case.

One shape would let defaults be tuned to it without anyone noticing, so there are
families (`FAMILIES`): the course's shape, a flatter one, and one with a real catalogue's
long tail. docs/training.md ("Synthetic data") says what each is derived from.
"""

from __future__ import annotations

import csv
import math
import random
from dataclasses import dataclass, replace
from itertools import accumulate
from pathlib import Path

from recsys.tools.synth_catalogue import Song, make_catalogue

PLAYLIST_COLUMNS = ("pid", "track_name", "artist_name", "album_name", "track_uri", "duration_ms")
SONG_COLUMNS = ("artist_name", "track_name")


@dataclass(frozen=True)
class Tastes:
    """How listeners pick songs; the defaults give rule counts like the course's ds1."""

    genres: int = 20  # about 300 songs each in the default catalogue of 6,000
    zipf_exponent: float = 0.6  # popularity skew within a genre and overall
    hit_share: float = 0.05  # picks from the overall charts instead of a favourite genre
    album_share: float = 0.2  # chance a pick pulls in a second track of its album
    genre_skew: float = 0.7  # Zipf exponent of how many listeners each genre has


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
        genre_weights = [1.0 / (g + 1) ** tastes.genre_skew for g in range(genres)]
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


@dataclass(frozen=True)
class Lengths:
    """Playlist lengths: log-normal with this mean and sigma, cut to [shortest, longest].

    Real playlist lengths are close to log-normal: most are short, a few very long.
    `longest` None means the catalogue's size.
    """

    mean: float
    sigma: float = 0.6
    shortest: int = 2
    longest: int | None = None

    @classmethod
    def from_median(cls, median: float, sigma: float, shortest: int, longest: int) -> Lengths:
        """Published playlist statistics quote the median; a log-normal's is exp(mu)."""
        return cls(median * math.exp(sigma**2 / 2), sigma, shortest, longest)

    def draw(self, rng: random.Random, catalogue_size: int) -> int:
        mu = math.log(self.mean) - self.sigma**2 / 2
        longest = catalogue_size if self.longest is None else min(self.longest, catalogue_size)
        return max(self.shortest, min(longest, round(rng.lognormvariate(mu, self.sigma))))


@dataclass(frozen=True)
class Family:
    """A shape of data: catalogue, tastes and playlist lengths, and its default size."""

    name: str
    playlists: int
    songs: int
    tastes: Tastes
    lengths: Lengths
    ds2: bool = True  # whether ds2.csv is written unless the caller says
    # keeps songs per playlist when only the playlists are given
    scales: bool = False


# The Million Playlist Dataset's bounds: every playlist holds 5 to 250 tracks.
_MPD_LENGTHS = Lengths.from_median(50, 0.8, 5, 250)

FAMILIES = {
    family.name: family
    for family in (
        # The course's datasets: 2,300 playlists of about 100 songs from 20 genres of ~300.
        Family("course", 2300, 6000, Tastes(), Lengths(100.0)),
        # Popularity much less skewed, many small genres with listeners spread evenly, and
        # shorter playlists of varied length: no chart to lean on, thinner support.
        Family(
            "flat",
            2300,
            9000,
            Tastes(genres=60, zipf_exponent=0.3, hit_share=0.02, genre_skew=0.3),
            _MPD_LENGTHS,
        ),
        # A real catalogue's long tail, after the MPD: thousands of micro-genres, most
        # songs in one or two playlists, a chart head no song dominates, about 1.3
        # tracks per album per playlist, lengths with a median of 50 and a long tail.
        Family(
            "longtail",
            7000,
            300_000,
            Tastes(genres=1000, zipf_exponent=0.8, hit_share=0.01, album_share=0.3),
            _MPD_LENGTHS,
        ),
        # The MPD itself, at its size: 1,000,000 playlists of 5 to 250 tracks (median 49,
        # mean 66), 2.26 million distinct songs. Drawn by synth_mpd with numpy, in broad
        # genres with album and artist pulls; its own popularity law (synth_mpd.weights)
        # stands in for the Zipf exponent and genre skew. Its ds2 only on request.
        Family(
            "mpd",
            1_000_000,
            3_200_000,
            Tastes(genres=20, hit_share=0.15, album_share=0.25),
            Lengths.from_median(49, 0.83, 5, 250),
            ds2=False,
            scales=True,
        ),
    )
}


def write_playlists(
    path: Path,
    catalogue: list[Song],
    taste: _TasteModel,
    rng: random.Random,
    playlists: int,
    lengths: Lengths,
) -> int:
    """Write one dataset; return the number of rows."""
    rows = 0
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(PLAYLIST_COLUMNS)
        for pid in range(playlists):
            for index in taste.playlist(rng, lengths.draw(rng, len(catalogue))):
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


def _sizes(shape: Family, playlists: int | None, songs: int | None) -> tuple[int, int]:
    """Playlists and songs: as given, else the family's (in proportion, if it scales)."""
    if songs is None and playlists is not None and shape.scales:
        songs = max(14 * shape.tastes.genres, round(shape.songs * playlists / shape.playlists))
    return (
        shape.playlists if playlists is None else playlists,
        shape.songs if songs is None else songs,
    )


@dataclass(frozen=True)
class SynthReport:
    """What `synthesize` wrote, for the CLI to print."""

    files: dict[str, int]


def synthesize(
    out_dir: Path,
    *,
    family: str = "course",
    playlists: int | None = None,
    songs: int | None = None,
    mean_length: float | None = None,
    seed: int = 0,
    drift: float = 0.3,
    ds2: bool | None = None,
) -> SynthReport:
    """Write ds1.csv, ds2.csv and songs.csv into `out_dir`, deterministic by `seed`.

    `playlists`, `songs` and `mean_length` default to the family's own; `ds2` False
    skips ds2.csv (None: the family's default). The mpd family's catalogue grows with
    `playlists` unless `songs` is given, so a smaller mpd keeps the MPD's proportions.
    """
    if family not in FAMILIES:
        raise ValueError(f"unknown family {family!r}; choose from {', '.join(FAMILIES)}")
    shape = FAMILIES[family]
    tastes = shape.tastes
    playlists, songs = _sizes(shape, playlists, songs)
    lengths = shape.lengths if mean_length is None else replace(shape.lengths, mean=mean_length)
    if songs < 14 * tastes.genres:
        raise ValueError(f"{songs} songs are too few for {tastes.genres} genres of albums")
    out_dir.mkdir(parents=True, exist_ok=True)
    ds2 = shape.ds2 if ds2 is None else ds2
    if family == "mpd":
        from recsys.tools.synth_mpd import synthesize_mpd  # numpy: loaded only for mpd

        mpd = replace(shape, lengths=lengths)
        return SynthReport(synthesize_mpd(out_dir, mpd, playlists, songs, seed, drift, ds2))
    rng = random.Random(seed)
    catalogue = make_catalogue(rng, songs, tastes.genres)
    files: dict[str, int] = {}
    with (out_dir / "songs.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(SONG_COLUMNS)
        writer.writerows((song.artist_name, song.track_name) for song in catalogue)
    files["songs.csv"] = len(catalogue)
    for name, drift_share in (("ds1.csv", 0.0), ("ds2.csv", drift))[: 2 if ds2 else 1]:
        dataset_rng = random.Random(f"{seed}-{name}")
        taste = _TasteModel(catalogue, tastes, random.Random(f"{seed}-drift"), drift_share)
        files[name] = write_playlists(
            out_dir / name, catalogue, taste, dataset_rng, playlists, lengths
        )
    return SynthReport(files=files)
