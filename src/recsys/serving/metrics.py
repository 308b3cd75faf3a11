"""Prometheus metrics of one app instance, and the ASGI middleware that counts requests.

Each app gets its own registry, so several apps in one process (tests, benchmarks) never
share or collide on counters.
"""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from starlette.types import ASGIApp, Message, Receive, Scope, Send

disable_created_metrics()  # *_created series only add noise to every scrape

LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


class ServiceMetrics:
    """Requests, reloads and the served model, as the operators' dashboards read them."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "recsys_http_requests",
            "HTTP requests by route template, method and status code.",
            ["route", "method", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "recsys_http_request_duration_seconds",
            "Time to answer, by route template.",
            ["route"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.reloads = Counter(
            "recsys_model_reloads",
            "Model reload attempts by result (loaded, failed).",
            ["result"],
            registry=self.registry,
        )
        self.watcher_restarts = Counter(
            "recsys_watcher_restarts",
            "Times a crashed watcher task was restarted.",
            registry=self.registry,
        )
        recommended = Counter(
            "recsys_recommended_songs",
            "Songs answered, by where they came from: rules, or the popularity fill.",
            ["source"],
            registry=self.registry,
        )
        # Resolved once: both series exist from the start, and a request pays no look-up.
        self.from_rules = recommended.labels("rules")
        self.from_popularity = recommended.labels("popularity")
        self._add_model_gauges()

    def _add_model_gauges(self) -> None:
        """The served model's gauges: which one, how big, how old."""
        self.model_info = Gauge(
            "recsys_model_info",
            "1 for the served model, labelled with its id and training date.",
            ["model_id", "model_date"],
            registry=self.registry,
        )
        self.model_coverage = Gauge(
            "recsys_model_coverage",
            "Share of the served model's songs that make some rule fire when sent alone.",
            registry=self.registry,
        )
        self.model_rules = Gauge(
            "recsys_model_rules", "Rules in the served model.", registry=self.registry
        )
        self.model_songs = Gauge(
            "recsys_model_songs", "Songs the served model knows.", registry=self.registry
        )
        self.model_load_seconds = Gauge(
            "recsys_model_load_seconds",
            "Seconds the served model took to read, verify and index.",
            registry=self.registry,
        )
        self.model_age = Gauge(
            "recsys_model_age_seconds",
            "Seconds since the served model was trained.",
            registry=self.registry,
        )
        self._trained_at: datetime | None = None
        self.model_age.set_function(self._age)

    def _age(self) -> float:
        if self._trained_at is None:
            return float("nan")
        return (datetime.now(self._trained_at.tzinfo) - self._trained_at).total_seconds()

    def served(
        self,
        model_id: str,
        model_date: str,
        rules: int,
        songs: int,
        seconds: float,
        coverage: float = float("nan"),
    ) -> None:
        """Point the model gauges at a newly swapped-in model."""
        self.model_coverage.set(coverage)
        self.model_info.clear()
        self.model_info.labels(model_id=model_id, model_date=model_date).set(1)
        self.model_rules.set(rules)
        self.model_songs.set(songs)
        self.model_load_seconds.set(seconds)
        try:
            self._trained_at = datetime.fromisoformat(model_date)
        except ValueError:
            self._trained_at = None


class RequestMetricsMiddleware:
    """Pure ASGI (no per-request task or body copy): counts and times every HTTP request."""

    def __init__(self, app: ASGIApp, metrics: ServiceMetrics) -> None:
        self.app = app
        self.metrics = metrics
        self._cache: dict[tuple[str, str, int], tuple[Any, Any]] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_with_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_with_status)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", "unmatched")
            count, timing = self._series(template, scope["method"], status)
            count.inc()
            timing.observe(time.perf_counter() - started)

    def _series(self, template: str, method: str, status: int) -> tuple[Any, Any]:
        """The labelled counter and histogram of a request: looked up once per label set
        (prometheus-client's `labels` costs more than the rest of counting). The label
        sets are bounded as the series are: route templates, methods, statuses."""
        key = (template, method, status)
        series = self._cache.get(key)
        if series is None:
            series = self._cache[key] = (
                self.metrics.requests.labels(template, method, str(status)),
                self.metrics.latency.labels(template),
            )
        return series


def metrics_app(metrics: ServiceMetrics) -> ASGIApp:
    """The app of the metrics port: `GET /metrics` and nothing else (404 as JSON)."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        if scope["path"] == "/metrics" and scope["method"] in ("GET", "HEAD"):
            status, body, kind = 200, generate_latest(metrics.registry), CONTENT_TYPE_LATEST
        else:
            status, body, kind = 404, b'{"detail":"Not Found"}', "application/json"
        headers = [(b"content-type", kind.encode()), (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    return app


def by_port(main: ASGIApp, metrics: ASGIApp, metrics_port: int) -> ASGIApp:
    """One server, two listeners: requests to `metrics_port` go to `metrics`, all else
    (the API's port, and the lifespan) to `main`. /metrics stays off the public port."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        server = scope.get("server")
        if scope["type"] == "http" and server is not None and server[1] == metrics_port:
            await metrics(scope, receive, send)
        else:
            await main(scope, receive, send)

    return app
