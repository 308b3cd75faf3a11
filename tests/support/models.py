"""Publishing real models quickly, in-process, through the trainer's own code path."""

from __future__ import annotations

import random
import time
from pathlib import Path

from recsys.model.build import BuiltModel, DatasetInfo, build_model
from recsys.model.format import encode_antecedent
from recsys.model.repository import publish
from recsys.model.rules import MiningParams, RuleSet
from recsys.training.mining import mine
from recsys.training.playlists import load_playlists

PARAMS = MiningParams(0.03, 0.1, 2)
SYNTHETIC_PARAMS = MiningParams(0.01, 0.1, 3)  # synthetic_rule_set's antecedents are pairs


def mine_sample(path: Path, min_support: float = 0.03) -> RuleSet:
    return mine(load_playlists(path), MiningParams(min_support, 0.1, 2))


def unique_dataset() -> DatasetInfo:
    """A dataset identity of its own, so no two test models share a fingerprint."""
    return DatasetInfo(url="test", sha256=f"{time.time_ns():064x}", bytes=0)


def encode_new_model(rules: RuleSet, params: MiningParams = PARAMS) -> BuiltModel:
    """A model file of `rules` with a fresh id and model_date, not published."""
    return build_model(rules, params, unique_dataset())


def publish_rules(data_dir: Path, rules: RuleSet, params: MiningParams = PARAMS) -> tuple[str, str]:
    """Publish a new model of `rules`; return its (model_id, model_date)."""
    built = encode_new_model(rules, params)
    publish(data_dir, built, keep=100)
    return built.model_id, built.header["model_date"]


def synthetic_rule_set(rules: int = 500_000, songs: int = 2000, per_group: int = 5) -> RuleSet:
    """A large, valid rule set built directly (mining one this size takes a while).

    Its antecedents are pairs: build it with SYNTHETIC_PARAMS.
    """
    rng = random.Random(0)
    groups = rules // per_group
    antecedents: set[tuple[int, ...]] = set()
    while len(antecedents) < groups:
        antecedents.add(tuple(sorted(rng.sample(range(songs), 2))))
    keys = sorted(encode_antecedent(antecedent) for antecedent in antecedents)
    consequents = [rng.randrange(songs) for _ in range(groups * per_group)]
    weights = [1.0 - place / per_group for _ in range(groups) for place in range(per_group)]
    return RuleSet(
        playlists=10_000,
        vocabulary=[f"synthetic song {n}" for n in range(songs)],
        counts=list(range(songs * 10, 0, -10)),
        frequent_songs=songs,
        itemsets=groups,
        rules_per_song=per_group,
        antecedent_keys=keys,
        antecedent_counts=[100] * groups,
        group_offsets=list(range(0, groups * per_group + 1, per_group)),
        consequents=consequents,
        pair_counts=[50] * len(consequents),
        weights=weights,
    )
