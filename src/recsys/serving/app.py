"""`create_app(settings)`: the FastAPI app with its model store, metrics and watcher."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from recsys import __version__
from recsys.serving.deps import Service
from recsys.serving.errors import install_handlers
from recsys.serving.fastpath import RecommendFastPath
from recsys.serving.loader import LoadOutcome, ModelLoader
from recsys.serving.metrics import RequestMetricsMiddleware, ServiceMetrics
from recsys.serving.pages import install_pages
from recsys.serving.routes import router
from recsys.serving.store import ModelStore
from recsys.serving.watcher import ModelWatcher
from recsys.settings import Settings

log = logging.getLogger("recsys.serving")


def create_app(settings: Settings, *, fast_path: bool = True) -> FastAPI:
    """One app = one store, one registry, one watcher; nothing global.

    `fast_path=False` leaves `/api/recommend` to the FastAPI route alone: the tests compare
    the two.
    """
    store = ModelStore()
    metrics = ServiceMetrics()
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

    app = FastAPI(
        title="recsys",
        version=__version__,
        summary="Playlist recommendations from association rules.",
        lifespan=lifespan,
        docs_url=None,  # install_pages serves /docs with Swagger UI from the package
        redoc_url=None,  # ReDoc would load from a CDN: a blank page offline
    )
    service = Service(settings=settings, store=store, metrics=metrics, loader=loader)
    app.state.service = service
    app.include_router(router)
    install_pages(app)
    if fast_path:  # inside the metrics middleware, which counts and times its answers
        app.add_middleware(RecommendFastPath, service=service)
    app.add_middleware(RequestMetricsMiddleware, metrics=metrics)
    install_handlers(app)
    return app
