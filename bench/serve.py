"""API benchmark: `/api/recommend` as deployed against the raw ASGI floor and the course's
design.

Servers run pinned to CPU 0, wrk (32 connections, 10 s) to CPU 1, all in one run.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import httpx

from bench.apps import deployed_command
from bench.common import OUT, WrkResult, free_port, machine, rss_mb, table, wait_http, wrk
from bench.models import (
    BIG_PARAMS,
    big_rules,
    ds1_default,
    ds1_rules,
    publish,
    reference_pickle,
    request_bodies,
)
from recsys.model.rules import RuleSet


@contextmanager
def server(args: list[str], url: str, env: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    process = subprocess.Popen(
        ["taskset", "-c", "0", *args],
        env={**os.environ, **(env or {})},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_http(url)
        yield process
    finally:
        process.terminate()
        process.wait(timeout=30)


def free_ports(count: int) -> list[int]:
    """Distinct free ports (held open together, so no two are the same)."""
    probes = [socket.socket() for _ in range(count)]
    for probe in probes:
        probe.bind(("127.0.0.1", 0))
    ports = [probe.getsockname()[1] for probe in probes]
    for probe in probes:
        probe.close()
    return ports


def recsys_server(data_dir: Path, port: int, metrics_port: int, **env: str):  # type: ignore[no-untyped-def]
    """`recsys serve` as the manifests run it (bench.apps.deployed_command)."""
    args, deployed_env = deployed_command(data_dir, port, metrics_port)
    return server(args, f"http://127.0.0.1:{port}/readyz", {**deployed_env, **env})


def floor_server(port: int, mode: str = "raw"):  # type: ignore[no-untyped-def]
    return server(
        [sys.executable, "-m", "bench.apps", mode, str(port)], f"http://127.0.0.1:{port}/"
    )


ROUNDS = 3


def alternate(targets: list[tuple[str, list[bytes]]]) -> list[WrkResult]:
    """Interleave the targets (a URL and the bodies sent to it) for ROUNDS rounds and keep
    each one's median round.

    The machine's speed drifts over a run (other work, CPU clocks); alternating puts all
    servers under the same drift, so their ratios hold even when absolute numbers move.
    """
    for url, bodies in targets:
        wrk(url, bodies, seconds=3)  # warm-up
    results: list[list[WrkResult]] = [[] for _ in targets]
    for _ in range(ROUNDS):
        for (url, bodies), runs in zip(targets, results, strict=True):
            runs.append(wrk(url, bodies, seconds=10))
    return [sorted(runs, key=lambda run: run.requests_per_second)[ROUNDS // 2] for runs in results]


def memory_row(name: str, base: str, pid: int) -> list[object]:
    info = httpx.get(f"{base}/api/model").json()
    return [name, info["rules"], f"{info['load_seconds']:.3f}", f"{rss_mb(pid):.0f}"]


def measure_ds1(rules: RuleSet) -> tuple[list[WrkResult], list[object]]:
    """recsys as deployed, the raw ASGI floor, recsys with its access log on, the floor
    under recsys's own protocol, and recsys as deployed asked to explain."""
    bodies = [body.encode() for body in request_bodies(rules)]
    explained = [body.encode() for body in request_bodies(rules, explain=True)]
    data_dir = OUT / "serve-ds1"
    publish(data_dir, rules, ds1_default().params, "ds1")
    ports = free_ports(6)
    base = f"http://127.0.0.1:{ports[0]}"
    with (
        recsys_server(data_dir, ports[0], ports[3]) as process,
        floor_server(ports[1]),
        recsys_server(data_dir, ports[2], ports[4], RECSYS_ACCESS_LOG="true"),
        floor_server(ports[5], "raw-recsys"),
    ):
        memory = memory_row("ds1 default", base, process.pid)
        results = alternate(
            [
                (f"{base}/api/recommend", bodies),
                (f"http://127.0.0.1:{ports[1]}/", bodies),
                (f"http://127.0.0.1:{ports[2]}/api/recommend", bodies),
                (f"http://127.0.0.1:{ports[5]}/", bodies),
                (f"{base}/api/recommend", explained),
            ]
        )
    return results, memory


def measure_big() -> tuple[list[WrkResult], list[object]]:
    big = big_rules()
    big_dir = OUT / "serve-big"
    publish(big_dir, big, BIG_PARAMS, "big")
    ports = free_ports(3)
    base = f"http://127.0.0.1:{ports[0]}"
    with recsys_server(big_dir, ports[0], ports[2]) as process, floor_server(ports[1]):
        time.sleep(1)
        memory = memory_row("dense, rules of 3", base, process.pid)
        bodies = [body.encode() for body in request_bodies(big)]
        results = alternate(
            [(f"{base}/api/recommend", bodies), (f"http://127.0.0.1:{ports[1]}/", bodies)]
        )
    return results, memory


def measure_reference(rules: RuleSet) -> WrkResult:
    reference_model = OUT / "reference-model.pkl"
    reference_pickle(rules, reference_model)
    port = free_port()
    gunicorn = ["-m", "gunicorn", "-w", "1", "-b", f"127.0.0.1:{port}", "bench.reference_app:app"]
    with server(
        [sys.executable, *gunicorn],
        f"http://127.0.0.1:{port}/",
        env={"REFERENCE_MODEL": str(reference_model)},
    ):
        bodies = [body.encode() for body in request_bodies(rules)]
        return wrk(f"http://127.0.0.1:{port}/api/recommend", bodies)


def main() -> str:
    rules = ds1_rules()
    (ours, floor, logged, floor_recsys, explain), memory_ds1 = measure_ds1(rules)
    reference = measure_reference(rules)
    (ours_big, floor_big), memory_big = measure_big()
    rows = [
        [
            name,
            f"{result.requests_per_second:.0f}",
            f"{result.p50_ms:.2f}",
            f"{result.p99_ms:.2f}",
            result.errors,
        ]
        for name, result in (
            ("recsys /api/recommend as deployed, ds1 model", ours),
            ("raw ASGI constant route (uvicorn alone)", floor),
            ("recsys as deployed, access log on", logged),
            ('recsys as deployed, `"explain": true`', explain),
            ("raw ASGI constant route under recsys serve's protocol", floor_recsys),
            ("reference: Flask + gunicorn, md5 per request", reference),
            ("recsys /api/recommend as deployed, 550k-rule model", ours_big),
            ("raw ASGI constant route, same run", floor_big),
        )
    ]

    def share(a: WrkResult, b: WrkResult) -> float:
        return a.requests_per_second / b.requests_per_second

    checks = [
        f"- recommend / raw ASGI floor (ds1): {share(ours, floor):.0%} (target: at least 40%)",
        f"- recommend / raw ASGI floor (550k rules): {share(ours_big, floor_big):.0%} "
        "(target: at least 40%)",
        f"- recommend p99 at 32 connections (ds1): {ours.p99_ms:.2f} ms (target: under 10 ms)",
        f"- recommend / raw ASGI under recsys serve's protocol (one write per answer, "
        f"for reference): {share(ours, floor_recsys):.0%}",
        f"- access log on / off: {share(logged, ours):.0%} of the throughput",
        f"- explain on / off (ds1): {share(explain, ours):.0%} of the throughput, p99 "
        f"{explain.p99_ms:.2f} ms against {ours.p99_ms:.2f} ms",
        f"- recommend / reference design: {share(ours, reference):.1f}x (target: at least 3x)",
    ]
    return "\n\n".join(
        [
            "## API throughput (`python -m bench serve`)",
            f"{machine()}. recsys runs as deployed: `recsys serve` with the API container's "
            "arguments and environment from deploy/kustomize/base/deployment.yaml (one "
            "worker, access log at its default, off). The floor is a raw ASGI app under "
            "uvicorn that reads the body and answers a constant of the same shape; for "
            "reference, the same app also runs under `recsys serve`'s own HTTP protocol, "
            "which sends each answer in one write where uvicorn makes two. Each "
            "server pinned to CPU 0, one process; wrk pinned to CPU 1, 32 connections, 10 s, "
            "200 request bodies of 1-5 popular songs round-robin (the explain row: the "
            'same bodies with `"explain": true`, to the same server). The servers of a '
            f"model alternate for {ROUNDS} rounds; each row is its median round.",
            table(["server", "requests/s", "p50 ms", "p99 ms", "errors"], rows),
            "\n".join(checks),
            "Model load (read, sha256, parse, index; in the server's worker thread) and the "
            "server's resident memory with the model loaded:",
            table(["model", "rules", "load s", "RSS MB"], [memory_ds1, memory_big]),
        ]
    )
