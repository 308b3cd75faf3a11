"""The training pipeline that `train` and `refresh` share: snapshot -> rules -> published model.

Both commands must publish through exactly one code path, so that a model made by the
CronJob is indistinguishable from one made by the Job, and the idempotency rule (same
dataset bytes + same parameters + same trainer = nothing to do) holds for both.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from recsys.model.build import DatasetInfo, build_model, fingerprint
from recsys.model.format import ModelError
from recsys.model.repository import publish, read_pointer
from recsys.model.rules import MiningParams
from recsys.settings import Settings
from recsys.training.fetch import DatasetError, Snapshot, fetched
from recsys.training.mining import mine
from recsys.training.playlists import load_playlists

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


def current_fingerprint(data_dir: Path) -> tuple[str, str] | None:
    """(model_id, fingerprint) of the live model; a damaged pointer counts as none."""
    try:
        pointer = read_pointer(data_dir)
    except ModelError:
        return None
    if pointer is None or not pointer.model_path(data_dir).is_file():
        return None
    return pointer.model_id, pointer.fingerprint


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
    built = build_model(rules, params, DatasetInfo(url, snapshot.sha256, snapshot.size))
    path = publish(settings.data_dir, built, keep=settings.keep_models)
    stages["publish"] = time.perf_counter() - mark
    report(f"publish  {stages['publish']:6.2f} s  {path} ({len(built.content)} bytes)")
    return TrainResult(
        status="published",
        model_id=built.model_id,
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
