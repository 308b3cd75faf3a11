"""The one exception family the CLI reports as a single line instead of a traceback.

It lives apart from the modules that raise it so that the CLI can catch every expected
failure without importing the training stack.
"""


class RecsysError(Exception):
    """An expected failure (bad input, missing model, unreachable server): say why, exit 1."""
