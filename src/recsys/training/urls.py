"""Dataset URLs as they may be shown, compared and followed.

A dataset URL may hold credentials (`https://user:token@host/x.csv`) or signed query
values (`?X-Amz-Signature=...`). The full URL lives only in the setting; everything that
is stored, shown or logged (the model header, refresh-state.json, Job logs, error
messages) uses `redact_url`, and what must recognise the URL later stores `url_digest`.
`redirect_allowed` keeps a download on the dataset's own host.
"""

from __future__ import annotations

import hashlib
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

HIDDEN = "***"


def redact_url(url: str) -> str:
    """`url` with its user info and every query value replaced by `***`."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return HIDDEN
    netloc = parts.netloc
    if "@" in netloc:
        netloc = f"{HIDDEN}@{netloc.rsplit('@', 1)[1]}"
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        query = urlencode([(key, HIDDEN) for key, _ in pairs], safe="*")
    return urlunsplit((parts.scheme, netloc, parts.path, query, ""))


def url_digest(url: str) -> str:
    """A stable identity for `url`, secrets included, that does not reveal them.

    refresh-state.json must tell whether saved validators belong to the configured URL
    (another token may name another file) without storing the token itself.
    """
    return hashlib.sha256(url.encode("utf-8", "surrogatepass")).hexdigest()


_DEFAULT_PORTS = {"http": 80, "https": 443}


def _origin(url: str) -> tuple[str, str, int] | None:
    """(scheme, host, port) of an http(s) URL, with the scheme's default port filled in."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS or not parts.hostname:
        return None
    return scheme, parts.hostname.lower(), port or _DEFAULT_PORTS[scheme]


def redirect_allowed(dataset_url: str, target: str, allowed_hosts: str) -> bool:
    """Whether a download of `dataset_url` may follow a redirect to `target`.

    A redirect could send the trainer anywhere its network reaches (an internal service,
    a metadata endpoint), so only the dataset's own origin (scheme, host, port) is
    followed, plus the hosts an operator listed in RECSYS_DATASET_REDIRECT_HOSTS
    (comma-separated `host` for any port, or `host:port`). Leaving https for http is never
    followed: the rest of the download would be readable and writable on the way.
    """
    source, destination = _origin(dataset_url), _origin(target)
    if source is None or destination is None:
        return False
    if destination == source:
        return True
    if source[0] == "https" and destination[0] == "http":
        return False
    listed = {entry.strip().lower() for entry in allowed_hosts.split(",") if entry.strip()}
    _, host, port = destination
    named = f"[{host}]" if ":" in host else host  # an IPv6 address is written in brackets
    return bool({host, named, f"{named}:{port}"} & listed)


# The organisation the shipped manifests name until an operator sets their own URL.
PLACEHOLDER_ORG = "your-org"


def is_placeholder(url: str) -> bool:
    """True for a dataset URL still naming the manifests' placeholder organisation."""
    return f"/{PLACEHOLDER_ORG}/" in url or f"{PLACEHOLDER_ORG}." in url
