"""Serving a model at scale: how long `recsys serve` takes to be ready with it, what it
holds resident, and its peak through one swap to a model of the same size.

The swap publishes the served model again under a new id (same arrays, new header), the
way a retrain of the same data would: the server loads the second copy beside the first,
then drops the first, so the peak is what a pod's memory limit must hold.
"""

from __future__ import annotations

import os
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from bench.apps import deployed_command
from bench.common import free_port
from recsys.model.build import BuiltModel
from recsys.model.format import encode_model
from recsys.model.pointer import load_current
from recsys.model.repository import publish

READY_WITHIN = 300.0  # seconds the bench waits for /readyz before it gives up


@dataclass(frozen=True)
class Served:
    ready_seconds: float
    rss_mb: float  # resident once ready
    swap_peak_mb: float  # the high-water mark after one swap


def status_mb(pid: int, field: str) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    return 0.0


def wait_for(url: str, ready: bool, since: float) -> float:
    """Seconds from `since` until `url` answers 200 (or, with ready False, any model id
    other than the one it answered first)."""
    first = None
    while time.monotonic() - since < READY_WITHIN:
        try:
            answer = httpx.get(url, timeout=2)
            if answer.status_code == 200:
                model = answer.json()["model_id"]
                first = first or model
                if ready or model != first:
                    return time.monotonic() - since
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} not ready in {READY_WITHIN} s")


def republish(data_dir: Path) -> None:
    """The served model again, under a new id: a swap to a model of the same size."""
    loaded = load_current(data_dir)
    assert loaded is not None, f"no model in {data_dir}"
    model = loaded[1]
    header = {k: v for k, v in model.header.items() if k not in ("arrays", "byteorder")}
    header["model_id"] = f"{model.model_id[:-8]}5ca1ed00"
    content = encode_model(header, model.arrays)
    del loaded, model
    publish(data_dir, BuiltModel(header["model_id"], header, content), keep=3, force=True)


def serve_at_scale(data_dir: Path) -> Served:
    port, metrics_port = free_port(), free_port()
    args, env = deployed_command(data_dir, port, metrics_port)
    started = time.monotonic()
    process = subprocess.Popen(
        args, env={**os.environ, **env}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        url = f"http://127.0.0.1:{port}/readyz"
        ready = wait_for(url, ready=True, since=started)
        resident = status_mb(process.pid, "VmRSS")
        republish(data_dir)
        wait_for(url, ready=False, since=time.monotonic())
        return Served(ready, resident, status_mb(process.pid, "VmHWM"))
    finally:
        process.terminate()
        process.wait(timeout=60)
