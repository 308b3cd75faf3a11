"""Get a playlist CSV from wherever it lives into a private snapshot.

Fetching always produces a private snapshot (a temp file plus its sha256): the model is
then trained from exactly the bytes that were hashed, even if the source changes while
we read it. Every way a dataset can be wrong ends in one `DatasetError` whose message is
a single line naming the problem, because that line is what an operator sees in a Job log.

The source is not trusted. Local sources must be regular files, and the size cap counts
the bytes actually copied. Downloads count decoded bytes as they are decoded, a bounded
piece at a time, follow redirects only within the dataset's host (or listed hosts), and
end at one overall deadline. Messages show URLs through `redact_url`, and never echo what
a server sent.
"""

from __future__ import annotations

import hashlib
import os
import stat
import tempfile
import time
import zlib
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlparse

import httpx

from recsys.errors import RecsysError
from recsys.settings import Settings
from recsys.training.urls import is_placeholder, redact_url, redirect_allowed

_CHUNK = 1024 * 1024
MAX_REDIRECTS = 5
# zlib window bits per Content-Encoding: gzip framing, or the zlib framing of "deflate".
_CODINGS = {"gzip": 16 + zlib.MAX_WBITS, "x-gzip": 16 + zlib.MAX_WBITS, "deflate": zlib.MAX_WBITS}
_MAX_CODINGS = 3  # a legitimate reply has one; each layer costs a decoder


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


@dataclass(frozen=True)
class _Download:
    """One download's limits, and the URL as messages show it."""

    url: str
    shown: str
    max_bytes: int
    timeout: float
    deadline_seconds: float
    ends_at: float  # time.monotonic() when the deadline passes
    redirect_hosts: str

    def check_deadline(self) -> None:
        if time.monotonic() > self.ends_at:
            raise self.deadline_error()

    def deadline_error(self) -> TransientDatasetError:
        return TransientDatasetError(
            f"dataset download took longer than the deadline of {self.deadline_seconds:g} s "
            f"(RECSYS_DOWNLOAD_DEADLINE): {self.shown}"
        )

    def request_timeout(self) -> float:
        """The read/connect timeout, never reaching far past the overall deadline."""
        return max(0.01, min(self.timeout, self.ends_at - time.monotonic()))


def local_path(url: str) -> Path | None:
    """The filesystem path a dataset URL names, or None for http(s) URLs."""
    parsed = urlparse(url)
    if parsed.scheme in ("http", "https"):
        return None
    if parsed.scheme == "file":
        return Path(unquote(parsed.path))
    if parsed.scheme and len(parsed.scheme) > 1:  # one letter would be a Windows drive
        raise DatasetError(f"unsupported dataset URL scheme '{parsed.scheme}': {redact_url(url)}")
    return Path(url)


@contextmanager
def fetched(
    url: str,
    *,
    max_bytes: int,
    timeout: float,
    validators: Validators | None = None,
    deadline: float,
    redirect_hosts: str = "",
) -> Iterator[Snapshot]:
    """Fetch `url` into a temp file that lives as long as the context.

    `deadline` bounds the whole download; `redirect_hosts` lists the hosts besides the
    URL's own that a redirect may lead to. Commands call `fetched_dataset`, which takes
    every limit from the settings.
    """
    with tempfile.TemporaryDirectory(prefix="recsys-dataset-") as scratch:
        target = Path(scratch) / "dataset.csv"
        path = local_path(url)
        if path is not None:
            yield _copy(path, target, max_bytes)
            return
        download = _Download(
            url=url,
            shown=redact_url(url),
            max_bytes=max_bytes,
            timeout=timeout,
            deadline_seconds=deadline,
            ends_at=time.monotonic() + deadline,
            redirect_hosts=redirect_hosts,
        )
        yield _download(download, target, validators or Validators())


def fetched_dataset(
    settings: Settings, url: str, validators: Validators | None = None
) -> AbstractContextManager[Snapshot]:
    """`fetched` with the limits the settings give (cap, timeouts, redirects).

    A URL still naming the manifests' placeholder is refused before anything is fetched:
    the operator has to set RECSYS_DATASET_URL, and a 404 from a stranger's repository
    would not say so.
    """
    if is_placeholder(url):
        raise DatasetError(
            f"RECSYS_DATASET_URL is still the placeholder {redact_url(url)}: "
            "set it to your dataset's URL (the prod overlay's dataset.env)"
        )
    return fetched(
        url,
        max_bytes=settings.max_dataset_bytes,
        timeout=settings.http_timeout,
        validators=validators,
        deadline=settings.download_deadline,
        redirect_hosts=settings.dataset_redirect_hosts,
    )


def _copy(source: Path, target: Path, max_bytes: int) -> Snapshot:
    """Copy a regular file, counting the bytes read: a file's stated size can lie."""
    try:
        # O_NONBLOCK: opening a named pipe must not wait for a writer before we refuse it.
        descriptor = os.open(source, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        raise DatasetError(f"dataset not found: {source}") from None
    except PermissionError:
        raise DatasetError(f"dataset is not readable (permission denied): {source}") from None
    except OSError as error:
        raise DatasetError(f"dataset cannot be opened ({error.strerror}): {source}") from None
    try:
        mode = os.fstat(descriptor).st_mode
        if stat.S_ISDIR(mode):
            raise DatasetError(f"dataset path is a directory, not a CSV file: {source}")
        if not stat.S_ISREG(mode):
            raise DatasetError(
                f"dataset is not a regular file (a device, pipe or socket): {source}"
            )
        return _copy_open(descriptor, source, target, max_bytes)
    finally:
        os.close(descriptor)


def _copy_open(descriptor: int, source: Path, target: Path, max_bytes: int) -> Snapshot:
    size = os.fstat(descriptor).st_size
    if size > max_bytes:
        raise DatasetError(_too_large(size, max_bytes, str(source)))
    digest = hashlib.sha256()
    copied = 0
    try:
        with target.open("wb") as writer:
            while chunk := os.read(descriptor, _CHUNK):
                copied += len(chunk)
                if copied > max_bytes:
                    raise DatasetError(_too_large(copied, max_bytes, str(source)))
                digest.update(chunk)
                writer.write(chunk)
    except OSError as error:
        raise DatasetError(f"dataset cannot be read ({error.strerror}): {source}") from None
    return Snapshot(path=target, sha256=digest.hexdigest(), size=copied)


def _too_large(size: int, max_bytes: int, where: str) -> str:
    return (
        f"dataset is larger than the cap of {max_bytes} bytes (RECSYS_MAX_DATASET_BYTES): "
        f"{size}+ bytes at {where}"
    )


def _request_headers(validators: Validators) -> dict[str, str]:
    headers = {"Accept": "text/csv, */*", "Accept-Encoding": "gzip, deflate"}
    if validators.etag:
        headers["If-None-Match"] = validators.etag
    if validators.last_modified:
        headers["If-Modified-Since"] = validators.last_modified
    return headers


def _download(download: _Download, target: Path, validators: Validators) -> Snapshot:
    """Stream the dataset into `target`; every failure becomes one DatasetError line."""
    shown = download.shown
    try:
        with (
            httpx.Client(timeout=httpx.Timeout(download.timeout)) as client,
            _final_response(client, download, _request_headers(validators)) as response,
        ):
            return _receive(response, download, target, validators)
    except httpx.TimeoutException:
        if time.monotonic() >= download.ends_at:
            raise download.deadline_error() from None
        raise TransientDatasetError(
            f"dataset download timed out after {download.timeout:g} s: {shown}"
        ) from None
    except httpx.RemoteProtocolError:  # its text may quote what the server sent
        raise TransientDatasetError(
            f"dataset download failed: the server closed the connection early or broke "
            f"HTTP ({shown})"
        ) from None
    except httpx.TransportError as error:
        detail = str(error).splitlines()[0][:200] if str(error) else type(error).__name__
        raise TransientDatasetError(f"dataset download failed: {detail} ({shown})") from None
    except httpx.InvalidURL:
        raise DatasetError(f"invalid dataset URL: {shown}") from None
    except httpx.HTTPError as error:
        raise DatasetError(f"dataset download failed: {type(error).__name__} ({shown})") from None


@contextmanager
def _final_response(
    client: httpx.Client, download: _Download, headers: dict[str, str]
) -> Iterator[httpx.Response]:
    """The reply after following the redirects the policy allows, at most MAX_REDIRECTS."""
    origin = httpx.URL(download.url)
    credentials = (origin.username, origin.password)
    current = origin.copy_with(username=None, password=None)
    for _ in range(MAX_REDIRECTS + 1):
        download.check_deadline()
        same_origin = redirect_allowed(str(origin), str(current), "")
        with client.stream(
            "GET",
            current,
            headers=headers,
            auth=httpx.BasicAuth(*credentials) if same_origin and any(credentials) else None,
            timeout=download.request_timeout(),
        ) as response:
            if not response.has_redirect_location:
                yield response
                return
            target = current.join(response.headers["Location"])
        if not redirect_allowed(download.url, str(target), download.redirect_hosts):
            # Only where it points, which is what an operator would allow: the rest of a
            # Location header is the server's text.
            where = f"{target.scheme}://{target.netloc.decode('ascii', 'replace')}"[:200]
            raise DatasetError(
                f"dataset download refused a redirect to another host ({where}) from "
                f"{download.shown}; RECSYS_DATASET_REDIRECT_HOSTS lists hosts to allow"
            )
        current = target
    raise DatasetError(
        f"dataset download failed: more than {MAX_REDIRECTS} redirects from {download.shown}"
    )


def _receive(
    response: httpx.Response, download: _Download, target: Path, validators: Validators
) -> Snapshot:
    """A 304 as "not modified", a 200 streamed to `target`, anything else as an error."""
    if response.status_code == 304:
        return Snapshot(
            path=None,
            sha256=None,
            size=0,
            etag=response.headers.get("ETag", validators.etag),
            last_modified=response.headers.get("Last-Modified", validators.last_modified),
        )
    if response.status_code != 200:
        # The standard phrase, not the server's: a reply's own text is never echoed.
        reason = httpx.codes.get_reason_phrase(response.status_code) or "error"
        error = TransientDatasetError if response.status_code >= 500 else DatasetError
        raise error(
            f"dataset download failed: HTTP {response.status_code} {reason} from {download.shown}"
        )
    declared = response.headers.get("Content-Length")
    if declared and declared.isdigit() and int(declared) > download.max_bytes:
        raise DatasetError(_too_large(int(declared), download.max_bytes, download.shown))
    digest = hashlib.sha256()
    size = 0
    with target.open("wb") as writer:
        for chunk in _decoded(response, download):
            size += len(chunk)
            if size > download.max_bytes:
                raise DatasetError(_too_large(size, download.max_bytes, download.shown))
            digest.update(chunk)
            writer.write(chunk)
    return Snapshot(
        path=target,
        sha256=digest.hexdigest(),
        size=size,
        etag=response.headers.get("ETag"),
        last_modified=response.headers.get("Last-Modified"),
    )


def _decoded(response: httpx.Response, download: _Download) -> Iterator[bytes]:
    """The body, decoded here rather than by httpx, at most _CHUNK bytes per piece.

    httpx decodes each received piece in one call, so a few KB of nested gzip can become
    gigabytes in memory before any size check sees them. Decoding with zlib's max_length
    keeps every piece small, and the caller's count stops the stream at the cap.
    """
    header = response.headers.get("Content-Encoding", "")
    names = [name.strip().lower() for name in header.split(",")]
    names = [name for name in names if name and name != "identity"]
    if len(names) > _MAX_CODINGS:
        raise DatasetError(f"dataset reply has too many content codings ({len(names)})")
    for name in names:
        if name not in _CODINGS:
            shown = "".join(char for char in name[:40] if char.isprintable())
            raise DatasetError(f"dataset reply has an unsupported Content-Encoding '{shown}'")
    chunks = _raw(response, download)
    for name in reversed(names):  # the last coding listed was applied last
        chunks = _inflate(chunks, name)
    return chunks


def _raw(response: httpx.Response, download: _Download) -> Iterator[bytes]:
    """The body as received, within the cap (even before decoding) and the deadline."""
    received = 0
    for chunk in response.iter_raw():
        received += len(chunk)
        if received > download.max_bytes:
            raise DatasetError(_too_large(received, download.max_bytes, download.shown))
        download.check_deadline()
        yield chunk


def _inflate(chunks: Iterator[bytes], coding: str) -> Iterator[bytes]:
    """Undo one gzip or deflate coding, yielding at most _CHUNK bytes at a time."""
    wbits = _CODINGS[coding]
    decoder = zlib.decompressobj(wbits)
    try:
        for chunk in chunks:
            pending = chunk
            while True:
                piece = decoder.decompress(pending, _CHUNK)
                if piece:
                    yield piece
                if decoder.eof and decoder.unused_data:  # gzip allows members back to back
                    pending, decoder = decoder.unused_data, zlib.decompressobj(wbits)
                    continue
                pending = decoder.unconsumed_tail
                if not pending and len(piece) < _CHUNK:
                    break
    except zlib.error:
        raise DatasetError(f"dataset reply is not valid {coding} data") from None
    if not decoder.eof:
        raise DatasetError(f"dataset reply ends early: its {coding} data is incomplete")
