"""Loading and cleaning playlist CSVs; every bad file is one clear line."""

from __future__ import annotations

from pathlib import Path

import pytest

from recsys.songs import MAX_SONG_LENGTH
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
    assert playlists.named()["pid"].to_list() == ["7", "7"]


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
    assert sorted(playlists.named().rows()) == [("1", "halo"), ("2", '"heroes"'), ("2", "halo")]
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


def test_song_names_up_to_the_api_limit_are_kept(tmp_path: Path) -> None:
    name = "x" * MAX_SONG_LENGTH
    playlists = load_playlists(write(tmp_path, f"pid,track_name\n1,{name}\n1, {name} \n"))
    assert list(playlists.spelling.values()) == [name]


def test_a_longer_song_name_is_refused_with_its_line(tmp_path: Path) -> None:
    # A quoted name spanning two lines comes first: the line count follows the file, not rows.
    content = f'pid,track_name\n1,"two\nlines"\n\n2,ok\n3,{"y" * (MAX_SONG_LENGTH + 1)}\n4,z\n'
    expected = (
        rf"^dataset line 6 has a track_name of {MAX_SONG_LENGTH + 1} characters "
        rf"\(the most is {MAX_SONG_LENGTH}\)$"
    )
    with pytest.raises(DatasetError, match=expected):
        load_playlists(write(tmp_path, content))


def test_a_name_longer_than_the_csv_module_field_limit_still_gets_its_line(
    tmp_path: Path,
) -> None:
    content = b"pid,track_name\n1,a\n2," + b"n" * 200_000 + b"\n"
    with pytest.raises(DatasetError, match=r"^dataset line 3 has a track_name of 200000 "):
        load_playlists(write(tmp_path, content))


def test_a_nul_byte_anywhere_is_refused(tmp_path: Path) -> None:
    rows = "".join(f"{pid},song {pid}\n" for pid in range(20_000))
    content = ("pid,track_name\n" + rows).encode() + b"9,a\x00b\n"
    offset = content.index(b"\x00")
    assert offset > 64 * 1024
    with pytest.raises(
        DatasetError, match=rf"^dataset is not a text CSV \(NUL byte at offset {offset}\)$"
    ):
        load_playlists(write(tmp_path, content))


def test_errors_show_at_most_a_bounded_printable_header(tmp_path: Path) -> None:
    header = ",".join(f'"col\n{index}"' for index in range(1000))
    with pytest.raises(DatasetError) as caught:
        load_playlists(write(tmp_path, header + "\n" + "1," * 999 + "1\n"))
    message = str(caught.value)
    assert message.startswith("dataset has no column 'pid' (columns: ")
    assert "\n" not in message
    assert len(message) < 400
