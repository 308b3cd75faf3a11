"""The data directory: which model is current, and the only safe way to change that.

    <data_dir>/current.json         the pointer: model id, file, sha256, date, fingerprint
    <data_dir>/models/<id>.rsm      published model files (see `format`)
    <data_dir>/.publish.lock        flock that serialises publishers

Publishing writes the model under a hidden temp name, fsyncs and renames it into
`models/`; only then is `current.json` replaced (temp, fsync, os.replace, fsync of the
directory). Readers follow only the pointer, so they never see a half-written model.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from recsys.model.build import BuiltModel
from recsys.model.format import ModelError, ModelFile, decode_model, read_model

MODEL_SUFFIX = ".rsm"
MODELS_DIR = "models"
POINTER_NAME = "current.json"
LOCK_NAME = ".publish.lock"
TEMP_MARK = ".tmp-"
_MODEL_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


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


def load_current(data_dir: Path) -> tuple[Pointer, ModelFile] | None:
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


def publish(data_dir: Path, built: BuiltModel, keep: int) -> Path:
    """Write a built model, then move the pointer to it, then prune old models.

    Everything happens under the publish lock, after removing what a killed publisher
    left behind. This is the only way a model becomes current.
    """
    if not _MODEL_ID.match(built.model_id):
        raise ValueError(f"invalid model id {built.model_id!r}")
    with publish_lock(data_dir):
        remove_stale_temps(data_dir)
        models = data_dir / MODELS_DIR
        models.mkdir(parents=True, exist_ok=True)
        path = models / f"{built.model_id}{MODEL_SUFFIX}"
        write_atomically(path, built.content)
        point_to(data_dir, pointer_for(built.model_id, built.content, built.header))
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
