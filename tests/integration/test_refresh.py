"""`recsys refresh` against a real local HTTP server that can change, fail, hang or cut."""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path

import pytest

from recsys.model.pointer import read_pointer
from tests.support.http_server import DatasetServer
from tests.support.paths import SAMPLE_DS1, SAMPLE_DS2
from tests.support.processes import assert_failed_cleanly, run_recsys, snapshot_dir

FAST_FAIL = {"RECSYS_REFRESH_DEADLINE": "2", "RECSYS_HTTP_TIMEOUT": "0.5"}


def refresh(data_dir: Path, url: str, **env: str):  # type: ignore[no-untyped-def]
    return run_recsys("refresh", "--dataset-url", url, "--json", data_dir=data_dir, **env)


def test_refresh_downloads_only_what_changed(data_dir: Path, dataset_server: DatasetServer) -> None:
    dataset_server.publish(SAMPLE_DS1.read_bytes())
    first = refresh(data_dir, dataset_server.url)
    assert first.returncode == 0, first.stderr
    summary = first.json()
    assert summary["status"] == "published"
    assert summary["downloaded_bytes"] == SAMPLE_DS1.stat().st_size
    model = read_pointer(data_dir).model_id
    assert dataset_server.bodies_sent == 1

    again = refresh(data_dir, dataset_server.url)
    assert again.json()["status"] == "unchanged"
    assert again.json()["downloaded_bytes"] == 0
    assert dataset_server.bodies_sent == 1, "a 304 must not send the body"
    assert "304 Not Modified" in again.stderr
    assert read_pointer(data_dir).model_id == model

    dataset_server.publish(SAMPLE_DS2.read_bytes())
    changed = refresh(data_dir, dataset_server.url)
    assert changed.json()["status"] == "published"
    assert dataset_server.bodies_sent == 2
    assert read_pointer(data_dir).model_id != model
    state = json.loads((data_dir / "refresh-state.json").read_text())
    assert state["url"] == dataset_server.url
    assert state["etag"]
    assert state["last_modified"]


def test_a_server_without_validators_still_works(
    data_dir: Path, dataset_server: DatasetServer
) -> None:
    dataset_server.behaviour.validators = False
    dataset_server.publish(SAMPLE_DS1.read_bytes())
    assert refresh(data_dir, dataset_server.url).json()["status"] == "published"
    model = read_pointer(data_dir).model_id
    again = refresh(data_dir, dataset_server.url)
    assert again.json()["status"] == "unchanged"  # full download, same sha256
    assert again.json()["downloaded_bytes"] == SAMPLE_DS1.stat().st_size
    assert dataset_server.bodies_sent == 2
    assert read_pointer(data_dir).model_id == model
    dataset_server.publish(SAMPLE_DS2.read_bytes())
    assert refresh(data_dir, dataset_server.url).json()["status"] == "published"


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        ({"status": 500}, "HTTP 500 Internal Server Error"),
        ({"status": 503}, "HTTP 503 Service Unavailable"),
        ({"status": 404}, "HTTP 404 Not Found"),
        ({"hang_seconds": 3.0}, "timed out after 0.5 s"),
        ({"cut_after": 5000}, "dataset download failed"),
    ],
)
def test_failures_leave_the_model_in_place(
    data_dir: Path, dataset_server: DatasetServer, setup: dict, message: str
) -> None:
    dataset_server.publish(SAMPLE_DS1.read_bytes())
    assert refresh(data_dir, dataset_server.url).returncode == 0
    dataset_server.publish(SAMPLE_DS2.read_bytes())  # new content, but the server misbehaves
    for key, value in setup.items():
        setattr(dataset_server.behaviour, key, value)
    before = snapshot_dir(data_dir)
    requests_before = dataset_server.requests
    done = refresh(data_dir, dataset_server.url, **FAST_FAIL)
    assert_failed_cleanly(done, message, before, data_dir)
    retried = dataset_server.requests - requests_before
    if setup.get("status") == 404:
        assert retried == 1, "a 404 is final: no retry"
    else:
        assert retried >= 2, "transient failures are retried"
        assert "gave up after" in done.stderr
        assert "retrying in" in done.stderr


def test_local_files_compare_size_and_mtime_first(data_dir: Path, tmp_path: Path) -> None:
    dataset = tmp_path / "playlists.csv"
    dataset.write_bytes(SAMPLE_DS1.read_bytes())
    assert refresh(data_dir, str(dataset)).json()["status"] == "published"
    # Another spelling of the same file: no state for it yet, so it is hashed; same bytes.
    hashed = refresh(data_dir, dataset.as_uri())
    assert hashed.json()["status"] == "unchanged"
    assert hashed.json()["downloaded_bytes"] == dataset.stat().st_size
    quick = refresh(data_dir, dataset.as_uri())
    assert quick.json()["status"] == "unchanged"
    assert "size and mtime" in quick.stderr

    os.utime(dataset, ns=(1, 1))  # touched, same bytes: hashed, still unchanged
    touched = refresh(data_dir, dataset.as_uri())
    assert touched.json()["status"] == "unchanged"
    assert touched.json()["downloaded_bytes"] == dataset.stat().st_size

    dataset.write_bytes(SAMPLE_DS2.read_bytes())
    assert refresh(data_dir, dataset.as_uri()).json()["status"] == "published"


def test_a_download_past_its_deadline_is_retried_until_the_refresh_deadline(
    data_dir: Path, dataset_server: DatasetServer
) -> None:
    dataset_server.publish(SAMPLE_DS1.read_bytes())
    dataset_server.behaviour.drip_seconds = 0.2  # every byte well within the read timeout
    before = snapshot_dir(data_dir)
    started = time.monotonic()
    done = run_recsys(
        "refresh",
        "--dataset-url",
        dataset_server.url,
        data_dir=data_dir,
        timeout=60,
        RECSYS_HTTP_TIMEOUT="3",
        RECSYS_DOWNLOAD_DEADLINE="1",
        RECSYS_REFRESH_DEADLINE="3",
    )
    elapsed = time.monotonic() - started
    assert_failed_cleanly(done, "deadline of 1 s (RECSYS_DOWNLOAD_DEADLINE)", before, data_dir)
    assert "retrying in" in done.stderr
    assert "gave up after" in done.stderr
    assert dataset_server.requests >= 2
    assert elapsed < 3 + 1 + 20, "the refresh deadline, one last attempt, generous slack"


def test_the_state_file_names_the_url_redacted_and_knows_it_by_digest(
    data_dir: Path, dataset_server: DatasetServer
) -> None:
    url = f"{dataset_server.url}?token=t0k3nv4lue"
    dataset_server.publish(SAMPLE_DS1.read_bytes())
    assert refresh(data_dir, url).returncode == 0
    state = json.loads((data_dir / "refresh-state.json").read_text())
    assert state["url"] == f"{dataset_server.url}?token=***"
    assert state["url_sha256"] == hashlib.sha256(url.encode()).hexdigest()
    assert refresh(data_dir, url).json()["status"] == "unchanged"
    assert dataset_server.bodies_sent == 1, "the validators still apply to the same URL"


def test_an_unchanged_refresh_still_stamps_the_last_good_check(
    data_dir: Path, dataset_server: DatasetServer
) -> None:
    """The API exports `checked_at` as the last good refresh: a dataset that does not
    change must not look like a refresh that stopped running."""
    dataset_server.publish(SAMPLE_DS1.read_bytes())
    assert refresh(data_dir, dataset_server.url).returncode == 0
    path = data_dir / "refresh-state.json"
    state = json.loads(path.read_text())
    path.write_text(json.dumps({**state, "checked_at": "2020-01-01T00:00:00+00:00"}))
    again = refresh(data_dir, dataset_server.url)
    assert again.json()["status"] == "unchanged"
    stamped = json.loads(path.read_text())
    assert stamped["checked_at"] > "2026"
    assert {key: value for key, value in stamped.items() if key != "checked_at"} == {
        key: value for key, value in state.items() if key != "checked_at"
    }
