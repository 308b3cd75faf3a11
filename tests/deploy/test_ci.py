"""CI's own scripts: `.ci/run` (what this project's machines run) and `.ci/test-deps` (the one
list of system packages `make test` installs where missing), and `make test`'s steps."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
TEST_DEPS = REPO / ".ci" / "test-deps"
# command the tests run -> the Debian package that brings it
NEEDED = {
    "kubectl": "kubectl",
    "chromium": "chromium",
    "chromedriver": "chromium-driver",
    "java": "default-jre-headless",
    "promtool": "prometheus",
}


@pytest.mark.parametrize("script", [".ci/run", ".ci/test-deps"])
def test_the_scripts_are_shellcheck_clean(script: str) -> None:
    shellcheck = str(Path(sys.executable).with_name("shellcheck"))
    done = subprocess.run(
        [shellcheck, "--severity=style", str(REPO / script)], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout


def run_test_deps(tmp_path: Path, present: set[str], uid: int = 0) -> tuple[int, str]:
    """.ci/test-deps with only `present` on PATH, as user `uid`, apt-get and sudo recording
    what they were asked to do; its exit code and that record."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "apt.log"
    for name in present:
        (bin_dir / name).write_text("#!/bin/sh\n")
    for name in ("apt-get", "sudo"):
        (bin_dir / name).write_text(
            f'#!/bin/sh\necho "{name} $*" >> {log}\n' + ('exec "$@"\n' if name == "sudo" else "")
        )
    (bin_dir / "id").write_text(f"#!/bin/sh\necho {uid}\n")
    for tool in bin_dir.iterdir():
        tool.chmod(0o755)
    bash = shutil.which("bash") or "/bin/bash"
    done = subprocess.run(
        [bash, str(TEST_DEPS)], env={"PATH": str(bin_dir)}, capture_output=True, text=True
    )
    return done.returncode, log.read_text() if log.exists() else ""


def test_nothing_is_installed_when_every_command_is_there(tmp_path: Path) -> None:
    assert run_test_deps(tmp_path, set(NEEDED)) == (0, "")


@pytest.mark.parametrize("uid", [0, 1000])
def test_exactly_the_missing_packages_are_installed(tmp_path: Path, uid: int) -> None:
    code, apt = run_test_deps(tmp_path, set(NEEDED) - {"chromedriver", "promtool"}, uid)
    assert code == 0
    install = "apt-get install -y -qq chromium-driver prometheus"
    expected = [f"sudo {install}", install] if uid else [install]
    assert [line for line in apt.splitlines() if "install" in line] == expected


def test_chromium_browser_counts_as_chromium(tmp_path: Path) -> None:
    present = (set(NEEDED) - {"chromium"}) | {"chromium-browser"}
    assert run_test_deps(tmp_path, present) == (0, "")


def test_make_test_provisions_lints_type_checks_then_tests() -> None:
    plain = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MAKELEVEL", "MFLAGS")}
    done = subprocess.run(
        ["make", "-n", "test"], capture_output=True, text=True, cwd=REPO, env=plain, timeout=60
    )
    assert done.returncode == 0, done.stderr
    steps = [line.split()[0] for line in done.stdout.splitlines() if line.strip()]
    tail = [Path(step).name for step in steps[-5:]]
    assert tail == ["test-deps", "ruff", "ruff", "mypy", "pytest"], done.stdout
