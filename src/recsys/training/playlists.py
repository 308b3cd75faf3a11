"""Turn a fetched playlist CSV into clean (playlist, song) pairs, or say what is wrong.

Every way a CSV can be wrong ends in one `DatasetError` with a single line naming the
problem (the line an operator sees in a Job log). What a message quotes from the file is
cut short and made printable, so a hostile file cannot flood or repaint that log.
"""

from __future__ import annotations

import codecs
import csv
import sys
from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import cached_property
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
    """Clean playlists as numbers: one row per song per playlist, names normalised.

    `pairs` has columns `pid` and `song` (Int32), sorted by both: playlist numbers index
    `pids` (the pid as written), song numbers index `keys` (normalised names, in sorted
    order, so numbers sort as keys do) and `spellings` (each key's most common spelling in
    the dataset, which is what users are shown). Numbers instead of strings keep a row at
    8 bytes, whatever the names: memory follows the distinct songs, not the rows.
    A subset of the playlists (a held-out split) shares the tables and filters `pairs`.
    """

    pairs: pl.DataFrame
    keys: pl.Series
    spellings: pl.Series
    pids: pl.Series

    @property
    def playlist_count(self) -> int:
        return self.pairs["pid"].n_unique()

    @cached_property
    def spelling(self) -> dict[str, str]:
        """Key -> the dataset's spelling, as the index is asked in."""
        return dict(zip(self.keys.to_list(), self.spellings.to_list(), strict=True))

    def subset(self, rows: pl.Expr) -> Playlists:
        """The playlists of the rows `rows` selects, sharing the name tables."""
        return replace(self, pairs=self.pairs.filter(rows))

    def named(self) -> pl.DataFrame:
        """The pairs as (pid as written, song key): for reading them, not for counting."""
        return self.pairs.select(
            pid=self.pids.gather(self.pairs["pid"]), song=self.keys.gather(self.pairs["song"])
        )


def load_playlists(path: Path) -> Playlists:
    """Read and validate a playlist CSV; raise DatasetError with a one-line reason.

    The header is read first; then the file is scanned, never held: a pass for the
    distinct song names, one for the distinct pids, one for the rows as numbers. Other
    columns are still parsed (a ragged row is still an error) but never kept.
    """
    _reject_binary(path)
    header = _read_csv(path, n_rows=0).columns
    names = {name.strip(): name for name in header}
    missing = [column for column in REQUIRED_COLUMNS if column not in names]
    if missing:
        shown = _quoted(", ".join(names)) or "none"
        raise DatasetError(f"dataset has no column '{missing[0]}' (columns: {shown})")
    scan = pl.scan_csv(path, infer_schema=False, encoding="utf8")
    columns = scan.select(pid=pl.col(names["pid"]), track_name=pl.col(names["track_name"]))
    try:
        return _numbered(columns, lambda row: _line_of_row(path, row))
    except pl.exceptions.NoDataError:
        raise DatasetError("dataset is empty (no header, no rows)") from None
    except pl.exceptions.ComputeError as error:
        raise DatasetError(_explain_parse_error(path, error)) from None


def _read_csv(path: Path, **options: Any) -> pl.DataFrame:
    try:
        return pl.read_csv(path, infer_schema=False, encoding="utf8", **options)
    except pl.exceptions.NoDataError:
        raise DatasetError("dataset is empty (no header, no rows)") from None
    except pl.exceptions.ComputeError as error:
        raise DatasetError(_explain_parse_error(path, error)) from None


def clean_pairs(frame: pl.DataFrame) -> Playlists:
    """Playlists from rows held in memory (columns `pid`, `track_name`), as a file's are."""
    return _numbered(frame.lazy().select("pid", "track_name"), lambda row: row + 2)


def _numbered(columns: pl.LazyFrame, line_of_row: Callable[[int], int]) -> Playlists:
    """Trim names, drop empty ones, key songs by their normalised name, number everything,
    dedupe pairs. `columns` is scanned once per pass, streaming."""
    trimmed = columns.select(
        pl.col("pid").str.strip_chars(), pl.col("track_name").str.strip_chars()
    )
    complete = (pl.col("pid") != "") & (pl.col("track_name") != "")  # null is not complete
    songs = _song_table(trimmed, complete, line_of_row)
    if songs.height == 0:
        if _collect(columns.select(pl.len())).item() == 0:
            raise DatasetError("dataset has a header but no rows")
        raise DatasetError("dataset has no rows with both a pid and a track_name")
    keys, spellings, numbers = _song_numbers(songs)
    pids = _collect(trimmed.filter(complete).select(pl.col("pid").unique().sort()))["pid"]
    pid_numbers = pids.to_frame().with_columns(number=pl.int_range(pl.len(), dtype=pl.Int32))
    rows = _collect(
        trimmed.filter(complete)
        .join(pid_numbers.lazy(), on="pid")
        .join(numbers.lazy(), on="track_name")
        .select(pl.col("number").cast(pl.UInt64) * (1 << 32) + pl.col("song").cast(pl.UInt64))
    ).to_series()
    return Playlists(pairs=_unique_pairs(rows), keys=keys, spellings=spellings, pids=pids)


def _collect(query: pl.LazyFrame) -> pl.DataFrame:
    return query.collect(engine="streaming")


def _song_table(
    trimmed: pl.LazyFrame, complete: pl.Expr, line_of_row: Callable[[int], int]
) -> pl.DataFrame:
    """Each distinct name (`track_name`) and how many complete rows hold it (`len`).

    Names too long for the API are refused wherever they are, even on a row without a pid.
    """
    names = _collect(
        trimmed.filter(pl.col("track_name") != "")
        .group_by("track_name")
        .agg(len=complete.fill_null(False).sum())
    )
    if (names["track_name"].str.len_chars() > MAX_SONG_LENGTH).any():
        _reject_long_name(trimmed, line_of_row)
    return names.filter(pl.col("len") > 0)


def _reject_long_name(trimmed: pl.LazyFrame, line_of_row: Callable[[int], int]) -> None:
    """Refuse a song name longer than the API accepts: no request could ever name it.

    One such name (a broken export, a hostile file) would otherwise go into the model's
    vocabulary and into every answer that lists the song.
    """
    length = pl.col("track_name").str.len_chars()
    row, chars = _collect(
        trimmed.with_row_index("row").filter(length > MAX_SONG_LENGTH).select("row", length).head(1)
    ).row(0)
    raise DatasetError(
        f"dataset line {line_of_row(row)} has a track_name of {chars} "
        f"characters (the most is {MAX_SONG_LENGTH})"
    )


def _song_numbers(names: pl.DataFrame) -> tuple[pl.Series, pl.Series, pl.DataFrame]:
    """Keys in sorted order, each key's spelling, and every name's song number.

    The most common spelling of each key wins; ties go to the alphabetically first.
    """
    keys = [normalize_song_name(name) for name in names["track_name"].to_list()]
    names = names.with_columns(pl.Series("song", keys, dtype=pl.String))
    chosen = names.sort(["song", "len", "track_name"], descending=[False, True, False]).unique(
        "song", keep="first", maintain_order=True
    )
    numbers = names.join(
        chosen.select("song", number=pl.int_range(pl.len(), dtype=pl.Int32)), on="song"
    ).select("track_name", song="number")
    return chosen["song"], chosen["track_name"], numbers


def _unique_pairs(rows: pl.Series) -> pl.DataFrame:
    """(pid, song) numbers from `rows` (pid << 32 | song), deduplicated and sorted.

    Sorting one integer column and dropping repeats costs a copy of the rows; a hash set
    of the pairs would cost several.
    """
    rows = rows.sort()
    rows = rows.filter((rows != rows.shift(1)).fill_null(True))
    return pl.DataFrame(
        {
            "pid": (rows // (1 << 32)).cast(pl.Int32),
            "song": (rows % (1 << 32)).cast(pl.Int32),
        }
    )


def _reject_binary(path: Path) -> None:
    """Refuse a file with a NUL byte anywhere: no text CSV has one, and polars keeps it."""
    offset = 0
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            if b"\x00" in chunk:
                at = offset + chunk.index(b"\x00")
                raise DatasetError(f"dataset is not a text CSV (NUL byte at offset {at})")
            offset += len(chunk)


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
