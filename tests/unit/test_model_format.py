"""The model format: round trips, strict verification, the antecedent key order."""

from __future__ import annotations

import hashlib
import json
import pickle
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from recsys.model.build import DatasetInfo, build_model
from recsys.model.catalog import rule_measures
from recsys.model.format import (
    MAX_SONGS,
    ModelError,
    decode_antecedent,
    decode_model,
    encode_antecedent,
    first_item_floor,
)
from recsys.model.pointer import parse_pointer
from recsys.model.rules import MiningParams, RuleSet

antecedents = st.lists(
    st.integers(min_value=0, max_value=MAX_SONGS), min_size=1, max_size=3, unique=True
).map(lambda items: tuple(sorted(items)))


@given(antecedents)
def test_antecedent_keys_round_trip(items: tuple[int, ...]) -> None:
    assert decode_antecedent(encode_antecedent(items)) == items
    key = encode_antecedent(items)
    assert first_item_floor(items[0]) <= key < first_item_floor(items[0] + 1)


@given(antecedents, antecedents)
def test_key_order_is_lexicographic(left: tuple[int, ...], right: tuple[int, ...]) -> None:
    assert (encode_antecedent(left) < encode_antecedent(right)) == (left < right)


def tiny_model() -> bytes:
    rules = RuleSet(
        playlists=2,
        vocabulary=["a", "b"],
        counts=[2, 1],
        frequent_songs=2,
        itemsets=3,
        rules_per_song=1,
        antecedent_keys=[encode_antecedent((0,))],
        antecedent_counts=[2],
        group_offsets=[0, 1],
        consequents=[1],
        pair_counts=[1],
        weights=[0.5],
    )
    dataset = DatasetInfo(url="tiny.csv", sha256="0" * 64, bytes=0)
    return build_model(rules, MiningParams(0.1, 0.1, 2), dataset).content


def test_round_trip_and_checksum() -> None:
    data = tiny_model()
    model = decode_model(data, hashlib.sha256(data).hexdigest())
    assert model.vocabulary == ["a", "b"]
    assert list(model.arrays["consequents"]) == [1]
    assert model.arrays["weights"][0] == 0.5
    assert rule_measures(model, 0) == {
        "antecedent": ["a"],
        "consequent": ["b"],
        "playlists": 1,
        "support": 0.5,
        "confidence": 0.5,
        "lift": 1.0,
        "weight": 0.5,
    }


def with_header(data: bytes, **changes: object) -> bytes:
    length = int.from_bytes(data[8:16], "little")
    header = json.loads(data[16 : 16 + length])
    header.update(changes)
    encoded = json.dumps(header, separators=(",", ":")).encode()
    assert len(encoded) <= length
    return data[:16] + encoded.ljust(length) + data[16 + length :]


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda data: data[: len(data) // 2], "truncated"),
        (lambda data: data[:10], "bad magic"),
        (lambda data: b"\x93NUMPY garbage" * 20, "bad magic"),
        (lambda data: pickle.dumps({"rules": []}), "bad magic"),
        (lambda data: with_header(data, format_version=7), "unsupported model format version 7"),
        (lambda data: with_header(data, format="other"), "does not describe a recsys model"),
        (lambda data: with_header(data, vocabulary=["a"]), "vocabulary does not match"),
        (lambda data: data[:16] + b"{" * (len(data) - 16), "not valid JSON"),
    ],
)
def test_damaged_models_are_refused(damage, message: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ModelError, match=message):
        decode_model(damage(tiny_model()))


def test_checksum_mismatch_is_refused() -> None:
    with pytest.raises(ModelError, match="sha256 mismatch"):
        decode_model(tiny_model(), "0" * 64)


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"not json", "not valid JSON"),
        (b"[]", "lacks one of"),
        (
            json.dumps(
                {
                    "model_id": "x",
                    "file": "../../etc/passwd",
                    "sha256": "0",
                    "model_date": "d",
                    "fingerprint": "f",
                }
            ).encode(),
            "outside models/",
        ),
    ],
)
def test_bad_pointers_are_refused(raw: bytes, message: str) -> None:
    with pytest.raises(ModelError, match=message):
        parse_pointer(raw)


def test_pointer_names_a_file_in_models(tmp_path: Path) -> None:
    pointer = parse_pointer(
        json.dumps(
            {
                "model_id": "m",
                "file": "models/m.rsm",
                "sha256": "0",
                "model_date": "d",
                "fingerprint": "f",
            }
        ).encode()
    )
    assert pointer.model_path(tmp_path) == tmp_path / "models" / "m.rsm"
