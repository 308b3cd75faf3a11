"""`recsys demo`: the whole continuous-delivery story on one machine, with real processes.

As in Kubernetes, every part is its own process and they share only the data directory:
`recsys train` (the Job), `recsys serve` (the Deployment), `recsys refresh` every few
seconds (the CronJob) and `recsys probe` (someone watching). A local HTTP file server
plays the upstream dataset URL. The dataset is then replaced (the course's "new dataset"
case), refresh retrains, the API swaps models; then `recsys models rollback` goes back,
and the API follows. Every child is stopped on exit, Ctrl-C included.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from importlib.util import find_spec
from pathlib import Path
from typing import Any

import httpx

from recsys.errors import RecsysError
from recsys.tools.synth import synthesize

Reporter = Callable[[str], None]


@dataclass(frozen=True)
class Pace:
    """How long each act of the demo lasts."""

    refresh_interval: float
    settle: float  # seconds of steady serving before and after each change


FAST = Pace(refresh_interval=1.0, settle=2.0)
NORMAL = Pace(refresh_interval=5.0, settle=8.0)


@dataclass
class DemoSummary:
    requests: int
    failed_requests: int
    longest_outage_seconds: float
    new_model_seconds: float
    rollback_seconds: float
    refresh_interval_seconds: float
    train_seconds: float
    output_dir: str
    probe_changes: int


class _FileHandler(SimpleHTTPRequestHandler):
    _etag: str | None = None
    """Static files with an ETag and Last-Modified, answering 304 like nginx does."""

    def log_message(self, format: str, *args: Any) -> None:
        """Silent: the demo prints its own story."""

    def send_head(self):  # type: ignore[no-untyped-def]
        path = Path(self.translate_path(self.path))
        if path.is_file():
            stat = path.stat()
            etag = (
                '"'
                + hashlib.sha256(f"{stat.st_mtime_ns}-{stat.st_size}".encode()).hexdigest()[:16]
                + '"'
            )
            if self.headers.get("If-None-Match") == etag:
                self.send_response(304)
                self.send_header("ETag", etag)
                self.end_headers()
                return None
            self._etag = etag
        return super().send_head()

    def end_headers(self) -> None:
        etag = self._etag
        if etag:
            self.send_header("ETag", etag)
            self._etag = None
        super().end_headers()


@contextlib.contextmanager
def file_server(folder: Path) -> Iterator[str]:
    """Serve `folder` on a free 127.0.0.1 port; yield its base URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(_FileHandler, directory=str(folder)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


class Children:
    """Every process the demo starts; all are stopped when the demo ends, however it ends."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.processes: list[subprocess.Popen[str]] = []

    def start(self, name: str, *args: str, stdout: int | None = None) -> subprocess.Popen[str]:
        log = (self.log_dir / f"{name}.log").open("a")
        process = subprocess.Popen(
            [sys.executable, "-m", "recsys", *args],
            stdout=stdout if stdout is not None else log,
            stderr=log,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        log.close()
        self.processes.append(process)
        return process

    def run(self, name: str, *args: str, timeout: float = 300) -> dict[str, Any]:
        """Run a command to the end and return its `--json` summary."""
        process = self.start(name, *args, "--json", stdout=subprocess.PIPE)
        stdout, _ = process.communicate(timeout=timeout)
        if process.returncode != 0:
            raise RecsysError(f"`recsys {' '.join(args)}` failed; see {self.log_dir / name}.log")
        return json.loads(stdout.strip().splitlines()[-1])

    def stop_all(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)


def _free_port() -> int:
    import socket

    with contextlib.closing(socket.socket()) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _wait_until(condition: Callable[[], bool], timeout: float, what: str) -> float:
    """Poll every 20 ms; return when `condition` first held."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.HTTPError, ValueError, KeyError):
            if condition():
                return time.monotonic()
        time.sleep(0.02)
    raise RecsysError(f"demo: {what} did not happen within {timeout:g} s")


def _replace(source: Path, target: Path) -> None:
    """Swap the upstream file atomically, as a real publisher would."""
    temp = target.with_name(f".{target.name}.tmp")
    temp.write_bytes(source.read_bytes())
    os.replace(temp, target)


def _refresh_loop(
    children: Children, args: list[str], interval: float, stop: threading.Event
) -> None:
    while not stop.wait(interval):
        process = children.start("refresh", "refresh", *args)
        while process.poll() is None and not stop.is_set():
            time.sleep(0.05)


class _Story:
    """The acts of the demo, sharing the processes and the folders they run in."""

    def __init__(self, out_dir: Path, pace: Pace, report: Reporter, children: Children) -> None:
        self.out_dir, self.pace, self.report, self.children = out_dir, pace, report, children
        self.data_dir = out_dir / "data"
        self.datasets = out_dir / "datasets"
        self.upstream = out_dir / "upstream"
        self.common = ["--data-dir", str(self.data_dir)]
        self.stop_refresh = threading.Event()
        self.refresher: threading.Thread | None = None
        self.client = httpx.Client(timeout=2)

    def serving(self) -> str:
        """The model id the API answers with now."""
        answer = self.client.post("/api/recommend", json={"songs": ["probe"]})
        return str(answer.json()["model_id"])

    def train(self, url: str) -> dict[str, Any]:
        self.report(f"[job]      recsys train --dataset-url {url}")
        trained = self.children.run("train", "train", "--dataset-url", url, *self.common)
        self.report(f"           published {trained['model_id']} in {trained['seconds']:.2f} s")
        return trained

    def serve(self) -> str:
        port = _free_port()
        api = f"http://127.0.0.1:{port}"
        metrics = ["--metrics-port", str(_free_port())]
        self.children.start(
            "serve", "serve", "--port", str(port), *metrics, "--no-access-log", *self.common
        )
        self.client.base_url = httpx.URL(api)
        _wait_until(
            lambda: self.client.get("/readyz").status_code == 200, 60, "the API getting ready"
        )
        self.report(f"[deploy]   recsys serve on {api}")
        return api

    def start_probe(self, api: str) -> subprocess.Popen[str]:
        plot = ["--plot", str(self.out_dir / "probe.png")] if find_spec("matplotlib") else []
        out = ["--out", str(self.out_dir / "probe.csv"), *plot]
        args = ["--url", api, "--interval", "0.05", "--json", *out]
        probe = self.children.start("probe", "probe", *args, stdout=subprocess.PIPE)
        self.report("[probe]    recsys probe every 0.05 s")
        return probe

    def start_refresh(self, url: str) -> None:
        args = ["--dataset-url", url, *self.common]
        interval = self.pace.refresh_interval
        self.refresher = threading.Thread(
            target=_refresh_loop,
            args=(self.children, args, interval, self.stop_refresh),
            daemon=True,
        )
        self.refresher.start()
        self.report(f"[cronjob]  recsys refresh every {interval:g} s")

    def change_dataset(self) -> tuple[str, float]:
        """Replace the upstream dataset; return the old model id and the swap delay."""
        first_model = self.serving()
        _replace(self.datasets / "ds2.csv", self.upstream / "playlists.csv")
        changed_at = time.monotonic()
        self.report("[upstream] the dataset at the URL is replaced by ds2")
        timeout = self.pace.refresh_interval + 120
        answered = _wait_until(lambda: self.serving() != first_model, timeout, "the new model")
        delay = answered - changed_at
        self.report(f"[api]      answering from {self.serving()}, {delay:.2f} s after the change")
        return first_model, delay

    def stop_refreshing(self) -> None:
        self.stop_refresh.set()
        if self.refresher is not None:
            self.refresher.join(timeout=30)  # so it cannot start a child after the sweep

    def roll_back(self, first_model: str) -> float:
        self.stop_refreshing()  # a rollback must not race a refresh retraining meanwhile
        rolled_at = time.monotonic()
        rollback = self.children.start("rollback", "models", "rollback", *self.common)
        if rollback.wait(timeout=60) != 0:
            raise RecsysError(f"rollback failed; see {self.children.log_dir / 'rollback.log'}")
        delay = _wait_until(lambda: self.serving() == first_model, 30, "the rollback") - rolled_at
        self.report(
            f"[rollback] recsys models rollback: answering from {first_model} again "
            f"after {delay:.2f} s"
        )
        return delay


def run_demo(out_dir: Path, pace: Pace, report: Reporter) -> DemoSummary:
    """Play the whole story; return its measured summary."""
    out_dir = out_dir.resolve()
    for name in ("upstream", "data", "logs", "datasets"):  # a previous run's, not the user's
        shutil.rmtree(out_dir / name, ignore_errors=True)
        (out_dir / name).mkdir(parents=True)
    report(f"output folder: {out_dir}")
    children = Children(out_dir / "logs")
    story = _Story(out_dir, pace, report, children)
    synthesize(story.datasets, playlists=300, seed=7)
    _replace(story.datasets / "ds1.csv", story.upstream / "playlists.csv")
    with file_server(story.upstream) as base, story.client:
        url = f"{base}/playlists.csv"
        try:
            trained = story.train(url)
            probe = story.start_probe(story.serve())
            story.start_refresh(url)
            time.sleep(pace.settle)
            first_model, new_model_seconds = story.change_dataset()
            time.sleep(pace.settle)
            rollback_seconds = story.roll_back(first_model)
            time.sleep(pace.settle)
            probe.send_signal(signal.SIGINT)
            probe_out, _ = probe.communicate(timeout=60)
            probe_summary = json.loads(probe_out.strip().splitlines()[-1])
        finally:
            try:
                story.stop_refreshing()
            finally:  # every child is stopped, even if stopping the refresh loop fails
                children.stop_all()
    return DemoSummary(
        requests=probe_summary["requests"],
        failed_requests=probe_summary["failures"],
        longest_outage_seconds=probe_summary["longest_outage_seconds"],
        new_model_seconds=new_model_seconds,
        rollback_seconds=rollback_seconds,
        refresh_interval_seconds=pace.refresh_interval,
        train_seconds=float(trained["seconds"]),
        output_dir=str(out_dir),
        probe_changes=len(probe_summary["changes"]),
    )


def summary_table(summary: DemoSummary) -> str:
    rows = [
        ("dataset change -> first answer from the new model", f"{summary.new_model_seconds:.2f} s"),
        ("rollback -> old model served again", f"{summary.rollback_seconds:.2f} s"),
        ("refresh interval (the CronJob)", f"{summary.refresh_interval_seconds:g} s"),
        ("training time", f"{summary.train_seconds:.2f} s"),
        ("requests sent by the probe", str(summary.requests)),
        ("failed requests", str(summary.failed_requests)),
        ("longest outage", f"{summary.longest_outage_seconds:.2f} s"),
        ("model changes seen by the probe", str(summary.probe_changes)),
    ]
    width = max(len(label) for label, _ in rows)
    lines = [f"{label:<{width}}  {value}" for label, value in rows]
    lines.append(f"probe.csv and probe.png are in {summary.output_dir}")
    return "\n".join(lines)


def to_json(summary: DemoSummary) -> dict[str, Any]:
    return asdict(summary)
