"""Spark's failures as one line that says what to do, and Spark's own output in a file.

A Spark driver that runs out of heap, loses an executor or loses its JVM fails in pyspark
as a Py4J error (often with a Java stack trace as its text, or no text at all once the JVM
is gone), while the JVM has printed its stack traces to the terminal. A trainer's user
needs the cause and the setting to change; the traces belong in a log. So the driver JVM's
stdout and stderr, which it inherits from this process when pyspark launches it, go to a
file for the process's life (`driver_log`), as does py4j's Python logging, and a failure
while Spark counts becomes one `SparkError` naming the cause, the setting and that file.
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import logging
import os
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from recsys.errors import RecsysError

# What the tail of the driver's log is searched for; a log of a long run can be large.
LOG_TAIL_BYTES = 1 << 20
DRIVER_MEMORY_HINT = (
    "raise the driver's heap: spark.driver.memory in $SPARK_CONF_DIR/spark-defaults.conf, "
    'or PYSPARK_SUBMIT_ARGS="--driver-memory 4g pyspark-shell"'
)
EXECUTOR_MEMORY_HINT = "raise spark.executor.memory, or check the cluster's executors"


class SparkError(RecsysError):
    """Spark could not be used, or failed: the extra or Java missing, a master that failed to
    start, a driver out of memory, a lost executor or JVM."""


@dataclass
class DriverLog:
    """Where Spark's output goes, and whether a failure's line has named it."""

    path: Path
    named: bool = False

    def remove_unless_named(self) -> None:
        if not self.named:
            self.path.unlink(missing_ok=True)


@functools.cache
def driver_log() -> DriverLog:
    """This process's Spark log: one per process, as pyspark keeps one driver JVM for all
    of a process's sessions. A new file in the temporary directory (TMPDIR), removed at exit
    unless a failure named it."""
    descriptor, name = tempfile.mkstemp(prefix="recsys-spark-", suffix=".log")
    os.close(descriptor)
    log = DriverLog(Path(name))
    atexit.register(log.remove_unless_named)
    return log


@contextlib.contextmanager
def output_to(log: Path) -> Iterator[None]:
    """This process's stdout and stderr, at the descriptor level, appended to `log` while
    the block runs: a JVM launched in the block inherits them and keeps writing there."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = [os.dup(1), os.dup(2)]
    target = os.open(log, os.O_WRONLY | os.O_APPEND)
    try:
        os.dup2(target, 1)
        os.dup2(target, 2)
        yield
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for descriptor in (target, *saved):
            os.close(descriptor)


def log_py4j_to(log: Path) -> None:
    """py4j's Python logging (its connection errors, with tracebacks) into `log` only.

    py4j logs on its own loggers, and also on the root logger (`logging.exception` in
    java_gateway.py, when the JVM is gone): a filter on the root logger takes the records
    raised in py4j's files to `log` instead, before the root logger's handlers (or the ones
    `logging.basicConfig` would add for that very call) print them.
    """
    handler = _file_handler(str(log))
    logger = logging.getLogger("py4j")
    if handler not in logger.handlers:
        logger.addHandler(handler)
    logger.propagate = False
    root = logging.getLogger()
    if not any(isinstance(each, _Py4JToFile) for each in root.filters):
        root.addFilter(_Py4JToFile(handler))


@functools.cache
def _file_handler(path: str) -> logging.FileHandler:
    return logging.FileHandler(path)


class _Py4JToFile(logging.Filter):
    """Passes every record but py4j's, which go to `handler` alone."""

    def __init__(self, handler: logging.Handler) -> None:
        super().__init__()
        self.handler = handler
        import py4j

        self.py4j = str(Path(py4j.__file__).parent)

    def filter(self, record: logging.LogRecord) -> bool:
        if record.pathname.startswith(self.py4j):
            self.handler.handle(record)
            return False
        return True


def spark_errors() -> tuple[type[BaseException], ...]:
    """What pyspark and py4j raise when Spark fails (a lost JVM refuses the connection)."""
    from py4j.protocol import Py4JError
    from pyspark.errors import PySparkException

    return Py4JError, PySparkException, ConnectionError


def failure(
    error: BaseException, master: str, log: DriverLog, starting: bool = False
) -> SparkError:
    """The one line for Spark's `error`: the cause, the setting to change, and the log
    (marked named, so it outlives the process)."""
    log.named = True
    local = master.startswith("local")
    evidence = f"{_text(error)}\n{_tail(log.path)}"
    if "OutOfMemoryError" in evidence:
        cause = "Spark ran out of memory (java.lang.OutOfMemoryError)"
        hint = DRIVER_MEMORY_HINT if local else EXECUTOR_MEMORY_HINT
    elif "INVALID_DRIVER_MEMORY" in evidence:  # a heap below what Spark starts with
        cause, hint = _cause_line(error), DRIVER_MEMORY_HINT
    elif "All masters are unresponsive" in evidence:
        cause = "the Spark master stopped answering"
        hint = "check RECSYS_SPARK_MASTER and the master's health"
    elif "ExecutorLostFailure" in evidence or "Lost executor" in evidence:
        cause, hint = "a Spark executor was lost", EXECUTOR_MEMORY_HINT
    elif isinstance(error, ConnectionError) or type(error).__name__ == "Py4JNetworkError":
        cause, hint = "the Spark driver's JVM exited", DRIVER_MEMORY_HINT
    else:
        cause, hint = _cause_line(error), "see the log"
    what = "cannot start Spark" if starting else "Spark failed"
    return SparkError(f"{what} at {master}: {cause}; {hint}; Spark's log: {log.path}")


def _text(error: BaseException) -> str:
    """The error's text; a Py4J error whose JVM is gone cannot even say it."""
    try:
        return str(error)
    except Exception:  # Py4JJavaError.__str__ calls into the JVM, which may be gone
        return ""


def _cause_line(error: BaseException) -> str:
    """The line that says what failed: for a Py4J error from Java, the Java exception's
    (its text is "An error occurred while calling X.\n: java.lang.SomeException: ...")."""
    lines = _text(error).strip().splitlines() or [type(error).__name__]
    if len(lines) > 1 and lines[1].startswith(": "):
        return lines[1][2:]
    return lines[0]


def _tail(log: Path) -> str:
    try:
        with log.open("rb") as file:
            file.seek(max(0, log.stat().st_size - LOG_TAIL_BYTES))
            return file.read().decode("utf-8", "replace")
    except OSError:
        return ""
