"""What `recsys models list` and `recsys models show` report about published models."""

from __future__ import annotations

import heapq
from bisect import bisect_right
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from recsys.model.format import ModelError, decode_antecedent, read_header, read_model
from recsys.model.repository import MODEL_SUFFIX, MODELS_DIR, model_files, read_pointer


@dataclass(frozen=True)
class ModelRow:
    model_id: str
    model_date: str
    rules: int
    songs: int
    dataset_sha256: str
    current: bool


def list_models(data_dir: Path) -> list[ModelRow]:
    """Every published model, oldest first; unreadable files are skipped, not fatal."""
    pointer = read_pointer(data_dir)
    rows = []
    for path in model_files(data_dir):
        try:
            header = read_header(path)
        except (ModelError, OSError):
            continue
        rows.append(
            ModelRow(
                model_id=path.stem,
                model_date=str(header.get("model_date", "")),
                rules=int(header.get("stats", {}).get("rules", 0)),
                songs=int(header.get("stats", {}).get("songs", 0)),
                dataset_sha256=str(header.get("dataset", {}).get("sha256", "")),
                current=pointer is not None and pointer.model_id == path.stem,
            )
        )
    return rows


def show_model(
    data_dir: Path, model_id: str | None, top: int
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """A model's metadata (without vocabulary) and its `top` rules by confidence, then lift."""
    if model_id is None:
        pointer = read_pointer(data_dir)
        if pointer is None:
            raise ModelError(f"no model published yet in {data_dir}")
        model = read_model(pointer.model_path(data_dir), pointer.sha256)
    else:
        model = read_model(data_dir / MODELS_DIR / f"{model_id}{MODEL_SUFFIX}")
    metadata = {
        key: value for key, value in model.header.items() if key not in ("vocabulary", "arrays")
    }
    arrays = model.arrays
    confidence, lift = arrays["confidence"], arrays["lift"]
    best = heapq.nlargest(
        max(0, top), range(len(confidence)), key=lambda rule: (confidence[rule], lift[rule])
    )
    offsets = arrays["group_offsets"]
    names = model.vocabulary
    rules = [
        {
            "antecedent": [
                names[song]
                for song in decode_antecedent(
                    arrays["antecedent_keys"][bisect_right(offsets, rule) - 1]
                )
            ],
            "consequent": [names[arrays["consequents"][rule]]],
            "support": arrays["support"][rule],
            "confidence": confidence[rule],
            "lift": lift[rule],
        }
        for rule in best
    ]
    return metadata, rules
