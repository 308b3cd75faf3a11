"""The data directory's rules in-process, on real files: order, junk, pins, room, shrinking.

The same rules run through real `recsys` processes in tests/integration/test_repository.py;
here each rule's edge cases are cheap to cover one by one.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from recsys.model.build import BuiltModel, DatasetInfo, build_model
from recsys.model.catalog import MODELS_DIR, previous_model, scan_models
from recsys.model.format import ModelError
from recsys.model.ordering import PUBLICATIONS_NAME
from recsys.model.pins import PIN_NAME
from recsys.model.pointer import read_pointer
from recsys.model.repository import PublishError, publish
from recsys.model.retention import retained, room_to_spare
from recsys.model.rollback import rollback, unpin
from recsys.model.rules import RuleSet
from recsys.training.trainer import shrink_vet
from tests.support.models import PARAMS


def built(rules: RuleSet, dataset: str) -> BuiltModel:
    return build_model(rules, PARAMS, DatasetInfo("test", dataset * 64, 1))


def publish_all(data_dir: Path, rules: RuleSet, datasets: str) -> list[str]:
    ids = []
    for dataset in datasets:
        model = built(rules, dataset)
        assert publish(data_dir, model, keep=100).status == "published"
        ids.append(model.model_id)
    return ids


def test_models_are_ordered_by_their_headers_and_junk_is_set_apart(
    data_dir: Path, ds1_rules: RuleSet
) -> None:
    ids = publish_all(data_dir, ds1_rules, "ab")
    models = data_dir / MODELS_DIR
    renamed = models / "00000000T000000000000Z-00000000.rsm"  # a newer model, sorted first
    (models / f"{ids[1]}.rsm").rename(renamed)
    os.mkfifo(models / "fifo.rsm")  # reading it would block forever
    (models / "link.rsm").symlink_to(models / f"{ids[0]}.rsm")
    (models / "README").write_text("notes")

    found, junk = scan_models(data_dir)
    assert [model.model_id for model in found] == [ids[0]]
    assert sorted(path.name for path, _ in junk) == sorted(
        ["fifo.rsm", "link.rsm", "README", renamed.name]
    )
    assert "names another model" in dict((path.name, why) for path, why in junk)[renamed.name]


def test_retention_keeps_the_live_model_and_its_rollback_target(
    data_dir: Path, ds1_rules: RuleSet
) -> None:
    ids = publish_all(data_dir, ds1_rules, "abcde")
    models, _ = scan_models(data_dir)
    assert previous_model(models, ids[2]).model_id == ids[1]
    assert previous_model(models, ids[0]) is None
    assert retained(models, ids[2], 1) == {ids[4], ids[2], ids[1]}
    assert retained(models, ids[4], 0) == {ids[4], ids[3]}
    doomed, freed = room_to_spare(models, ids[2], keep=2, short=1)
    assert doomed == [models[0].path]  # the oldest spare one, and only as much as needed
    assert freed >= 1
    doomed, _ = room_to_spare(models, ids[2], keep=2, short=1 << 40)
    assert doomed == [models[0].path, models[3].path]  # never ids[4], ids[2] or ids[1]


def test_a_pin_holds_only_the_datasets_rolled_back_from(data_dir: Path, ds1_rules: RuleSet) -> None:
    first, _, _ = publish_all(data_dir, ds1_rules, "abc")
    rollback(data_dir)  # c -> b
    done = rollback(data_dir)  # b -> a: still holds c
    assert done.target.model_id == first
    assert done.pin is not None
    assert set(done.pin.held) == {"b" * 64, "c" * 64}
    for dataset in "bc":
        outcome = publish(data_dir, built(ds1_rules, dataset), keep=100)
        assert outcome.status == "pinned"
    assert read_pointer(data_dir).model_id == first
    outcome = publish(data_dir, built(ds1_rules, "d"), keep=100)
    assert outcome.status == "published"
    assert not (data_dir / PIN_NAME).exists()


def test_a_stale_pin_holds_nothing_and_a_damaged_one_stops_publishing(
    data_dir: Path, ds1_rules: RuleSet
) -> None:
    publish_all(data_dir, ds1_rules, "ab")
    pin = {"model_id": "someone-else", "rolled_back_from": "x", "held_datasets": ["c" * 64]}
    (data_dir / PIN_NAME).write_text(json.dumps({**pin, "pinned_at": "now"}))
    assert publish(data_dir, built(ds1_rules, "c"), keep=100).status == "published"

    (data_dir / PIN_NAME).write_text("{not json")
    with pytest.raises(ModelError, match=r"pin\.json is damaged; `recsys models unpin`"):
        publish(data_dir, built(ds1_rules, "d"), keep=100)
    assert unpin(data_dir)
    assert not unpin(data_dir)
    assert publish(data_dir, built(ds1_rules, "d"), keep=100).status == "published"


def test_the_same_inputs_are_unchanged_under_the_lock(data_dir: Path, ds1_rules: RuleSet) -> None:
    (first,) = publish_all(data_dir, ds1_rules, "a")
    again = publish(data_dir, built(ds1_rules, "a"), keep=100)
    assert (again.status, again.model_id) == ("unchanged", first)
    forced = publish(data_dir, built(ds1_rules, "a"), keep=100, force=True)
    assert forced.status == "published"


@pytest.mark.parametrize(
    ("playlists", "rules", "live_playlists", "refused"),
    [
        (300, 10, None, None),
        (300, 0, None, "0 rules"),
        (1, 0, 300, "0 rules"),
        (150, 10, 300, None),  # exactly half is enough
        (149, 10, 300, "149 playlists, under half of the 300"),
        (10, 10, 10_000, "under half"),
    ],
)
def test_the_shrink_guard(
    playlists: int, rules: int, live_playlists: int | None, refused: str | None
) -> None:
    live = (
        None
        if live_playlists is None
        else {"model_id": "m", "stats": {"playlists": live_playlists}}
    )
    stats = {"playlists": playlists, "rules": rules}
    reason = shrink_vet(stats, allowed=False)(live)
    assert (reason is None) == (refused is None)
    if refused:
        assert refused in reason
        assert "--allow-shrink" in reason
    assert shrink_vet(stats, allowed=True)(live) is None


def test_a_refused_model_leaves_the_directory_alone(data_dir: Path, ds1_rules: RuleSet) -> None:
    (first,) = publish_all(data_dir, ds1_rules, "a")
    with pytest.raises(PublishError, match="no"):
        publish(data_dir, built(ds1_rules, "b"), keep=100, vet=lambda live: "no")
    assert read_pointer(data_dir).model_id == first
    assert [path.stem for path in (data_dir / MODELS_DIR).iterdir()] == [first]


def test_models_the_record_does_not_name_come_first_by_their_dates(
    data_dir: Path, ds1_rules: RuleSet
) -> None:
    """Models published before `publications.json` existed keep their old order."""
    legacy = publish_all(data_dir, ds1_rules, "ab")
    (data_dir / PUBLICATIONS_NAME).unlink()
    recorded = publish_all(data_dir, ds1_rules, "c")
    models, _ = scan_models(data_dir)
    assert [model.model_id for model in models] == [*legacy, *recorded]
    assert previous_model(models, legacy[1]).model_id == legacy[0]
    assert previous_model(models, recorded[0]).model_id == legacy[1]
    record = json.loads((data_dir / PUBLICATIONS_NAME).read_text())
    assert record == {"published": [{"model_id": recorded[0], "replaced": legacy[1]}]}


def test_the_rollback_target_is_the_model_served_before(data_dir: Path, ds1_rules: RuleSet) -> None:
    first, second = publish_all(data_dir, ds1_rules, "ab")
    rollback(data_dir)  # b -> a
    (third,) = publish_all(data_dir, ds1_rules, "c")
    models, _ = scan_models(data_dir)
    assert previous_model(models, third).model_id == first, "not the model it replaced"
    assert retained(models, third, 1) == {third, first}
    assert rollback(data_dir).target.model_id == first
    (models[0].path).unlink()  # the model it replaced is gone: the one published before
    assert previous_model(scan_models(data_dir)[0], third).model_id == second


@pytest.mark.parametrize(
    "damage",
    [b"{not json", b'{"published": ["an-id"]}', b'{"published": [{"model_id": 1}]}', None],
    ids=["not-json", "old-shape", "bad-entry", "fifo"],
)
def test_a_damaged_record_stops_publishing_and_changes_nothing(
    data_dir: Path, ds1_rules: RuleSet, damage: bytes | None
) -> None:
    (first,) = publish_all(data_dir, ds1_rules, "a")
    record = data_dir / PUBLICATIONS_NAME
    record.unlink()
    if damage is None:
        os.mkfifo(record)
    else:
        record.write_bytes(damage)
    with pytest.raises(ModelError, match=r"publications\.json is damaged .*; remove it"):
        publish(data_dir, built(ds1_rules, "b"), keep=100)
    assert read_pointer(data_dir).model_id == first
    assert [path.stem for path in (data_dir / MODELS_DIR).iterdir()] == [first]
    record.unlink()
    assert publish(data_dir, built(ds1_rules, "b"), keep=100).status == "published"
