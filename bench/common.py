"""Measuring helpers shared by the benchmarks, and the RESULTS.md writer.

Every figure is measured in the same run as its baseline, on this machine, so ratios are
meaningful even though absolute seconds depend on the machine and its load.
"""

from __future__ import annotations

import json
import os
import platform
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from functools import partial
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
OUT = BENCH_DIR / "out"
RESULTS = BENCH_DIR / "RESULTS.md"


@dataclass(frozen=True)
class ProcessRun:
    """One child process: wall seconds, peak RSS, exit status, its last stdout line."""

    seconds: float
    peak_rss_mb: float
    returncode: int | None  # None: cut off at the time limit
    stdout: str

    @property
    def json(self) -> dict:
        return json.loads(self.stdout.strip().splitlines()[-1])


MEMORY_LIMIT_BYTES = 8 * 1024**3


def _limit_memory(limit: int) -> None:
    """Runs in the child: unbounded miners can exhaust the machine (fpgrowth-py took 24 GB)."""
    import resource

    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def run_measured(
    args: list[str],
    *,
    cutoff: float,
    env: dict[str, str] | None = None,
    address_space: int | None = MEMORY_LIMIT_BYTES,
) -> ProcessRun:
    """Run a child to completion (or kill it at `cutoff` s); wait4 gives its own peak RSS.

    Children get at most `address_space` bytes of address space (8 GB unless told; None:
    no limit, for a process whose thread pools reserve far more than it touches): one that
    needs more fails (MemoryError).
    """
    started = time.perf_counter()
    process = subprocess.Popen(
        args,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=env,
        preexec_fn=None if address_space is None else partial(_limit_memory, address_space),
    )
    deadline = started + cutoff
    status = None
    usage = None
    while time.perf_counter() < deadline:
        pid, status, usage = os.wait4(process.pid, os.WNOHANG)
        if pid:
            break
        time.sleep(0.02)
    else:
        process.send_signal(signal.SIGKILL)
        _, status, usage = os.wait4(process.pid, 0)
        status = None
    seconds = time.perf_counter() - started
    stdout = process.stdout.read() if process.stdout else ""
    returncode = None if status is None else os.waitstatus_to_exitcode(status)
    return ProcessRun(seconds, usage.ru_maxrss / 1024 if usage else 0.0, returncode, stdout)


def python(*args: str) -> list[str]:
    return [sys.executable, *args]


def machine() -> str:
    """The host, CPU model included: the same code's figures, even its shares of a
    floor, move from one host to another, so a reader needs to tell hosts apart."""
    return (
        f"{platform.machine()} ({cpu_model()}), {os.cpu_count()} cores, "
        f"Python {platform.python_version()}"
    )


def cpu_model() -> str:
    """The CPU's model name as /proc/cpuinfo gives it, or "unknown CPU"."""
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        return "unknown CPU"
    names = (line.split(":", 1)[1].strip() for line in lines if line.startswith("model name"))
    return next(names, "unknown CPU")


def write_section(name: str, markdown: str) -> None:
    """Replace this benchmark's section of RESULTS.md, keeping the others."""
    start, end = f"<!-- bench:{name} -->", f"<!-- /bench:{name} -->"
    text = (
        RESULTS.read_text()
        if RESULTS.exists()
        else ("# Benchmark results\n\nWritten by `make bench`; each section by its benchmark.\n")
    )
    block = f"{start}\n{markdown.rstrip()}\n{end}"
    pattern = re.compile(re.escape(start) + ".*?" + re.escape(end), re.S)
    text = (
        pattern.sub(lambda _: block, text)
        if pattern.search(text)
        else f"{text.rstrip()}\n\n{block}\n"
    )
    RESULTS.write_text(text)


def table(headers: list[str], rows: list[list[object]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def wait_http(url: str, timeout: float = 60) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=1).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer in {timeout} s")


def rss_mb(pid: int) -> float:
    """Resident set size of a process, from /proc."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass(frozen=True)
class WrkResult:
    requests_per_second: float
    p50_ms: float
    p99_ms: float
    errors: int


def wrk(url: str, bodies: list[bytes], *, connections: int = 32, seconds: int = 10) -> WrkResult:
    """POST `bodies` round-robin to `url` with wrk pinned to CPU 1 (servers run on CPU 0)."""
    script = OUT / "wrk-bodies.lua"
    OUT.mkdir(parents=True, exist_ok=True)
    quoted = ",\n".join("[==[" + body.decode() + "]==]" for body in bodies)
    script.write_text(
        "local bodies = {\n" + quoted + "\n}\nlocal requests = {}\n"
        "init = function(args)\n  for i, body in ipairs(bodies) do\n"
        '    requests[i] = wrk.format("POST", nil, {["Content-Type"] = "application/json"}, body)\n'
        "  end\nend\nlocal n = 0\n"
        "request = function()\n  n = n % #requests + 1\n  return requests[n]\nend\n"
    )
    done = subprocess.run(
        [
            "taskset",
            "-c",
            "1",
            "wrk",
            "-t1",
            f"-c{connections}",
            f"-d{seconds}s",
            "--latency",
            "-s",
            str(script),
            url,
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    return parse_wrk(done.stdout)


def parse_wrk(output: str) -> WrkResult:
    def millis(text: str) -> float:
        units = {"us": 0.001, "ms": 1.0, "s": 1000.0}
        for unit in ("us", "ms", "s"):
            if text.endswith(unit):
                return float(text[: -len(unit)]) * units[unit]
        return float(text)

    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))
    p50 = millis(re.search(r"\s50%\s+(\S+)", output).group(1))
    p99 = millis(re.search(r"\s99%\s+(\S+)", output).group(1))
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    socket_errors = re.search(r"Socket errors: (.*)", output)
    count = int(errors.group(1)) if errors else 0
    if socket_errors:
        count += sum(int(n) for n in re.findall(r"\d+", socket_errors.group(1)))
    return WrkResult(rps, p50, p99, count)
