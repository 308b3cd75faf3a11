"""The HTTP service. It reads models with `recsys.artifact` and `recsys.index` only: importing
it must never pull in the training stack (polars, efficient-apriori)."""

from recsys.service.app import create_app

__all__ = ["create_app"]
