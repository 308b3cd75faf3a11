"""Loading and cleaning playlist CSVs; every bad file is one clear line."""

from __future__ import annotations

from pathlib import Path

import pytest

from recsys.training.fetch import DatasetError, local_path
from recsys.training.playlists import load_playlists


def write(tmp_path: Path, content: bytes | str) -> Path:
    path = tmp_path / "playlists.csv"
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    return path


def test_columns_in_any_order_extra_columns_and_awkward_names(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "artist_name,track_name,pid,album_name\n"
        '"Crosby, Stills & Nash","Suite: Judy, Blue Eyes",7,"CSN"\n'
        'Sigur Rós,"Hoppípolla ""live""",7,Takk\n',
    )
    playlists = load_playlists(path)
    assert sorted(playlists.spelling.values()) == ['Hoppípolla "live"', "Suite: Judy, Blue Eyes"]
    assert playlists.pairs["pid"].to_list() == ["7", "7"]


def test_names_are_trimmed_normalised_and_deduplicated(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "artist_name,track_name,pid\n"
        'Beyoncé,"  Halo ",1\n'
        'Bowie,"""Heroes""",2\n'
        "Beyoncé,HALO,2\n"
        "Beyoncé,Halo,2\n"
        "Beyoncé,Halo,1\n"
        "x,,3\n",
    )
    playlists = load_playlists(path)
    assert playlists.playlist_count == 2  # pid 3 only had an empty name
    assert sorted(playlists.pairs.rows()) == [("1", "halo"), ("2", '"heroes"'), ("2", "halo")]
    assert playlists.spelling["halo"] == "Halo"  # the most common spelling wins
    assert playlists.spelling['"heroes"'] == '"Heroes"'


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", r"^dataset is empty \(no header, no rows\)$"),
        (b"pid,track_name\n", r"^dataset has a header but no rows$"),
        (
            b"pid,song,artist\n1,a,b\n",
            r"^dataset has no column 'track_name' \(columns: pid, song, artist\)$",
        ),
        (b"\x00\x01\x02\xff\xfe garbage", r"^dataset is not a text CSV \(NUL byte at offset 0\)$"),
        (b"pid,track_name\n1,a\n2,b,c\n", r"^dataset line 3 has 3 fields, the header has 2$"),
        (
            b"pid,track_name\n1,caf\xe9\n",
            r"^dataset is not valid UTF-8 \(first invalid byte at offset 20\)$",
        ),
        (b"pid,track_name\n1,\n", r"^dataset has no rows with both a pid and a track_name$"),
    ],
)
def test_bad_datasets_give_one_line(tmp_path: Path, content: bytes, message: str) -> None:
    with pytest.raises(DatasetError, match=message) as caught:
        load_playlists(write(tmp_path, content))
    assert "\n" not in str(caught.value)


def test_dataset_urls() -> None:
    assert local_path("data/x.csv") == Path("data/x.csv")
    assert local_path("file:///srv/a%20b.csv") == Path("/srv/a b.csv")
    assert local_path("https://example.org/x.csv") is None
    with pytest.raises(DatasetError, match="unsupported dataset URL scheme 'ftp'"):
        local_path("ftp://example.org/x.csv")
