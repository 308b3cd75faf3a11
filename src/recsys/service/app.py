"""`create_app(settings)`: the FastAPI app with its model store, metrics and watcher."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from starlette.exceptions import HTTPException

from recsys import __version__
from recsys.service.metrics import RequestMetricsMiddleware, ServiceMetrics
from recsys.service.routes import error, router
from recsys.service.store import ModelStore
from recsys.service.watcher import ModelLoader, ModelWatcher
from recsys.settings import Settings

log = logging.getLogger("recsys.service")


def create_app(settings: Settings) -> FastAPI:
    """One app = one store, one registry, one watcher; nothing global."""
    store = ModelStore()
    metrics = ServiceMetrics()
    loader = ModelLoader(settings.data_dir, store, metrics)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        outcome = await loader.reload()
        if outcome == "absent":
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
    )
    app.state.settings = settings
    app.state.store = store
    app.state.metrics = metrics
    app.state.loader = loader
    app.include_router(router)
    app.add_middleware(RequestMetricsMiddleware, metrics=metrics)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, problem: HTTPException) -> Response:
        return error(problem.status_code, str(problem.detail), problem.headers)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, problem: RequestValidationError) -> Response:
        return error(422, "invalid request", errors=jsonable_encoder(problem.errors()))

    return app
