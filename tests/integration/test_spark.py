"""The Spark engine counts exactly what the local engine counts: same rows, same order, same
dtypes, on a real local Spark (`local[2]`).

One session serves the whole module (a JVM takes seconds to start); `spark_pair_counts`
borrows it, as it would any session already running. Without pyspark or Java these tests
fail: the engine's own one-line errors say which is missing.
"""

from __future__ import annotations

import logging
import random
import re
import socket
import sys
from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal
from pyspark import SparkContext
from pyspark.sql import SparkSession

from recsys.settings import Settings
from recsys.training.counting import frequent_pairs
from recsys.training.playlists import load_playlists
from recsys.training.spark import (
    RESULT_SCHEMA,
    SparkError,
    refuse_longer_rules,
    require_java,
    spark_pair_counts,
    spark_session,
)
from recsys.training.spark_failures import driver_log, log_py4j_to
from recsys.training.tuning import choose
from tests.support.paths import SAMPLE_DS1, SAMPLE_DS2
from tests.support.processes import Completed, run_recsys

MASTER = "local[2]"


@pytest.fixture(scope="module")
def spark() -> Iterator[SparkSession]:
    with spark_session(MASTER) as session:
        # Spark's default of 200 shuffle partitions costs more than the tests' data.
        session.conf.set("spark.sql.shuffle.partitions", "4")
        yield session
    shut_down_driver_jvm()


def shut_down_driver_jvm() -> None:
    """End the JVM that outlives a stopped session, rather than carry it through the suite.

    pyspark keeps its driver JVM for the process's next session; the JVM exits when its
    stdin closes (PySpark's gateway server watches it), and pyspark starts a new one if
    needed.
    """
    gateway = SparkContext._gateway
    if gateway is None:
        return
    gateway.shutdown()
    gateway.proc.stdin.close()
    gateway.proc.wait()
    SparkContext._gateway = SparkContext._jvm = None


def pairs_of(playlists: list[set[int]], min_count: int) -> pl.DataFrame:
    """The engine's input: (pid, id) rows of songs in at least `min_count` playlists."""
    rows = [(pid, song) for pid, songs in enumerate(playlists) for song in sorted(songs)]
    pairs = pl.DataFrame(rows, schema={"pid": pl.Int32, "id": pl.Int32}, orient="row")
    return pairs.filter(pl.len().over("id") >= min_count)


def local_counts(pairs: pl.DataFrame, min_count: int) -> pl.DataFrame:
    """The local engine's count (ids below the biggest plus one)."""
    return frequent_pairs(pairs, (pairs["id"].max() or 0) + 1, min_count)


def assert_same_as_local(pairs: pl.DataFrame, min_count: int) -> pl.DataFrame:
    counted = spark_pair_counts(pairs, min_count, MASTER)
    assert counted.schema == pl.Schema(RESULT_SCHEMA)
    assert_frame_equal(counted, local_counts(pairs, min_count))
    return counted


@settings(max_examples=12, deadline=None)
@given(
    playlists=st.lists(st.sets(st.integers(0, 12), max_size=8), min_size=1, max_size=25),
    min_count=st.integers(1, 4),
)
def test_small_random_playlists_count_as_locally(
    spark: SparkSession, playlists: list[set[int]], min_count: int
) -> None:
    assert_same_as_local(pairs_of(playlists, min_count), min_count)


@pytest.mark.parametrize("seed", [1, 2])
def test_many_playlists_across_partitions_count_as_locally(spark: SparkSession, seed: int) -> None:
    """Enough rows for several shuffle partitions, with popular songs skewing the counts."""
    rng = random.Random(seed)
    playlists = [
        {int(rng.paretovariate(1.2)) % 400 for _ in range(rng.randint(1, 40))} for _ in range(2_000)
    ]
    for min_count in (1, 5, 40):
        counted = assert_same_as_local(pairs_of(playlists, min_count), min_count)
        assert counted.height > 0


def test_min_count_one_keeps_every_pair_that_shares_a_playlist(spark: SparkSession) -> None:
    pairs = pairs_of([{3, 1, 2}, {1, 2}, {7}], 1)
    expected = pl.DataFrame(
        {"a": [1, 1, 2], "b": [2, 3, 3], "count": [2, 1, 1]}, schema=RESULT_SCHEMA
    )
    assert_frame_equal(assert_same_as_local(pairs, 1), expected)


def test_a_threshold_no_pair_reaches_gives_an_empty_frame(spark: SparkSession) -> None:
    pairs = pairs_of([{1, 2}, {1, 2}, {1, 3}, {2, 3}], 2)
    counted = assert_same_as_local(pairs, 3)
    assert counted.is_empty()


def test_an_empty_input_gives_an_empty_frame(spark: SparkSession) -> None:
    counted = assert_same_as_local(pairs_of([], 1), 1)
    assert counted.is_empty()


def test_a_session_already_running_is_borrowed_not_stopped(spark: SparkSession) -> None:
    spark_pair_counts(pairs_of([{1, 2}], 1), 1, MASTER)
    assert SparkSession.getActiveSession() is spark
    assert spark.range(3).count() == 3


def test_without_java_the_engine_says_so_in_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("JAVA_HOME", raising=False)
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(SparkError, match=r"needs Java 17 or later .*no java on PATH"):
        require_java()
    monkeypatch.setenv("JAVA_HOME", "/nonexistent")
    with pytest.raises(SparkError, match="JAVA_HOME=/nonexistent has no bin/java"):
        require_java()


def test_without_pyspark_the_engine_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pyspark.sql", None)
    with pytest.raises(SparkError, match=r"recsys\[spark\]"), spark_session(MASTER):
        pass


def test_an_unreachable_connect_server_fails_at_once_not_after_retries() -> None:
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    url = f"sc://127.0.0.1:{port}/;user_id=recsys"
    with pytest.raises(SparkError, match="cannot reach the Spark Connect server"):
        spark_pair_counts(pairs_of([{1, 2}], 1), 1, url)


def test_an_unreachable_standalone_master_fails_at_once_not_after_retries() -> None:
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    with pytest.raises(SparkError, match="cannot reach the Spark master at spark://"):
        spark_pair_counts(pairs_of([{1, 2}], 1), 1, f"spark://127.0.0.1:{port}")


def test_longer_rules_are_refused_with_the_setting_to_change() -> None:
    refuse_longer_rules(2)
    with pytest.raises(SparkError, match="RECSYS_MAX_RULE_LENGTH=3"):
        refuse_longer_rules(3)


@pytest.mark.parametrize("min_support", ["auto", 0.01])
def test_training_on_spark_chooses_and_mines_what_the_local_engine_does(
    spark: SparkSession, min_support: str | float
) -> None:
    """The whole of training, not only the count: auto's held-out scores and the rules."""
    sample = load_playlists(SAMPLE_DS1)
    local = choose(sample, Settings(min_support=min_support), print)
    on_spark = choose(
        sample, Settings(min_support=min_support, engine="spark", spark_master=MASTER), print
    )
    assert on_spark.params == local.params
    assert on_spark.tuning.grid == local.tuning.grid
    assert on_spark.rules == local.rules


def test_the_spark_engine_refuses_longer_rules_before_reading_the_dataset(
    tmp_path: Path,
) -> None:
    missing = tmp_path / "nowhere.csv"
    done = run_recsys(
        "train", "--dataset-url", str(missing), "--engine", "spark", "--max-rule-length", "3",
        data_dir=tmp_path,
    )  # fmt: skip
    assert done.returncode == 1
    assert "the Spark engine mines rules of two songs only" in done.stderr
    assert "nowhere.csv" not in done.stderr  # refused before any fetch


# A driver heap too small for the sample's count. Spark refuses to start below 450 MiB
# (INVALID_DRIVER_MEMORY) unless spark.testing.memory, its own test setting, says otherwise.
TINY_HEAP = "--driver-memory 128m --conf spark.testing.memory=536870912 pyspark-shell"
STAGE_LINE = re.compile(r"^[a-z]+ +[0-9.]+ s ")


def train_on_spark_after_a_local_model(tmp_path: Path, submit_args: str) -> tuple[Completed, str]:
    """`recsys train --engine spark` on ds2 over a data directory already serving ds1's
    model (trained locally); the child's TMPDIR is tmp_path. Returns it and the old pointer."""
    first = run_recsys("train", "--dataset-url", str(SAMPLE_DS1), data_dir=tmp_path)
    assert first.returncode == 0, first.stderr
    pointer = (tmp_path / "current.json").read_text()
    done = run_recsys(
        "train", "--dataset-url", str(SAMPLE_DS2), "--engine", "spark",
        data_dir=tmp_path, timeout=300, PYSPARK_SUBMIT_ARGS=submit_args,
        RECSYS_SPARK_MASTER=MASTER, TMPDIR=str(tmp_path),
    )  # fmt: skip
    return done, pointer


def assert_one_line(done: Completed, tmp_path: Path, pointer: str, *expected: str) -> Path:
    """Exit 1, the stage lines and one error line holding `expected` on stderr (no Java or
    Python trace), the old model still current; returns the log the line names."""
    assert done.returncode == 1
    lines = done.stderr.splitlines()
    assert all(STAGE_LINE.match(line) for line in lines[:-1]), done.stderr
    assert lines[-1].startswith("recsys: error: "), done.stderr
    for text in expected:
        assert text in lines[-1]
    assert (tmp_path / "current.json").read_text() == pointer
    named = re.search(r"Spark's log: (\S+)$", lines[-1])
    assert named is not None
    log = Path(named.group(1))
    assert log.parent == tmp_path
    assert log.is_file()  # kept: the line names it
    return log


def test_a_driver_out_of_memory_ends_in_one_line_naming_the_setting(tmp_path: Path) -> None:
    done, pointer = train_on_spark_after_a_local_model(tmp_path, TINY_HEAP)
    log = assert_one_line(
        done, tmp_path, pointer,
        f"Spark failed at {MASTER}: Spark ran out of memory", "spark.driver.memory",
        "--driver-memory",
    )  # fmt: skip
    assert "java.lang.OutOfMemoryError: Java heap space" in log.read_text()


def test_a_heap_spark_refuses_ends_in_one_line_naming_the_setting(tmp_path: Path) -> None:
    done, pointer = train_on_spark_after_a_local_model(
        tmp_path, "--driver-memory 128m pyspark-shell"
    )
    assert_one_line(
        done, tmp_path, pointer, f"cannot start Spark at {MASTER}", "INVALID_DRIVER_MEMORY",
        "spark.driver.memory",
    )  # fmt: skip


def test_a_run_that_succeeds_leaves_no_log_and_prints_no_spark_output(tmp_path: Path) -> None:
    done, _ = train_on_spark_after_a_local_model(tmp_path, "pyspark-shell")
    assert done.returncode == 0, done.stderr
    assert all(STAGE_LINE.match(line) for line in done.stderr.splitlines()), done.stderr
    assert not list(tmp_path.glob("recsys-spark-*.log"))


def test_py4j_records_on_the_root_logger_go_to_the_log_not_the_terminal(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """py4j's java_gateway.py calls `logging.exception` (the root logger) when the JVM is
    gone; that record, with its traceback, must reach the log file only."""
    import py4j

    log = driver_log().path
    log_py4j_to(log)
    logging.basicConfig()  # what logging.exception does first when root has no handler
    where = str(Path(py4j.__file__).parent / "java_gateway.py")
    marker = f"Exception while sending command {random.random()}"
    logging.getLogger().handle(
        logging.LogRecord("root", logging.ERROR, where, 1, marker, None, None)
    )
    assert marker not in capsys.readouterr().err
    assert marker in log.read_text()
