"""`recsys synth --family mpd`: the Million Playlist Dataset's shape at 1/50 of its size,
deterministic, parsed by the project's loader (docs/training.md, "Synthetic data").

The MPD's published figures, per playlist so they compare at any size: 66.35 rows (5 to
250, median 49), 2.26 distinct songs, about half of them in only one or two playlists,
the top song in 4.6% of playlists. A small version keeps them within the bounds below
(its tail is a little longer: about 2.6 distinct songs per playlist at 1/50).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from recsys.songs import normalize_song_name
from recsys.tools import synth_mpd
from recsys.tools.synth import FAMILIES, synthesize
from recsys.training.playlists import load_playlists

PLAYLISTS = 20_000


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def top_songs(rows: pl.DataFrame, k: int = 20) -> list[str]:
    counts = rows.group_by("track_name").len().sort(["len", "track_name"], descending=True)
    return counts["track_name"].head(k).to_list()


@pytest.fixture(scope="module")
def mpd(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("mpd")
    report = synthesize(folder, family="mpd", playlists=PLAYLISTS, seed=0)
    assert set(report.files) == {"songs.csv", "ds1.csv"}  # no ds2 unless asked
    return folder


@pytest.fixture(scope="module")
def rows(mpd: Path) -> pl.DataFrame:
    return pl.read_csv(mpd / "ds1.csv", infer_schema=False)


def test_the_default_is_the_mpd_at_its_size() -> None:
    family = FAMILIES["mpd"]
    assert family.playlists == 1_000_000
    assert family.songs >= 2_262_292  # some of the catalogue is in no playlist
    assert family.lengths.shortest == 5
    assert family.lengths.longest == 250


def test_lengths_are_the_mpds(rows: pl.DataFrame) -> None:
    lengths = rows.group_by("pid").len()["len"]
    assert lengths.len() == PLAYLISTS
    assert lengths.min() >= 5
    assert lengths.max() <= 250
    assert 45 <= lengths.median() <= 53  # the MPD's 49
    assert 63 <= lengths.mean() <= 70  # the MPD's 66.35


def test_songs_have_the_mpds_long_tail(mpd: Path, rows: pl.DataFrame) -> None:
    counts = rows.group_by("track_name").len()["len"].sort(descending=True)
    assert 2.0 <= counts.len() / PLAYLISTS <= 2.8  # the MPD's 2.26 distinct per playlist
    assert 0.4 <= (counts <= 2).mean() <= 0.6  # about half in one or two playlists
    assert 0.02 <= counts[0] / PLAYLISTS <= 0.1  # the MPD's top song: 4.6%
    # the catalogue keeps its proportion to the playlists; part of it is in none
    catalogue = pl.read_csv(mpd / "songs.csv", infer_schema=False)
    assert catalogue.height == round(FAMILIES["mpd"].songs * PLAYLISTS / 1_000_000)
    assert counts.len() < catalogue.height


def test_playlists_are_coherent(rows: pl.DataFrame) -> None:
    """MPD playlists hold 66 tracks from about 50 albums by 38 artists: picks come in
    runs of an album or artist, so association rules have something to find."""
    per_playlist = rows.group_by("pid").agg(
        pl.len().alias("tracks"),
        pl.col("artist_name").n_unique().alias("artists"),
        pl.struct("artist_name", "album_name").n_unique().alias("albums"),
    )
    tracks = per_playlist["tracks"].sum()
    assert 0.45 <= per_playlist["artists"].sum() / tracks <= 0.7  # the MPD's 0.57
    assert 0.6 <= per_playlist["albums"].sum() / tracks <= 0.85  # the MPD's 0.75


def test_the_csv_is_hard_and_the_loader_reads_it(mpd: Path, rows: pl.DataFrame) -> None:
    names = rows["track_name"]
    assert names.str.contains(",").any()
    assert names.str.contains('"').any()
    assert names.str.contains("[^\\x00-\\x7f]").any()
    loaded = load_playlists(mpd / "ds1.csv")
    assert loaded.playlist_count == PLAYLISTS
    assert loaded.pairs.height == rows.height  # no song twice in a playlist
    assert len(loaded.spelling) == names.n_unique()  # no two songs share a name


def test_song_names_are_unique_as_the_service_compares_them(mpd: Path) -> None:
    titles = pl.read_csv(mpd / "songs.csv", infer_schema=False)["track_name"].to_list()
    assert len({normalize_song_name(title) for title in titles}) == len(titles)


def test_same_seed_same_files_and_ds2_on_request(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(synth_mpd, "CHUNK", 128)  # three chunks, the last one short
    first, again, other = tmp_path / "first", tmp_path / "again", tmp_path / "other"
    for folder, seed in ((first, 1), (again, 1), (other, 2)):
        synthesize(folder, family="mpd", playlists=300, seed=seed, ds2=True)
    for name in ("songs.csv", "ds1.csv", "ds2.csv"):
        assert sha256(first / name) == sha256(again / name)
        assert sha256(first / name) != sha256(other / name)
    ds1 = pl.read_csv(first / "ds1.csv", infer_schema=False)
    assert ds1["pid"].unique(maintain_order=True).to_list() == [str(n) for n in range(300)]
    # ds2: the same catalogue, drifted tastes
    ds2 = pl.read_csv(first / "ds2.csv", infer_schema=False)
    catalogue = set(pl.read_csv(first / "songs.csv", infer_schema=False)["track_name"])
    assert set(ds2["track_name"]) <= catalogue
    assert top_songs(ds1) != top_songs(ds2)


def test_playlists_short_of_songs_are_drawn_again(monkeypatch: pytest.MonkeyPatch) -> None:
    """Too few picks the first time (forced here) leave lengths as drawn, not shorter."""
    drawn = synth_mpd.draws_for

    def too_few_at_first(lengths: np.ndarray, factor: int) -> np.ndarray:
        return lengths // 2 if factor == 1 else drawn(lengths, factor)

    monkeypatch.setattr(synth_mpd, "draws_for", too_few_at_first)
    catalogue = synth_mpd.make_mpd_catalogue(synth_mpd.stream_rng(0, 0), 5000, 20)
    pop = synth_mpd.popularity(
        catalogue.score, catalogue.layout, 1000, 0.0, synth_mpd.stream_rng(0, 3)
    )
    shape = synth_mpd.MpdShape(0.15, 0.25, 69.0, 0.83, 5, 250)
    songs, counts = synth_mpd.draw_chunk(synth_mpd.stream_rng(0, 1, 0), catalogue, pop, shape, 500)
    lengths = synth_mpd.draw_lengths(synth_mpd.stream_rng(0, 1, 0), shape, 500)
    assert counts.tolist() == lengths.tolist()
    assert len(songs) == counts.sum()
    playlist = np.repeat(np.arange(500), counts)
    assert len(np.unique(playlist * 5000 + songs)) == len(songs)  # distinct in each
