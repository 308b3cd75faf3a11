"""The `recsys` command. `main` wires the commands; each module holds one group's handlers.

Heavy modules are imported inside each handler, so `recsys serve` never loads the training
stack and `recsys --help` answers instantly.
"""

from recsys.cli.main import main

__all__ = ["main"]
