"""Every metric the alerts and the Grafana dashboard of the monitoring component read
(deploy/kustomize/components/monitoring) exists on a real `recsys serve`: a renamed or
dropped metric would leave an alert that can never fire and an empty panel.

The server serves what a real `recsys refresh` published (so the refresh's own metrics
exist too), and has answered one recommendation with a song its model knows and one it does
not. kube_* (kube-state-metrics) and `up` (Prometheus) are not the API's: left out here,
tests/deploy/test_monitoring.py checks that nothing else is read.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from recsys.model.rules import RuleSet
from recsys.settings import Settings
from tests.support.app import in_process
from tests.support.http_server import DatasetServer
from tests.support.manifests import metric_names, monitoring_expressions
from tests.support.models import publish_rules
from tests.support.paths import SAMPLE_DS1
from tests.support.processes import run_recsys
from tests.support.server import ServerProcess

API_PREFIXES = ("recsys_", "process_")


def api_metrics_read() -> dict[str, set[str]]:
    """The API's metrics the alerts and the dashboard read, by where they are read."""
    return {
        where: {
            name
            for expression in expressions
            for name in metric_names(expression)
            if name.startswith(API_PREFIXES)
        }
        for where, expressions in monitoring_expressions().items()
    }


def scraped_names(exposition: str) -> set[str]:
    """Every sample name of a scrape (`_bucket`, `_count`, `_total` included)."""
    return {
        sample.name
        for family in text_string_to_metric_families(exposition)
        for sample in family.samples
    }


def test_the_component_reads_the_api_metrics_it_is_about() -> None:
    read = api_metrics_read()
    assert {"recsys_model_info", "recsys_model_age_seconds"} <= read["alerts"]
    assert "process_resident_memory_bytes" in read["dashboard"]


def test_every_metric_the_alerts_and_the_dashboard_read_exists(
    data_dir: Path,
    dataset_server: DatasetServer,
    start_server: Callable[..., ServerProcess],
) -> None:
    dataset_server.publish(SAMPLE_DS1.read_bytes())
    refreshed = run_recsys("refresh", "--dataset-url", dataset_server.url, data_dir=data_dir)
    assert refreshed.returncode == 0, refreshed.stderr
    server = start_server(data_dir)
    with httpx.Client(base_url=server.url, timeout=10) as client:
        deadline = time.monotonic() + 30
        while client.get("/readyz").status_code != 200:  # the model is loaded after start
            assert time.monotonic() < deadline, server.log()
            time.sleep(0.05)
        (known,) = client.get("/api/songs", params={"limit": 1}).json()["songs"]
        answer = client.post("/api/recommend", json={"songs": [known, "No Such Song At All"]})
        assert answer.status_code == 200, answer.text
        assert answer.json()["unknown_songs"] == ["No Such Song At All"]
    scraped = scraped_names(httpx.get(server.metrics_url, timeout=5).text)
    missing = {
        where: sorted(names - scraped)
        for where, names in api_metrics_read().items()
        if names - scraped
    }
    assert missing == {}, f"read by the monitoring component, absent from /metrics: {missing}"


def test_the_last_good_refresh_is_read_from_the_volume_at_each_scrape(
    data_dir: Path, ds1_rules: RuleSet
) -> None:
    publish_rules(data_dir, ds1_rules)
    name = "recsys_refresh_last_success_timestamp_seconds"
    state = data_dir / "refresh-state.json"
    with in_process(Settings(data_dir=data_dir)) as app:
        assert app.metric(name, default=-1) == -1  # no refresh yet: no sample
        state.write_text(json.dumps({"checked_at": "2026-12-01T00:00:00+00:00"}))
        assert app.metric(name) == datetime(2026, 12, 1, tzinfo=UTC).timestamp()
        state.unlink()
        os.mkfifo(state)  # read without blocking, and left out
        assert app.metric(name, default=-1) == -1
        assert app.get("/healthz").status_code == 200
