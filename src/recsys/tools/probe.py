"""`recsys probe`: measure a rollout from outside, as a user would feel it.

Requests leave on a fixed schedule (every `interval`), whether or not earlier ones have
answered, so an outage is measured by the clock and not by how long a stuck request took.
Each sample records when it was sent, its status (0: no answer), its latency, and the
`version` and `model_date` it was served by. An outage runs from the first failed request
to the first successful one sent after it.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import signal
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx

from recsys.errors import RecsysError
from recsys.tools.answers import RECOMMENDATION, SONG_LIST, ShapeError, matching, parsed_json
from recsys.tools.bounded import DeadlineError, RefusedAnswerError, exchange_async

MAX_IN_FLIGHT = 64


@dataclass(frozen=True)
class Sample:
    at_seconds: float
    status: int
    latency_seconds: float
    version: str | None
    model_date: str | None

    @property
    def ok(self) -> bool:
        return self.status == 200


@dataclass(frozen=True)
class Change:
    at_seconds: float
    version: str
    model_date: str


@dataclass
class ProbeSummary:
    requests: int = 0
    failures: int = 0
    longest_outage_seconds: float = 0.0
    changes: list[Change] = field(default_factory=list)
    outages: list[tuple[float, float]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "failures": self.failures,
            "longest_outage_seconds": round(self.longest_outage_seconds, 4),
            "changes": [asdict(change) for change in self.changes],
            "outages": [{"start": start, "end": end} for start, end in self.outages],
        }


class Timeline:
    """Turns samples, in the order they were sent, into changes and outages."""

    def __init__(self, report: Callable[[str], None]) -> None:
        self.report = report
        self.samples: list[Sample] = []
        self.summary = ProbeSummary()
        self._serving: tuple[str, str] | None = None
        self._down_since: float | None = None

    def add(self, sample: Sample) -> Change | None:
        self.samples.append(sample)
        self.summary.requests += 1
        if not sample.ok:
            self.summary.failures += 1
            if self._down_since is None:
                self._down_since = sample.at_seconds
                self.report(f"{sample.at_seconds:8.2f} s  outage starts (status {sample.status})")
            return None
        if self._down_since is not None:
            length = sample.at_seconds - self._down_since
            self.summary.outages.append((self._down_since, sample.at_seconds))
            self.summary.longest_outage_seconds = max(self.summary.longest_outage_seconds, length)
            self.report(f"{sample.at_seconds:8.2f} s  outage ends after {length:.2f} s")
            self._down_since = None
        serving = (sample.version or "", sample.model_date or "")
        if serving == self._serving:
            return None
        first = self._serving is None
        self._serving = serving
        if first:
            self.report(
                f"{sample.at_seconds:8.2f} s  serving version {serving[0]}, model {serving[1]}"
            )
            return None
        change = Change(sample.at_seconds, *serving)
        self.summary.changes.append(change)
        self.report(
            f"{sample.at_seconds:8.2f} s  CHANGED to version {serving[0]}, model {serving[1]}"
        )
        return change

    def close(self, now: float) -> ProbeSummary:
        """An outage still going when the probe stops counts up to now."""
        if self._down_since is not None:
            self.summary.outages.append((self._down_since, now))
            self.summary.longest_outage_seconds = max(
                self.summary.longest_outage_seconds, now - self._down_since
            )
        return self.summary


@dataclass
class ProbeConfig:
    url: str
    interval: float = 0.1
    duration: float | None = None
    timeout: float = 2.0
    until_change: bool = False
    songs: list[str] | None = None


async def _request_body(
    client: httpx.AsyncClient, songs: list[str] | None, timeout: float
) -> dict[str, Any]:
    """The request to send: the given songs, else three popular ones, else "probe"."""
    if songs:
        return {"songs": songs, "k": 5}
    refused = (httpx.HTTPError, DeadlineError, RefusedAnswerError, ValueError, ShapeError)
    with contextlib.suppress(*refused):
        answer = await exchange_async(
            client,
            "GET",
            "/api/songs",
            params={"limit": 3},
            seconds=timeout,
            max_bytes=SONG_LIST.max_bytes,
        )
        if answer.status == 200:
            popular = matching(SONG_LIST, parsed_json(answer.body))["songs"][:3]
            return {"songs": popular or ["probe"], "k": 5}
    return {"songs": ["probe"], "k": 5}


async def _send(
    client: httpx.AsyncClient, body: dict[str, Any], started: float, timeout: float
) -> Sample:
    """One request, its whole answer within `timeout` and the cap of a recommendation."""
    sent = time.monotonic()
    try:
        answer = await exchange_async(
            client,
            "POST",
            "/api/recommend",
            json=body,
            seconds=timeout,
            max_bytes=RECOMMENDATION.max_bytes,
        )
    except (httpx.HTTPError, DeadlineError, RefusedAnswerError):
        return Sample(sent - started, 0, time.monotonic() - sent, None, None)
    latency = time.monotonic() - sent
    version = model_date = None
    if answer.status == 200:
        with contextlib.suppress(ValueError, ShapeError):
            served = matching(RECOMMENDATION, parsed_json(answer.body))
            version, model_date = served["version"], served["model_date"]
    return Sample(sent - started, answer.status, latency, version, model_date)


async def run_probe(config: ProbeConfig, report: Callable[[str], None]) -> Timeline:
    """Probe until the duration ends, a change is seen (with until_change), or Ctrl-C."""
    timeline = Timeline(report)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    with contextlib.suppress(NotImplementedError, RuntimeError):
        loop.add_signal_handler(signal.SIGINT, stop.set)
        loop.add_signal_handler(signal.SIGTERM, stop.set)
    limits = httpx.Limits(max_connections=MAX_IN_FLIGHT, max_keepalive_connections=8)
    async with httpx.AsyncClient(
        base_url=config.url, timeout=config.timeout, limits=limits
    ) as client:
        body = await _request_body(client, config.songs, config.timeout)
        started = time.monotonic()
        pending: dict[int, asyncio.Task[Sample]] = {}
        results: dict[int, Sample] = {}
        next_index = 0  # samples are added to the timeline in the order they were sent
        sent = 0
        while not stop.is_set():
            if config.duration is not None and time.monotonic() - started >= config.duration:
                break
            if len(pending) < MAX_IN_FLIGHT:
                pending[sent] = asyncio.create_task(_send(client, body, started, config.timeout))
                sent += 1
                next_send = started + sent * config.interval
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), max(0.0, next_send - time.monotonic()))
            else:  # every slot is waiting on a slow answer: wait for one to free up
                await asyncio.wait(pending.values(), return_when=asyncio.FIRST_COMPLETED)
            for index, task in list(pending.items()):
                if task.done():
                    results[index] = task.result()
                    del pending[index]
            while next_index in results:
                change = timeline.add(results.pop(next_index))
                next_index += 1
                if change and config.until_change:
                    stop.set()
        for task in pending.values():
            task.cancel()
        timeline.close(time.monotonic() - started)
    loop.remove_signal_handler(signal.SIGINT)
    loop.remove_signal_handler(signal.SIGTERM)
    return timeline


def write_csv(samples: list[Sample], path: Path) -> None:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["at_seconds", "status", "latency_seconds", "version", "model_date"])
        for sample in samples:
            writer.writerow(
                [
                    f"{sample.at_seconds:.4f}",
                    sample.status,
                    f"{sample.latency_seconds:.5f}",
                    sample.version or "",
                    sample.model_date or "",
                ]
            )


def plot(timeline: Timeline, path: Path, title: str) -> None:
    """Latency over time, outages shaded, model changes marked."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise RecsysError("--plot needs matplotlib: pip install 'recsys[plot]'") from None
    figure, axes = plt.subplots(figsize=(10, 4))
    ok = [s for s in timeline.samples if s.ok]
    axes.plot(
        [s.at_seconds for s in ok],
        [s.latency_seconds * 1000 for s in ok],
        ".",
        ms=2,
        label="latency of answered requests",
    )
    for start, end in timeline.summary.outages:
        axes.axvspan(start, end, color="red", alpha=0.25)
    for change in timeline.summary.changes:
        axes.axvline(change.at_seconds, color="green", linestyle="--")
        axes.annotate(
            f" model {change.model_date[:19]}",
            (change.at_seconds, 0.98),
            xycoords=axes.get_xaxis_transform(),
            rotation=90,
            va="top",
            fontsize=7,
        )
    axes.set_xlabel("seconds since the probe started")
    axes.set_ylabel("latency (ms)")
    axes.set_title(title)
    axes.legend(loc="upper right")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
