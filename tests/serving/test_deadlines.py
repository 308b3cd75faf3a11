"""serving.deadlines: one timer cancels each watched task when its own deadline passes."""

from __future__ import annotations

import asyncio

import pytest
import uvloop

from recsys.serving.deadlines import Deadlines, deadlines


async def _watched(watch: Deadlines, seconds: float, work: float) -> str:
    """Sleep `work` seconds under a deadline of `seconds`: 'done', or 'expired'."""
    task = asyncio.current_task()
    assert task is not None
    watch.start(task, seconds)
    try:
        await asyncio.sleep(work)
    except asyncio.CancelledError:
        if watch.stop(task):
            return "expired"
        raise
    finally:
        watch.stop(task)
    return "done"


# (deadline, work) of each task: the earliest finishes first, so the timer set for it
# must wait on for the others; one outlives its work.
PLAN = [(0.05, 0.01), (0.2, 1.0), (0.1, 1.0), (0.3, 0.25), (0.15, 1.0)]


@pytest.mark.parametrize("run", [asyncio.run, uvloop.run], ids=["asyncio", "uvloop"])
def test_each_task_is_cancelled_at_its_own_deadline_and_no_sooner(run) -> None:  # type: ignore[no-untyped-def]
    async def scenario() -> tuple[list[str], list[float], Deadlines]:
        loop = asyncio.get_running_loop()
        watch = deadlines(loop)
        started = loop.time()
        plan = PLAN
        ended: list[float] = [0.0] * len(plan)

        async def one(n: int, seconds: float, work: float) -> str:
            outcome = await _watched(watch, seconds, work)
            ended[n] = loop.time() - started
            return outcome

        outcomes = await asyncio.gather(*(one(n, *step) for n, step in enumerate(plan)))
        return list(outcomes), ended, watch

    outcomes, ended, watch = run(scenario())
    assert outcomes == ["done", "expired", "expired", "done", "expired"]
    for (seconds, work), outcome, at in zip(
        [(0.05, 0.01), (0.2, 1.0), (0.1, 1.0), (0.3, 0.25), (0.15, 1.0)],
        outcomes,
        ended,
        strict=True,
    ):
        due = work if outcome == "done" else seconds
        assert at >= due - 0.002, f"ended at {at:.3f} s, due at {due} s"
    assert not watch._due  # nothing kept for tasks that ended
    assert not watch._expired


def test_another_cancel_is_not_taken_for_the_deadline() -> None:
    async def scenario() -> bool:
        watch = deadlines(asyncio.get_running_loop())
        task = asyncio.ensure_future(_watched(watch, 10.0, 10.0))
        await asyncio.sleep(0.01)
        task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            return not (watch._due or watch._expired)
        return False

    assert asyncio.run(scenario())


def test_each_loop_has_its_own() -> None:
    async def mine() -> Deadlines:
        return deadlines(asyncio.get_running_loop())

    first, second = asyncio.run(mine()), asyncio.run(mine())
    assert first is not second
    assert first.loop is not second.loop
