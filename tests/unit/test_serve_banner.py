"""`recsys serve`'s start-up line: a curl with two songs of the served model, read from
its file without loading the model (or the sample's songs when there is none)."""

from __future__ import annotations

import json
import re
from pathlib import Path

from recsys.cli.serve import _try_it
from recsys.model.format import encode_antecedent
from recsys.model.rules import RuleSet
from recsys.settings import Settings
from tests.support.models import publish_rules

RULES = RuleSet(
    playlists=3,
    vocabulary=["Été d'amour", 'It\'s "Gold"', "Third"],
    counts=[3, 2, 1],
    frequent_songs=3,
    itemsets=3,
    rules_per_song=1,
    antecedent_keys=[encode_antecedent((0,))],
    antecedent_counts=[3],
    group_offsets=[0, 1],
    consequents=[1],
    pair_counts=[1],
    weights=[0.5],
)


def songs_in(banner: str) -> list[str]:
    (body,) = re.findall(r"-d '(.*)'$", banner, re.M)
    return json.loads(body.replace("'\\''", "'"))["songs"]


def test_the_curl_names_the_served_model_s_most_popular_songs(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    assert songs_in(_try_it(settings)) == ["Forever Ghost", "Gold"]  # nothing served yet
    publish_rules(tmp_path, RULES)
    assert songs_in(_try_it(settings)) == RULES.vocabulary[:2]
