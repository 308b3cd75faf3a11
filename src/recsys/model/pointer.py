"""`current.json`, the pointer: which published model is live, and its checksum.

Readers follow only the pointer, and it is replaced in one step (`write_atomically`), so
they see the old model or the new one, never a half-written file. Only `repository`
(publish) and `rollback` move it, under the publish lock.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from recsys.model.catalog import MODEL_ID, MODEL_SUFFIX, MODELS_DIR
from recsys.model.files import read_regular_file, write_atomically
from recsys.model.format import ModelError, ModelFile, read_model

POINTER_NAME = "current.json"
# A pointer is a few hundred bytes; anything much larger is not one.
MAX_POINTER_BYTES = 64 * 1024


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
        return asdict(self)


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
    if data["file"] != f"{MODELS_DIR}/{name}" or not MODEL_ID.match(name):
        raise ModelError(f"{POINTER_NAME} names a file outside {MODELS_DIR}/: {data['file']!r}")
    return Pointer(**{field: data[field] for field in fields})


def read_pointer(data_dir: Path) -> Pointer | None:
    """The current pointer, or None when nothing was ever published."""
    try:
        raw = read_regular_file(data_dir / POINTER_NAME, MAX_POINTER_BYTES, POINTER_NAME)
    except FileNotFoundError:
        return None
    return parse_pointer(raw)


def live_pointer(data_dir: Path) -> Pointer | None:
    """The pointer, if it is sound and names a file; a damaged pointer counts as no model."""
    try:
        pointer = read_pointer(data_dir)
    except ModelError:
        return None
    if pointer is None or not pointer.model_path(data_dir).is_file():
        return None
    return pointer


def load_current(data_dir: Path) -> tuple[Pointer, ModelFile] | None:
    """The model the pointer names, verified against the pointer's sha256."""
    pointer = read_pointer(data_dir)
    if pointer is None:
        return None
    return pointer, read_model(pointer.model_path(data_dir), pointer.sha256)


def point_to(data_dir: Path, pointer: Pointer) -> None:
    """Atomically replace `current.json` (the only step readers observe)."""
    payload = json.dumps(pointer.to_json(), indent=2).encode() + b"\n"
    write_atomically(data_dir / POINTER_NAME, payload)


def pointer_for(model_id: str, content: bytes, header: Mapping[str, Any]) -> Pointer:
    """The pointer that makes a freshly encoded model current."""
    return Pointer(
        model_id=model_id,
        file=f"{MODELS_DIR}/{model_id}{MODEL_SUFFIX}",
        sha256=hashlib.sha256(content).hexdigest(),
        model_date=str(header["model_date"]),
        fingerprint=str(header["fingerprint"]),
    )
