"""Swap benchmark: five swaps of a ~500,000-rule model under 32 connections of load.

The server is `recsys serve` as the manifests run it (bench.apps.deployed_command),
pinned to CPU 0; the load generator (bench.loadgen, which records every request) and this
process to CPU 1. p99 latency in the 10 s around each swap is compared with the p99 of the
quiet 8 s just before it, in the same run: a shared host's speed drifts over a run, and a
baseline taken once at the start measured the drift as much as the swaps. The target is
on all five swaps' windows pooled against all their quiet windows; the worst single swap
is printed beside it. After the swaps, the same comparison is made for windows in which
nothing is published: the ratio the host's noise alone gives, printed beside the swaps' so
the two can be told apart.

The models are built before the load starts: in a deployment the trainer builds them on
another machine, and here building would take CPU from the load generator, which would
then measure itself. Each swap is the publish itself (write, fsync, verify, move the
pointer), at the moment the swap is timed.
"""

from __future__ import annotations

import csv
import json
import os
import statistics
import subprocess
import sys
import threading
import time
from datetime import datetime

import httpx

from bench.common import OUT, machine, rss_mb, table
from bench.models import BIG_PARAMS, big_rules, build, publish, request_bodies
from bench.serve import free_ports, recsys_server
from recsys.model.repository import publish as publish_model

SWAPS = 5
QUIET_WINDOWS = 2  # after the swaps: the same windows with nothing published
STEADY = 12.0
GAP = 20.0  # the previous swap's load is over well before the next quiet window starts
WINDOW = 5.0  # each side of a swap
QUIET = (-13.0, -WINDOW)  # the baseline of a swap at t: [t - 13, t - 5)


def p99(latencies: list[float]) -> float:
    return (
        statistics.quantiles(latencies, n=100)[98] * 1000 if len(latencies) > 100 else float("nan")
    )


def windows(
    moment: float, samples: list[tuple[float, float, int]]
) -> tuple[list[float], list[float]]:
    """The latencies in the window around `moment`, and in the quiet window before it."""
    window = [lat for t, lat, _ in samples if moment - WINDOW <= t < moment + WINDOW]
    before = [lat for t, lat, _ in samples if moment + QUIET[0] <= t < moment + QUIET[1]]
    return window, before


def around(moment: float, samples: list[tuple[float, float, int]]) -> tuple[float, float]:
    """p99 in the window around `moment`, and its ratio to the quiet window before it."""
    window, before = windows(moment, samples)
    return p99(window), p99(window) / p99(before)


def pooled(moments: list[float], samples: list[tuple[float, float, int]]) -> float:
    """The p99 of all the windows around `moments` together, over that of all the quiet
    windows before them: the swaps' p99 against the steady p99 of the same stretch of the
    run, which one swap's ratio estimates with the noise of a few seconds of a shared host."""
    around_all: list[float] = []
    before_all: list[float] = []
    for moment in moments:
        window, before = windows(moment, samples)
        around_all += window
        before_all += before
    return p99(around_all) / p99(before_all)


def swap_row(
    number: int,
    moment: float,
    delay: float,
    load_seconds: float,
    samples: list[tuple[float, float, int]],
    rss_samples: list[tuple[float, float]],
) -> list[object]:
    """One swap's line: latency around it, how long it took, resident memory."""
    window_p99, ratio = around(moment, samples)
    before = [rss for t, rss in rss_samples if moment - 2 <= t < moment]
    during = [rss for t, rss in rss_samples if moment <= t < moment + delay + 0.5]
    after = [rss for t, rss in rss_samples if moment + 3 <= t < moment + 5]
    return [
        number,
        f"{window_p99:.1f}",
        f"{ratio:.2f}",
        f"{delay:.3f}",
        f"{load_seconds:.3f}",
        f"{statistics.mean(before):.0f}",
        f"{max(during):.0f}",
        f"{statistics.mean(after):.0f}",
    ]


def main() -> str:
    os.sched_setaffinity(0, {1})
    rules = big_rules()
    data_dir = OUT / "swap"
    publish(data_dir, rules, BIG_PARAMS, "swap-initial")
    models = [build(rules, BIG_PARAMS, f"swap-{number}") for number in range(SWAPS)]
    bodies_file = OUT / "swap-bodies.json"
    bodies_file.write_text(json.dumps(request_bodies(rules)))
    port, metrics_port = free_ports(2)
    base = f"http://127.0.0.1:{port}"
    rss_samples: list[tuple[float, float]] = []
    with recsys_server(data_dir, port, metrics_port) as server:
        stop = threading.Event()

        def sample_rss() -> None:
            while not stop.is_set():
                rss_samples.append((time.time(), rss_mb(server.pid)))
                time.sleep(0.02)

        sampler = threading.Thread(target=sample_rss, daemon=True)
        sampler.start()
        duration = STEADY + (SWAPS + QUIET_WINDOWS) * GAP + 2
        samples_file = OUT / "swap-samples.csv"
        load = subprocess.Popen(
            [
                "taskset",
                "-c",
                "1",
                sys.executable,
                "-m",
                "bench.loadgen",
                str(port),
                "/api/recommend",
                str(bodies_file),
                str(duration),
                "32",
                str(samples_file),
            ],
            stdout=subprocess.PIPE,
            text=True,
        )
        started = time.time()
        swaps = []
        time.sleep(STEADY)
        with httpx.Client(base_url=base, timeout=5) as client:
            for number, built in enumerate(models):
                publish_model(data_dir, built, keep=3)
                published_at = time.time()  # the pointer has moved
                # Seldom: each look is a request, and its client shares the load's CPU.
                while (info := client.get("/api/model").json())["model_id"] != built.model_id:
                    time.sleep(0.25)
                served_at = datetime.fromisoformat(info["loaded_at"]).timestamp()
                swaps.append((published_at, served_at - published_at, info["load_seconds"]))
                time.sleep(max(0.0, started + STEADY + (number + 1) * GAP - time.time()))
        load.wait(timeout=duration + 60)
        stop.set()
        sampler.join()
    with samples_file.open() as handle:
        samples = [
            (float(t), float(latency), int(status)) for t, latency, status in csv.reader(handle)
        ]
    errors = sum(1 for _, _, status in samples if status != 200)
    steady = [lat for t, lat, _ in samples if started + 1 <= t < started + STEADY - 1]
    steady_p99 = p99(steady)
    steady_rps = len(steady) / (STEADY - 2)
    rows = [
        swap_row(number, moment, delay, load_seconds, samples, rss_samples)
        for number, (moment, delay, load_seconds) in enumerate(swaps, 1)
    ]
    quiet_moments = [started + STEADY + (SWAPS + extra) * GAP for extra in range(QUIET_WINDOWS)]
    quiet = [around(moment, samples) for moment in quiet_moments]
    worst = max(float(row[2]) for row in rows)
    swaps_pooled = pooled([moment for moment, _, _ in swaps], samples)
    return "\n\n".join(
        [
            "## Model swaps under load (`python -m bench swap`)",
            f"{machine()}. A {rules.rule_count}-rule model (`recsys synth --playlists 300 "
            f"--songs 1500 --seed 7`, mined at min_support 0.043 with rules of up to 3 "
            f"songs) is served as deployed (`recsys serve` with the API container's arguments "
            "and environment) on CPU 0 "
            f"under 32 connections of back-to-back requests from CPU 1; after {STEADY:.0f} s "
            f"of steady state, a new model of that size (built before the load starts, as a "
            f"trainer elsewhere would) is published every {GAP:.0f} s. "
            "A reload while a model is served is paced (serving.pacing). The p99 of the "
            f"{2 * WINDOW:.0f} s around each swap is compared with that of the quiet "
            f"{QUIET[1] - QUIET[0]:.0f} s before it; {QUIET_WINDOWS} more such windows follow "
            f"with nothing published. {len(samples)} requests, {errors} failed.",
            f"Steady state: {steady_rps:.0f} requests/s, p99 {steady_p99:.1f} ms.",
            table(
                [
                    "swap",
                    "p99 ms (±5 s)",
                    "p99 / quiet before",
                    "pointer→served s",
                    "load s",
                    "RSS before MB",
                    "RSS peak during MB",
                    "RSS after MB",
                ],
                rows,
            ),
            f"- p99 around the swaps: {swaps_pooled:.2f}x that of the quiet windows before "
            "them (target: at most 1.2x)\n"
            f"- worst p99 around one swap: {worst:.2f}x the quiet window before it\n"
            f"- the same ratio with nothing published (the host's noise): "
            + ", ".join(f"{ratio:.2f}x" for _, ratio in quiet)
            + f"; together {pooled(quiet_moments, samples):.2f}x"
            + f"\n- failed requests: {errors} (target: 0)",
        ]
    )
