"""Turn a fetched playlist CSV into clean (playlist, song) pairs, or say what is wrong.

Every way a CSV can be wrong ends in one `DatasetError` with a single line naming the
problem (the line an operator sees in a Job log). What a message quotes from the file is
cut short and made printable, so a hostile file cannot flood or repaint that log.
"""

from __future__ import annotations

import codecs
import csv
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from recsys.songs import MAX_SONG_LENGTH, normalize_song_name
from recsys.training.fetch import DatasetError

REQUIRED_COLUMNS = ("pid", "track_name")
_CHUNK = 1024 * 1024
_SHOWN = 200  # characters of the file a message may quote


@dataclass(frozen=True)
class Playlists:
    """Clean (playlist, song) pairs: one row per song per playlist, names normalised.

    `pairs` has columns `pid` (str) and `song` (the normalised key); `spelling` maps each key
    to the dataset's most common spelling, which is what users are shown.
    """

    pairs: pl.DataFrame
    spelling: dict[str, str]

    @property
    def playlist_count(self) -> int:
        return self.pairs["pid"].n_unique()


def load_playlists(path: Path) -> Playlists:
    """Read and validate a playlist CSV; raise DatasetError with a one-line reason.

    The header is read first, then only the two columns we need: other columns are
    still parsed (a ragged row is still an error) but never held in memory.
    """
    _reject_binary(path)
    header = _read_csv(path, n_rows=0).columns
    names = {name.strip(): name for name in header}
    missing = [column for column in REQUIRED_COLUMNS if column not in names]
    if missing:
        shown = _quoted(", ".join(names)) or "none"
        raise DatasetError(f"dataset has no column '{missing[0]}' (columns: {shown})")
    frame = _read_csv(path, columns=[names[column] for column in REQUIRED_COLUMNS])
    if frame.height == 0:
        raise DatasetError("dataset has a header but no rows")
    frame = frame.rename({names[column]: column for column in REQUIRED_COLUMNS})
    _reject_long_names(path, frame)
    return clean_pairs(frame)


def _read_csv(path: Path, **options: Any) -> pl.DataFrame:
    try:
        return pl.read_csv(path, infer_schema=False, encoding="utf8", **options)
    except pl.exceptions.NoDataError:
        raise DatasetError("dataset is empty (no header, no rows)") from None
    except pl.exceptions.ComputeError as error:
        raise DatasetError(_explain_parse_error(path, error)) from None


def clean_pairs(frame: pl.DataFrame) -> Playlists:
    """Trim names, drop empty ones, key songs by their normalised name, dedupe pairs."""
    trimmed = frame.select(
        pl.col("pid").str.strip_chars(),
        pl.col("track_name").str.strip_chars(),
    ).filter(
        pl.col("pid").is_not_null()
        & (pl.col("pid") != "")
        & pl.col("track_name").is_not_null()
        & (pl.col("track_name") != "")
    )
    if trimmed.height == 0:
        raise DatasetError("dataset has no rows with both a pid and a track_name")
    spellings = trimmed.group_by("track_name").len()
    names = spellings["track_name"].to_list()
    keys = pl.Series("song", [normalize_song_name(name) for name in names], dtype=pl.String)
    spellings = spellings.with_columns(keys)
    # The most common spelling of each key wins; ties go to the alphabetically first.
    chosen = spellings.sort(["song", "len", "track_name"], descending=[False, True, False])
    chosen = chosen.unique("song", keep="first", maintain_order=True)
    spelling = dict(zip(chosen["song"].to_list(), chosen["track_name"].to_list(), strict=True))
    pairs = (
        trimmed.join(spellings.select("track_name", "song"), on="track_name", how="left")
        .select("pid", "song")
        .unique(maintain_order=True)
    )
    return Playlists(pairs=pairs, spelling=spelling)


def _reject_binary(path: Path) -> None:
    """Refuse a file with a NUL byte anywhere: no text CSV has one, and polars keeps it."""
    offset = 0
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            if b"\x00" in chunk:
                at = offset + chunk.index(b"\x00")
                raise DatasetError(f"dataset is not a text CSV (NUL byte at offset {at})")
            offset += len(chunk)


def _reject_long_names(path: Path, frame: pl.DataFrame) -> None:
    """Refuse a song name longer than the API accepts: no request could ever name it.

    One such name (a broken export, a hostile file) would otherwise go into the model's
    vocabulary and into every answer that lists the song.
    """
    lengths = frame["track_name"].str.strip_chars().str.len_chars()
    too_long = (lengths > MAX_SONG_LENGTH).arg_true()
    if too_long.len() == 0:
        return
    row = int(too_long[0])
    raise DatasetError(
        f"dataset line {_line_of_row(path, row)} has a track_name of {lengths[row]} "
        f"characters (the most is {MAX_SONG_LENGTH})"
    )


def _line_of_row(path: Path, row: int) -> int:
    """The line where data row `row` (0-based, after the header) starts in the file.

    A quoted field may span lines, so the line is counted by reading the CSV, not guessed.
    """
    csv.field_size_limit(sys.maxsize)  # a refused name may be longer than csv's default
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle)
        next(reader, None)
        start = reader.line_num + 1
        for index, _ in enumerate(reader):
            if index == row:
                return start
            start = reader.line_num + 1
    return start


def _quoted(text: str) -> str:
    """`text` from the file as a message may show it: printable, at most _SHOWN characters."""
    printable = "".join(char if char.isprintable() else repr(char)[1:-1] for char in text)
    return printable if len(printable) <= _SHOWN else printable[: _SHOWN - 3] + "..."


def _explain_parse_error(path: Path, error: Exception) -> str:
    """Turn polars' terse parse error into the line an operator can fix."""
    bad_byte = _first_invalid_utf8(path)
    if bad_byte is not None:
        return f"dataset is not valid UTF-8 (first invalid byte at offset {bad_byte})"
    ragged = _first_ragged_row(path)
    if ragged is not None:
        line, fields, expected = ragged
        return f"dataset line {line} has {fields} fields, the header has {expected}"
    first_line = str(error).strip().splitlines()[0] if str(error).strip() else "unknown error"
    return f"dataset is not a valid CSV: {_quoted(first_line)}"


def _first_invalid_utf8(path: Path) -> int | None:
    decoder = codecs.getincrementaldecoder("utf-8")()
    offset = 0
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            try:
                decoder.decode(chunk)
            except UnicodeDecodeError as error:
                return offset + error.start
            offset += len(chunk)
    try:
        decoder.decode(b"", final=True)
    except UnicodeDecodeError as error:
        return offset + error.start
    return None


def _first_ragged_row(path: Path) -> tuple[int, int, int] | None:
    csv.field_size_limit(sys.maxsize)  # a field may be as long as the dataset cap allows
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle)
        header = next(reader, [])
        for row in reader:
            if len(row) > len(header):
                return reader.line_num, len(row), len(header)
    return None
