"""What `make test` installs: the dev extra, and none of the benchmarks' baselines."""

from __future__ import annotations

import re
import tomllib

from tests.support.paths import REPO

PROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]


def names(requirements: list[str]) -> set[str]:
    return {re.split(r"[<>=!\[; ]", requirement, maxsplit=1)[0] for requirement in requirements}


def test_the_dev_extra_holds_no_benchmark_baseline() -> None:
    extras = PROJECT["optional-dependencies"]
    baselines = names(extras["bench"]) - {"recsys"}
    assert baselines, "the bench extra names the baselines"
    assert not baselines & names(extras["dev"])


def test_make_test_installs_the_dev_extra_and_make_bench_the_bench_extra() -> None:
    makefile = (REPO / "Makefile").read_text()
    assert re.search(r"^test: \$\(VENV\)/\.dev-installed$", makefile, re.M)
    assert re.search(r"^bench: \$\(VENV\)/\.bench-installed$", makefile, re.M)
    assert "-e '.[bench]'" in makefile
