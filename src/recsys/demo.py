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
from recsys.synth import synthesize

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
        etag = getattr(self, "_etag", None)
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


def run_demo(out_dir: Path, pace: Pace, report: Reporter) -> DemoSummary:
    """Play the whole story; return its measured summary."""
    out_dir = out_dir.resolve()
    upstream, data_dir, logs = out_dir / "upstream", out_dir / "data", out_dir / "logs"
    datasets = out_dir / "datasets"
    for folder in (upstream, data_dir, logs, datasets):  # a previous run's, not the user's
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
    report(f"output folder: {out_dir}")
    synthesize(datasets, playlists=300, seed=7)
    _replace(datasets / "ds1.csv", upstream / "playlists.csv")
    children = Children(logs)
    stop_refresh = threading.Event()
    refresher: threading.Thread | None = None
    with file_server(upstream) as base:
        url = f"{base}/playlists.csv"
        common = ["--data-dir", str(data_dir)]
        try:
            report(f"[job]      recsys train --dataset-url {url}")
            trained = children.run("train", "train", "--dataset-url", url, *common)
            report(f"           published {trained['model_id']} in {trained['seconds']:.2f} s")

            port = _free_port()
            api = f"http://127.0.0.1:{port}"
            children.start("serve", "serve", "--port", str(port), "--no-access-log", *common)
            client = httpx.Client(base_url=api, timeout=2)
            _wait_until(
                lambda: client.get("/readyz").status_code == 200, 60, "the API getting ready"
            )
            report(f"[deploy]   recsys serve on {api}")

            plot = ["--plot", str(out_dir / "probe.png")] if find_spec("matplotlib") else []
            probe = children.start(
                "probe",
                "probe",
                "--url",
                api,
                "--interval",
                "0.05",
                "--json",
                "--out",
                str(out_dir / "probe.csv"),
                *plot,
                stdout=subprocess.PIPE,
            )
            refresher = threading.Thread(
                target=_refresh_loop,
                args=(
                    children,
                    ["--dataset-url", url, *common],
                    pace.refresh_interval,
                    stop_refresh,
                ),
                daemon=True,
            )
            refresher.start()
            report(f"[cronjob]  recsys refresh every {pace.refresh_interval:g} s")
            report("[probe]    recsys probe every 0.05 s")
            time.sleep(pace.settle)

            def serving() -> str:
                return str(
                    client.post("/api/recommend", json={"songs": ["probe"]}).json()["model_id"]
                )

            first_model = serving()
            _replace(datasets / "ds2.csv", upstream / "playlists.csv")
            changed_at = time.monotonic()
            report("[upstream] the dataset at the URL is replaced by ds2")
            answered = _wait_until(
                lambda: serving() != first_model, pace.refresh_interval + 120, "the new model"
            )
            new_model = serving()
            delay = answered - changed_at
            report(f"[api]      answering from {new_model}, {delay:.2f} s after the change")
            time.sleep(pace.settle)

            stop_refresh.set()  # a rollback must not race a refresh retraining meanwhile
            refresher.join()
            rolled_at = time.monotonic()
            rollback = children.start("rollback", "models", "rollback", *common)
            if rollback.wait(timeout=60) != 0:
                raise RecsysError(f"rollback failed; see {logs / 'rollback.log'}")
            back = _wait_until(lambda: serving() == first_model, 30, "the rollback")
            report(
                f"[rollback] recsys models rollback: answering from {first_model} again "
                f"after {back - rolled_at:.2f} s"
            )
            time.sleep(pace.settle)

            probe.send_signal(signal.SIGINT)
            probe_out, _ = probe.communicate(timeout=60)
            probe_summary = json.loads(probe_out.strip().splitlines()[-1])
            client.close()
        finally:
            stop_refresh.set()
            if refresher is not None:
                refresher.join(timeout=30)  # so it cannot start a child after the sweep
            children.stop_all()
    return DemoSummary(
        requests=probe_summary["requests"],
        failed_requests=probe_summary["failures"],
        longest_outage_seconds=probe_summary["longest_outage_seconds"],
        new_model_seconds=answered - changed_at,
        rollback_seconds=back - rolled_at,
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
