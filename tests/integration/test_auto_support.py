"""`recsys train` chooses the popularity damping by default, says how, and serves the record
of it."""

from __future__ import annotations

import json
from pathlib import Path

from recsys.settings import Settings
from recsys.training.tuning import DAMPINGS, PAIR_COUNTS
from tests.support.app import in_process
from tests.support.paths import SAMPLE_DS1
from tests.support.processes import run_recsys


def test_the_default_is_chosen_recorded_and_served(data_dir: Path) -> None:
    done = run_recsys("train", "--dataset-url", str(SAMPLE_DS1), "--json", data_dir=data_dir)
    assert done.returncode == 0, done.stderr
    result = done.json()
    assert result["popularity_damping"] in DAMPINGS
    assert result["min_support"] == 0  # "auto": no share of playlists
    assert "tune " in done.stderr
    assert "of songs with a rule" in done.stderr

    shown = run_recsys("models", "show", "--json", "--rules", "0", data_dir=data_dir)
    header = json.loads(shown.stdout.splitlines()[0])
    assert header["params"]["popularity_damping"] == result["popularity_damping"]
    assert header["params"]["min_count"] in PAIR_COUNTS
    assert header["tuning"]["requested"]["popularity_damping"] == "auto"
    # every damping at one pair count, then the other pair counts at one damping
    assert len(header["tuning"]["grid"]) == len(DAMPINGS) + len(PAIR_COUNTS) - 1
    assert 0 < header["stats"]["coverage"] <= 1

    with in_process(Settings(data_dir=data_dir)) as app:
        served = app.get("/api/model").json()
    assert served["tuning"] == header["tuning"]
    assert served["params"] == header["params"]

    again = run_recsys("train", "--dataset-url", str(SAMPLE_DS1), "--json", data_dir=data_dir)
    assert again.json()["status"] == "unchanged"  # the request, not the choice, is the identity


def test_a_set_damping_is_used_and_recorded_as_set(data_dir: Path) -> None:
    done = run_recsys(
        "train", "--dataset-url", str(SAMPLE_DS1), "--min-support", "0.03",
        "--popularity-damping", "0.2", "--min-pair-count", "2", "--json", data_dir=data_dir,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.json()["min_support"] == 0.03
    assert done.json()["popularity_damping"] == 0.2
    shown = run_recsys("models", "show", "--json", "--rules", "0", data_dir=data_dir)
    assert json.loads(shown.stdout.splitlines()[0])["tuning"]["method"] == "set"


def test_a_bad_support_is_one_line(data_dir: Path) -> None:
    done = run_recsys(
        "train", "--dataset-url", str(SAMPLE_DS1), "--min-support", "most", data_dir=data_dir
    )
    assert done.returncode == 2
    assert 'not a number or "auto"' in done.stderr


def test_a_bad_damping_is_one_line(data_dir: Path) -> None:
    done = run_recsys(
        "train", "--dataset-url", str(SAMPLE_DS1), "--popularity-damping", "2", data_dir=data_dir
    )
    assert done.returncode == 1
    assert done.stderr.startswith("recsys: error: invalid settings: popularity_damping")
