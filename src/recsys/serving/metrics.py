"""Prometheus metrics of one app instance, and the ASGI middleware that counts requests.

Each app gets its own registry, so several apps in one process (tests, benchmarks) never
share or collide on counters.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    ProcessCollector,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from recsys.model.refresh_state import last_success
from recsys.serving.request_stats import RequestStats

disable_created_metrics()  # *_created series only add noise to every scrape


class RefreshCollector(Collector):
    """When `recsys refresh` last ended well, read from the data directory at each scrape
    (a small file, read without blocking); no sample until a refresh did."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir

    def collect(self) -> Iterator[Metric]:
        moment = last_success(self.data_dir)
        if moment is not None:
            yield GaugeMetricFamily(
                "recsys_refresh_last_success_timestamp_seconds",
                "Unix time the last `recsys refresh` that ended well (trained or unchanged) "
                "checked the dataset.",
                value=moment,
            )


class ServiceMetrics:
    """Requests, reloads and the served model, as the operators' dashboards read them."""

    def __init__(self, data_dir: Path | None = None) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = RequestStats()
        self.registry.register(self.requests)
        if data_dir is not None:
            self.registry.register(RefreshCollector(data_dir))
        # process_resident_memory_bytes and the rest: a model's memory, seen from inside.
        ProcessCollector(registry=self.registry)
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
        self.requests = metrics.requests

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
            template = getattr(scope.get("route"), "path", "unmatched")
            self.requests.record(template, scope["method"], status, time.perf_counter() - started)


def metrics_app(metrics: ServiceMetrics) -> ASGIApp:
    """The app of the metrics port: `GET /metrics`, `GET /healthz` and nothing else (404
    as JSON). The liveness probe looks here: this port has connection slots of its own
    (serving.guard), so API clients holding every API slot cannot get the pod restarted."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        reading = scope["method"] in ("GET", "HEAD")
        if scope["path"] == "/metrics" and reading:
            status, body, kind = 200, generate_latest(metrics.registry), CONTENT_TYPE_LATEST
        elif scope["path"] == "/healthz" and reading:
            status, body, kind = 200, b'{"status":"ok"}', "application/json"
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
