"""Reading a request body within the API's limits, shared by the route and the fast path.

One reader, so both answer the same 413, 408 and 499 for the same client behaviour.
"""

from __future__ import annotations

import asyncio

from starlette.types import Receive

from recsys.serving.deadlines import deadlines
from recsys.serving.errors import BodyTimeoutError, BodyTooLargeError, ClientGoneError
from recsys.serving.schemas import MAX_BODY_BYTES


def declared_too_large(declared: str | None) -> bool:
    """A Content-Length over the cap: refused before a byte of the body is read."""
    return bool(
        declared and declared.isascii() and declared.isdigit() and int(declared) > MAX_BODY_BYTES
    )


async def read_capped(receive: Receive, declared: str | None, seconds: float) -> bytes:
    """The body, within the size cap (declared or streamed) and `seconds`.

    Raises BodyTooLargeError (413), BodyTimeoutError (408) or ClientGoneError (499).

    The deadline cancels this task, as `asyncio.timeout` does, but is kept by the loop's
    `Deadlines`, without a timer of its own: every request pays for the deadline, and on
    the hot route a timer per request showed in `python -m bench serve`.
    """
    if declared_too_large(declared):
        raise BodyTooLargeError(MAX_BODY_BYTES)
    loop = asyncio.get_running_loop()
    task = asyncio.current_task(loop)
    assert task is not None, "a request is always read in a task"
    watch = deadlines(loop)
    watch.start(task, seconds)
    try:
        return await _read(receive)
    except asyncio.CancelledError:
        if watch.stop(task) and task.uncancel() == 0:  # our deadline, and no one else's cancel
            raise BodyTimeoutError(seconds) from None
        raise
    finally:
        watch.stop(task)


async def _read(receive: Receive) -> bytes:
    chunks = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientGoneError
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise BodyTooLargeError(MAX_BODY_BYTES)
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)
