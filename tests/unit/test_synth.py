"""`recsys synth`: the course family is the generator it always was, byte for byte, and each
other family has the shape it claims (docs/training.md, "Synthetic data")."""

from __future__ import annotations

import hashlib
from pathlib import Path

import polars as pl
import pytest

from recsys.tools.synth import FAMILIES, synthesize

# sha256 of the files the generator wrote before it had families, at a small size
# (playlists=60, songs=400, mean_length=30, seed=0). Changing them changes every bench
# figure and every test that synthesises data: do it on purpose or not at all.
COURSE_SMALL = {
    "ds1.csv": "d1a2765748cdccd56e64d095a46bb47bee98439c59338512a7288dff37a68049",
    "ds2.csv": "073cb71e62d5b766540439d9b2752da068ffa45de3252ac9bfb5aa8ef0d4e2b0",
    "songs.csv": "18977c2087f902bf71cbd4081902375edbcd269bbb59ca2c04b5d3959fc338f3",
}


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def playlist_counts(path: Path) -> pl.Series:
    """How many playlists hold each song, most common first."""
    frame = pl.read_csv(path, columns=["pid", "track_name"], infer_schema=False)
    return frame.group_by("track_name").len()["len"].sort(descending=True)


def playlist_lengths(path: Path) -> pl.Series:
    frame = pl.read_csv(path, columns=["pid"], infer_schema=False)
    return frame.group_by("pid").len()["len"]


def top_tenth_share(counts: pl.Series) -> float:
    """Share of all playlist rows taken by the most common tenth of the songs: a plain
    measure of popularity skew (0.1 if every song were equally common)."""
    return counts.head(max(1, counts.len() // 10)).sum() / counts.sum()


@pytest.mark.parametrize("family", [None, "course"])
def test_course_is_unchanged_byte_for_byte(tmp_path: Path, family: str | None) -> None:
    options = {} if family is None else {"family": family}
    synthesize(tmp_path, playlists=60, songs=400, mean_length=30, seed=0, **options)
    assert {name: sha256(tmp_path / name) for name in COURSE_SMALL} == COURSE_SMALL


def test_every_family_is_deterministic_and_unknown_ones_are_refused(tmp_path: Path) -> None:
    for family in FAMILIES:
        first, again = tmp_path / f"{family}-1", tmp_path / f"{family}-2"
        # small, but at least the 14 songs per genre the generator asks for
        songs = max(1000, 14 * FAMILIES[family].tastes.genres)
        for folder in (first, again):
            synthesize(folder, family=family, playlists=20, songs=songs, seed=3)
        assert sha256(first / "ds1.csv") == sha256(again / "ds1.csv")
    with pytest.raises(ValueError, match="unknown family"):
        synthesize(tmp_path / "x", family="jazz")


def test_flat_is_less_skewed_with_shorter_playlists(tmp_path: Path) -> None:
    """Same number of playlists; the top tenth of flat's songs holds far less of the rows."""
    course, flat = tmp_path / "course", tmp_path / "flat"
    synthesize(course, family="course", playlists=500, seed=0)
    synthesize(flat, family="flat", playlists=500, seed=0)
    course_share = top_tenth_share(playlist_counts(course / "ds1.csv"))
    flat_share = top_tenth_share(playlist_counts(flat / "ds1.csv"))
    assert flat_share < 0.75 * course_share
    lengths = playlist_lengths(flat / "ds1.csv")
    assert 40 <= lengths.median() <= 60  # the MPD's median of about 50
    assert lengths.min() >= 5
    assert lengths.max() <= 251  # at most 250 drawn; an album's second track may add one
    assert playlist_lengths(course / "ds1.csv").median() > 75


@pytest.fixture(scope="module")
def longtail(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("longtail")
    synthesize(folder, family="longtail", seed=0)
    return folder / "ds1.csv"


def test_longtail_has_a_real_catalogues_long_tail(longtail: Path) -> None:
    counts = playlist_counts(longtail)
    lengths = playlist_lengths(longtail)
    assert lengths.len() == FAMILIES["longtail"].playlists
    assert counts.len() > 100_000  # distinct songs in a few thousand playlists
    assert (counts <= 2).mean() > 0.5  # most songs are in one or two playlists
    assert counts[0] < 0.15 * lengths.len()  # yet no song is in every playlist
    assert 40 <= lengths.median() <= 60
    assert lengths.mean() > lengths.median()  # a long tail of long playlists
    assert lengths.min() >= 5
    assert lengths.max() <= 251


def test_the_command_offers_every_family(tmp_path: Path) -> None:
    from recsys.cli.main import build_parser

    parser = build_parser()
    for family in FAMILIES:
        args = parser.parse_args(["synth", "--out", str(tmp_path), "--family", family])
        assert args.family == family
        assert args.playlists is args.songs is args.mean_length is None  # the family's own
    assert parser.parse_args(["synth", "--out", str(tmp_path)]).family == "course"
    with pytest.raises(SystemExit):
        parser.parse_args(["synth", "--out", str(tmp_path), "--family", "jazz"])
