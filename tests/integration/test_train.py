"""`recsys train` and `recsys models` as real processes, against real files and a real server."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from recsys.model.pointer import load_current
from tests.support.http_server import DatasetServer
from tests.support.paths import SAMPLE_DS1, SAMPLE_DS2
from tests.support.processes import assert_failed_cleanly, run_recsys, snapshot_dir

SUMMARY_KEYS = {"status", "model_id", "playlists", "songs", "itemsets", "rules", "seconds"}


@pytest.fixture
def trained(data_dir: Path) -> Path:
    done = run_recsys("train", "--dataset-url", str(SAMPLE_DS1), data_dir=data_dir)
    assert done.returncode == 0, done.stderr
    return data_dir


def test_train_publishes_a_verified_model_and_reports_stages(data_dir: Path) -> None:
    done = run_recsys("train", "--dataset-url", str(SAMPLE_DS1), data_dir=data_dir)
    assert done.returncode == 0, done.stderr
    for stage in ("fetch", "load", "mine", "publish"):
        assert stage in done.stderr
    assert done.stdout.startswith("published ")
    pointer, model = load_current(data_dir)
    assert model.header["stats"]["playlists"] == 300
    assert model.header["stats"]["rules"] > 100
    assert model.header["dataset"]["url"] == str(SAMPLE_DS1)
    assert pointer.model_id in done.stdout


def test_json_summary_and_idempotency(trained: Path) -> None:
    again = run_recsys("train", "--dataset-url", str(SAMPLE_DS1), "--json", data_dir=trained)
    assert again.returncode == 0, again.stderr
    summary = json.loads(again.stdout)
    assert summary["status"] == "unchanged"
    assert SUMMARY_KEYS <= set(summary)
    assert len(list((trained / "models").iterdir())) == 1

    changed = run_recsys("train", "--dataset-url", str(SAMPLE_DS2), "--json", data_dir=trained)
    summary = json.loads(changed.stdout)
    assert summary["status"] == "published"
    assert SUMMARY_KEYS <= set(summary)
    assert all(isinstance(summary[key], int) for key in ("playlists", "songs", "itemsets", "rules"))

    param = run_recsys(
        "train",
        "--dataset-url",
        str(SAMPLE_DS2),
        "--min-confidence",
        "0.5",
        "--json",
        data_dir=trained,
    )
    assert json.loads(param.stdout)["status"] == "published"
    forced = run_recsys(
        "train",
        "--dataset-url",
        str(SAMPLE_DS2),
        "--min-confidence",
        "0.5",
        "--force",
        data_dir=trained,
    )
    assert forced.stdout.startswith("published ")
    assert len(list((trained / "models").glob("*.rsm"))) == 4


def test_environment_configures_and_flags_override(data_dir: Path) -> None:
    done = run_recsys(
        "train",
        "--min-support",
        "0.1",
        "--json",
        data_dir=data_dir,
        RECSYS_DATASET_URL=SAMPLE_DS1.as_uri(),
        RECSYS_MIN_SUPPORT="0.5",
    )
    assert done.returncode == 0, done.stderr
    _, model = load_current(data_dir)
    assert model.header["params"]["min_support"] == 0.1
    assert model.header["dataset"]["url"] == SAMPLE_DS1.as_uri()


def test_train_over_http(data_dir: Path, dataset_server: DatasetServer) -> None:
    dataset_server.publish(SAMPLE_DS1.read_bytes())
    done = run_recsys("train", "--dataset-url", dataset_server.url, "--json", data_dir=data_dir)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["status"] == "published"


def test_retention_keeps_the_newest_and_the_current(data_dir: Path) -> None:
    for _ in range(3):
        done = run_recsys(
            "train",
            "--dataset-url",
            str(SAMPLE_DS1),
            "--force",
            "--keep-models",
            "2",
            data_dir=data_dir,
        )
        assert done.returncode == 0, done.stderr
    files = sorted(path.stem for path in (data_dir / "models").glob("*.rsm"))
    assert len(files) == 2
    pointer, _ = load_current(data_dir)
    assert pointer.model_id == files[-1]


BAD_FILES = {
    "empty file": (b"", "dataset is empty"),
    "header with no rows": (b"pid,track_name,artist_name\n", "header but no rows"),
    "no track_name column": (b"pid,song,artist\n1,a,b\n", "no column 'track_name'"),
    "binary garbage": (bytes(range(256)) * 50, "not a text CSV"),
    "ragged row": (b"pid,track_name\n1,a\n2,b,c\n", "line 3 has 3 fields"),
    "non-UTF-8": (b"pid,track_name\n1,caf\xe9\n", "not valid UTF-8"),
}


@pytest.mark.parametrize("case", sorted(BAD_FILES))
def test_bad_dataset_files_leave_the_model_untouched(
    trained: Path, tmp_path: Path, case: str
) -> None:
    content, message = BAD_FILES[case]
    bad = tmp_path / "bad.csv"
    bad.write_bytes(content)
    before = snapshot_dir(trained)
    done = run_recsys("train", "--dataset-url", str(bad), "--force", data_dir=trained)
    assert_failed_cleanly(done, message, before, trained)


def test_missing_file(trained: Path, tmp_path: Path) -> None:
    before = snapshot_dir(trained)
    done = run_recsys("train", "--dataset-url", str(tmp_path / "nope.csv"), data_dir=trained)
    assert_failed_cleanly(done, "dataset not found", before, trained)


# A 404, a hang past the timeout and a body over the cap are tried, with the same checks
# and a secret in the URL, in tests/integration/test_hostile_datasets.py.
@pytest.mark.parametrize(
    ("setup", "env", "message"),
    [
        ({"status": 500}, {}, "HTTP 500 Internal Server Error"),
        ({"cut_after": 1000}, {}, "dataset download failed"),
    ],
)
def test_http_failures_leave_the_model_untouched(
    trained: Path, dataset_server: DatasetServer, setup: dict, env: dict, message: str
) -> None:
    dataset_server.publish(SAMPLE_DS2.read_bytes())
    for key, value in setup.items():
        setattr(dataset_server.behaviour, key, value)
    before = snapshot_dir(trained)
    done = run_recsys("train", "--dataset-url", dataset_server.url, data_dir=trained, **env)
    assert_failed_cleanly(done, message, before, trained)


def test_no_dataset_configured(data_dir: Path) -> None:
    done = run_recsys("train", data_dir=data_dir)
    assert done.returncode == 1
    assert done.stderr.strip() == (
        "recsys: error: no dataset: set RECSYS_DATASET_URL or pass --dataset-url"
    )


def test_invalid_setting_is_one_line(data_dir: Path) -> None:
    done = run_recsys("train", "--min-support", "2", data_dir=data_dir, RECSYS_DATASET_URL="x")
    assert done.returncode == 1
    assert done.stderr.startswith("recsys: error: invalid settings: min_support")
    assert "Traceback" not in done.stderr


def test_models_list_show_and_rollback(trained: Path) -> None:
    first, _ = load_current(trained)
    run_recsys("train", "--dataset-url", str(SAMPLE_DS2), data_dir=trained)
    second, _ = load_current(trained)
    assert first.model_id != second.model_id

    listing = run_recsys("models", "list", data_dir=trained)
    assert listing.returncode == 0
    rows = [
        line
        for line in listing.stdout.splitlines()
        if first.model_id in line or second.model_id in line
    ]
    assert rows[0].startswith("  ")
    assert rows[1].startswith("* ")

    shown = run_recsys("models", "show", "--rules", "3", "--json", data_dir=trained)
    lines = [json.loads(line) for line in shown.stdout.splitlines()]
    assert lines[0]["model_id"] == second.model_id
    assert "vocabulary" not in lines[0]
    assert len(lines) == 4
    for rule in lines[1:]:
        assert set(rule) == {
            "antecedent", "consequent", "playlists", "support", "confidence", "lift", "weight"
        }  # fmt: skip
        assert isinstance(rule["antecedent"], list)
        assert len(rule["consequent"]) == 1
    weights = [rule["weight"] for rule in lines[1:]]
    assert weights == sorted(weights, reverse=True)

    back = run_recsys("models", "rollback", data_dir=trained)
    assert back.returncode == 0, back.stderr
    assert load_current(trained)[0].model_id == first.model_id
    forward = run_recsys("models", "rollback", second.model_id, data_dir=trained)
    assert forward.returncode == 0
    assert load_current(trained)[0].model_id == second.model_id

    missing = run_recsys("models", "rollback", "no-such-model", data_dir=trained)
    assert missing.returncode == 1
    assert "no published model 'no-such-model'" in missing.stderr


def test_models_commands_without_models(data_dir: Path) -> None:
    """Each names the folder it looked in, and says when that folder does not exist."""
    listed = run_recsys("models", "list", data_dir=data_dir).stdout.strip()
    assert listed == f"no models published yet in {data_dir / 'models'} (no such directory)"
    (data_dir / "models").mkdir()
    listed = run_recsys("models", "list", data_dir=data_dir).stdout.strip()
    assert listed == f"no models published yet in {data_dir / 'models'}"
    shown = run_recsys("models", "show", data_dir=data_dir)
    assert shown.returncode == 1
    assert shown.stderr.strip() == f"recsys: error: no model published yet in {data_dir}"
    missing = data_dir / "elsewhere"
    shown = run_recsys("models", "show", data_dir=missing)
    assert shown.stderr.strip() == (
        f"recsys: error: no model published yet in {missing} (no such directory)"
    )
