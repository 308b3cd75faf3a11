"""recsys: playlist recommendations from association rules.

The version comes from the installed package metadata, so the wheel, the CLI and every
HTTP response report the same string without a second place to bump it.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("recsys")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+unknown"
