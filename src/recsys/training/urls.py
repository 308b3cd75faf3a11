"""Dataset URLs as they may be shown: without the secrets a URL can carry.

A dataset URL may hold credentials (`https://user:token@host/x.csv`) or signed query
values (`?X-Amz-Signature=...`). The full URL lives only in the setting; everything that
is stored, shown or logged (the model header, refresh-state.json, Job logs, error
messages) uses `redact_url`.
"""

from __future__ import annotations

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
