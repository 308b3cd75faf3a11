"""A dataset over http(s): one GET, its redirects, its reply, and every failure as one line.

The server is not trusted. Redirects are followed only within the dataset's host (or the
listed hosts), the credentials of the URL go only to its own origin, the whole download
ends at one deadline, and the body is counted as received and as decoded (see
`decoding`). Messages show the URL through `redact_url`, and never echo what a server sent.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

import httpx

from recsys.training.decoding import decoded
from recsys.training.snapshot import (
    DatasetError,
    Snapshot,
    TransientDatasetError,
    Validators,
    too_large,
    write_snapshot,
)
from recsys.training.urls import redact_url, redirect_allowed

MAX_REDIRECTS = 5


@dataclass(frozen=True)
class Download:
    """One download's limits, and the URL as messages show it."""

    url: str
    shown: str
    max_bytes: int
    timeout: float
    deadline_seconds: float
    ends_at: float  # time.monotonic() when the deadline passes
    redirect_hosts: str

    @classmethod
    def starting_now(
        cls, url: str, *, max_bytes: int, timeout: float, deadline: float, redirect_hosts: str
    ) -> Download:
        return cls(
            url=url,
            shown=redact_url(url),
            max_bytes=max_bytes,
            timeout=timeout,
            deadline_seconds=deadline,
            ends_at=time.monotonic() + deadline,
            redirect_hosts=redirect_hosts,
        )

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


def _request_headers(validators: Validators) -> dict[str, str]:
    headers = {"Accept": "text/csv, */*", "Accept-Encoding": "gzip, deflate"}
    if validators.etag:
        headers["If-None-Match"] = validators.etag
    if validators.last_modified:
        headers["If-Modified-Since"] = validators.last_modified
    return headers


def download_to(download: Download, target: Path, validators: Validators) -> Snapshot:
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
    client: httpx.Client, download: Download, headers: dict[str, str]
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
    response: httpx.Response, download: Download, target: Path, validators: Validators
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
        raise DatasetError(too_large(int(declared), download.max_bytes, download.shown))
    body = decoded(_raw(response, download), response.headers.get("Content-Encoding", ""))
    written = write_snapshot(body, target, download.max_bytes, download.shown)
    return replace(
        written,
        etag=response.headers.get("ETag"),
        last_modified=response.headers.get("Last-Modified"),
    )


def _raw(response: httpx.Response, download: Download) -> Iterator[bytes]:
    """The body as received, within the cap (even before decoding) and the deadline."""
    received = 0
    for chunk in response.iter_raw():
        received += len(chunk)
        if received > download.max_bytes:
            raise DatasetError(too_large(received, download.max_bytes, download.shown))
        download.check_deadline()
        yield chunk
