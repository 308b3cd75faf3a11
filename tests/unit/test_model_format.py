"""The model format: round trips, strict verification, the antecedent key order."""

from __future__ import annotations

import hashlib
import json
import pickle
from array import array
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from recsys.model.build import DatasetInfo, build_model
from recsys.model.catalog import rule_measures
from recsys.model.format import (
    ARRAY_TYPES,
    FORMAT_VERSION,
    MAGIC,
    MAX_SONGS,
    ModelError,
    decode_antecedent,
    decode_model,
    encode_antecedent,
    encode_model,
    first_item_floor,
    read_first_names,
    read_header,
    read_model,
)
from recsys.model.index import RuleIndex
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
    assert list(model.vocabulary) == ["a", "b"]
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


# --- the vocabulary: name arrays (version 3), the header's list (version 2) ------------

VOCABULARY = ["Halo", "Beyoncé – Halo", "Straße", "日本の歌", "e\u0301te\u0301"]


def named_model(names: list[str] = VOCABULARY) -> bytes:
    """A model of `names`: the first song's rules recommend every other song."""
    songs = len(names)
    rules = RuleSet(
        playlists=songs,
        vocabulary=names,
        counts=list(range(songs, 0, -1)),
        frequent_songs=songs,
        itemsets=songs,
        rules_per_song=songs - 1,
        antecedent_keys=[encode_antecedent((0,))],
        antecedent_counts=[songs],
        group_offsets=[0, songs - 1],
        consequents=list(range(1, songs)),
        pair_counts=[1] * (songs - 1),
        weights=[1.0 / song for song in range(1, songs)],
    )
    dataset = DatasetInfo(url="names.csv", sha256="0" * 64, bytes=0)
    return build_model(rules, MiningParams(0.1, 0.1, 2), dataset).content


def version_2(data: bytes, **changes: object) -> bytes:
    """`data` laid out as format version 2 wrote it: the vocabulary a list in the header,
    no name arrays; `changes` to the header after that."""
    model = decode_model(data)
    header = {key: value for key, value in model.header.items() if key != "arrays"}
    header |= {"format_version": 2, "vocabulary": list(model.vocabulary), **changes}
    directory, blobs, offset = {}, [], 0
    for name, typecode in ARRAY_TYPES.items():
        if name not in ("names", "name_offsets"):
            blob = model.arrays[name].tobytes()
            directory[name] = {"type": typecode, "offset": offset, "count": len(model.arrays[name])}
            blobs += [blob, b"\x00" * (-len(blob) % 8)]
            offset += len(blob) + -len(blob) % 8
    raw = json.dumps(
        {**header, "arrays": directory}
    ).encode()  # ASCII: JSON spells a lone surrogate
    prefix = MAGIC + len(raw).to_bytes(8, "little") + raw
    return prefix + b"\x00" * (-len(prefix) % 8) + b"".join(blobs)


def test_the_vocabulary_is_two_arrays_not_part_of_the_header() -> None:
    data = named_model()
    model = decode_model(data)
    assert model.header["format_version"] == FORMAT_VERSION == 3
    assert "vocabulary" not in model.header
    assert list(model.vocabulary) == VOCABULARY
    assert model.arrays["names"].tobytes() == "".join(VOCABULARY).encode()
    assert list(model.arrays["name_offsets"]) == [
        len("".join(VOCABULARY[:song]).encode()) for song in range(len(VOCABULARY) + 1)
    ]


def test_a_version_2_file_still_loads_into_the_same_model(tmp_path: Path) -> None:
    data = named_model()
    old = version_2(data)
    assert json.loads(old[16 : 16 + int.from_bytes(old[8:16], "little")])["vocabulary"]
    model, read_back = decode_model(data), decode_model(old, hashlib.sha256(old).hexdigest())
    assert read_back.header["format_version"] == 2
    assert "vocabulary" not in read_back.header
    assert list(read_back.vocabulary) == VOCABULARY
    assert read_back.arrays == model.arrays
    for liked in (["Halo"], ["STRASSE"], ["ete\u0301"]):
        assert RuleIndex(read_back).recommend(liked, 3) == RuleIndex(model).recommend(liked, 3)
    path = tmp_path / "old.rsm"
    path.write_bytes(old)
    assert read_model(path).arrays == model.arrays
    assert read_header(path)["vocabulary"] == VOCABULARY
    assert read_first_names(path, 2) == VOCABULARY[:2]


def test_the_first_names_are_read_without_loading_the_model(tmp_path: Path) -> None:
    path = tmp_path / "model.rsm"
    path.write_bytes(named_model())
    assert read_first_names(path, 2) == VOCABULARY[:2]
    assert read_first_names(path, 100) == VOCABULARY
    assert "vocabulary" not in read_header(path)


def with_arrays(data: bytes, **changes: array) -> bytes:
    """`data` with some arrays replaced, everything else as encoded."""
    model = decode_model(data)
    header = {key: value for key, value in model.header.items() if key != "arrays"}
    return encode_model(header, model.arrays | changes)


def names_of(*parts: bytes) -> dict[str, array]:
    """Name arrays holding exactly `parts`."""
    offsets = array("q", [0])
    for part in parts:
        offsets.append(offsets[-1] + len(part))
    return {"names": array("B", b"".join(parts)), "name_offsets": offsets}


def offsets_changed(change: int, to: int) -> dict[str, array]:
    arrays = names_of(*(name.encode() for name in VOCABULARY))
    arrays["name_offsets"][change] = to
    return arrays


@pytest.mark.parametrize(
    ("arrays", "message"),
    [
        (names_of(b"a", b"b", b"c"), "vocabulary does not match its song counts"),
        (offsets_changed(2, 3), "empty or out of order"),  # the second name ends before it starts
        (offsets_changed(2, 4), "empty or out of order"),  # an empty name
        (offsets_changed(0, 1), "do not fill their array"),
        (offsets_changed(5, 99), "do not fill their array"),  # past the end
        (offsets_changed(4, 99), "empty or out of order"),
        (names_of(b"a", b"\xff", b"c", b"d", b"e"), "not valid UTF-8"),
        (names_of(b"a", b"b\xc3", b"\xa9", b"d", b"e"), "not valid UTF-8"),  # é split in two
        (names_of(b"a", b"b", b"c", b"d", b"\xed\xa0\x80"), "not valid UTF-8"),  # a surrogate
    ],
)
def test_damaged_name_arrays_are_refused(arrays: dict[str, array], message: str) -> None:
    damaged = with_arrays(named_model(), **arrays)
    with pytest.raises(ModelError, match=message):
        decode_model(damaged)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"vocabulary": VOCABULARY[:-1]}, "vocabulary does not match"),
        ({"vocabulary": "Halo"}, "vocabulary does not match"),
        ({"vocabulary": [*VOCABULARY[:-1], 7]}, "something other than song names"),
        ({"vocabulary": [*VOCABULARY[:-1], "lone \ud800"]}, "something other than song names"),
        ({"vocabulary": [*VOCABULARY[:-1], ""]}, "empty or out of order"),
    ],
)
def test_a_damaged_version_2_vocabulary_is_refused(changes: dict, message: str) -> None:
    with pytest.raises(ModelError, match=message):
        decode_model(version_2(named_model(), **changes))


def test_a_file_is_read_straight_into_its_arrays(tmp_path: Path) -> None:
    data = named_model()
    path = tmp_path / "model.rsm"
    path.write_bytes(data)
    assert read_model(path, hashlib.sha256(data).hexdigest()) == decode_model(data)
    path.write_bytes(data[:-10])
    with pytest.raises(ModelError, match="truncated"):
        read_model(path)
    with pytest.raises(ModelError, match="sha256 mismatch"):  # the pointer's word comes first
        read_model(path, hashlib.sha256(data).hexdigest())


def test_a_model_without_rules_loads() -> None:
    """Its empty rule arrays share an offset with the names; before, they seemed to
    overlap them, and a model `recsys train --allow-shrink` published could not be served."""
    rules = RuleSet(
        playlists=3, vocabulary=VOCABULARY, counts=[1] * len(VOCABULARY),
        frequent_songs=0, itemsets=0, rules_per_song=0, antecedent_keys=[],
        antecedent_counts=[], group_offsets=[0], consequents=[], pair_counts=[], weights=[],
    )  # fmt: skip
    dataset = DatasetInfo(url="none.csv", sha256="0" * 64, bytes=0)
    model = decode_model(build_model(rules, MiningParams(0.1, 0.1, 2), dataset).content)
    assert list(model.vocabulary) == VOCABULARY
    assert RuleIndex(model).recommend(["Halo"], 3).songs == ["Beyoncé – Halo", "Straße", "日本の歌"]


def test_arrays_that_overlap_are_refused() -> None:
    data = named_model()
    length = int.from_bytes(data[8:16], "little")
    header = json.loads(data[16 : 16 + length])
    header["arrays"]["pair_counts"]["offset"] = header["arrays"]["consequents"]["offset"]
    with pytest.raises(ModelError, match="overlaps"):
        decode_model(with_header(data, arrays=header["arrays"]))
