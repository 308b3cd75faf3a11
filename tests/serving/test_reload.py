"""Hot reload: new models are picked up under load, bad ones never displace a good one."""

from __future__ import annotations

import json
import os
import pickle
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import httpx
import pytest

from recsys.model.pointer import read_pointer
from recsys.model.repository import (
    MODELS_DIR,
    POINTER_NAME,
    Pointer,
    write_atomically,
)
from recsys.model.rules import RuleSet
from tests.support.models import encode_new_model, publish_rules
from tests.support.server import ServerProcess

MODELS = 20


@dataclass
class LoadClient:
    """Sends requests back to back from a thread until stopped; records every answer."""

    url: str
    songs: list[str]
    seen: list[tuple[float, str, str]] = field(default_factory=list)  # time, model_id, date
    failures: list[str] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> LoadClient:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def _run(self) -> None:
        deadline = time.monotonic() + 300
        with httpx.Client(timeout=10) as client:
            while not self._stop.is_set() and time.monotonic() < deadline:
                try:
                    response = client.post(f"{self.url}/api/recommend", json={"songs": self.songs})
                except httpx.HTTPError as error:
                    self.failures.append(repr(error))
                    continue
                if response.status_code != 200:
                    self.failures.append(f"{response.status_code} {response.text}")
                    continue
                body = response.json()
                self.seen.append((time.monotonic(), body["model_id"], body["model_date"]))

    def first_seen(self, model_id: str, after: float, timeout: float) -> float | None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for moment, seen_id, _ in reversed(self.seen):
                if seen_id == model_id and moment >= after:
                    return moment
            time.sleep(0.005)
        return None


@pytest.mark.parametrize(("mode", "interval"), [("events", 2.0), ("poll", 0.5)])
def test_models_swap_under_load_without_a_failed_request(
    data_dir: Path,
    ds1_rules: RuleSet,
    ds2_rules: RuleSet,
    start_server: Callable[..., ServerProcess],
    mode: str,
    interval: float,
) -> None:
    publish_rules(data_dir, ds1_rules)
    server = start_server(data_dir, RECSYS_WATCH=mode, RECSYS_POLL_INTERVAL=str(interval))
    allowed = 1.0 if mode == "events" else interval + 1.0
    published = {read_pointer(data_dir).model_date}
    delays = []
    with LoadClient(server.url, ds1_rules.vocabulary[:3]) as client:
        for number in range(MODELS):
            rules = ds2_rules if number % 2 == 0 else ds1_rules
            model_id, model_date = publish_rules(data_dir, rules)
            published_at = time.monotonic()
            published.add(model_date)
            served_at = client.first_seen(model_id, published_at, timeout=allowed + 5)
            assert served_at is not None, f"model {number} never served:\n{server.log()}"
            delays.append(served_at - published_at)
    print(f"{mode}: publish-to-served delays (s): " + ", ".join(f"{d:.3f}" for d in delays))
    assert client.failures == []
    assert len(client.seen) > MODELS
    dates = [date for _, _, date in client.seen]
    assert set(dates) <= published
    assert dates == sorted(dates), "model_date went backwards"
    assert max(delays) < allowed, delays


def write_pointer(data_dir: Path, file: str, sha256: str, model_id: str = "bad") -> None:
    pointer = Pointer(model_id, file, sha256, "2030-01-01T00:00:00+00:00", "bad")
    write_atomically(data_dir / POINTER_NAME, json.dumps(pointer.to_json()).encode())


def place_model(data_dir: Path, name: str, content: bytes, pointer_sha: str | None = None) -> None:
    import hashlib

    (data_dir / MODELS_DIR / name).write_bytes(content)
    sha = pointer_sha or hashlib.sha256(content).hexdigest()
    write_pointer(data_dir, f"{MODELS_DIR}/{name}", sha, model_id=name.removesuffix(".rsm"))


class Exploit:
    """Unpickling this would create a file: proof that loading ran code."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple:
        return (os.system, (f"touch {self.marker}",))


def replace_with(data_dir: Path, name: str, make: Callable[[Path], None]) -> None:
    """Make a special file beside `name` and rename it into place, as a publisher would."""
    temp = data_dir / f".{name}.special"
    make(temp)
    os.replace(temp, data_dir / name)


def out_of_range_groups(rules: RuleSet) -> tuple[str, bytes]:
    """A model whose group offsets run past its rules, otherwise consistent."""
    offsets = list(rules.group_offsets)
    offsets[1] = offsets[-1] + 5
    built = encode_new_model(replace(rules, group_offsets=offsets))
    return f"{built.model_id}.rsm", built.content


def bad_models(rules: RuleSet, marker: Path) -> dict[str, Callable[[Path], None]]:
    good = encode_new_model(rules).content
    version_7 = good.replace(b'"format_version":1', b'"format_version":7', 1)
    bad_groups = out_of_range_groups(rules)
    return {
        "group offsets out of range": lambda d: place_model(d, *bad_groups),
        "header names another model than the pointer": lambda d: place_model(d, "other.rsm", good),
        "model file is a FIFO": lambda d: (
            os.mkfifo(d / MODELS_DIR / "fifo.rsm"),
            write_pointer(d, f"{MODELS_DIR}/fifo.rsm", "0" * 64, "fifo"),
        ),
        "model file links to /dev/zero": lambda d: (
            os.symlink("/dev/zero", d / MODELS_DIR / "zero.rsm"),
            write_pointer(d, f"{MODELS_DIR}/zero.rsm", "0" * 64, "zero"),
        ),
        "pointer links to /dev/zero": lambda d: replace_with(
            d, POINTER_NAME, lambda temp: os.symlink("/dev/zero", temp)
        ),
        "pointer is a FIFO": lambda d: replace_with(d, POINTER_NAME, os.mkfifo),
        "truncated artifact": lambda d: place_model(d, "truncated.rsm", good[: len(good) // 3]),
        "garbage bytes": lambda d: place_model(d, "garbage.rsm", os.urandom(4096)),
        "sha256 mismatch": lambda d: place_model(d, "mismatch.rsm", good, pointer_sha="0" * 64),
        "unknown format version": lambda d: place_model(d, "version.rsm", version_7),
        "pointer to a missing file": lambda d: write_pointer(d, "models/gone.rsm", "0" * 64),
        "pointer that is not JSON": lambda d: write_atomically(d / POINTER_NAME, b"{not json"),
        "pickle posing as a model": lambda d: place_model(
            d, "pickled.rsm", pickle.dumps(Exploit(marker))
        ),
    }


def wait_for(condition: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return False


def test_bad_models_never_displace_a_good_one(
    data_dir: Path,
    ds1_rules: RuleSet,
    start_server: Callable[..., ServerProcess],
    tmp_path: Path,
) -> None:
    publish_rules(data_dir, ds1_rules)
    server = start_server(data_dir, RECSYS_POLL_INTERVAL="0.5")
    marker = tmp_path / "pwned"
    liked = {"songs": ds1_rules.vocabulary[:2]}
    for case, damage in bad_models(ds1_rules, marker).items():
        good_info = httpx.get(f"{server.url}/api/model").json()
        failures = server.metric("recsys_model_reloads_total", default=0, result="failed")
        damage(data_dir)
        assert wait_for(
            lambda failures=failures: (
                server.metric("recsys_model_reloads_total", default=0, result="failed") > failures
            ),
            10,
        ), f"{case}: failure was not counted"
        assert httpx.get(f"{server.url}/api/model").json() == good_info, case
        answer = httpx.post(f"{server.url}/api/recommend", json=liked)
        assert answer.status_code == 200, case
        assert answer.json()["model_id"] == good_info["model_id"], case
        # counted once however often it is polled: tests/serving/test_loader.py
        assert server.metric("recsys_model_reloads_total", result="failed") == failures + 1, case

        model_id, _ = publish_rules(data_dir, ds1_rules)
        assert wait_for(
            lambda model_id=model_id: (
                httpx.get(f"{server.url}/api/model").json()["model_id"] == model_id
            ),
            10,
        ), f"{case}: the next good model was not picked up"
        assert "model reload failed, still serving" in server.log()
    assert not marker.exists(), "a model file ran code while loading"


def test_ready_once_the_first_model_arrives(
    data_dir: Path, ds1_rules: RuleSet, start_server: Callable[..., ServerProcess]
) -> None:
    server = start_server(data_dir / "not-mounted-yet", RECSYS_POLL_INTERVAL="0.5")
    assert httpx.get(f"{server.url}/readyz").status_code == 503
    assert httpx.get(f"{server.url}/healthz").status_code == 200
    model_id, _ = publish_rules(data_dir / "not-mounted-yet", ds1_rules)
    assert wait_for(lambda: httpx.get(f"{server.url}/readyz").status_code == 200, 10)
    assert httpx.get(f"{server.url}/readyz").json()["model_id"] == model_id
    assert server.process is not None
    assert server.process.poll() is None  # no restart


def test_an_unreadable_pointer_counts_once_and_the_model_keeps_serving(
    data_dir: Path, ds1_rules: RuleSet, start_server: Callable[..., ServerProcess]
) -> None:
    model_id, _ = publish_rules(data_dir, ds1_rules)
    server = start_server(data_dir, RECSYS_POLL_INTERVAL="0.2")
    (data_dir / POINTER_NAME).unlink()
    (data_dir / POINTER_NAME).mkdir()
    assert wait_for(
        lambda: server.metric("recsys_model_reloads_total", default=0, result="failed") > 0, 10
    )
    # counted once however often it is polled: tests/serving/test_loader.py
    assert server.metric("recsys_model_reloads_total", result="failed") == 1
    assert httpx.get(f"{server.url}/readyz").json()["model_id"] == model_id
    (data_dir / POINTER_NAME).rmdir()
    newer, _ = publish_rules(data_dir, ds1_rules)
    assert wait_for(lambda: httpx.get(f"{server.url}/readyz").json()["model_id"] == newer, 10)


def test_startup_does_not_hang_on_a_fifo_pointer(
    data_dir: Path, start_server: Callable[..., ServerProcess]
) -> None:
    os.mkfifo(data_dir / POINTER_NAME)
    server = start_server(data_dir)  # fails if /healthz never answers
    assert httpx.get(f"{server.url}/readyz").status_code == 503
    assert server.metric("recsys_model_reloads_total", result="failed") == 1
