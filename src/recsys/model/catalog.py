"""What the data directory holds, read-only: its models in publish order, junk, and what
`recsys models list` and `recsys models show` report.

Publish order is the order `publish` recorded (see `ordering`), after the models it did not
record, ordered by what each file says about itself (its header's model_date); never by
file names: any name sorts somewhere, and a stray file must not push a real model out of
retention or become a rollback target. Files in `models/` that are not models we could
have written are junk: reported, never deleted, never counted.
The writing side is built on these readings: `repository` (publish), `retention`
(prune), `rollback`, and `pins` (the rollback pin).
"""

from __future__ import annotations

import heapq
import re
from bisect import bisect_right
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from recsys.model.format import ModelError, ModelFile, decode_antecedent, read_header
from recsys.model.ordering import Publication, publication_order, read_publications

MODEL_SUFFIX = ".rsm"
MODELS_DIR = "models"
MODEL_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


def dataset_sha256(header: Mapping[str, Any] | None) -> str | None:
    """The sha256 of the dataset a model was trained on, from its header."""
    dataset = header.get("dataset") if header else None
    sha256 = dataset.get("sha256") if isinstance(dataset, dict) else None
    return sha256 if isinstance(sha256, str) else None


@dataclass(frozen=True)
class StoredModel:
    """A file of `models/` whose header names it: a model `publish` wrote (or could have)."""

    model_id: str
    model_date: datetime
    path: Path
    header: dict[str, Any]
    replaced: str | None = None  # the model served until this one was published, if recorded


def _stored(path: Path) -> StoredModel | str:
    """The model `path` holds, or why it is not one (then it is junk we leave alone)."""
    if path.is_symlink() or not path.is_file():
        return "not a regular file"
    if path.suffix != MODEL_SUFFIX or not MODEL_ID.match(path.stem):
        return f"not named <model_id>{MODEL_SUFFIX}"
    try:
        header = read_header(path)
    except (ModelError, OSError) as error:
        return str(error)
    if header.get("model_id") != path.stem:
        return f"its header names another model ({header.get('model_id')!r})"
    try:
        date = datetime.fromisoformat(str(header.get("model_date")))
    except ValueError:
        date = None
    if date is None or date.tzinfo is None:
        return "its header has no valid model_date"
    return StoredModel(path.stem, date, path, header)


def scan_models(data_dir: Path) -> tuple[list[StoredModel], list[tuple[Path, str]]]:
    """The models of `models/` in publish order, and the junk beside them with why."""
    folder = data_dir / MODELS_DIR
    published = read_publications(data_dir)
    models: list[StoredModel] = []
    junk: list[tuple[Path, str]] = []
    for path in sorted(folder.iterdir()) if folder.is_dir() else []:
        if path.name.startswith("."):  # a publisher's temp file
            continue
        found = _stored(path)
        if isinstance(found, StoredModel):
            models.append(found)
        else:
            junk.append((path, found))
    return _in_publish_order(models, published), junk


def _in_publish_order(models: list[StoredModel], published: list[Publication]) -> list[StoredModel]:
    """`models` sorted as `published` recorded them, each with the model it replaced."""
    order = publication_order(published)
    replaced = {entry.model_id: entry.replaced for entry in published}
    ordered = sorted(models, key=lambda model: order(model.model_id, model.model_date))
    return [replace(model, replaced=replaced.get(model.model_id)) for model in ordered]


def previous_model(models: list[StoredModel], model_id: str) -> StoredModel | None:
    """The rollback target: the model served before `model_id` was published, while it is
    kept; else the model published before it (None if there is neither).

    After a rollback from B to A and a publish of C, that is A, not B, which the operator
    rolled back from.
    """
    ids = [model.model_id for model in models]
    if model_id not in ids:
        return None
    position = ids.index(model_id)
    replaced = models[position].replaced
    if replaced in ids and replaced != model_id:
        return models[ids.index(replaced)]
    return models[position - 1] if position else None


def header_or_none(path: Path | None) -> dict[str, Any] | None:
    """A model's header, or None when there is no such readable model."""
    if path is None:
        return None
    try:
        return read_header(path)
    except (ModelError, OSError):
        return None


@dataclass(frozen=True)
class ModelRow:
    model_id: str
    model_date: str
    rules: int
    songs: int
    dataset_sha256: str
    current: bool


def _count(value: object) -> int:
    """A header's count as listed: a file from elsewhere may hold anything there."""
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def list_models(data_dir: Path, live: str | None) -> tuple[list[ModelRow], list[tuple[Path, str]]]:
    """Every model in publish order, with `live` marked current; and the junk beside them."""
    models, junk = scan_models(data_dir)
    rows = []
    for model in models:
        stats = model.header.get("stats")
        stats = stats if isinstance(stats, dict) else {}
        rows.append(
            ModelRow(
                model_id=model.model_id,
                model_date=str(model.header.get("model_date", "")),
                rules=_count(stats.get("rules")),
                songs=_count(stats.get("songs")),
                dataset_sha256=dataset_sha256(model.header) or "",
                current=model.model_id == live,
            )
        )
    return rows, junk


def show_model(model: ModelFile, top: int) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """A model's metadata (without the array directory) and its `top` rules, heaviest
    first."""
    metadata = {key: value for key, value in model.header.items() if key != "arrays"}
    arrays = model.arrays
    weights = arrays["weights"]
    best = heapq.nlargest(max(0, top), range(len(weights)), key=weights.__getitem__)
    return metadata, [rule_measures(model, rule) for rule in best]


def rule_measures(model: ModelFile, rule: int) -> dict[str, Any]:
    """One rule by name, with the measures its counts give (the file stores only counts)."""
    arrays = model.arrays
    names = model.vocabulary
    group = bisect_right(arrays["group_offsets"], rule) - 1
    playlists = model.header["stats"]["playlists"]
    together = arrays["pair_counts"][rule]
    consequent = arrays["consequents"][rule]
    confidence = together / arrays["antecedent_counts"][group]
    return {
        "antecedent": [names[song] for song in decode_antecedent(arrays["antecedent_keys"][group])],
        "consequent": [names[consequent]],
        "playlists": together,
        "support": together / playlists,
        "confidence": confidence,
        "lift": confidence / (arrays["counts"][consequent] / playlists),
        "weight": arrays["weights"][rule],
    }
