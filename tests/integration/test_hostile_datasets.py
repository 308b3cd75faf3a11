"""`recsys train` and `refresh` against hostile datasets and servers, as real processes.

Each test feeds one thing an attacker or a broken upstream could send (a URL carrying
secrets, a decompression bomb, a device file, a redirect to a foreign host, a trickle, an
endless song name) and checks that the command ends with one line, within its limits,
and leaves the served model and the machine as they were.
"""

from __future__ import annotations

import functools
import gzip
import os
import resource
import signal
import subprocess
import sys
import time
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from recsys.training.urls import redact_url
from tests.support.http_server import DatasetServer
from tests.support.paths import SAMPLE_DS1, SAMPLE_DS2
from tests.support.processes import (
    Completed,
    assert_failed_cleanly,
    recsys_env,
    run_recsys,
    snapshot_dir,
)

PASSWORD = "s3cr3tpw"
TOKEN = "t0k3nv4lue"
GIB = 1024**3


@pytest.fixture
def trained(data_dir: Path) -> Path:
    done = run_recsys("train", "--dataset-url", str(SAMPLE_DS1), data_dir=data_dir)
    assert done.returncode == 0, done.stderr
    return data_dir


def assert_one_line(done: Completed, message: str) -> None:
    assert done.returncode == 1, done.stderr
    assert done.stderr.count("\n") == 1, done.stderr
    assert done.stderr.startswith("recsys: error: "), done.stderr
    assert message in done.stderr


# --- 7: a dataset URL's secrets are never stored, shown or logged ---------------------------


def secret_url(server: DatasetServer) -> str:
    return server.url.replace("http://", f"http://reader:{PASSWORD}@") + f"?token={TOKEN}&v=1"


def leaks(done: Completed, data_dir: Path) -> list[str]:
    """Where a secret of the URL shows up: the outputs, then every file of the data dir."""
    texts = {"stdout": done.stdout, "stderr": done.stderr}
    for path in sorted(data_dir.rglob("*")):
        if path.is_file():
            texts[str(path.relative_to(data_dir))] = path.read_bytes().decode("latin-1")
    return [
        f"{where}: {secret}"
        for where, text in texts.items()
        for secret in (PASSWORD, TOKEN)
        if secret in text
    ]


def test_refresh_keeps_url_secrets_out_of_outputs_and_files(
    data_dir: Path, dataset_server: DatasetServer
) -> None:
    url = secret_url(dataset_server)
    dataset_server.publish(SAMPLE_DS1.read_bytes())
    first = run_recsys("refresh", "--dataset-url", url, data_dir=data_dir)
    assert first.returncode == 0, first.stderr
    assert leaks(first, data_dir) == []
    again = run_recsys("refresh", "--dataset-url", url, data_dir=data_dir)
    assert "304 Not Modified" in again.stderr, "validators of the same URL are reused"
    assert redact_url(url) in again.stderr
    assert leaks(again, data_dir) == []
    other = run_recsys("refresh", "--dataset-url", url.replace(TOKEN, "other"), data_dir=data_dir)
    assert other.returncode == 0, other.stderr
    assert dataset_server.bodies_sent == 2, "another URL's validators are not reused"

    dataset_server.behaviour.status = 503
    failed = run_recsys(
        "refresh", "--dataset-url", url, data_dir=data_dir, RECSYS_REFRESH_DEADLINE="1"
    )
    assert "HTTP 503" in failed.stderr
    assert "retrying in" in failed.stderr
    assert leaks(failed, data_dir) == []


@pytest.mark.parametrize(
    ("setup", "env", "message"),
    [
        ({"status": 404}, {}, "HTTP 404 Not Found"),
        ({"hang_seconds": 3.0}, {"RECSYS_HTTP_TIMEOUT": "0.5"}, "timed out after 0.5 s"),
        ({}, {"RECSYS_MAX_DATASET_BYTES": "1000"}, "larger than the cap of 1000 bytes"),
        ({"redirects": {"/playlists.csv": "http://127.0.0.1:9/x?sig=abc"}}, {}, "redirect"),
    ],
)
def test_failed_downloads_keep_url_secrets_out_of_errors(
    trained: Path, dataset_server: DatasetServer, setup: dict, env: dict, message: str
) -> None:
    dataset_server.publish(SAMPLE_DS2.read_bytes())
    for key, value in setup.items():
        setattr(dataset_server.behaviour, key, value)
    before = snapshot_dir(trained)
    done = run_recsys("train", "--dataset-url", secret_url(dataset_server), data_dir=trained, **env)
    assert_failed_cleanly(done, message, before, trained)
    assert redact_url(secret_url(dataset_server)) in done.stderr
    assert leaks(done, trained) == []


@pytest.mark.parametrize(
    "url",
    [
        f"http://reader:{PASSWORD}@127.0.0.1:9/x.csv?token={TOKEN}",  # nothing listens on 9
        f"ftp://reader:{PASSWORD}@127.0.0.1/x.csv?token={TOKEN}",
        f"http://reader:{PASSWORD}@127.0.0.1:99999/x.csv?token={TOKEN}",
    ],
)
def test_unusable_urls_keep_their_secrets_out_of_errors(trained: Path, url: str) -> None:
    before = snapshot_dir(trained)
    done = run_recsys("train", "--dataset-url", url, data_dir=trained)
    assert_failed_cleanly(done, "", before, trained)
    assert leaks(done, trained) == []


def test_no_secret_anywhere_after_train_and_refresh(
    data_dir: Path, dataset_server: DatasetServer
) -> None:
    url = secret_url(dataset_server)
    dataset_server.publish(SAMPLE_DS1.read_bytes())
    trained = run_recsys("train", "--dataset-url", url, data_dir=data_dir)
    assert trained.returncode == 0, trained.stderr
    dataset_server.publish(SAMPLE_DS2.read_bytes())
    refreshed = run_recsys("refresh", "--dataset-url", url, data_dir=data_dir)
    assert refreshed.returncode == 0, refreshed.stderr
    assert leaks(trained, data_dir) + leaks(refreshed, data_dir) == []


# --- 11: the size cap counts decoded bytes, and memory stays bounded ------------------------


@functools.cache
def gzip_bomb() -> bytes:
    """Gzip twice over 2 GiB of zeros: some KB on the wire, more than MEMORY_LIMIT decoded."""
    inner = zlib.compressobj(1, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    zeros = bytes(16 * 1024 * 1024)
    layer = b"".join(inner.compress(zeros) for _ in range(128)) + inner.flush()
    return gzip.compress(layer, compresslevel=9)


# Room to train the sample dataset (the control test below), not to hold the bomb decoded.
MEMORY_LIMIT = {resource.RLIMIT_AS: 3 * GIB // 2}


def test_a_gzip_bomb_stops_at_the_cap_in_bounded_memory(
    trained: Path, dataset_server: DatasetServer
) -> None:
    dataset_server.publish(gzip_bomb())
    dataset_server.behaviour.encoding = "gzip, gzip"
    before = snapshot_dir(trained)
    done = run_recsys(
        "train",
        "--dataset-url",
        dataset_server.url,
        data_dir=trained,
        limits=MEMORY_LIMIT,
        RECSYS_MAX_DATASET_BYTES="10000000",
    )
    assert_one_line(done, "larger than the cap of 10000000 bytes")
    assert snapshot_dir(trained) == before


def test_a_gzip_dataset_trains_under_the_same_memory_limit(
    data_dir: Path, dataset_server: DatasetServer
) -> None:
    dataset_server.publish(gzip.compress(SAMPLE_DS1.read_bytes()))
    dataset_server.behaviour.encoding = "gzip"
    # A fixed support: the limit is there for decoding; what mining costs is the training
    # bench's subject, and "auto" counts pairs at supports down to 0.001.
    done = run_recsys(
        "train", "--dataset-url", dataset_server.url, "--min-support", "0.03",
        data_dir=data_dir, limits=MEMORY_LIMIT,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("published ")


def test_an_unknown_content_encoding_is_refused(
    trained: Path, dataset_server: DatasetServer
) -> None:
    dataset_server.publish(gzip.compress(SAMPLE_DS2.read_bytes()))
    dataset_server.behaviour.encoding = "br"
    before = snapshot_dir(trained)
    done = run_recsys("train", "--dataset-url", dataset_server.url, data_dir=trained)
    assert_failed_cleanly(done, "unsupported Content-Encoding 'br'", before, trained)


# --- 12: local paths: regular files only, the cap on bytes copied, cleanup on SIGTERM -------


def test_a_device_is_refused(trained: Path) -> None:
    before = snapshot_dir(trained)
    done = run_recsys(
        "train",
        "--dataset-url",
        "/dev/zero",
        data_dir=trained,
        limits={resource.RLIMIT_FSIZE: 64 * 1024 * 1024},  # bounds the failure before the fix
        RECSYS_MAX_DATASET_BYTES="50000000",
    )
    assert_failed_cleanly(done, "not a regular file", before, trained)


def test_a_named_pipe_is_refused_without_waiting_for_a_writer(
    trained: Path, tmp_path: Path
) -> None:
    fifo = tmp_path / "playlists.csv"
    os.mkfifo(fifo)
    before = snapshot_dir(trained)
    done = run_recsys("train", "--dataset-url", str(fifo), data_dir=trained, timeout=30)
    assert_failed_cleanly(done, "not a regular file", before, trained)


def test_the_cap_counts_bytes_copied_not_the_size_a_file_reports(trained: Path) -> None:
    before = snapshot_dir(trained)  # /proc files say size 0 but hold more
    done = run_recsys(
        "train",
        "--dataset-url",
        "/proc/self/maps",
        data_dir=trained,
        RECSYS_MAX_DATASET_BYTES="1000",
    )
    assert_failed_cleanly(done, "larger than the cap of 1000 bytes", before, trained)


def wait_for(condition: Callable[[], bool], what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


@pytest.mark.parametrize("command", ["train", "refresh"])
def test_sigterm_during_a_download_removes_the_temp_folder(
    data_dir: Path, tmp_path: Path, dataset_server: DatasetServer, command: str
) -> None:
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    dataset_server.publish(SAMPLE_DS1.read_bytes())
    dataset_server.behaviour.drip_seconds = 0.01
    process = subprocess.Popen(
        [sys.executable, "-m", "recsys", command, "--dataset-url", dataset_server.url],
        env=recsys_env(data_dir, TMPDIR=str(scratch)),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for(lambda: dataset_server.bodies_sent == 1, "the download to start")
        wait_for(lambda: any(scratch.glob("recsys-dataset-*/*")), "the temp file")
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=30)
    finally:
        process.kill()
    assert process.returncode == 143
    assert stderr == "recsys: terminated\n"
    assert list(scratch.iterdir()) == []


# --- 13: redirects stay on the dataset's host unless allowed; replies are never echoed ------


@pytest.fixture
def foreign_server() -> Iterator[DatasetServer]:
    server = DatasetServer()
    try:
        yield server
    finally:
        server.close()


def test_a_redirect_to_another_host_is_refused_and_not_followed(
    trained: Path, dataset_server: DatasetServer, foreign_server: DatasetServer
) -> None:
    foreign_server.publish(b"FOREIGN-FIRST-LINE-x9z,secret\n1,2\n")
    dataset_server.behaviour.redirects = {"/playlists.csv": foreign_server.url}
    before = snapshot_dir(trained)
    done = run_recsys("train", "--dataset-url", dataset_server.url, data_dir=trained)
    assert_failed_cleanly(done, "redirect to another host", before, trained)
    assert "RECSYS_DATASET_REDIRECT_HOSTS" in done.stderr
    assert "FOREIGN" not in done.stderr
    assert foreign_server.requests == 0


def test_redirects_within_the_host_and_to_allowed_hosts_are_followed(
    data_dir: Path, dataset_server: DatasetServer, foreign_server: DatasetServer
) -> None:
    dataset_server.publish(SAMPLE_DS1.read_bytes())
    dataset_server.behaviour.redirects = {"/old.csv": "/playlists.csv"}
    done = run_recsys(
        "train", "--dataset-url", f"{dataset_server.origin}/old.csv", data_dir=data_dir
    )
    assert done.returncode == 0, done.stderr

    foreign_server.publish(SAMPLE_DS2.read_bytes())
    dataset_server.behaviour.redirects = {"/playlists.csv": foreign_server.url}
    allowed = foreign_server.origin.removeprefix("http://")
    done = run_recsys(
        "train",
        "--dataset-url",
        dataset_server.url,
        data_dir=data_dir,
        RECSYS_DATASET_REDIRECT_HOSTS=f"cdn.example.org, {allowed}",
    )
    assert done.returncode == 0, done.stderr
    assert foreign_server.bodies_sent == 1


def test_a_redirect_loop_ends(trained: Path, dataset_server: DatasetServer) -> None:
    dataset_server.behaviour.redirects = {"/a.csv": "/b.csv", "/b.csv": "/a.csv"}
    before = snapshot_dir(trained)
    url = f"{dataset_server.origin}/a.csv"
    done = run_recsys("train", "--dataset-url", url, data_dir=trained)
    assert_failed_cleanly(done, "more than 5 redirects", before, trained)
    assert dataset_server.requests == 6


# --- 14: one deadline for the whole download --------------------------------------------------


def test_a_trickling_download_ends_at_the_deadline(
    trained: Path, dataset_server: DatasetServer
) -> None:
    dataset_server.publish(SAMPLE_DS2.read_bytes())
    dataset_server.behaviour.drip_seconds = 0.2  # each byte well within the read timeout
    before = snapshot_dir(trained)
    started = time.monotonic()
    done = run_recsys(
        "train",
        "--dataset-url",
        dataset_server.url,
        data_dir=trained,
        timeout=60,
        RECSYS_HTTP_TIMEOUT="3",
        RECSYS_DOWNLOAD_DEADLINE="2",
    )
    elapsed = time.monotonic() - started
    assert_failed_cleanly(done, "deadline of 2 s (RECSYS_DOWNLOAD_DEADLINE)", before, trained)
    assert elapsed < 2 + 20, "startup and one read timeout at most, with generous slack"


# --- 15: bounded song names; the binary check covers the whole file --------------------------


def test_an_overlong_song_name_is_refused_with_its_line(trained: Path, tmp_path: Path) -> None:
    dataset = tmp_path / "long.csv"
    rows = SAMPLE_DS2.read_bytes().splitlines(keepends=True)
    line = len(rows) + 1
    dataset.write_bytes(b"".join(rows) + b"7," + b"x" * 2_000_000 + b",a,b,c,1\n")
    before = snapshot_dir(trained)
    done = run_recsys("train", "--dataset-url", str(dataset), data_dir=trained)
    assert_failed_cleanly(
        done, f"line {line} has a track_name of 2000000 characters", before, trained
    )
    assert len(done.stderr) < 500


def test_a_nul_byte_deep_in_the_file_is_refused(trained: Path, tmp_path: Path) -> None:
    content = bytearray(SAMPLE_DS2.read_bytes())
    offset = len(content) - 10
    assert offset > 64 * 1024
    content[offset] = 0
    dataset = tmp_path / "nul.csv"
    dataset.write_bytes(bytes(content))
    before = snapshot_dir(trained)
    done = run_recsys("train", "--dataset-url", str(dataset), data_dir=trained)
    assert_failed_cleanly(done, f"NUL byte at offset {offset}", before, trained)
