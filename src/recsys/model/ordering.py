"""The order models were published in, and what each replaced: what retention and
rollback go by.

A header's model_date comes from the clock of the trainer that built the model. A trainer
whose clock is behind would date its model before the ones already published: retention
would prune the served model first and rollback would skip it. So `publish` records each
model, under the publish lock and before the pointer moves, in `publications.json`:

    {"published": [{"model_id": ..., "replaced": <the model live until then, or null>}, ...]}

oldest first. The order of that list is the order of the models, and a model's rollback
target is the one it replaced (the model served before it, even if a rollback had made
that one current). Entries whose files are gone are dropped as the list is rewritten.

Models the list does not name (published before it existed) come first, by their header
dates, as they always were ordered. A damaged list stops publishing until someone removes
it: guessing the order again from dates could prune the model that was served.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Collection
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from recsys.model.errors import ModelError
from recsys.model.files import UnsafeFileError, read_small_file, write_atomically

PUBLICATIONS_NAME = "publications.json"
# Room for thousands of entries; retention keeps far fewer models.
MAX_PUBLICATIONS_BYTES = 1 << 20

OrderKey = tuple[bool, int, datetime, str]


@dataclass(frozen=True)
class Publication:
    """One publish: the model it made current, and the one that was current until then."""

    model_id: str
    replaced: str | None


def read_publications(data_dir: Path) -> list[Publication]:
    """What `publish` recorded, oldest first; [] when nothing recorded anything yet."""
    path = data_dir / PUBLICATIONS_NAME
    try:
        raw = read_small_file(path, MAX_PUBLICATIONS_BYTES, PUBLICATIONS_NAME)
    except UnsafeFileError as error:
        raise _damaged(path, error.reason) from None
    if raw is None:
        return []
    try:
        data = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise _damaged(path, "not valid JSON") from None
    entries = data.get("published") if isinstance(data, dict) else None
    if not isinstance(entries, list) or not all(_is_entry(entry) for entry in entries):
        raise _damaged(path, 'no "published" list of {"model_id", "replaced"}')
    return [Publication(entry["model_id"], entry["replaced"]) for entry in entries]


def _is_entry(entry: Any) -> bool:
    return (
        isinstance(entry, dict)
        and isinstance(entry.get("model_id"), str)
        and isinstance(entry.get("replaced"), str | None)
    )


def _damaged(path: Path, why: str) -> ModelError:
    return ModelError(
        f"{path} is damaged ({why}); remove it to order the models by the dates in their "
        "headers again"
    )


def record_publication(
    data_dir: Path, published: list[Publication], new: Publication, present: Collection[str]
) -> None:
    """Write the record with `new` last, keeping only the entries of models `present`."""
    kept = [old for old in published if old.model_id in present and old.model_id != new.model_id]
    entries = [asdict(entry) for entry in [*kept, new]]
    payload = json.dumps({"published": entries}, indent=2).encode() + b"\n"
    write_atomically(data_dir / PUBLICATIONS_NAME, payload)


def publication_order(published: list[Publication]) -> Callable[[str, datetime], OrderKey]:
    """The sort key of a model (by id and header date): unrecorded ones first, by date."""
    position = {entry.model_id: place for place, entry in enumerate(published)}

    def key(model_id: str, model_date: datetime) -> OrderKey:
        place = position.get(model_id)
        return (place is not None, place or 0, model_date, model_id)

    return key
