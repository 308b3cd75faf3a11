"""Publishing real models quickly, in-process, through the trainer's own code path."""

from __future__ import annotations

import time
from pathlib import Path

from recsys.artifact import pointer_for, publish, publish_lock
from recsys.dataset import Snapshot, load_playlists
from recsys.mining import MiningParams, RuleSet, mine
from recsys.trainer import build_header, encode_rules, fingerprint, new_model_id


def mine_sample(path: Path, min_support: float = 0.03) -> RuleSet:
    return mine(load_playlists(path), MiningParams(min_support, 0.1, 3))


def encode_new_model(rules: RuleSet, url: str = "test") -> tuple[str, bytes, dict]:
    """A fresh model id and model_date around the same rules."""
    snapshot = Snapshot(path=None, sha256="0" * 64, size=0)
    digest = fingerprint(f"{url}{time.time_ns()}", MiningParams(0.03, 0.1, 3))
    model_id = new_model_id(digest)
    header = build_header(
        rules,
        MiningParams(0.03, 0.1, 3),
        model_id=model_id,
        url=url,
        snapshot=snapshot,
        digest=digest,
    )
    return model_id, encode_rules(rules, header), header


def publish_rules(data_dir: Path, rules: RuleSet) -> tuple[str, str]:
    """Publish a new model of `rules`; return its (model_id, model_date)."""
    model_id, content, header = encode_new_model(rules)
    with publish_lock(data_dir):
        publish(data_dir, model_id, content, pointer_for(model_id, content, header), keep=100)
    return model_id, header["model_date"]
