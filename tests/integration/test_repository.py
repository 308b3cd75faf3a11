"""The data directory's safety rules, through real `recsys` processes and real files.

A tiny dataset never replaces a good model unasked; a rollback sticks until the dataset
really changes; retention keeps real models (and the rollback target) and leaves junk alone.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from recsys.model.pointer import load_current, read_pointer
from recsys.model.repository import MODELS_DIR, PIN_NAME
from tests.support.http_server import DatasetServer
from tests.support.paths import SAMPLE_DS1, SAMPLE_DS2
from tests.support.processes import Completed, assert_failed_cleanly, run_recsys, snapshot_dir


def train(data_dir: Path, url: str | Path, *flags: str) -> Completed:
    return run_recsys("train", "--dataset-url", str(url), "--json", *flags, data_dir=data_dir)


def published(done: Completed) -> str:
    assert done.returncode == 0, done.stderr
    summary = done.json()
    assert summary["status"] == "published", summary
    return str(summary["model_id"])


def first_playlists(source: Path, target: Path, playlists: int) -> Path:
    """The rows of `source` whose pid is below `playlists` (the samples number pids from 0)."""
    header, *rows = source.read_text().splitlines()
    kept = [row for row in rows if int(row.split(",", 1)[0]) < playlists]
    target.write_text("\n".join([header, *kept]) + "\n")
    return target


def changed_copy(source: Path, target: Path) -> Path:
    """`source` plus one more playlist: new bytes, new sha256, the same size of dataset."""
    text = source.read_text()
    last = text.rstrip("\n").splitlines()[-1]
    target.write_text(text + "99999," + last.split(",", 1)[1] + "\n")
    return target


@pytest.fixture
def trained(data_dir: Path) -> Path:
    published(train(data_dir, SAMPLE_DS1))
    return data_dir


# Item 16: a dataset that would shrink the model drastically is refused unless allowed.


def test_a_one_row_dataset_is_refused_even_with_force(trained: Path, tmp_path: Path) -> None:
    one_row = tmp_path / "one-row.csv"
    one_row.write_text("pid,track_name\n1,Only Song\n")
    before = snapshot_dir(trained)
    for command in ("train", "refresh"):
        done = run_recsys(command, "--dataset-url", str(one_row), "--force", data_dir=trained)
        assert_failed_cleanly(done, "0 rules", before, trained)
        assert len(done.stderr.strip().splitlines()[-1]) < 300
    allowed = train(trained, one_row, "--allow-shrink")
    assert published(allowed) == read_pointer(trained).model_id


def test_far_fewer_playlists_are_refused_unless_allowed(trained: Path, tmp_path: Path) -> None:
    small = first_playlists(SAMPLE_DS1, tmp_path / "small.csv", 100)
    before = snapshot_dir(trained)
    done = run_recsys("train", "--dataset-url", str(small), data_dir=trained)
    assert_failed_cleanly(done, "100 playlists, under half of the 300", before, trained)
    env = run_recsys(
        "train", "--dataset-url", str(small), "--json", data_dir=trained, RECSYS_ALLOW_SHRINK="1"
    )
    assert published(env) == read_pointer(trained).model_id
    help_text = run_recsys("train", "--help", data_dir=trained).stdout
    assert "--allow-shrink" in help_text


def test_a_moderately_smaller_dataset_is_published(trained: Path, tmp_path: Path) -> None:
    most = first_playlists(SAMPLE_DS1, tmp_path / "most.csv", 200)
    assert published(train(trained, most)) == read_pointer(trained).model_id


# Item 17: a rollback pins the served model until the dataset really changes.


def test_a_rollback_sticks_until_the_dataset_changes(trained: Path, tmp_path: Path) -> None:
    first = read_pointer(trained).model_id
    second = published(train(trained, SAMPLE_DS2))
    assert run_recsys("models", "rollback", data_dir=trained).returncode == 0
    assert read_pointer(trained).model_id == first

    again = train(trained, SAMPLE_DS2)  # e.g. the trainer Job of the next ArgoCD sync
    assert again.returncode == 0, again.stderr
    assert again.json()["status"] == "pinned"
    assert read_pointer(trained).model_id == first
    text = run_recsys("train", "--dataset-url", str(SAMPLE_DS2), data_dir=trained)
    assert text.stdout.startswith(f"pinned: model {first}")
    assert "recsys models unpin" in text.stderr
    listing = run_recsys("models", "list", data_dir=trained).stdout
    assert f"pinned: {first}" in listing
    assert second in listing
    new_params = train(trained, SAMPLE_DS2, "--min-confidence", "0.2")
    assert new_params.json()["status"] == "pinned", "new parameters are not a new dataset"

    new_data = published(train(trained, changed_copy(SAMPLE_DS2, tmp_path / "ds3.csv")))
    assert read_pointer(trained).model_id == new_data
    assert not (trained / PIN_NAME).exists()
    assert "pinned" not in run_recsys("models", "list", data_dir=trained).stdout


def test_force_and_unpin_release_the_pin(trained: Path) -> None:
    first = read_pointer(trained).model_id
    published(train(trained, SAMPLE_DS2))
    assert run_recsys("models", "rollback", data_dir=trained).returncode == 0
    forced = published(train(trained, SAMPLE_DS2, "--force"))
    assert read_pointer(trained).model_id == forced
    assert not (trained / PIN_NAME).exists()

    assert run_recsys("models", "rollback", first, data_dir=trained).returncode == 0
    unpinned = run_recsys("models", "unpin", data_dir=trained)
    assert unpinned.returncode == 0, unpinned.stderr
    assert unpinned.stdout.startswith("unpinned")
    assert published(train(trained, SAMPLE_DS2)) == read_pointer(trained).model_id
    nothing = run_recsys("models", "unpin", data_dir=trained)
    assert nothing.returncode == 0
    assert nothing.stdout.strip() == f"nothing pinned in {trained}"


def test_a_rollback_sticks_against_refresh_without_304(
    data_dir: Path, dataset_server: DatasetServer
) -> None:
    dataset_server.behaviour.validators = False  # every refresh downloads the whole file
    dataset_server.publish(SAMPLE_DS1.read_bytes())
    refresh = ("refresh", "--dataset-url", dataset_server.url, "--json")
    first = published(run_recsys(*refresh, data_dir=data_dir))
    dataset_server.publish(SAMPLE_DS2.read_bytes())
    published(run_recsys(*refresh, data_dir=data_dir))
    assert run_recsys("models", "rollback", data_dir=data_dir).returncode == 0

    held = run_recsys(*refresh, data_dir=data_dir)
    assert held.returncode == 0, held.stderr
    assert held.json()["status"] == "pinned"
    assert read_pointer(data_dir).model_id == first
    assert "pinned" in held.stderr

    assert run_recsys("models", "unpin", data_dir=data_dir).returncode == 0
    assert published(run_recsys(*refresh, data_dir=data_dir)) != first


def test_a_second_rollback_keeps_holding_both_datasets(trained: Path, tmp_path: Path) -> None:
    first = read_pointer(trained).model_id
    ds3 = changed_copy(SAMPLE_DS2, tmp_path / "ds3.csv")
    published(train(trained, SAMPLE_DS2))
    published(train(trained, ds3))
    for _ in range(2):
        assert run_recsys("models", "rollback", data_dir=trained).returncode == 0
    assert read_pointer(trained).model_id == first
    for dataset in (SAMPLE_DS2, ds3):
        assert train(trained, dataset).json()["status"] == "pinned"
    pin = json.loads((trained / PIN_NAME).read_text())
    assert pin["model_id"] == first


# Item 18: retention by the models' own headers; junk is reported and left alone.


JUNK = {
    "zz-notes.rsm": b"an operator's notes, not a model",
    "99999999T999999999999Z-00000000.rsm": b"",
    "00000000T000000000000Z-00000000.rsm": b"RECSYSM\x00\xff\xff",
}


def test_pruning_keeps_real_models_and_leaves_junk(trained: Path) -> None:
    models = trained / MODELS_DIR
    first = read_pointer(trained).model_id
    second = published(train(trained, SAMPLE_DS2))
    for name, content in JUNK.items():
        (models / name).write_bytes(content)
    copied = models / "20991231T000000000000Z-copy0000.rsm"  # a model under a foreign name
    copied.write_bytes((models / f"{first}.rsm").read_bytes())

    third = train(trained, SAMPLE_DS1, "--force", "--keep-models", "1")
    published(third)
    assert (models / f"{second}.rsm").is_file(), "the rollback target was deleted"
    assert not (models / f"{first}.rsm").exists(), "an old model beyond retention was kept"
    for name in [*JUNK, copied.name]:
        assert (models / name).is_file(), f"{name} was deleted"
        assert name in third.stderr
    listing = run_recsys("models", "list", data_dir=trained)
    assert listing.stdout.count("junk: ") == len(JUNK) + 1
    back = run_recsys("models", "rollback", data_dir=trained)
    assert back.returncode == 0, back.stderr
    assert load_current(trained)[0].model_id == second
