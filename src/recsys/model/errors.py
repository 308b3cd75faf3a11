"""The one failure of the model package: a model file or pointer that must not be used."""

from recsys.errors import RecsysError


class ModelError(RecsysError):
    """A model file or pointer that must not be served; the message says why."""
