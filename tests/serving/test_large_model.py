"""Loading a large model (a million rules, 300,000 songs) happens off the event loop."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from recsys.model.repository import publish
from recsys.model.rules import RuleSet
from recsys.serving.deps import app_service
from recsys.settings import Settings, WatchMode
from tests.support.app import AppClient, in_process
from tests.support.models import (
    SYNTHETIC_PARAMS,
    encode_new_model,
    publish_rules,
    synthetic_rule_set,
)

TICK = 0.002


async def longest_stall(app: AppClient, model_id: str, limit: float) -> tuple[float, int]:
    """Tick every TICK seconds until `model_id` is served; the longest gap beyond a tick."""
    store = app_service(app.app).store
    longest, ticks = 0.0, 0
    deadline = time.monotonic() + limit
    last = time.monotonic()
    while time.monotonic() < deadline:
        await asyncio.sleep(TICK)
        now = time.monotonic()
        longest, last, ticks = max(longest, now - last - TICK), now, ticks + 1
        if store.current is not None and store.current.model_id == model_id:
            break
    return longest, ticks


def test_a_large_model_loads_without_stalling_the_event_loop(
    data_dir: Path, ds1_rules: RuleSet
) -> None:
    publish_rules(data_dir, ds1_rules)
    big = synthetic_rule_set(rules=1_000_000, songs=300_000)
    with in_process(Settings(data_dir=data_dir, watch=WatchMode.EVENTS)) as app:
        built = encode_new_model(big, SYNTHETIC_PARAMS)
        watch = app.portal.start_task_soon(lambda: longest_stall(app, built.model_id, 120))
        publish(data_dir, built, keep=10)
        stall, ticks = watch.result()
        info = app.get("/api/model").json()
    assert info["model_id"] == built.model_id
    assert info["rules"] == big.rule_count
    load = info["load_seconds"]
    print(f"load {load:.3f} s, {ticks} ticks, longest stall {stall * 1000:.1f} ms")
    # Loading on the loop would stall it for the whole load; off the loop, only for the
    # GIL hand-offs of the loading thread, a small share of it.
    assert stall < load / 4, f"the event loop stalled {stall:.3f} s during a {load:.3f} s load"
