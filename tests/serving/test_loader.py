"""The loader's rule that an unchanged broken state is counted once, in-process: each poll
of the watcher is one `reload()`, so no sleeps and no server are needed to see it."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from recsys.model.pointer import POINTER_NAME, read_pointer
from recsys.model.rules import RuleSet
from recsys.serving.loader import LoadOutcome, ModelLoader
from recsys.serving.metrics import ServiceMetrics
from recsys.serving.store import ModelStore
from tests.support.models import publish_rules

POLLS = 5


def failures(metrics: ServiceMetrics) -> float:
    value = metrics.registry.get_sample_value("recsys_model_reloads_total", {"result": "failed"})
    return value or 0.0


def polls(loader: ModelLoader) -> list[LoadOutcome]:
    return [asyncio.run(loader.reload()) for _ in range(POLLS)]


def test_a_broken_pointer_is_counted_once_until_it_changes(
    data_dir: Path, ds1_rules: RuleSet
) -> None:
    metrics = ServiceMetrics()
    store = ModelStore()
    loader = ModelLoader(data_dir, store, metrics)
    good, _ = publish_rules(data_dir, ds1_rules)
    assert asyncio.run(loader.reload()) is LoadOutcome.LOADED
    pointer = data_dir / POINTER_NAME
    real = pointer.read_text()
    pointer.write_text("{not json")
    assert polls(loader) == [LoadOutcome.FAILED] + [LoadOutcome.UNCHANGED] * (POLLS - 1)
    assert failures(metrics) == 1
    assert store.current is not None
    assert store.current.model_id == good

    pointer.write_text(json.dumps({**json.loads(real), "sha256": "0" * 64}))  # another break
    assert polls(loader) == [LoadOutcome.FAILED] + [LoadOutcome.UNCHANGED] * (POLLS - 1)
    assert failures(metrics) == 2

    newer, _ = publish_rules(data_dir, ds1_rules)  # a good pointer is loaded at once
    assert asyncio.run(loader.reload()) is LoadOutcome.LOADED
    assert store.current is not None
    assert store.current.model_id == newer
    assert read_pointer(data_dir).model_id == newer


def test_the_same_break_after_a_repair_counts_again(data_dir: Path, ds1_rules: RuleSet) -> None:
    """Once the pointer is back to the served model, the same damage again is a new failure
    (an operator who repaired it must see it happen again)."""
    metrics = ServiceMetrics()
    loader = ModelLoader(data_dir, ModelStore(), metrics)
    publish_rules(data_dir, ds1_rules)
    assert asyncio.run(loader.reload()) is LoadOutcome.LOADED
    pointer = data_dir / POINTER_NAME
    real = pointer.read_text()
    for attempt in (1, 2):
        pointer.write_text("{not json")
        assert polls(loader)[0] is LoadOutcome.FAILED
        assert failures(metrics) == attempt
        pointer.write_text(real)
        assert asyncio.run(loader.reload()) is LoadOutcome.UNCHANGED  # the served model
