"""Workers or pods: does a second uvicorn worker in one pod beat a second pod?

The same CPU budget in every configuration (the servers share CPU 0; wrk runs on CPU 1),
the ds1 model, and three ways to spend it: one `recsys serve` process as deployed; two of
them on two ports, as two pods would be (each driven by its own wrk); and one process
running uvicorn with two workers (`--workers 2`, each worker a full copy of the app and
its model, with `recsys serve`'s HTTP protocol and settings). Throughput is summed over
the wrk runs, memory over the server processes.
"""

from __future__ import annotations

import sys
from concurrent.futures import ThreadPoolExecutor

import psutil

from bench.common import OUT, WrkResult, machine, table, wrk
from bench.models import ds1_default, ds1_rules, publish, request_bodies
from bench.serve import free_ports, recsys_server, server

CONNECTIONS = 32


def total_rss_mb(pid: int) -> float:
    """Resident memory of a process and all its children (uvicorn's workers)."""
    parent = psutil.Process(pid)
    processes = [parent, *parent.children(recursive=True)]
    return sum(process.memory_info().rss for process in processes) / 1024**2


def driven(urls: list[str], bodies: list[bytes]) -> WrkResult:
    """wrk on every URL at once, CONNECTIONS split between them; summed throughput."""
    share = CONNECTIONS // len(urls)
    with ThreadPoolExecutor(len(urls)) as pool:
        results = list(pool.map(lambda url: wrk(url, bodies, connections=share), urls))
    return WrkResult(
        sum(result.requests_per_second for result in results),
        max(result.p50_ms for result in results),
        max(result.p99_ms for result in results),
        sum(result.errors for result in results),
    )


def uvicorn_workers(port: int, data_dir_env: dict[str, str]):  # type: ignore[no-untyped-def]
    args = [
        sys.executable, "-m", "uvicorn", "--factory", "bench.apps:deployed_app",
        "--http", "bench.apps:DeployedProtocol", "--no-proxy-headers",
        "--workers", "2", "--host", "127.0.0.1", "--port", str(port), "--no-access-log",
        "--log-level", "warning",
    ]  # fmt: skip
    return server(args, f"http://127.0.0.1:{port}/readyz", data_dir_env)


def main() -> str:
    rules = ds1_rules()
    bodies = [body.encode() for body in request_bodies(rules)]
    data_dir = OUT / "workers-ds1"
    publish(data_dir, rules, ds1_default().params, "ds1")
    ports = free_ports(5)
    url = "http://127.0.0.1:{}/api/recommend".format
    rows = []
    with recsys_server(data_dir, ports[0], ports[1]) as one:
        wrk(url(ports[0]), bodies, seconds=3)  # warm-up
        rows.append(row("one pod, one worker", driven([url(ports[0])], bodies), one.pid))
    with (
        recsys_server(data_dir, ports[0], ports[1]) as first,
        recsys_server(data_dir, ports[2], ports[3]) as second,
    ):
        wrk(url(ports[2]), bodies, seconds=3)
        rows.append(
            row("two pods, one worker each", driven([url(ports[0]), url(ports[2])], bodies),
                first.pid, second.pid)
        )  # fmt: skip
    with uvicorn_workers(ports[4], {"RECSYS_DATA_DIR": str(data_dir)}) as workers:
        for _ in range(4):  # reach both workers before measuring
            wrk(url(ports[4]), bodies, seconds=2)
        rows.append(
            row("one pod, two uvicorn workers", driven([url(ports[4])], bodies), workers.pid)
        )
    return "\n\n".join(
        [
            "## Workers or pods (`python -m bench workers`)",
            f"{machine()}. " + " ".join(__doc__.split("\n\n", 1)[1].split()),
            table(["servers on CPU 0", "requests/s", "p99 ms", "RSS MB, all processes"], rows),
        ]
    )


def row(name: str, result: WrkResult, *pids: int) -> list[object]:
    memory = sum(total_rss_mb(pid) for pid in pids)
    return [name, f"{result.requests_per_second:.0f}", f"{result.p99_ms:.2f}", f"{memory:.0f}"]
