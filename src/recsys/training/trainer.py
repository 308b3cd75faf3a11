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
from recsys.model.pins import Pin, holding_pin
from recsys.model.pointer import live_pointer
from recsys.model.repository import Published, Vet, publish
from recsys.settings import Settings
from recsys.training.engines import pair_counter
from recsys.training.fetch import DatasetError, Snapshot, fetched_dataset
from recsys.training.mining import PairCounter
from recsys.training.playlists import Playlists, load_playlists
from recsys.training.tuning import Choice, choose, requested
from recsys.training.urls import redact_url

Reporter = Callable[[str], None]

# A new dataset with fewer than this share of the live model's playlists is refused unless
# allowed. Exports grow or churn gradually; a truncated file that still parses, a test
# file or a wrong URL loses most of the playlists at once, and support thresholds are
# shares, so the rules of a much smaller dataset are noise rather than a new model.
MIN_PLAYLIST_SHARE = 0.5


@dataclass
class TrainResult:
    """The summary `train --json` and `refresh --json` print."""

    status: str  # "published", "unchanged" or "pinned" (a rollback holds this dataset back)
    model_id: str
    playlists: int | None = None
    songs: int | None = None
    itemsets: int | None = None
    rules: int | None = None
    min_support: float | None = None  # as mined: 0 when the settings say "auto" (none)
    popularity_damping: float | None = None  # as mined: chosen, when the settings say "auto"
    coverage: float | None = None  # share of the songs that recommend something alone
    model_bytes: int | None = None
    seconds: float = 0.0
    dataset_sha256: str | None = None
    downloaded_bytes: int = 0
    stages: dict[str, float] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def current_fingerprint(data_dir: Path) -> tuple[str, str] | None:
    """(model_id, fingerprint) of the live model; a damaged pointer counts as none."""
    pointer = live_pointer(data_dir)
    return (pointer.model_id, pointer.fingerprint) if pointer else None


def shrink_vet(stats: dict[str, Any], *, allowed: bool) -> Vet:
    """The check `publish` runs under its lock against the model the new one would replace.

    A model without rules, or from far fewer playlists than the live one, is almost always
    a broken dataset; publishing it would replace good answers with popularity fill-ins.
    """

    def vet(live: dict[str, Any] | None) -> str | None:
        if allowed:
            return None
        live_id = live.get("model_id") if live else None
        keeps = f"model {live_id} stays current" if live_id else "nothing was published"
        if not stats["rules"]:
            return (
                f"refusing to publish a model with 0 rules (from {stats['playlists']} "
                f"playlists); {keeps}; --allow-shrink publishes it anyway"
            )
        live_stats = live.get("stats") if live else None
        before = live_stats.get("playlists") if isinstance(live_stats, dict) else None
        if isinstance(before, int) and stats["playlists"] < before * MIN_PLAYLIST_SHARE:
            return (
                f"refusing to publish: the dataset has {stats['playlists']} playlists, under "
                f"half of the {before} of model {live_id}; {keeps}; "
                "--allow-shrink publishes it anyway"
            )
        return None

    return vet


def _held(pin: Pin, sha256: str, report: Reporter) -> TrainResult:
    """Not an error: the CronJob keeps running while the operator's rollback stands."""
    report(
        f"pinned: a rollback from {pin.rolled_back_from} pinned model {pin.model_id}, and this "
        f"dataset (sha256 {sha256[:12]}) is one it holds back; nothing published until the "
        "dataset changes, `recsys models unpin`, or --force"
    )
    return TrainResult(status="pinned", model_id=pin.model_id, dataset_sha256=sha256)


def _not_published(outcome: Published, sha256: str, report: Reporter) -> TrainResult:
    """What the publish lock decided instead of publishing (another trainer got there first)."""
    if outcome.pin is not None:
        return _held(outcome.pin, sha256, report)
    report(f"unchanged: model {outcome.model_id} was trained from the same dataset and parameters")
    return TrainResult(status="unchanged", model_id=outcome.model_id, dataset_sha256=sha256)


def _report_files(outcome: Published, report: Reporter) -> None:
    """Every deletion is named, and so is junk, which only a person can judge."""
    for path in outcome.made_room:
        report(f"pruned   {path.name} to make room (beyond RECSYS_KEEP_MODELS)")
    for path in outcome.pruned:
        report(f"pruned   {path.name} (beyond RECSYS_KEEP_MODELS)")
    for path, why in outcome.junk:
        report(f"junk     {_escaped(path.name)}: {_escaped(why)}; left in place, never pruned")


def _escaped(text: str) -> str:
    """`text` with control characters escaped: a stray file's name reaches the terminal.

    (`cli.common.printable` does the same for the CLI; training may not import the CLI.)
    """
    return text if text.isprintable() else repr(text)[1:-1]


def _load(path: Path, stages: dict[str, float], report: Reporter) -> Playlists:
    mark = time.perf_counter()
    playlists = load_playlists(path)
    stages["load"] = time.perf_counter() - mark
    report(
        f"load     {stages['load']:6.2f} s  {playlists.playlist_count} playlists, "
        f"{playlists.pairs.height} (playlist, song) pairs, {len(playlists.keys)} songs"
    )
    return playlists


def _mine(
    playlists: Playlists,
    settings: Settings,
    counter: PairCounter,
    stages: dict[str, float],
    report: Reporter,
) -> Choice:
    mark = time.perf_counter()
    choice = choose(playlists, settings, report, counter)
    rules = choice.rules
    stages["mine"] = time.perf_counter() - mark
    stages["tune"] = choice.tuning.seconds  # a part of "mine"
    report(
        f"mine     {stages['mine']:6.2f} s  {rules.frequent_songs} frequent songs, "
        f"{rules.itemsets} frequent itemsets, {rules.rule_count} rules, "
        f"{rules.coverage:.0%} of songs with a rule"
    )
    return choice


def train_snapshot(
    settings: Settings,
    url: str,
    snapshot: Snapshot,
    *,
    force: bool,
    report: Reporter,
    counter: PairCounter,
) -> TrainResult:
    """Train from a fetched snapshot and publish, unless the live model has the same inputs.

    The checks before mining (same fingerprint, a pin) only save work; `publish` repeats
    them under its lock, where they decide, since another trainer may publish meanwhile.
    """
    started = time.perf_counter()
    if snapshot.path is None or snapshot.sha256 is None:
        raise ValueError("train_snapshot needs a downloaded snapshot, not a 'not modified'")
    live = current_fingerprint(settings.data_dir)
    if live and live[1] == fingerprint(snapshot.sha256, requested(settings)) and not force:
        report(f"unchanged: model {live[0]} was trained from the same dataset and parameters")
        return TrainResult(status="unchanged", model_id=live[0], dataset_sha256=snapshot.sha256)
    pin = None if force else holding_pin(settings.data_dir, snapshot.sha256)
    if pin is not None:
        return _held(pin, snapshot.sha256, report)
    stages: dict[str, float] = {}
    playlists = _load(snapshot.path, stages, report)

    choice = _mine(playlists, settings, counter, stages, report)
    rules = choice.rules

    mark = time.perf_counter()
    dataset = DatasetInfo(redact_url(url), snapshot.sha256, snapshot.size)
    built = build_model(rules, choice.params, dataset, choice.tuning)
    vet = shrink_vet(built.header["stats"], allowed=settings.allow_shrink)
    outcome = publish(settings.data_dir, built, settings.keep_models, force=force, vet=vet)
    if outcome.status != "published":
        return _not_published(outcome, snapshot.sha256, report)
    stages["publish"] = time.perf_counter() - mark
    report(f"publish  {stages['publish']:6.2f} s  {outcome.path} ({len(built.content)} bytes)")
    _report_files(outcome, report)
    return TrainResult(
        status="published",
        model_id=built.model_id,
        playlists=rules.playlists,
        songs=len(rules.vocabulary),
        itemsets=rules.itemsets,
        rules=rules.rule_count,
        min_support=choice.params.min_support,
        popularity_damping=choice.params.popularity_damping,
        coverage=rules.coverage,
        model_bytes=len(built.content),
        seconds=time.perf_counter() - started,
        dataset_sha256=snapshot.sha256,
        stages=stages,
    )


def train(settings: Settings, *, force: bool, report: Reporter) -> TrainResult:
    """`recsys train`: fetch the configured dataset and train from it."""
    if not settings.dataset_url:
        raise DatasetError("no dataset: set RECSYS_DATASET_URL or pass --dataset-url")
    counter = pair_counter(settings)  # an engine that cannot do this says so before a download
    started = time.perf_counter()
    with fetched_dataset(settings, settings.dataset_url) as snapshot:
        fetch_seconds = time.perf_counter() - started
        report(
            f"fetch    {fetch_seconds:6.2f} s  {snapshot.size} bytes, "
            f"sha256 {snapshot.sha256[:12] if snapshot.sha256 else '-'}"
        )
        result = train_snapshot(
            settings, settings.dataset_url, snapshot, force=force, report=report, counter=counter
        )
    result.stages = {"fetch": fetch_seconds, **result.stages}
    result.downloaded_bytes = snapshot.size
    result.seconds = time.perf_counter() - started
    return result
