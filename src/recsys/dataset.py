"""Get a playlist CSV from wherever it lives, and turn it into clean transactions.

Fetching always produces a private snapshot (a temp file plus its sha256): the model is
then trained from exactly the bytes that were hashed, even if the source changes while
we read it. Every way a dataset can be wrong ends in one `DatasetError` whose message is
a single line naming the problem, because that line is what an operator sees in a Job log.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlparse

import httpx
import polars as pl

from recsys.errors import RecsysError
from recsys.index import normalize_song_name

REQUIRED_COLUMNS = ("pid", "track_name")
_CHUNK = 1024 * 1024


class DatasetError(RecsysError):
    """A dataset that cannot be fetched or is not a valid playlist CSV."""


class TransientDatasetError(DatasetError):
    """A download failure that may pass: connection trouble, a timeout, a 5xx."""


@dataclass(frozen=True)
class Snapshot:
    """A fetched dataset: a private copy on disk and what identifies its content."""

    path: Path | None  # None when the source said "not modified"
    sha256: str | None
    size: int
    etag: str | None = None
    last_modified: str | None = None

    @property
    def not_modified(self) -> bool:
        return self.path is None


@dataclass(frozen=True)
class Validators:
    """What a previous fetch learned, so the next one can ask "changed since?"."""

    etag: str | None = None
    last_modified: str | None = None


def local_path(url: str) -> Path | None:
    """The filesystem path a dataset URL names, or None for http(s) URLs."""
    parsed = urlparse(url)
    if parsed.scheme in ("http", "https"):
        return None
    if parsed.scheme == "file":
        return Path(unquote(parsed.path))
    if parsed.scheme and len(parsed.scheme) > 1:  # one letter would be a Windows drive
        raise DatasetError(f"unsupported dataset URL scheme '{parsed.scheme}': {url}")
    return Path(url)


@contextmanager
def fetched(
    url: str,
    *,
    max_bytes: int,
    timeout: float,
    validators: Validators | None = None,
) -> Iterator[Snapshot]:
    """Fetch `url` into a temp file that lives as long as the context."""
    with tempfile.TemporaryDirectory(prefix="recsys-dataset-") as scratch:
        target = Path(scratch) / "dataset.csv"
        path = local_path(url)
        if path is None:
            yield _download(url, target, max_bytes, timeout, validators or Validators())
        else:
            yield _copy(path, target, max_bytes)


def _copy(source: Path, target: Path, max_bytes: int) -> Snapshot:
    try:
        size = source.stat().st_size
        if size > max_bytes:
            raise DatasetError(_too_large(size, max_bytes, str(source)))
        digest = hashlib.sha256()
        with source.open("rb") as reader, target.open("wb") as writer:
            while chunk := reader.read(_CHUNK):
                digest.update(chunk)
                writer.write(chunk)
    except FileNotFoundError:
        raise DatasetError(f"dataset not found: {source}") from None
    except IsADirectoryError:
        raise DatasetError(f"dataset path is a directory, not a CSV file: {source}") from None
    except PermissionError:
        raise DatasetError(f"dataset is not readable (permission denied): {source}") from None
    return Snapshot(path=target, sha256=digest.hexdigest(), size=target.stat().st_size)


def _too_large(size: int, max_bytes: int, where: str) -> str:
    return (
        f"dataset is larger than the cap of {max_bytes} bytes (RECSYS_MAX_DATASET_BYTES): "
        f"{size}+ bytes at {where}"
    )


def _download(
    url: str, target: Path, max_bytes: int, timeout: float, validators: Validators
) -> Snapshot:
    headers = {"Accept": "text/csv, */*"}
    if validators.etag:
        headers["If-None-Match"] = validators.etag
    if validators.last_modified:
        headers["If-Modified-Since"] = validators.last_modified
    digest = hashlib.sha256()
    size = 0
    try:
        with (
            httpx.Client(timeout=httpx.Timeout(timeout), follow_redirects=True) as client,
            client.stream("GET", url, headers=headers) as response,
        ):
            if response.status_code == 304:
                return Snapshot(
                    path=None,
                    sha256=None,
                    size=0,
                    etag=response.headers.get("ETag", validators.etag),
                    last_modified=response.headers.get("Last-Modified", validators.last_modified),
                )
            if response.status_code != 200:
                reason = response.reason_phrase or "error"
                error = TransientDatasetError if response.status_code >= 500 else DatasetError
                raise error(
                    f"dataset download failed: HTTP {response.status_code} {reason} from {url}"
                )
            declared = response.headers.get("Content-Length")
            if declared and declared.isdigit() and int(declared) > max_bytes:
                raise DatasetError(_too_large(int(declared), max_bytes, url))
            with target.open("wb") as writer:
                for chunk in response.iter_bytes(_CHUNK):
                    size += len(chunk)
                    if size > max_bytes:
                        raise DatasetError(_too_large(size, max_bytes, url))
                    digest.update(chunk)
                    writer.write(chunk)
            etag = response.headers.get("ETag")
            last_modified = response.headers.get("Last-Modified")
    except httpx.TimeoutException:
        raise TransientDatasetError(
            f"dataset download timed out after {timeout:g} s: {url}"
        ) from None
    except httpx.TransportError as error:
        detail = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise TransientDatasetError(f"dataset download failed: {detail} ({url})") from None
    except httpx.HTTPError as error:
        detail = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise DatasetError(f"dataset download failed: {detail} ({url})") from None
    return Snapshot(
        path=target, sha256=digest.hexdigest(), size=size, etag=etag, last_modified=last_modified
    )


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
    """Read and validate a playlist CSV; raise DatasetError with a one-line reason."""
    _reject_binary(path)
    try:
        frame = pl.read_csv(path, infer_schema=False, encoding="utf8")
    except pl.exceptions.NoDataError:
        raise DatasetError("dataset is empty (no header, no rows)") from None
    except pl.exceptions.ComputeError as error:
        raise DatasetError(_explain_parse_error(path, error)) from None
    frame = frame.rename({name: name.strip() for name in frame.columns})
    missing = [column for column in REQUIRED_COLUMNS if column not in frame.columns]
    if missing:
        shown = ", ".join(frame.columns) or "none"
        raise DatasetError(f"dataset has no column '{missing[0]}' (columns: {shown})")
    if frame.height == 0:
        raise DatasetError("dataset has a header but no rows")
    return clean_pairs(frame.select("pid", "track_name"))


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
    with path.open("rb") as handle:
        head = handle.read(64 * 1024)
    if b"\x00" in head:
        offset = head.index(b"\x00")
        raise DatasetError(f"dataset is not a text CSV (NUL byte at offset {offset})")


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
    return f"dataset is not a valid CSV: {first_line}"


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
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle)
        header = next(reader, [])
        for row in reader:
            if len(row) > len(header):
                return reader.line_num, len(row), len(header)
    return None
