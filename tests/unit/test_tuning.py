"""min_pair_count and popularity_damping "auto": the candidates are scored on held-out
playlists one axis at a time, the work does not depend on time, and the model is exactly
what mining the whole dataset at the choice gives."""

from __future__ import annotations

import polars as pl
import pytest

from recsys.settings import Settings
from recsys.training.mining import MiningError, mine
from recsys.training.playlists import Playlists, clean_pairs, load_playlists
from recsys.training.tuning import DAMPINGS, PAIR_COUNTS, choose
from tests.support.paths import SAMPLE_DS1


@pytest.fixture(scope="module")
def sample() -> Playlists:
    return load_playlists(SAMPLE_DS1)


def quiet(line: str) -> None:
    pass


def rank(row: dict) -> tuple:
    return (row["ndcg"], row["min_count"], -row["popularity_damping"])


def test_auto_scores_every_damping_then_every_pair_count_and_keeps_the_best(
    sample: Playlists,
) -> None:
    choice = choose(sample, Settings(), quiet)
    tuning = choice.tuning
    assert tuning.requested["popularity_damping"] == "auto"
    assert tuning.requested["min_pair_count"] == "auto"
    assert tuning.held_out_playlists > 0
    tried = [(row["min_count"], row["popularity_damping"]) for row in tuning.grid]
    highest = max(PAIR_COUNTS)
    by_damping = tuning.grid[: len(DAMPINGS)]
    assert tried[: len(DAMPINGS)] == [(highest, damping) for damping in DAMPINGS]
    damping = max(by_damping, key=rank)["popularity_damping"]
    lower = sorted(PAIR_COUNTS, reverse=True)[1:]
    assert tried[len(DAMPINGS) :] == [(count, damping) for count in lower]
    best = max(tuning.grid, key=rank)
    assert choice.params.popularity_damping == best["popularity_damping"]
    assert choice.params.min_count == best["min_count"]
    assert choice.params.min_support == 0  # "auto": no share of playlists
    assert choice.rules == mine(sample, choice.params)


def test_the_choice_is_work_not_time(sample: Playlists) -> None:
    """The same data and settings score the same candidates the same, however long it
    took: nothing in the choice reads a clock."""
    first, second = (choose(sample, Settings(), quiet).tuning for _ in range(2))
    assert first.grid == second.grid
    assert first.method == second.method


def test_the_rule_budget_shortens_every_song_s_rules(sample: Playlists) -> None:
    everything = choose(sample, Settings(min_pair_count=2), quiet)
    budget = everything.rules.rule_count // 4
    bounded = choose(sample, Settings(max_rules=budget, min_pair_count=2), quiet)
    assert bounded.rules.rule_count <= budget
    assert bounded.rules.rules_per_song < everything.rules.rules_per_song
    # the same songs keep rules: each keeps fewer
    assert bounded.rules.antecedent_keys == everything.rules.antecedent_keys


def test_a_budget_nothing_fits_is_a_clear_error(sample: Playlists) -> None:
    with pytest.raises(MiningError, match="RECSYS_MAX_RULES"):
        choose(sample, Settings(max_rules=1), quiet)


def test_a_set_damping_is_used_as_set(sample: Playlists) -> None:
    choice = choose(sample, Settings(popularity_damping=0.3, min_pair_count=2), quiet)
    assert choice.tuning.method == "set"
    assert choice.tuning.grid == []
    assert choice.params.popularity_damping == 0.3
    assert choice.params.min_count == 2
    assert choice.rules == mine(sample, choice.params)


def test_a_set_support_still_applies(sample: Playlists) -> None:
    choice = choose(sample, Settings(min_support=0.03), quiet)
    assert choice.params.min_support == 0.03
    assert choice.rules == mine(sample, choice.params)
    assert choice.rules.rule_count < choose(sample, Settings(), quiet).rules.rule_count


def test_too_few_playlists_to_hold_out_fall_back() -> None:
    rows = [(str(pid), f"song {song}") for pid in range(4) for song in range(pid, pid + 3)]
    tiny = clean_pairs(pl.DataFrame(rows, schema=["pid", "track_name"], orient="row"))
    choice = choose(tiny, Settings(), quiet)
    assert choice.tuning.method.startswith("fallback: ")
    assert choice.rules == mine(tiny, choice.params)


def test_one_axis_set_leaves_the_other_to_choose(sample: Playlists) -> None:
    choice = choose(sample, Settings(popularity_damping=0.3), quiet)
    tried = [(row["min_count"], row["popularity_damping"]) for row in choice.tuning.grid]
    assert tried == [(count, 0.3) for count in sorted(PAIR_COUNTS, reverse=True)]
