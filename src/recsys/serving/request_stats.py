"""What every request adds to the metrics, kept as plain numbers and turned into
Prometheus samples only when scraped.

prometheus-client's counters and histograms take a lock on every update, which each
request would pay for several times. Every update here and every scrape (the metrics
listener is served by the same event loop) run on the event loop's one thread, so plain
numbers need no lock. Series are keyed by route template, method and status: bounded.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterator
from itertools import accumulate

from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
_BOUNDS = [*map(floatToGoString, LATENCY_BUCKETS), "+Inf"]


class RequestStats(Collector):
    """Requests by route, method and status; their latency by route; songs by source."""

    def __init__(self) -> None:
        self.requests: dict[tuple[str, str, int], int] = {}
        # route -> requests per latency bucket (the last is +Inf), then the seconds' sum
        self.latency: dict[str, list[float]] = {}
        self.songs = {"rules": 0, "popularity": 0}
        # Sent songs by whether the served model knows them: a rising unknown share is the
        # first sign that a model no longer matches what people listen to.
        self.sent = {"true": 0, "false": 0}
        self.none_known = 0
        self.answered = 0  # every request so far: a reload paces itself while this moves

    def record(self, route: str, method: str, status: int, seconds: float) -> None:
        self.answered += 1
        key = (route, method, status)
        self.requests[key] = self.requests.get(key, 0) + 1
        timing = self.latency.get(route)
        if timing is None:
            timing = self.latency[route] = [0] * len(_BOUNDS) + [0.0]
        timing[bisect_left(LATENCY_BUCKETS, seconds)] += 1  # the first bound >= seconds
        timing[-1] += seconds

    def recommended(self, known: int, unknown: int, from_rules: int, from_popularity: int) -> None:
        """One answer of /api/recommend: what was sent, and where the answer came from."""
        self.sent["true"] += known
        self.sent["false"] += unknown
        if not known:
            self.none_known += 1
        self.songs["rules"] += from_rules
        self.songs["popularity"] += from_popularity

    def collect(self) -> Iterator[Metric]:
        requests = CounterMetricFamily(
            "recsys_http_requests",
            "HTTP requests by route template, method and status code.",
            labels=["route", "method", "status"],
        )
        for (route, method, status), count in self.requests.items():
            requests.add_metric([route, method, str(status)], count)
        yield requests
        latency = HistogramMetricFamily(
            "recsys_http_request_duration_seconds",
            "Time to answer, by route template.",
            labels=["route"],
        )
        for route, timing in self.latency.items():
            cumulative = accumulate(timing[:-1])
            latency.add_metric([route], list(zip(_BOUNDS, cumulative, strict=True)), timing[-1])
        yield latency
        songs = CounterMetricFamily(
            "recsys_recommended_songs",
            "Songs answered, by where they came from: rules, or the popularity fill.",
            labels=["source"],
        )
        for source, count in self.songs.items():
            songs.add_metric([source], count)
        yield songs
        yield from self._collect_sent()

    def _collect_sent(self) -> Iterator[Metric]:
        sent = CounterMetricFamily(
            "recsys_request_songs",
            "Songs sent to /api/recommend, by whether the served model knows them.",
            labels=["known"],
        )
        for known, count in self.sent.items():
            sent.add_metric([known], count)
        yield sent
        yield CounterMetricFamily(
            "recsys_requests_without_known_songs",
            "Answers of /api/recommend to requests none of whose songs the model knows.",
            value=self.none_known,
        )
