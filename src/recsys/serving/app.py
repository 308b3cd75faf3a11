"""`create_app(settings)`: the FastAPI app with its model store, metrics and watcher."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial

from fastapi import FastAPI
from starlette.types import ASGIApp, Receive, Scope, Send

from recsys import __version__
from recsys.serving.deps import Service
from recsys.serving.errors import install_handlers
from recsys.serving.fastpath import RecommendFastPath
from recsys.serving.loader import LoadOutcome, ModelLoader
from recsys.serving.metrics import RequestMetricsMiddleware, ServiceMetrics
from recsys.serving.pages import install_pages
from recsys.serving.routes import router
from recsys.serving.search import SearchCache
from recsys.serving.store import ModelStore
from recsys.serving.watcher import ModelWatcher
from recsys.settings import Settings

log = logging.getLogger("recsys.serving")


class ServiceApp(FastAPI):
    """The FastAPI app, entered through `front`: the request metrics, then the hot route.

    Starlette runs added middleware inside its own layers (error handling, and FastAPI's
    body limit and telemetry), which every request would pay for. In front of them, the
    fast path answers the requests it is sure of and hands the rest, and anything it
    fails on, to the app; the metrics still count and time every answer.
    """

    front: ASGIApp | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await (self.front or super().__call__)(scope, receive, send)


def create_app(settings: Settings, *, fast_path: bool = True) -> ServiceApp:
    """One app = one store, one registry, one watcher; nothing global.

    `fast_path=False` leaves `/api/recommend` to the FastAPI route alone: the tests compare
    the two.
    """
    store = ModelStore()
    metrics = ServiceMetrics(settings.data_dir)
    loader = ModelLoader(settings.data_dir, store, metrics, settings.max_model_bytes)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        outcome = await loader.reload()
        if outcome is LoadOutcome.ABSENT:
            log.warning(
                "no model in %s yet; /readyz answers 503 until one arrives", settings.data_dir
            )
        watcher = ModelWatcher(settings, loader, metrics)
        watcher.start()
        try:
            yield
        finally:
            await watcher.stop()

    app = ServiceApp(
        title="recsys",
        version=__version__,
        summary="Playlist recommendations from association rules.",
        lifespan=lifespan,
        docs_url=None,  # install_pages serves /docs with Swagger UI from the package
        redoc_url=None,  # ReDoc would load from a CDN: a blank page offline
    )
    service = Service(
        settings=settings, store=store, metrics=metrics, loader=loader, searches=SearchCache()
    )
    app.state.service = service
    app.include_router(router)
    install_pages(app)
    install_handlers(app)
    inner: ASGIApp = partial(FastAPI.__call__, app)
    if fast_path:
        inner = RecommendFastPath(inner, service)
    app.front = RequestMetricsMiddleware(inner, metrics)
    return app
