"""Models for the API benchmarks: the default ds1 model and a dense ~500,000-rule one."""

from __future__ import annotations

import json
import pickle
import random
from bisect import bisect_right
from functools import cache
from pathlib import Path

from bench.common import OUT
from bench.train import dataset
from recsys.model.build import BuiltModel, DatasetInfo, build_model
from recsys.model.format import decode_antecedent
from recsys.model.repository import publish as publish_model
from recsys.model.rules import MiningParams, RuleSet
from recsys.settings import Settings
from recsys.tools.synth import synthesize
from recsys.training.mining import mine
from recsys.training.playlists import load_playlists
from recsys.training.tuning import Choice, choose


@cache
def ds1_default() -> Choice:
    """The model `recsys train` publishes from ds1 with every setting at its default."""
    return choose(load_playlists(dataset()), Settings(), print)


def ds1_rules() -> RuleSet:
    return ds1_default().rules


BIG_PARAMS = MiningParams(0.043, 0.1, 3, rules_per_song=1000)  # every rule: a big model


def big_rules() -> RuleSet:
    """Dense playlists (300 over 1,500 songs) mined with rules of 3: about 550,000 rules."""
    folder = OUT / "dense"
    if not (folder / "ds1.csv").exists():
        synthesize(folder, playlists=300, songs=1500, seed=7)
    return mine(load_playlists(folder / "ds1.csv"), BIG_PARAMS)


def build(rules: RuleSet, params: MiningParams, tag: str) -> BuiltModel:
    """`rules`, mined with `params`, as a model file of a dataset no other model has."""
    dataset_info = DatasetInfo(url=tag, sha256=f"{random.getrandbits(256):064x}", bytes=0)
    return build_model(rules, params, dataset_info)


def publish(data_dir: Path, rules: RuleSet, params: MiningParams, tag: str) -> dict:
    """Publish `rules`, mined with `params`, as a new model; return its header."""
    built = build(rules, params, tag)
    publish_model(data_dir, built, keep=3)
    return built.header


def request_bodies(
    rules: RuleSet, count: int = 200, seed: int = 0, explain: bool = False
) -> list[str]:
    """Requests of 1-5 songs drawn from the 300 most popular: what users send (the same
    songs with `explain` or without)."""
    rng = random.Random(seed)
    popular = rules.vocabulary[:300]
    extra = {"explain": True} if explain else {}
    return [
        json.dumps({"songs": rng.sample(popular, rng.randint(1, 5)), **extra}) for _ in range(count)
    ]


def reference_pickle(rules: RuleSet, path: Path) -> None:
    """The course's model file: a pickled list of (antecedent set, consequent, confidence)."""
    names = rules.vocabulary
    entries = []
    for rule, consequent in enumerate(rules.consequents):
        group = bisect_right(rules.group_offsets, rule) - 1
        antecedent = frozenset(names[s] for s in decode_antecedent(rules.antecedent_keys[group]))
        confidence = rules.pair_counts[rule] / rules.antecedent_counts[group]
        entries.append((antecedent, names[consequent], confidence))
    path.write_bytes(pickle.dumps(entries))
