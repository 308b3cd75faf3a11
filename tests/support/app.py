"""The API in-process: `create_app` behind `httpx.ASGITransport`, called from sync tests.

The app runs in an event loop of its own thread (an anyio blocking portal), with its
lifespan entered, so the watcher and reloader run as in `recsys serve`; tests stay plain
functions, which hypothesis needs.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from functools import partial
from typing import Any, TypeVar

import httpx
from anyio.from_thread import BlockingPortal, start_blocking_portal
from fastapi import FastAPI
from prometheus_client import generate_latest

from recsys.serving import create_app
from recsys.serving.deps import app_service
from recsys.settings import Settings
from tests.support.metrics import metric_value

T = TypeVar("T")


class AppClient:
    """Sync calls into an app running in a portal's event loop."""

    def __init__(self, portal: BlockingPortal, app: FastAPI, client: httpx.AsyncClient) -> None:
        self.portal = portal
        self.app = app
        self._client = client

    def request(self, method: str, path: str, **options: Any) -> httpx.Response:
        return self.portal.call(partial(self._client.request, method, path, **options))

    def get(self, path: str, **options: Any) -> httpx.Response:
        return self.request("GET", path, **options)

    def post(self, path: str, **options: Any) -> httpx.Response:
        return self.request("POST", path, **options)

    def run(self, function: Callable[[], Awaitable[T]]) -> T:
        """Run a coroutine function in the app's event loop and wait for its result."""
        return self.portal.call(function)

    def metric(self, name: str, default: float | None = None, **labels: str) -> float:
        """A series of the app's registry, as its metrics port would expose it."""
        text = generate_latest(app_service(self.app).metrics.registry).decode()
        return metric_value(text, name, default, **labels)


@asynccontextmanager
async def _running(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with app.router.lifespan_context(app):
        # Errors answer as the server would (a JSON 500), not raised into the test.
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://recsys") as client:
            yield client


@contextmanager
def in_process(settings: Settings, **options: Any) -> Iterator[AppClient]:
    """`create_app(settings, **options)` started (lifespan entered) and a client for it."""
    app = create_app(settings, **options)
    with (
        start_blocking_portal() as portal,
        portal.wrap_async_context_manager(_running(app)) as client,
    ):
        yield AppClient(portal, app, client)
