"""`recsys refresh`, the CronJob: retrain only when the dataset really changed.

It asks before it downloads: a conditional GET with the validators (ETag, Last-Modified)
of the last dataset it trained on, or for a local file its size and mtime. Only a changed
answer is downloaded and hashed, and even then a dataset whose bytes equal the served
model's gives "unchanged" (train's own idempotency). Training and publishing go through
`trainer.train_snapshot`, the code path of `recsys train`.

The URL may carry credentials, so the state file and every message hold it redacted;
the state recognises the URL by a digest of the whole of it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from recsys.model.files import UnsafeFileError, write_atomically
from recsys.model.refresh_state import STATE_NAME, read_refresh_state
from recsys.settings import Settings
from recsys.training.engines import pair_counter
from recsys.training.fetch import (
    DatasetError,
    Snapshot,
    TransientDatasetError,
    Validators,
    fetched_dataset,
    local_path,
)
from recsys.training.trainer import Reporter, TrainResult, current_fingerprint, train_snapshot
from recsys.training.urls import redact_url, url_digest

MAX_RETRY_DELAY = 30.0


def read_state(data_dir: Path) -> dict[str, Any]:
    """What the last successful refresh saw; a missing file, or one whose content is
    damaged, means nothing (the next refresh downloads the dataset and writes it anew).

    Something that is not a small regular file there is refused with one line instead:
    it cannot be read without blocking or filling memory, nor be replaced by the new state.
    """
    try:
        return read_refresh_state(data_dir)
    except UnsafeFileError as error:
        raise DatasetError(
            f"{data_dir / STATE_NAME} {error.reason}; remove it (refresh then downloads the "
            "dataset once)"
        ) from None


def save_state(data_dir: Path, state: dict[str, Any]) -> None:
    """Write the state, stamped with `checked_at`: this refresh ended well."""
    stamped = {**state, "checked_at": datetime.now(UTC).isoformat(timespec="seconds")}
    write_atomically(data_dir / STATE_NAME, json.dumps(stamped, indent=2).encode() + b"\n")


@contextmanager
def fetched_with_retries(
    settings: Settings, url: str, validators: Validators, report: Reporter
) -> Iterator[Snapshot]:
    """`dataset.fetched`, retried with exponential backoff on transient failures.

    Connection errors, timeouts and 5xx answers are retried until RECSYS_REFRESH_DEADLINE;
    anything else (a 404, a bad CSV) fails at once, since retrying cannot fix it.
    """
    deadline = time.monotonic() + settings.refresh_deadline
    delay = 0.5
    attempts = 0
    while True:
        attempts += 1
        stack = ExitStack()
        try:
            snapshot = stack.enter_context(fetched_dataset(settings, url, validators))
        except TransientDatasetError as error:
            stack.close()
            if time.monotonic() + delay > deadline:
                raise DatasetError(
                    f"{error} (gave up after {attempts} attempts in "
                    f"{settings.refresh_deadline:g} s)"
                ) from None
            report(f"retrying in {delay:.1f} s: {error}")
            time.sleep(delay)
            delay = min(delay * 2, MAX_RETRY_DELAY)
            continue
        with stack:
            yield snapshot
        return


def refresh(settings: Settings, *, force: bool, report: Reporter) -> TrainResult:
    """Check the dataset; train and publish only if it changed.

    Every run that ends well stamps the state's `checked_at`, unchanged ones included: the
    API exports it as the last good refresh (recsys_refresh_last_success_timestamp_seconds).
    """
    result = _checked(settings, force=force, report=report)
    if result.status == "unchanged":
        state = read_state(settings.data_dir)
        if state:
            save_state(settings.data_dir, state)
    return result


def _checked(settings: Settings, *, force: bool, report: Reporter) -> TrainResult:
    url = settings.dataset_url
    if not url:
        raise DatasetError("no dataset: set RECSYS_DATASET_URL or pass --dataset-url")
    counter = pair_counter(settings)  # an engine that cannot do this says so before a download
    started = time.perf_counter()
    data_dir = settings.data_dir
    live = current_fingerprint(data_dir)
    state = read_state(data_dir)
    # Validators only count for the URL they came from, and only while a model exists.
    same_url = state.get("url_sha256") == url_digest(url)
    known = state if (same_url and live is not None and not force) else {}
    path = local_path(url)
    if path is not None:
        try:
            stat = path.stat()
        except FileNotFoundError:
            raise DatasetError(f"dataset not found: {path}") from None
        except OSError as error:
            raise DatasetError(f"dataset cannot be read ({error.strerror}): {path}") from None
        if live and known.get("size") == stat.st_size and known.get("mtime_ns") == stat.st_mtime_ns:
            report(f"unchanged: {path} has the size and mtime of the last dataset trained on")
            return TrainResult(status="unchanged", model_id=live[0], seconds=_since(started))
        validators = Validators()
        source_state: dict[str, Any] = {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns}
    else:
        validators = Validators(known.get("etag"), known.get("last_modified"))
        source_state = {}
    with fetched_with_retries(settings, url, validators, report) as snapshot:
        if snapshot.not_modified:
            # Validators are sent only while a model is live; without any, a 304 is no answer.
            if live is None or not _conditional(validators):
                raise DatasetError(
                    f"{redact_url(url)} answered 304 Not Modified to a GET that sent no "
                    "validator (If-None-Match, If-Modified-Since): it cannot say whether the "
                    "dataset changed"
                )
            report(f"unchanged: the server answered 304 Not Modified for {redact_url(url)}")
            return TrainResult(status="unchanged", model_id=live[0], seconds=_since(started))
        report(f"fetched  {snapshot.size} bytes, sha256 {snapshot.sha256}")
        result = train_snapshot(
            settings, url, snapshot, force=force, report=report, counter=counter
        )
    save_state(
        data_dir,
        {
            "url": redact_url(url),
            "url_sha256": url_digest(url),
            "etag": snapshot.etag,
            "last_modified": snapshot.last_modified,
            "sha256": snapshot.sha256,
            "model_id": result.model_id,
            **source_state,
        },
    )
    result.downloaded_bytes = snapshot.size
    result.seconds = _since(started)
    return result


def _conditional(validators: Validators) -> bool:
    """Whether the GET asked "changed since?" (only then does a 304 mean "unchanged")."""
    return bool(validators.etag or validators.last_modified)


def _since(started: float) -> float:
    return time.perf_counter() - started
