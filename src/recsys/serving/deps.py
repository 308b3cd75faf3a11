"""Typed access to the app's parts, and the one "no model yet" answer.

`Service` holds the parts of one app instance; `app_service(app)` and `service(request)`
return it, checked and typed, and `served_model` (or the `Served` dependency) the model to
answer with, or a 503 while there is none. Code that goes through them reads no untyped
attribute of `app.state`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from starlette.applications import Starlette

from recsys.serving.errors import NoModelError
from recsys.serving.loader import ModelLoader
from recsys.serving.metrics import ServiceMetrics
from recsys.serving.search import SearchCache
from recsys.serving.store import ModelStore, ServedModel
from recsys.settings import Settings


@dataclass(frozen=True)
class Service:
    """The parts of one app instance."""

    settings: Settings
    store: ModelStore
    metrics: ServiceMetrics
    loader: ModelLoader
    searches: SearchCache


def app_service(app: Starlette) -> Service:
    """The one `Service` that `create_app` stored on `app`."""
    parts = app.state.service
    if not isinstance(parts, Service):
        raise TypeError("the app was not made by create_app")
    return parts


def service(request: Request) -> Service:
    return app_service(request.app)


def served_model(request: Request) -> ServedModel:
    """The model to answer with, read once per request; 503 while there is none."""
    parts = service(request)
    current = parts.store.current
    if current is None:
        raise NoModelError(retry_after=math.ceil(parts.settings.poll_interval))
    return current


Served = Annotated[ServedModel, Depends(served_model)]
