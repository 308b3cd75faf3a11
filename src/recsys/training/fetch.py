"""Get a playlist CSV from wherever it lives into a private snapshot.

Fetching always produces a private snapshot (a temp file plus its sha256): the model is
then trained from exactly the bytes that were hashed, even if the source changes while
we read it. Every way a dataset can be wrong ends in one `DatasetError` whose message is
a single line naming the problem, because that line is what an operator sees in a Job log.
"""

from __future__ import annotations

import hashlib
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlparse

import httpx

from recsys.errors import RecsysError

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
