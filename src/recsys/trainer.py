"""The training pipeline that `train` and `refresh` share: snapshot -> rules -> published model.

Both commands must publish through exactly one code path, so that a model made by the
CronJob is indistinguishable from one made by the Job, and the idempotency rule (same
dataset bytes + same parameters + same trainer = nothing to do) holds for both.
"""

from __future__ import annotations

import hashlib
import json
import time
from array import array
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from recsys import __version__
from recsys.artifact import (
    ARRAY_TYPES,
    FORMAT_NAME,
    FORMAT_VERSION,
    ModelError,
    encode_model,
    pointer_for,
    publish,
    publish_lock,
    read_pointer,
    remove_stale_temps,
)
from recsys.dataset import DatasetError, Snapshot, fetched, load_playlists
from recsys.mining import MiningParams, RuleSet, mine
from recsys.settings import Settings

Reporter = Callable[[str], None]


@dataclass
class TrainResult:
    """The summary `train --json` and `refresh --json` print."""

    status: str  # "published" or "unchanged"
    model_id: str
    playlists: int | None = None
    songs: int | None = None
    itemsets: int | None = None
    rules: int | None = None
    seconds: float = 0.0
    dataset_sha256: str | None = None
    downloaded_bytes: int = 0
    stages: dict[str, float] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def params_of(settings: Settings) -> MiningParams:
    return MiningParams(
        min_support=settings.min_support,
        min_confidence=settings.min_confidence,
        max_rule_length=settings.max_rule_length,
    )


def fingerprint(dataset_sha256: str, params: MiningParams) -> str:
    """Identity of a training run's inputs: equal fingerprints give equal models."""
    identity = {
        "dataset_sha256": dataset_sha256,
        "params": asdict(params),
        "trainer_version": __version__,
        "format_version": FORMAT_VERSION,
    }
    return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()


def current_fingerprint(data_dir: Path) -> tuple[str, str] | None:
    """(model_id, fingerprint) of the live model; a damaged pointer counts as none."""
    try:
        pointer = read_pointer(data_dir)
    except ModelError:
        return None
    if pointer is None or not pointer.model_path(data_dir).is_file():
        return None
    return pointer.model_id, pointer.fingerprint


def build_header(
    rules: RuleSet, params: MiningParams, *, model_id: str, dataset: dict[str, Any], digest: str
) -> dict[str, Any]:
    """The model file's self-description; `dataset` holds its url, sha256 and bytes."""
    trained = datetime.now(UTC)
    return {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "model_id": model_id,
        "model_date": trained.isoformat(timespec="microseconds"),
        "trainer_version": __version__,
        "fingerprint": digest,
        "dataset": dataset,
        "params": asdict(params),
        "stats": {
            "playlists": rules.playlists,
            "songs": len(rules.vocabulary),
            "frequent_songs": rules.frequent_songs,
            "itemsets": rules.itemsets,
            "rules": rules.rule_count,
            "antecedents": len(rules.antecedent_keys),
        },
        "vocabulary": rules.vocabulary,
    }


def encode_rules(rules: RuleSet, header: dict[str, Any]) -> bytes:
    columns = {
        "counts": rules.counts,
        "antecedent_keys": rules.antecedent_keys,
        "group_offsets": rules.group_offsets,
        "consequents": rules.consequents,
        "confidence": rules.confidence,
        "lift": rules.lift,
        "rank": rules.rank,
        "support": rules.support,
    }
    arrays = {name: array(ARRAY_TYPES[name], values) for name, values in columns.items()}
    return encode_model(header, arrays)


def new_model_id(digest: str) -> str:
    """Sortable by time (retention and rollback rely on it), unique per run."""
    now = datetime.now(UTC)
    salt = hashlib.sha256(f"{digest}{time.time_ns()}".encode()).hexdigest()[:8]
    return f"{now:%Y%m%dT%H%M%S%fZ}-{salt}"


def publish_rules(
    data_dir: Path,
    rules: RuleSet,
    params: MiningParams,
    *,
    dataset: dict[str, Any],
    digest: str,
    keep: int,
) -> tuple[Path, dict[str, Any], int]:
    """Encode and atomically publish a rule set; return its path, header and size."""
    model_id = new_model_id(digest)
    header = build_header(rules, params, model_id=model_id, dataset=dataset, digest=digest)
    content = encode_rules(rules, header)
    with publish_lock(data_dir):
        remove_stale_temps(data_dir)
        path = publish(data_dir, model_id, content, pointer_for(model_id, content, header), keep)
    return path, header, len(content)


def train_snapshot(
    settings: Settings, url: str, snapshot: Snapshot, *, force: bool, report: Reporter
) -> TrainResult:
    """Train from a fetched snapshot and publish, unless the live model has the same inputs."""
    started = time.perf_counter()
    params = params_of(settings)
    if snapshot.path is None or snapshot.sha256 is None:
        raise ValueError("train_snapshot needs a downloaded snapshot, not a 'not modified'")
    digest = fingerprint(snapshot.sha256, params)
    live = current_fingerprint(settings.data_dir)
    if live and live[1] == digest and not force:
        report(f"unchanged: model {live[0]} was trained from the same dataset and parameters")
        return TrainResult(status="unchanged", model_id=live[0], dataset_sha256=snapshot.sha256)
    stages: dict[str, float] = {}

    mark = time.perf_counter()
    playlists = load_playlists(snapshot.path)
    stages["load"] = time.perf_counter() - mark
    report(
        f"load     {stages['load']:6.2f} s  {playlists.playlist_count} playlists, "
        f"{playlists.pairs.height} (playlist, song) pairs, {len(playlists.spelling)} songs"
    )

    mark = time.perf_counter()
    rules = mine(playlists, params)
    stages["mine"] = time.perf_counter() - mark
    report(
        f"mine     {stages['mine']:6.2f} s  {rules.frequent_songs} frequent songs, "
        f"{rules.itemsets} frequent itemsets, {rules.rule_count} rules"
    )

    mark = time.perf_counter()
    path, header, size = publish_rules(
        settings.data_dir,
        rules,
        params,
        dataset={"url": url, "sha256": snapshot.sha256, "bytes": snapshot.size},
        digest=digest,
        keep=settings.keep_models,
    )
    stages["publish"] = time.perf_counter() - mark
    report(f"publish  {stages['publish']:6.2f} s  {path} ({size} bytes)")
    return TrainResult(
        status="published",
        model_id=header["model_id"],
        playlists=rules.playlists,
        songs=len(rules.vocabulary),
        itemsets=rules.itemsets,
        rules=rules.rule_count,
        seconds=time.perf_counter() - started,
        dataset_sha256=snapshot.sha256,
        stages=stages,
    )


def train(settings: Settings, *, force: bool, report: Reporter) -> TrainResult:
    """`recsys train`: fetch the configured dataset and train from it."""
    if not settings.dataset_url:
        raise DatasetError("no dataset: set RECSYS_DATASET_URL or pass --dataset-url")
    started = time.perf_counter()
    with fetched(
        settings.dataset_url,
        max_bytes=settings.max_dataset_bytes,
        timeout=settings.http_timeout,
    ) as snapshot:
        fetch_seconds = time.perf_counter() - started
        report(
            f"fetch    {fetch_seconds:6.2f} s  {snapshot.size} bytes, "
            f"sha256 {snapshot.sha256[:12] if snapshot.sha256 else '-'}"
        )
        result = train_snapshot(
            settings, settings.dataset_url, snapshot, force=force, report=report
        )
    result.stages = {"fetch": fetch_seconds, **result.stages}
    result.downloaded_bytes = snapshot.size
    result.seconds = time.perf_counter() - started
    return result
