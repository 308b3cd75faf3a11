"""The model file format and the publish protocol of the data directory.

A model file is safe to load (nothing in it is executed) and cheap to serve: a JSON header
that describes the model, followed by flat little-endian arrays that load as whole buffers
with one copy each, so the API never builds an object per rule.

    offset 0   8 bytes   magic b"RECSYSM\\0"
    offset 8   8 bytes   header length H, unsigned little-endian
    offset 16  H bytes   header, UTF-8 JSON (metadata, vocabulary, array directory)
    padding to a multiple of 8, then the arrays at the offsets the directory gives

Arrays (typecodes of Python's `array` module, little-endian):
    counts[V]           q  playlists holding each song; song id = popularity rank
    antecedent_keys[G]  q  sorted; each packs a sorted antecedent (see encode_antecedent)
    group_offsets[G+1]  q  rules of group g are [group_offsets[g], group_offsets[g+1])
    consequents[R]      i  song id recommended by each rule (int32)
    confidence[R], lift[R], support[R]   d
    rank[R]             i  position of the rule when all rules are sorted best first
                           (confidence, lift, support desc, then song id); within a
                           group, rules are sorted by rank

Publishing: the artifact is written under a hidden temp name, fsynced and renamed into
`models/`; only then is `current.json` replaced (temp, fsync, os.replace, fsync of the
directory). Readers follow only the pointer, so they never see a half-written model.
This module must not import the training stack: the API reads models with it.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
import sys
import tempfile
from array import array
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from recsys.errors import RecsysError

MAGIC = b"RECSYSM\x00"
FORMAT_NAME = "recsys-model"
FORMAT_VERSION = 1
MODEL_SUFFIX = ".rsm"
MODELS_DIR = "models"
POINTER_NAME = "current.json"
LOCK_NAME = ".publish.lock"
TEMP_MARK = ".tmp-"

KEY_BITS = 21
MAX_ANTECEDENT = 3
MAX_SONGS = (1 << KEY_BITS) - 2

ARRAY_TYPES = {
    "counts": "q",
    "antecedent_keys": "q",
    "group_offsets": "q",
    "consequents": "i",
    "confidence": "d",
    "lift": "d",
    "rank": "i",
    "support": "d",
}
_MODEL_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
_HEADER_PREFIX = 16
_MAX_HEADER = 1 << 30


class ModelError(RecsysError):
    """A model file or pointer that must not be served; the message says why."""


def encode_antecedent(items: tuple[int, ...]) -> int:
    """Pack a sorted antecedent of 1-3 song ids into one integer.

    Each id takes KEY_BITS bits, stored +1 so that 0 means "no item"; the first item sits
    in the highest bits. Sorting the keys therefore sorts antecedents lexicographically,
    and all antecedents that start with song `a` fill the key range
    [first_item_floor(a), first_item_floor(a + 1)).
    """
    if not 1 <= len(items) <= MAX_ANTECEDENT:
        raise ValueError(f"antecedents hold 1 to {MAX_ANTECEDENT} songs, not {len(items)}")
    key = 0
    for position in range(MAX_ANTECEDENT):
        key <<= KEY_BITS
        if position < len(items):
            key |= items[position] + 1
    return key


def decode_antecedent(key: int) -> tuple[int, ...]:
    """The song ids that `encode_antecedent` packed into `key`."""
    mask = (1 << KEY_BITS) - 1
    items = []
    for position in range(MAX_ANTECEDENT - 1, -1, -1):
        field = (key >> (position * KEY_BITS)) & mask
        if field:
            items.append(field - 1)
    return tuple(items)


def first_item_floor(song_id: int) -> int:
    """The smallest key of any antecedent whose first (smallest) song is `song_id`."""
    return (song_id + 1) << (KEY_BITS * (MAX_ANTECEDENT - 1))


@dataclass(frozen=True)
class Model:
    """A model read back from disk: its header and its arrays."""

    header: dict[str, Any]
    arrays: dict[str, array]

    @property
    def model_id(self) -> str:
        return str(self.header["model_id"])

    @property
    def vocabulary(self) -> list[str]:
        return self.header["vocabulary"]


def encode_model(header: Mapping[str, Any], arrays: Mapping[str, array]) -> bytes:
    """Serialise a header and arrays in the layout described at the top of this module."""
    directory: dict[str, dict[str, Any]] = {}
    blobs: list[bytes] = []
    offset = 0
    for name, typecode in ARRAY_TYPES.items():
        values = arrays[name]
        if values.typecode != typecode:
            raise ValueError(f"array {name} has typecode {values.typecode}, not {typecode}")
        if sys.byteorder != "little":
            values = array(typecode, values)
            values.byteswap()
        blob = values.tobytes()
        directory[name] = {"type": typecode, "offset": offset, "count": len(values)}
        blobs.append(blob)
        offset += len(blob)
        pad = -offset % 8
        blobs.append(b"\x00" * pad)
        offset += pad
    full_header = {**header, "byteorder": "little", "arrays": directory}
    header_bytes = json.dumps(full_header, ensure_ascii=False, separators=(",", ":")).encode()
    prefix = MAGIC + len(header_bytes).to_bytes(8, "little") + header_bytes
    prefix += b"\x00" * (-len(prefix) % 8)
    return prefix + b"".join(blobs)


def _parse_header(data: bytes | memoryview, *, need_arrays: bool) -> tuple[dict[str, Any], int]:
    if len(data) < _HEADER_PREFIX or bytes(data[:8]) != MAGIC:
        raise ModelError("not a recsys model file (bad magic bytes)")
    length = int.from_bytes(data[8:16], "little")
    if length > _MAX_HEADER or (need_arrays and _HEADER_PREFIX + length > len(data)):
        raise ModelError("model file is truncated (header runs past the end)")
    try:
        header = json.loads(bytes(data[_HEADER_PREFIX : _HEADER_PREFIX + length]))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise ModelError("model header is not valid JSON") from None
    if not isinstance(header, dict) or header.get("format") != FORMAT_NAME:
        raise ModelError("model header does not describe a recsys model")
    if header.get("format_version") != FORMAT_VERSION:
        raise ModelError(
            f"unsupported model format version {header.get('format_version')!r} "
            f"(this recsys reads version {FORMAT_VERSION})"
        )
    data_start = _HEADER_PREFIX + length
    return header, data_start + (-data_start % 8)


def decode_model(data: bytes, expected_sha256: str | None = None) -> Model:
    """Verify and parse a model file's bytes; raise ModelError on anything wrong."""
    if expected_sha256 is not None:
        actual = hashlib.sha256(data).hexdigest()
        if actual != expected_sha256:
            raise ModelError(
                f"model sha256 mismatch: pointer says {expected_sha256}, file is {actual}"
            )
    header, data_start = _parse_header(data, need_arrays=True)
    view = memoryview(data)
    arrays: dict[str, array] = {}
    directory = header.get("arrays")
    if not isinstance(directory, dict):
        raise ModelError("model header has no array directory")
    for name, typecode in ARRAY_TYPES.items():
        entry = directory.get(name)
        if not isinstance(entry, dict) or entry.get("type") != typecode:
            raise ModelError(f"model array {name} is missing or has the wrong type")
        values = array(typecode)
        start = data_start + int(entry["offset"])
        end = start + int(entry["count"]) * values.itemsize
        if start < data_start or end > len(data):
            raise ModelError(f"model file is truncated (array {name} runs past the end)")
        values.frombytes(view[start:end])
        if sys.byteorder != "little":
            values.byteswap()
        arrays[name] = values
    _check_consistency(header, arrays)
    return Model(header=header, arrays=arrays)


def _check_consistency(header: dict[str, Any], arrays: dict[str, array]) -> None:
    """Cheap whole-array checks (C loops) so a bad model fails here, not in a request."""
    songs = len(arrays["counts"])
    rules = len(arrays["consequents"])
    offsets = arrays["group_offsets"]
    vocabulary = header.get("vocabulary")
    if not isinstance(vocabulary, list) or len(vocabulary) != songs:
        raise ModelError("model vocabulary does not match its song counts")
    if (
        len(offsets) != len(arrays["antecedent_keys"]) + 1
        or offsets[0] != 0
        or offsets[-1] != rules
    ):
        raise ModelError("model rule groups do not cover its rules")
    params = header.get("params")
    rule_length = params.get("max_rule_length") if isinstance(params, dict) else None
    if not isinstance(rule_length, int) or not 2 <= rule_length <= MAX_ANTECEDENT + 1:
        raise ModelError("model header lacks a valid params.max_rule_length")
    if any(len(arrays[name]) != rules for name in ("confidence", "lift", "support", "rank")):
        raise ModelError("model rule columns have different lengths")
    if rules and not (min(arrays["consequents"]) >= 0 and max(arrays["consequents"]) < songs):
        raise ModelError("model rules name songs outside its vocabulary")


def read_model(path: Path, expected_sha256: str | None = None) -> Model:
    """Read, verify and parse one model file."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ModelError(f"model file not found: {path}") from None
    except OSError as error:
        raise ModelError(f"model file unreadable: {path}: {error.strerror}") from None
    return decode_model(data, expected_sha256)


def read_header(path: Path) -> dict[str, Any]:
    """Only the header of a model file: enough to list models without loading rules."""
    with path.open("rb") as handle:
        prefix = handle.read(_HEADER_PREFIX)
        if len(prefix) < _HEADER_PREFIX or prefix[:8] != MAGIC:
            raise ModelError(f"not a recsys model file: {path.name}")
        length = int.from_bytes(prefix[8:16], "little")
        if length > _MAX_HEADER:
            raise ModelError(f"model header too large: {path.name}")
        header, _ = _parse_header(prefix + handle.read(length), need_arrays=False)
    return header


# --- the data directory -------------------------------------------------------------------


@dataclass(frozen=True)
class Pointer:
    """What `current.json` says: which model file is live, and its checksum."""

    model_id: str
    file: str
    sha256: str
    model_date: str
    fingerprint: str

    def model_path(self, data_dir: Path) -> Path:
        return data_dir / MODELS_DIR / Path(self.file).name

    def to_json(self) -> dict[str, str]:
        return {
            "model_id": self.model_id,
            "file": self.file,
            "sha256": self.sha256,
            "model_date": self.model_date,
            "fingerprint": self.fingerprint,
        }


def parse_pointer(raw: bytes) -> Pointer:
    """Validate a pointer's bytes; the file name must stay inside `models/`."""
    try:
        data = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise ModelError(f"{POINTER_NAME} is not valid JSON") from None
    fields = ("model_id", "file", "sha256", "model_date", "fingerprint")
    if not isinstance(data, dict) or not all(isinstance(data.get(f), str) for f in fields):
        raise ModelError(f"{POINTER_NAME} lacks one of {', '.join(fields)}")
    name = Path(data["file"]).name
    if data["file"] != f"{MODELS_DIR}/{name}" or not _MODEL_ID.match(name):
        raise ModelError(f"{POINTER_NAME} names a file outside {MODELS_DIR}/: {data['file']!r}")
    return Pointer(**{field: data[field] for field in fields})


def read_pointer(data_dir: Path) -> Pointer | None:
    """The current pointer, or None when nothing was ever published."""
    try:
        raw = (data_dir / POINTER_NAME).read_bytes()
    except FileNotFoundError:
        return None
    return parse_pointer(raw)


def load_current(data_dir: Path) -> tuple[Pointer, Model] | None:
    """The model the pointer names, verified against the pointer's sha256."""
    pointer = read_pointer(data_dir)
    if pointer is None:
        return None
    return pointer, read_model(pointer.model_path(data_dir), pointer.sha256)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomically(path: Path, data: bytes) -> None:
    """Write `data` to a hidden temp file beside `path`, fsync it, rename it over `path`."""
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}{TEMP_MARK}")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temp, 0o644)
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp)
        raise
    _fsync_dir(path.parent)


@contextlib.contextmanager
def publish_lock(data_dir: Path) -> Iterator[None]:
    """Serialise publishers (the trainer Job and the refresh CronJob may overlap)."""
    data_dir.mkdir(parents=True, exist_ok=True)
    with (data_dir / LOCK_NAME).open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def remove_stale_temps(data_dir: Path) -> list[Path]:
    """Delete temp files a killed publisher left; call only while holding the lock."""
    removed = []
    for folder in (data_dir, data_dir / MODELS_DIR):
        if not folder.is_dir():
            continue
        for path in folder.iterdir():
            if path.name.startswith(".") and TEMP_MARK in path.name:
                path.unlink(missing_ok=True)
                removed.append(path)
    return removed


def publish(data_dir: Path, model_id: str, content: bytes, pointer: Pointer, keep: int) -> Path:
    """Write a model file, then move the pointer to it; prune old models. Lock held by caller."""
    if not _MODEL_ID.match(model_id):
        raise ValueError(f"invalid model id {model_id!r}")
    models = data_dir / MODELS_DIR
    models.mkdir(parents=True, exist_ok=True)
    path = models / f"{model_id}{MODEL_SUFFIX}"
    write_atomically(path, content)
    point_to(data_dir, pointer)
    prune(data_dir, keep)
    return path


def point_to(data_dir: Path, pointer: Pointer) -> None:
    """Atomically replace `current.json` (the only step readers observe)."""
    payload = json.dumps(pointer.to_json(), indent=2).encode() + b"\n"
    write_atomically(data_dir / POINTER_NAME, payload)


def model_files(data_dir: Path) -> list[Path]:
    """Published model files, oldest first (ids start with their UTC timestamp)."""
    folder = data_dir / MODELS_DIR
    if not folder.is_dir():
        return []
    return sorted(
        path
        for path in folder.iterdir()
        if path.suffix == MODEL_SUFFIX and not path.name.startswith(".")
    )


def prune(data_dir: Path, keep: int) -> list[Path]:
    """Keep the newest `keep` models and always the current one."""
    current = read_pointer(data_dir)
    live = current.model_path(data_dir).name if current else None
    files = model_files(data_dir)
    doomed = [path for path in files[: max(0, len(files) - keep)] if path.name != live]
    for path in doomed:
        path.unlink(missing_ok=True)
    return doomed


def pointer_for(model_id: str, content: bytes, header: Mapping[str, Any]) -> Pointer:
    """The pointer that makes a freshly encoded model current."""
    return Pointer(
        model_id=model_id,
        file=f"{MODELS_DIR}/{model_id}{MODEL_SUFFIX}",
        sha256=hashlib.sha256(content).hexdigest(),
        model_date=str(header["model_date"]),
        fingerprint=str(header["fingerprint"]),
    )


def pointer_to_existing(data_dir: Path, model_id: str) -> Pointer:
    """A pointer to an already published model, after verifying the whole file."""
    path = data_dir / MODELS_DIR / f"{model_id}{MODEL_SUFFIX}"
    if not _MODEL_ID.match(model_id) or not path.is_file():
        raise ModelError(f"no published model {model_id!r} in {data_dir / MODELS_DIR}")
    content = path.read_bytes()
    model = decode_model(content)
    return pointer_for(model_id, content, model.header)


def rollback(data_dir: Path, model_id: str | None = None) -> tuple[Pointer | None, Pointer]:
    """Point at `model_id`, or at the newest model older than the current one."""
    with publish_lock(data_dir):
        current = read_pointer(data_dir)
        if model_id is None:
            if current is None:
                raise ModelError("nothing to roll back: no current model")
            older = [p.stem for p in model_files(data_dir) if p.stem < current.model_id]
            if not older:
                raise ModelError(f"no model older than the current one ({current.model_id})")
            model_id = older[-1]
        target = pointer_to_existing(data_dir, model_id)
        point_to(data_dir, target)
    return current, target
