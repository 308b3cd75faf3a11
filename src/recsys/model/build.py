"""The one path from mined rules to model bytes: identity, header and encoding together.

The trainer, `recsys evaluate`, the tests and the benchmarks all call `build_model`, so a
model made anywhere has the same header, the same fingerprint rule and the same layout.
"""

from __future__ import annotations

import hashlib
import json
import time
from array import array
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from recsys import __version__
from recsys.model.format import ARRAY_TYPES, FORMAT_NAME, FORMAT_VERSION, encode_model
from recsys.model.rules import MiningParams, RuleSet, Tuning
from recsys.model.vocabulary import as_vocabulary


@dataclass(frozen=True)
class DatasetInfo:
    """Where a model's playlists came from; recorded in its header."""

    url: str
    sha256: str
    bytes: int


@dataclass(frozen=True)
class BuiltModel:
    """An encoded model, ready to publish: its id, its header and its file's bytes."""

    model_id: str
    header: dict[str, Any]
    content: bytes


def fingerprint(dataset_sha256: str, requested: Mapping[str, Any]) -> str:
    """Identity of a training run's inputs: equal fingerprints give equal models.

    `requested` is the parameters as asked for (a min_support of "auto" included), not as
    chosen: a run can tell it has nothing to do before it chooses anything.
    """
    identity = {
        "dataset_sha256": dataset_sha256,
        "params": dict(requested),
        "trainer_version": __version__,
        "format_version": FORMAT_VERSION,
    }
    return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()


def new_model_id(digest: str) -> str:
    """Sortable by time (retention and rollback rely on it), unique per run."""
    now = datetime.now(UTC)
    salt = hashlib.sha256(f"{digest}{time.time_ns()}".encode()).hexdigest()[:8]
    return f"{now:%Y%m%dT%H%M%S%fZ}-{salt}"


def build_header(
    rules: RuleSet,
    params: MiningParams,
    *,
    model_id: str,
    dataset: DatasetInfo,
    digest: str,
    tuning: Tuning,
) -> dict[str, Any]:
    """The model file's self-description."""
    return {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "model_id": model_id,
        "model_date": datetime.now(UTC).isoformat(timespec="microseconds"),
        "trainer_version": __version__,
        "fingerprint": digest,
        "dataset": asdict(dataset),
        "params": asdict(params),
        "tuning": asdict(tuning),
        "stats": {
            "playlists": rules.playlists,
            "songs": len(rules.vocabulary),
            "frequent_songs": rules.frequent_songs,
            "itemsets": rules.itemsets,
            "rules": rules.rule_count,
            "antecedents": len(rules.antecedent_keys),
            "rules_per_song": rules.rules_per_song,
            "coverage": rules.coverage,
        },
    }


def build_model(
    rules: RuleSet, params: MiningParams, dataset: DatasetInfo, tuning: Tuning | None = None
) -> BuiltModel:
    """Encode `rules` as a new model with a fresh id, fingerprinted by dataset and request.

    Without a `tuning`, the parameters were set, not chosen: they are the request.
    """
    tuning = tuning or Tuning(requested=asdict(params), method="set")
    digest = fingerprint(dataset.sha256, tuning.requested)
    model_id = new_model_id(digest)
    header = build_header(
        rules, params, model_id=model_id, dataset=dataset, digest=digest, tuning=tuning
    )
    columns: dict[str, Sequence[int] | Sequence[float]] = {
        "counts": rules.counts,
        "antecedent_keys": rules.antecedent_keys,
        "antecedent_counts": rules.antecedent_counts,
        "group_offsets": rules.group_offsets,
        "consequents": rules.consequents,
        "pair_counts": rules.pair_counts,
        "weights": rules.weights,
    }
    arrays = {name: _array(ARRAY_TYPES[name], values) for name, values in columns.items()}
    vocabulary = as_vocabulary(rules.vocabulary)
    arrays["names"], arrays["name_offsets"] = vocabulary.blob, vocabulary.offsets
    return BuiltModel(model_id=model_id, header=header, content=encode_model(header, arrays))


def _array(typecode: str, values: Sequence[int] | Sequence[float]) -> array:
    """`values` as an array of `typecode`: itself when it is one already (the trainer's
    columns are), not a copy."""
    if isinstance(values, array) and values.typecode == typecode:
        return values
    return array(typecode, values)
