"""Get a playlist CSV from wherever it lives into a private snapshot.

Fetching always produces a private snapshot (a temp file plus its sha256): the model is
then trained from exactly the bytes that were hashed, even if the source changes while
we read it. Every way a dataset can be wrong ends in one `DatasetError` whose message is
a single line naming the problem, because that line is what an operator sees in a Job log.

The source is not trusted: `local_copy` copies only regular files, `download` keeps a
download on the dataset's host and within one deadline, and both count the bytes they
write against the cap in `snapshot.write_snapshot`. This module chooses between them and
is what the rest of the package imports.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

from recsys.settings import Settings
from recsys.training.download import Download, download_to
from recsys.training.local_copy import copy_file, local_path
from recsys.training.snapshot import DatasetError, Snapshot, TransientDatasetError, Validators
from recsys.training.urls import is_placeholder, redact_url

__all__ = [
    "DatasetError",
    "Snapshot",
    "TransientDatasetError",
    "Validators",
    "fetched",
    "fetched_dataset",
    "local_path",
]


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
            yield copy_file(path, target, max_bytes)
            return
        download = Download.starting_now(
            url,
            max_bytes=max_bytes,
            timeout=timeout,
            deadline=deadline,
            redirect_hosts=redirect_hosts,
        )
        yield download_to(download, target, validators or Validators())


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
