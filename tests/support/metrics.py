"""Reading one series from a Prometheus text exposition, strictly."""

from __future__ import annotations


def metric_value(exposition: str, name: str, default: float | None = None, **labels: str) -> float:
    """The value of `name{labels}`; a missing series fails the test unless `default` is given.

    Prometheus creates a labelled counter's series at its first increment, so a test that
    reads a count before anything happened passes `default=0` and says so.
    """
    wanted = ",".join(f'{key}="{value}"' for key, value in sorted(labels.items()))
    series = f"{name}{{{wanted}}}" if wanted else name
    for line in exposition.splitlines():
        if line.startswith(series + " "):
            return float(line.rsplit(" ", 1)[1])
    if default is None:
        raise AssertionError(f"/metrics has no series {series}")
    return default
