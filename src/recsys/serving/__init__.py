"""The HTTP service. It reads models through `recsys.model` and answers with `RuleIndex`;
importing it never loads the training stack (polars, efficient-apriori)."""

from recsys.serving.app import create_app

__all__ = ["create_app"]
