"""The Spark engine over Spark Connect: a real Connect server (pyspark's own, in local mode)
and a client process with no Java at all, as a trainer image without a JVM would run it.

The counts must match the local engine's exactly, as in tests/integration/test_spark.py; this file
checks the other road the data takes (Arrow chunks over gRPC instead of Py4J) and the claim
of docs/spark.md that a Connect client needs no JVM.
"""

from __future__ import annotations

import os
import random
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pyspark
import pytest
from polars.testing import assert_frame_equal

import recsys
from recsys.training.counting import frequent_pairs

CONNECT_SERVER = "org.apache.spark.sql.connect.service.SparkConnectServer"
# Only a guard against a server that never comes up: a healthy one takes seconds.
START_DEADLINE = 180
CLIENT = """
import shutil, sys
import polars as pl
from recsys.training.spark import spark_pair_counts
assert shutil.which("java") is None, shutil.which("java")
url, source, out = sys.argv[1:]
pairs = pl.read_ipc(source)
for min_count in (1, 3, 1000):
    spark_pair_counts(pairs, min_count, url).write_ipc(f"{out}-{min_count}.arrow")
spark_pair_counts(pairs.head(0), 1, url).write_ipc(f"{out}-empty.arrow")
"""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for_port(port: int, server: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + START_DEADLINE
    while time.monotonic() < deadline:
        assert server.poll() is None, f"the Connect server exited:\n{log.read_text()[-3000:]}"
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.5)
    pytest.fail(f"no Connect server on port {port}:\n{log.read_text()[-3000:]}")


@pytest.fixture(scope="module")
def connect_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """sc://127.0.0.1:PORT of a Connect server started with pyspark's spark-submit."""
    work = tmp_path_factory.mktemp("connect")
    port = free_port()
    log = work / "server.log"
    command = [
        str(Path(pyspark.__file__).parent / "bin" / "spark-submit"),
        *("--class", CONNECT_SERVER, "--master", "local[2]"),
        *("--conf", f"spark.connect.grpc.binding.port={port}"),
        *("--conf", "spark.connect.grpc.binding.address=127.0.0.1"),
        *("--conf", "spark.sql.shuffle.partitions=4"),
        *("--conf", f"spark.local.dir={work}"),
        *("--conf", "spark.ui.enabled=false"),
        "spark-internal",
    ]
    # spark-submit finds its Spark home with the venv's python3.
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    with log.open("wb") as output:
        server = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT, env=env)
    try:
        wait_for_port(port, server, log)
        yield f"sc://127.0.0.1:{port}"
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def without_java() -> dict[str, str]:
    """This environment, minus every way pyspark could find a JVM."""
    path = os.environ.get("PATH", "").split(os.pathsep)
    env = {key: value for key, value in os.environ.items() if key != "JAVA_HOME"}
    env["PATH"] = os.pathsep.join(entry for entry in path if not Path(entry, "java").exists())
    # This recsys and this pyspark: a Connect client newer than its server may not work.
    here = [str(Path(package.__file__).resolve().parents[1]) for package in (recsys, pyspark)]
    env["PYTHONPATH"] = os.pathsep.join([*here, env.get("PYTHONPATH", "")])
    return env


def test_counts_over_spark_connect_match_the_local_engine_without_a_jvm(
    connect_url: str, tmp_path: Path
) -> None:
    rng = random.Random(7)
    rows = {(pid, rng.randrange(60)) for pid in range(500) for _ in range(rng.randint(1, 12))}
    pairs = pl.DataFrame(sorted(rows), schema={"pid": pl.Int32, "id": pl.Int32}, orient="row")
    pairs.write_ipc(tmp_path / "pairs.arrow")
    out = tmp_path / "counts"
    done = subprocess.run(
        [sys.executable, "-c", CLIENT, connect_url, str(tmp_path / "pairs.arrow"), str(out)],
        env=without_java(),
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    for min_count in (1, 3, 1000):
        expected = frequent_pairs(pairs, 60, min_count)
        assert_frame_equal(pl.read_ipc(f"{out}-{min_count}.arrow"), expected)
    empty = pl.read_ipc(f"{out}-empty.arrow")
    assert_frame_equal(empty, frequent_pairs(pairs.head(0), 60, 1))
    assert pl.read_ipc(f"{out}-1.arrow").height > 0
    assert pl.read_ipc(f"{out}-1000.arrow").is_empty()
