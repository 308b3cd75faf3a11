"""Pair counting on Spark: the one step of training whose work grows with the square of
playlist lengths, moved off the trainer's machine when a dataset outgrows it.

`spark_pair_counts` gives exactly what the local engine's `frequent_pairs` gives, sorted by
(a, b), so the trainer can swap engines behind one call and publish the same model. Spark
sees only the (playlist, song) ids; reading, validation, tuning and rules stay in polars.

Data moves as Arrow both ways: `createDataFrame` from a pyarrow Table and
`DataFrame.toArrow()`. The same two calls work in local mode, on a cluster master (the
driver runs here) and over Spark Connect (`sc://`), which ships a large table in chunks as
session artifacts. So no shared storage is needed between this process and the cluster, and
the driver never builds Python rows: the ids cross as two Int32 columns, the result as three.
Writing Parquet to shared storage instead would scale further, but every deployment would
then need a bucket both sides can reach; at the target scale (66 million (playlist, song)
rows are about 530 MB of Arrow) the direct transfer is enough. The input is held first
by the driver (classic mode) or the Connect server, whose memory must fit it.

pyspark is imported inside the functions: importing this module costs nothing, and the
API, which never imports the training package, can never load it.
"""

from __future__ import annotations

import os
import shutil
import socket
import warnings
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext, suppress
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import polars as pl

from recsys.training.spark_failures import (
    SparkError,
    driver_log,
    failure,
    log_py4j_to,
    output_to,
    spark_errors,
)

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

CONNECT_SCHEME = "sc://"
CONNECT_PORT = 15002  # Spark Connect's default, when the URL names none
STANDALONE_SCHEME = "spark://"
STANDALONE_PORT = 7077  # a standalone master's default
CONNECT_TIMEOUT = 10.0
# Spark's own log configuration logs at INFO; this one keeps warnings and errors only, and
# skips Spark's start-up banner. It writes to the JVM's stderr, which is the log file of
# spark_failures.driver_log: the trainer's stderr keeps its one line per stage.
LOG_CONFIG = Path(__file__).with_name("spark-log4j2.properties")
INPUT_SCHEMA = "pid int, id int"
RESULT_SCHEMA = pl.Schema({"a": pl.Int32, "b": pl.Int32, "count": pl.UInt32})
# pyspark warns on every session about pandas 3, which this module never uses.
PANDAS_WARNING = "PySpark does not yet fully support pandas"


def spark_pair_counts(pairs: pl.DataFrame, min_count: int, master: str) -> pl.DataFrame:
    """pairs: one row per (playlist, song), deduplicated, columns `pid` (Int32, dense playlist
    number) and `id` (Int32, song id), already restricted to songs in >= min_count playlists.
    Returns every pair of songs a < b held together by at least `min_count` playlists:
    columns a (Int32), b (Int32), count (UInt32), sorted by (a, b).

    `master` is a Spark master URL (`local[*]`, `spark://`, `k8s://`) or a Spark Connect URL
    (`sc://host:port`). A session this call starts is stopped before it returns.
    """
    with spark_session(master) as spark:
        return pair_counts_on(spark, pairs, min_count)


def pair_counts_on(spark: SparkSession, pairs: pl.DataFrame, min_count: int) -> pl.DataFrame:
    """`spark_pair_counts` on a session the caller holds."""
    ids = pairs.select(pl.col("pid").cast(pl.Int32), pl.col("id").cast(pl.Int32)).to_arrow()
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", PANDAS_WARNING, FutureWarning)
        # An explicit schema: Spark Connect cannot infer one from an empty table.
        frame = spark.createDataFrame(ids, schema=INPUT_SCHEMA)
        table = frequent_pairs_query(frame, min_count).toArrow()
    if table.num_rows == 0:
        return pl.DataFrame(schema=RESULT_SCHEMA)
    # Spark has no unsigned type: the count comes back as Int32 and becomes the UInt32 of
    # the local engine's `len()`. Sorting here, not in Spark, spares a cluster-wide sort.
    result = pl.from_arrow(table)
    assert isinstance(result, pl.DataFrame)
    return result.cast(RESULT_SCHEMA).sort(["a", "b"])


def frequent_pairs_query(frame: DataFrame, min_count: int) -> DataFrame:
    """(a, b, count) for a < b in at least `min_count` playlists, as a Spark plan.

    The self-join on pid makes one row per pair per playlist (the sum of squared playlist
    lengths). Spark counts them within each partition before its shuffle (a partial
    aggregate), so what crosses the network is one row per distinct pair per partition,
    never the join's output. The count fits an int: it is at most the number of playlists.
    """
    from pyspark.sql import functions as F  # noqa: N812 (pyspark's own convention)

    left, right = frame.alias("left"), frame.alias("right")
    return (
        left.join(right, on="pid")
        .where(F.col("left.id") < F.col("right.id"))
        .groupBy(F.col("left.id").alias("a"), F.col("right.id").alias("b"))
        .agg(F.count(F.lit(1)).cast("int").alias("count"))
        .where(F.col("count") >= min_count)
    )


@contextmanager
def spark_session(master: str) -> Iterator[SparkSession]:
    """A session for `master`; stopped on exit if this call started it.

    A session already running in this process (a test's, a notebook's) is borrowed and left
    running: stopping it would pull it from under its owner. Spark's failures in the block
    become one `SparkError` (spark_failures); its output goes to the process's log file.
    """
    session_class = import_pyspark()
    connect = master.startswith(CONNECT_SCHEME)
    # (a standalone URL listing several masters, for high availability, is left to Spark)
    if connect or (master.startswith(STANDALONE_SCHEME) and "," not in master):
        require_reachable(master)
    connect_flag = "SPARK_CONNECT_MODE_ENABLED" in os.environ
    existing = session_class.getActiveSession()
    builder = session_class.builder.remote(master) if connect else local_driver(master)
    log = driver_log()
    log_py4j_to(log.path)
    try:
        spark = _started(builder, log.path, launches_jvm=not connect)
    except Exception as error:
        raise failure(error, master, log, starting=True) from None
    try:
        yield spark
    except spark_errors() as error:
        raise failure(error, master, log) from None
    finally:
        if spark is not existing:
            with suppress(*spark_errors()):  # a JVM that died cannot be stopped
                spark.stop()
            if connect and not connect_flag:
                # pyspark marks the whole process as Spark Connect and never unmarks it: a
                # later classic session would then refuse to start.
                os.environ.pop("SPARK_CONNECT_MODE_ENABLED", None)


def _started(builder: SparkSession.Builder, log: Path, launches_jvm: bool) -> SparkSession:
    """The session, with a driver JVM launched here writing its output to `log`."""
    with warnings.catch_warnings(), output_to(log) if launches_jvm else nullcontext():
        warnings.filterwarnings("ignore", PANDAS_WARNING, FutureWarning)
        return builder.appName("recsys-train").getOrCreate()


def local_driver(master: str) -> SparkSession.Builder:
    """A builder whose driver JVM runs in this process's machine (every non-Connect master).

    The UI server is off in local mode (nobody browses a trainer Job's port) and the console
    progress bar is off everywhere: it would interleave with the trainer's stage lines.
    """
    from pyspark.sql import SparkSession

    require_java()
    builder = (
        SparkSession.builder.master(master)
        .config("spark.ui.showConsoleProgress", "false")
        # defaultJavaOptions, not extraJavaOptions: a user's own driver options still apply.
        .config("spark.driver.defaultJavaOptions", f"-Dlog4j2.configurationFile={LOG_CONFIG}")
    )
    if master.startswith("local"):
        builder = builder.config("spark.ui.enabled", "false")
    return builder


def require_reachable(url: str) -> None:
    """Fail at once when nothing listens at a Spark Connect or standalone master URL.

    pyspark retries a Connect server it cannot reach for at least ten minutes (to ride out a
    server restart), which would make a mistyped URL look like a hung trainer; a standalone
    master that does not answer takes Spark a minute of retries to give up on.
    """
    connect = url.startswith(CONNECT_SCHEME)
    what = "the Spark Connect server" if connect else "the Spark master"
    try:
        parts = urlsplit(url)
        port = parts.port or (CONNECT_PORT if connect else STANDALONE_PORT)
        with socket.create_connection((parts.hostname or "", port), CONNECT_TIMEOUT):
            pass
    except (OSError, ValueError) as error:
        raise SparkError(f"cannot reach {what} at {url}: {error}") from error


def import_pyspark() -> type[SparkSession]:
    """pyspark's SparkSession, or a one-line error naming the extra to install."""
    try:
        from pyspark.sql import SparkSession
    except ImportError as error:
        raise SparkError(
            f"the Spark engine needs the spark extra (pip install 'recsys[spark]'): {error}"
        ) from error
    return SparkSession


def require_java() -> None:
    """Fail with one line, not a Py4J stack trace, when no JVM can run the driver.

    pyspark starts `$JAVA_HOME/bin/java`, or `java` from PATH; Spark 4 needs Java 17 or later.
    """
    java_home = os.environ.get("JAVA_HOME")
    found = (Path(java_home) / "bin" / "java").is_file() if java_home else shutil.which("java")
    if not found:
        where = f"JAVA_HOME={java_home} has no bin/java" if java_home else "no java on PATH"
        raise SparkError(
            f"the Spark engine runs a local Spark driver, which needs Java 17 or later "
            f"({where}); install a JRE, or use a Spark Connect server (sc://host:port)"
        )


def refuse_longer_rules(max_rule_length: int) -> None:
    """The Spark engine counts pairs only: rules of three songs or more need the local one."""
    if max_rule_length > 2:
        raise SparkError(
            f"the Spark engine mines rules of two songs only (RECSYS_MAX_RULE_LENGTH="
            f"{max_rule_length}): set RECSYS_MAX_RULE_LENGTH=2, or train with the local engine"
        )
