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


def run_measured(
    args: list[str], *, cutoff: float, env: dict[str, str] | None = None
) -> ProcessRun:
    """Run a child to completion (or kill it at `cutoff` s); wait4 gives its own peak RSS."""
    started = time.perf_counter()
    process = subprocess.Popen(
        args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env
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
    return f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"


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
