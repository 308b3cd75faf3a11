"""Loading a 500,000-rule model never stalls the event loop."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import httpx

from recsys.mining import RuleSet
from tests.support.models import publish_rules, synthetic_rule_set
from tests.support.server import ServerProcess


def test_health_checks_every_20ms_all_answer_while_a_large_model_loads(
    data_dir: Path, ds1_rules: RuleSet, start_server: Callable[..., ServerProcess]
) -> None:
    publish_rules(data_dir, ds1_rules)
    server = start_server(data_dir, RECSYS_WATCH="events")
    big = synthetic_rule_set()
    statuses: list[int] = []
    with httpx.Client(base_url=server.url, timeout=2) as client:
        model_id, _ = publish_rules(data_dir, big)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            statuses.append(client.get("/healthz").status_code)
            if client.get("/api/model").json()["model_id"] == model_id:
                break
            time.sleep(0.02)
        info = client.get("/api/model").json()
    assert info["model_id"] == model_id
    assert info["rules"] == big.rule_count
    assert set(statuses) == {200}
    print(f"{len(statuses)} health checks during a {info['load_seconds']:.3f} s load: all 200")
