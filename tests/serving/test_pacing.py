"""A reload beside requests is paced: the loading thread sleeps between slices of work
while requests are answered, and runs at a lower CPU priority than the event loop."""

from __future__ import annotations

import asyncio
import os
import sys
import threading
from pathlib import Path

import pytest

from recsys.model.format import decode_model
from recsys.model.rules import RuleSet
from recsys.model.slices import SLICE
from recsys.serving import loader as loader_module
from recsys.serving import pacing
from recsys.serving.loader import LoadOutcome, ModelLoader
from recsys.serving.metrics import ServiceMetrics
from recsys.serving.store import ModelStore
from tests.support.models import encode_new_model, publish_rules


class FakeTime:
    """perf_counter and sleep over a clock the test moves."""

    def __init__(self) -> None:
        self.now = 100.0
        self.slept: list[float] = []

    def perf_counter(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def test_a_pacer_sleeps_only_while_requests_are_answered(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = FakeTime()
    monkeypatch.setattr(pacing, "time", clock)
    answered = [0]
    pace = pacing.Pacer(lambda: answered[0])
    slice_of_work = pacing.UNPACED_SECONDS / 2
    answered[0] += 1
    clock.now += slice_of_work  # requests answered, but within the unpaced allowance
    pace()
    assert clock.slept == []
    clock.now += slice_of_work  # the allowance is used up, but nothing was answered
    pace()
    assert clock.slept == []
    answered[0] += 3
    clock.now += 0.002  # a slice of work while requests were answered
    pace()
    share = pacing.RELOAD_SHARE
    assert clock.slept == [pytest.approx(0.002 * (1 - share) / share)]
    answered[0] += 1
    clock.now += 0.001  # the sleep is not counted as work: only the next slice is
    pace()
    assert clock.slept[1] == pytest.approx(0.001 * (1 - share) / share)


@pytest.mark.skipif(sys.platform != "linux", reason="only Linux gives each thread a nice value")
def test_the_reload_thread_runs_at_a_lower_priority_than_the_loop() -> None:
    process = os.getpriority(os.PRIO_PROCESS, 0)

    def own_priority() -> int:
        return os.getpriority(os.PRIO_PROCESS, threading.get_native_id())

    with pacing.reload_executor() as executor:
        assert executor.submit(own_priority).result() == min(19, process + pacing.RELOAD_NICE)
    assert own_priority() == process  # the calling thread is left alone


def test_a_paced_load_reads_the_same_model(ds1_rules: RuleSet) -> None:
    content = encode_new_model(ds1_rules).content
    paces = []
    paced = decode_model(content, pace=lambda: paces.append(1))
    assert paced == decode_model(content)
    assert len(paces) >= len(paced.arrays["consequents"]) // SLICE


def test_reloads_beside_a_served_model_are_paced_and_the_first_is_not(
    tmp_path: Path, ds1_rules: RuleSet, monkeypatch: pytest.MonkeyPatch
) -> None:
    made: list[pacing.Pacer] = []

    class RecordedPacer(pacing.Pacer):
        def __init__(self, *args: object) -> None:
            super().__init__(*args)  # type: ignore[arg-type]
            made.append(self)

    monkeypatch.setattr(loader_module, "Pacer", RecordedPacer)
    metrics = ServiceMetrics()
    loader = ModelLoader(tmp_path, ModelStore(), metrics)
    publish_rules(tmp_path, ds1_rules)
    assert asyncio.run(loader.reload()) == LoadOutcome.LOADED
    assert made == []
    publish_rules(tmp_path, ds1_rules)
    assert asyncio.run(loader.reload()) == LoadOutcome.LOADED
    assert len(made) == 1
    metrics.requests.record("/api/recommend", "POST", 200, 0.001)
    assert made[0]._answered() == metrics.requests.answered == 1
