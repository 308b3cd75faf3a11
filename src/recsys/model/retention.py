"""Which published models the data directory keeps, and deleting the rest.

Retention keeps the newest `keep` models in publish order, the live one and its rollback
target, whatever their age: a rollback must always have somewhere to go. `publish` prunes
after every publish, and when the volume lacks room for a new model it deletes early
what this publish would prune anyway (`room_to_spare`). Junk is never deleted.
"""

from __future__ import annotations

from pathlib import Path

from recsys.model.catalog import StoredModel, previous_model, scan_models
from recsys.model.pointer import live_pointer


def retained(models: list[StoredModel], live: str | None, keep: int) -> set[str]:
    """What retention keeps: the newest `keep` models, the live one and its rollback target."""
    kept = {model.model_id for model in models[max(0, len(models) - keep) :]}
    if live is not None:
        kept.add(live)
        previous = previous_model(models, live)
        if previous is not None:
            kept.add(previous.model_id)
    return kept


def room_to_spare(
    models: list[StoredModel], live: str | None, keep: int, short: int
) -> tuple[list[Path], int]:
    """Models to delete, earliest published first, to free `short` bytes; and the bytes freed.

    Only models this publish would prune anyway: the new model will be one of the `keep`
    newest, so `keep - 1` others stay, and so do the live model and its rollback target.
    The caller deletes nothing unless the bytes suffice, so a failed publish changes nothing.
    """
    kept = retained(models, live, keep - 1)
    doomed: list[Path] = []
    freed = 0
    for model in models:
        if freed >= short:
            break
        if model.model_id not in kept:
            doomed.append(model.path)
            freed += model.path.stat().st_blocks * 512
    return doomed, freed


def prune(data_dir: Path, keep: int) -> tuple[list[Path], list[tuple[Path, str]]]:
    """Delete the models retention does not keep; return them, and the junk left alone.

    Junk (files in `models/` that are not models we could have written) is never deleted:
    what it is, and whether anyone needs it, is for a person to decide.
    """
    models, junk = scan_models(data_dir)
    live = live_pointer(data_dir)
    kept = retained(models, live.model_id if live else None, keep)
    doomed = [model.path for model in models if model.model_id not in kept]
    for path in doomed:
        path.unlink(missing_ok=True)
    return doomed, junk
