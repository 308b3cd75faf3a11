"""Issue #23, cases 8-15: what someone with write access to the data volume can put there.

Every file is real (FIFOs, symlinks to /dev/zero, directories) and every command a real
`recsys` process with a bounded timeout, so a command that blocked fails the test instead
of hanging it; the ones that could fill memory run under a memory limit. Each command
ends in one `recsys: error:` line (or succeeds), never a traceback, and never loses or
replaces the good model.
"""

from __future__ import annotations

import os
import resource
import threading
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from recsys.model.build import BuiltModel, DatasetInfo, build_model
from recsys.model.catalog import MODELS_DIR
from recsys.model.format import decode_model, encode_model
from recsys.model.pins import PIN_NAME
from recsys.model.pointer import read_pointer
from recsys.model.repository import LOCK_NAME, TEMP_MARK, publish
from recsys.model.rules import RuleSet
from recsys.training.refresh import STATE_NAME
from tests.support.models import PARAMS
from tests.support.paths import SAMPLE_DS1, SAMPLE_DS2
from tests.support.processes import Completed, assert_failed_cleanly, run_recsys, snapshot_dir
from tests.support.server import ServerProcess
from tests.support.special_files import dev_zero, directory, fifo

HANG = 60  # seconds: far beyond any of these commands, short of a hung test run
# /dev/zero read whole would take all memory: bounded, the old failure is a MemoryError.
# Room to train the sample at a fixed support.
MEMORY_LIMIT = {resource.RLIMIT_AS: 3 * (1 << 30) // 2}


def remove(path: Path) -> None:
    """What the operator does on reading the error."""
    if path.is_dir() and not path.is_symlink():
        path.rmdir()
    else:
        path.unlink()


def recsys(*args: str, data_dir: Path) -> Completed:
    return run_recsys(*args, data_dir=data_dir, timeout=HANG, limits=MEMORY_LIMIT)


def train(data_dir: Path, dataset: Path, *flags: str, command: str = "train") -> Completed:
    """`train` (or `refresh`) at a fixed support: what "auto" costs is not the subject."""
    return recsys(
        command, "--dataset-url", str(dataset), "--min-support", "0.03", *flags, data_dir=data_dir
    )


@pytest.fixture
def trained(data_dir: Path) -> Path:
    done = train(data_dir, SAMPLE_DS1)
    assert done.returncode == 0, done.stderr
    return data_dir


# --- 8: the pointer names a FIFO: `serve` still answers ----------------------------------


def test_serve_answers_when_the_pointer_names_a_fifo(
    trained: Path, start_server: Callable[..., ServerProcess]
) -> None:
    model = read_pointer(trained).model_path(trained)
    model.unlink()
    os.mkfifo(model)
    server = start_server(trained)  # fails unless /healthz answers within 30 s
    assert httpx.get(f"{server.url}/healthz", timeout=5).status_code == 200
    assert httpx.get(f"{server.url}/readyz", timeout=5).status_code == 503
    assert "recsys API on http://127.0.0.1" in server.log()


# --- 9, 10: pin.json is a FIFO or /dev/zero ----------------------------------------------


@pytest.mark.parametrize("make", [fifo, dev_zero], ids=["fifo", "dev-zero"])
def test_a_pin_that_is_not_a_file_is_one_line_and_unpin_removes_it(
    trained: Path, make: Callable[[Path], None]
) -> None:
    make(trained / PIN_NAME)
    before = snapshot_dir(trained)
    done = train(trained, SAMPLE_DS2)
    assert_failed_cleanly(
        done, "pin.json is damaged; `recsys models unpin` removes it", before, trained
    )
    assert "(is not a regular file)" in done.stderr

    listing = recsys("models", "list", data_dir=trained)
    assert listing.returncode == 0, listing.stderr
    assert "pin: " in listing.stdout
    assert "is not a regular file" in listing.stdout

    unpinned = recsys("models", "unpin", data_dir=trained)
    assert unpinned.returncode == 0, unpinned.stderr
    assert unpinned.stdout.startswith("unpinned")
    assert not os.path.lexists(trained / PIN_NAME)
    assert train(trained, SAMPLE_DS2).returncode == 0


def test_a_pin_that_is_a_directory_is_one_line_everywhere(trained: Path) -> None:
    (trained / PIN_NAME).mkdir()
    before = snapshot_dir(trained)
    for command in (
        ("train", "--dataset-url", str(SAMPLE_DS2), "--min-support", "0.03", "--force"),
        ("models", "unpin"),
    ):
        done = recsys(*command, data_dir=trained)
        assert_failed_cleanly(done, "pin.json is a directory", before, trained)
    assert "pin: " in recsys("models", "list", data_dir=trained).stdout


# --- 11: refresh-state.json is a FIFO, /dev/zero or a directory --------------------------


@pytest.mark.parametrize("make", [fifo, dev_zero, directory], ids=["fifo", "dev-zero", "dir"])
def test_a_refresh_state_that_is_not_a_file_is_one_line(
    trained: Path, make: Callable[[Path], None]
) -> None:
    make(trained / STATE_NAME)
    before = snapshot_dir(trained)
    done = train(trained, SAMPLE_DS2, command="refresh")
    assert_failed_cleanly(done, f"{STATE_NAME} is not a regular file; remove it", before, trained)
    remove(trained / STATE_NAME)
    again = train(trained, SAMPLE_DS2, command="refresh")
    assert again.returncode == 0, again.stderr
    assert (trained / STATE_NAME).is_file()


# --- 12: .publish.lock is a FIFO, a directory or a symlink to /dev/zero ------------------


@pytest.mark.parametrize("make", [fifo, directory, dev_zero], ids=["fifo", "dir", "dev-zero"])
def test_a_lock_that_is_not_a_file_is_one_line(trained: Path, make: Callable[[Path], None]) -> None:
    first = read_pointer(trained).model_id
    lock = trained / LOCK_NAME
    lock.unlink()
    make(lock)
    before = snapshot_dir(trained)
    for command in (
        ("train", "--dataset-url", str(SAMPLE_DS2), "--min-support", "0.03"),
        ("models", "rollback", first),
        ("models", "unpin"),
    ):
        done = recsys(*command, data_dir=trained)
        assert_failed_cleanly(
            done, f"the publish lock is not a regular file: {lock}", before, trained
        )
        assert "remove it" in done.stderr
    assert read_pointer(trained).model_id == first


# --- 13: a directory named like a publisher's temp file ----------------------------------


def test_a_directory_named_like_a_temp_file_does_not_stop_publishing(trained: Path) -> None:
    stray = [
        trained / MODELS_DIR / f".20260101T000000000000Z-deadbeef.rsm{TEMP_MARK}x1y2z3",
        trained / f".current.json{TEMP_MARK}x1y2z3",
    ]
    for path in stray:
        path.mkdir()
        (path / "inside").write_text("someone's files")
    done = train(trained, SAMPLE_DS2, "--json")
    assert done.returncode == 0, done.stderr
    assert done.json()["status"] == "published"
    assert read_pointer(trained).model_id == done.json()["model_id"]
    for path in stray:
        assert (path / "inside").is_file(), "a directory that is not ours was removed"


# --- 14: a trainer whose clock is a day behind -------------------------------------------


def built(rules: RuleSet, dataset: str) -> BuiltModel:
    return build_model(rules, PARAMS, DatasetInfo("test", dataset * 64, 1))


def built_by_a_late_clock(rules: RuleSet, dataset: str) -> BuiltModel:
    """The model a trainer whose clock is a day behind builds: its id and date a day early.

    The header is what `build_model` writes, with the two fields such a clock sets.
    """
    model = decode_model(built(rules, dataset).content)
    stamp = datetime.fromisoformat(model.header["model_date"]) - timedelta(days=1)
    model_id = f"{stamp:%Y%m%dT%H%M%S%fZ}-{model.model_id.rsplit('-', 1)[1]}"
    header = {
        key: value for key, value in model.header.items() if key not in ("arrays", "byteorder")
    }
    header |= {"model_id": model_id, "model_date": stamp.isoformat(timespec="microseconds")}
    return BuiltModel(model_id, header, encode_model(header, model.arrays))


def publish_as(data_dir: Path, model: BuiltModel, keep: int = 100) -> str:
    assert publish(data_dir, model, keep=keep).status == "published"
    return model.model_id


@pytest.fixture
def skewed(data_dir: Path, ds1_rules: RuleSet) -> dict[str, str]:
    """A and B, then S from the late trainer: S is served, and dated before A."""
    ids = {name: publish_as(data_dir, built(ds1_rules, name)) for name in "AB"}
    ids["S"] = publish_as(data_dir, built_by_a_late_clock(ds1_rules, "S"))
    assert ids["S"] < ids["A"], "the late clock did not date S before A"
    return ids


def test_rollback_goes_to_the_model_served_before_despite_its_clock(
    data_dir: Path, skewed: dict[str, str], ds1_rules: RuleSet
) -> None:
    skewed["C"] = publish_as(data_dir, built(ds1_rules, "C"))
    listing = recsys("models", "list", data_dir=data_dir).stdout
    places = [listing.index(skewed[name]) for name in "ABSC"]
    assert places == sorted(places), f"not listed in publish order:\n{listing}"
    done = recsys("models", "rollback", data_dir=data_dir)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"current model is now {skewed['S']} (was {skewed['C']})")
    assert read_pointer(data_dir).model_id == skewed["S"]


def test_retention_keeps_the_model_served_before_despite_its_clock(
    data_dir: Path, skewed: dict[str, str], ds1_rules: RuleSet
) -> None:
    models = data_dir / MODELS_DIR
    c = publish_as(data_dir, built(ds1_rules, "C"), keep=1)
    assert {path.stem for path in models.glob("*.rsm")} == {c, skewed["S"]}

    back = recsys("models", "rollback", data_dir=data_dir)  # C -> S, which C's dataset pins
    assert back.returncode == 0, back.stderr
    e = publish_as(data_dir, built_by_a_late_clock(ds1_rules, "E"), keep=1)  # new dataset
    kept = {path.stem for path in models.glob("*.rsm")}
    assert kept == {e, skewed["S"]}, "not the new model and the one served before it"
    again = recsys("models", "rollback", data_dir=data_dir)
    assert again.returncode == 0, again.stderr
    assert read_pointer(data_dir).model_id == skewed["S"]


# --- 15: a dataset server that answers 304 to everything ---------------------------------


class AlwaysNotModified:
    """A real HTTP server on 127.0.0.1 that answers every GET with 304 and records it."""

    def __init__(self) -> None:
        self.conditional: list[bool] = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:
                """Quiet."""

            def do_GET(self) -> None:
                asked = ("If-None-Match", "If-Modified-Since")
                owner.conditional.append(any(name in self.headers for name in asked))
                self.send_response(304)
                self.send_header("ETag", '"always-the-same"')
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        host, port = self.server.server_address[:2]
        self.url = f"http://{host}:{port}/playlists.csv"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def not_modified() -> Iterator[AlwaysNotModified]:
    server = AlwaysNotModified()
    try:
        yield server
    finally:
        server.close()


@pytest.mark.parametrize("with_model", [True, False], ids=["model-live", "empty"])
def test_a_304_to_an_unconditional_get_is_an_error_every_time(
    data_dir: Path, not_modified: AlwaysNotModified, with_model: bool
) -> None:
    if with_model:  # a model trained by `train`: no refresh state yet
        assert train(data_dir, SAMPLE_DS1).returncode == 0
    before = snapshot_dir(data_dir)
    for _ in range(2):
        done = recsys("refresh", "--dataset-url", not_modified.url, data_dir=data_dir)
        assert_failed_cleanly(
            done, "answered 304 Not Modified to a GET that sent no validator", before, data_dir
        )
    assert not_modified.conditional == [False, False]
    assert not (data_dir / STATE_NAME).exists()
