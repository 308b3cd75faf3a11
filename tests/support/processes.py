"""Running `recsys` as a real child process, and checking how a failed one left things."""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path


@dataclass
class Completed:
    """A finished `recsys` subprocess."""

    returncode: int
    stdout: str
    stderr: str

    def json(self) -> dict:
        return json.loads(self.stdout.strip().splitlines()[-1])


def recsys_env(data_dir: Path, **extra: str) -> dict[str, str]:
    """The environment of a child `recsys`: ours minus RECSYS_*, plus the test's."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("RECSYS_")}
    env["RECSYS_DATA_DIR"] = str(data_dir)
    env.update(extra)
    return env


def run_recsys(
    *args: str,
    data_dir: Path,
    timeout: float = 120,
    limits: dict[int, int] | None = None,
    **env: str,
) -> Completed:
    """Run `python -m recsys ARGS` as a real child process and wait for it; `limits` are
    resource limits (`resource.RLIMIT_*`: value) the child runs under."""

    def apply_limits() -> None:
        for which, value in (limits or {}).items():
            resource.setrlimit(which, (value, value))

    done = subprocess.run(
        [sys.executable, "-m", "recsys", *args],
        env=recsys_env(data_dir, **env),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        preexec_fn=apply_limits if limits else None,
    )
    return Completed(done.returncode, done.stdout, done.stderr)


def snapshot_dir(data_dir: Path) -> dict[str, bytes]:
    """Every visible file of the data directory with its bytes."""
    return {
        str(path.relative_to(data_dir)): path.read_bytes()
        for path in sorted(data_dir.rglob("*"))
        if path.is_file() and not path.name.startswith(".")
    }


def assert_failed_cleanly(
    done: Completed, message: str, before: dict[str, bytes], data_dir: Path
) -> None:
    """One `recsys: error:` line naming `message`, no traceback, the data directory intact."""
    assert done.returncode != 0
    lines = done.stderr.strip().splitlines()
    assert lines[-1].startswith("recsys: error: ")
    assert message in lines[-1]
    assert "Traceback" not in done.stderr
    assert snapshot_dir(data_dir) == before
