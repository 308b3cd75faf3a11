"""Publishing real models quickly, in-process, through the trainer's own code path."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from recsys.dataset import load_playlists
from recsys.mining import MiningParams, RuleSet, mine
from recsys.trainer import (
    build_header,
    encode_rules,
    fingerprint,
    new_model_id,
)
from recsys.trainer import (
    publish_rules as publish,
)

PARAMS = MiningParams(0.03, 0.1, 2)
DATASET = {"url": "test", "sha256": "0" * 64, "bytes": 0}


def mine_sample(path: Path, min_support: float = 0.03) -> RuleSet:
    return mine(load_playlists(path), MiningParams(min_support, 0.1, 2))


def unique_digest() -> str:
    return fingerprint(str(time.time_ns()), PARAMS)


def encode_new_model(rules: RuleSet) -> tuple[str, bytes, dict[str, Any]]:
    """A model file of `rules` with a fresh id and model_date, not published."""
    digest = unique_digest()
    model_id = new_model_id(digest)
    header = build_header(rules, PARAMS, model_id=model_id, dataset=DATASET, digest=digest)
    return model_id, encode_rules(rules, header), header


def publish_rules(data_dir: Path, rules: RuleSet) -> tuple[str, str]:
    """Publish a new model of `rules`; return its (model_id, model_date)."""
    _, header, _ = publish(
        data_dir, rules, PARAMS, dataset=DATASET, digest=unique_digest(), keep=100
    )
    return header["model_id"], header["model_date"]


def synthetic_rule_set(rules: int = 500_000, songs: int = 2000, per_group: int = 5) -> RuleSet:
    """A large, valid rule set built directly (mining one this size takes a while)."""
    import random

    from recsys.artifact import encode_antecedent

    rng = random.Random(0)
    groups = rules // per_group
    antecedents: set[tuple[int, ...]] = set()
    while len(antecedents) < groups:
        antecedents.add(tuple(sorted(rng.sample(range(songs), 2))))
    keys = sorted(encode_antecedent(antecedent) for antecedent in antecedents)
    consequents = [rng.randrange(songs) for _ in range(groups * per_group)]
    return RuleSet(
        playlists=10_000,
        vocabulary=[f"synthetic song {n}" for n in range(songs)],
        counts=list(range(songs * 10, 0, -10)),
        frequent_songs=songs,
        itemsets=groups,
        antecedent_keys=keys,
        group_offsets=list(range(0, groups * per_group + 1, per_group)),
        consequents=consequents,
        support=[0.01] * len(consequents),
        confidence=[0.5] * len(consequents),
        lift=[2.0] * len(consequents),
        rank=[(n % per_group) * groups + n // per_group for n in range(len(consequents))],
    )
