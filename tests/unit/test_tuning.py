"""min_support "auto": the grid is scored on held-out playlists, within the budgets, and
the model is exactly what mining the whole dataset at the choice gives."""

from __future__ import annotations

import polars as pl
import pytest

from recsys.model.rules import MiningParams
from recsys.settings import Settings
from recsys.training.holdout import split_playlists
from recsys.training.mining import MiningError, count_pairs, mine, rules_at, without
from recsys.training.playlists import Playlists, clean_pairs, load_playlists
from recsys.training.tuning import GRID, Candidate, _past_the_peak, choose
from tests.support.paths import SAMPLE_DS1


@pytest.fixture(scope="module")
def sample() -> Playlists:
    return load_playlists(SAMPLE_DS1)


def quiet(line: str) -> None:
    pass


def test_auto_keeps_the_best_held_out_ndcg(sample: Playlists) -> None:
    choice = choose(sample, Settings(), quiet)
    tuning = choice.tuning
    assert tuning.requested["min_support"] == "auto"
    assert tuning.held_out_playlists > 0
    supports = [row["min_support"] for row in tuning.grid]
    assert supports == sorted(supports, reverse=True)
    assert set(supports) <= set(GRID)
    ndcgs = [row["ndcg"] for row in tuning.grid]
    assert ndcgs[:-1] == sorted(ndcgs[:-1])  # scored down to the first decline, not past it
    best = max(tuning.grid, key=lambda row: (row["ndcg"], row["min_support"]))
    assert choice.params.min_support == best["min_support"]
    assert choice.rules == mine(sample, choice.params)  # the reused counts are exact


def test_a_flat_start_is_no_peak() -> None:
    """Where the highest supports mine nothing, the first scores tie: keep going."""
    flat = [Candidate(0.05, 0, 0.025, 0.1, 1.0), Candidate(0.02, 3, 0.024, 0.1, 1.0)]
    assert not _past_the_peak(flat)
    risen = [*flat, Candidate(0.01, 900, 0.2, 0.5, 0.4), Candidate(0.005, 9000, 0.19, 0.5, 0.1)]
    assert _past_the_peak(risen)


def test_no_candidate_mines_more_than_the_rule_budget(sample: Playlists) -> None:
    everything = choose(sample, Settings(), quiet)
    budget = everything.rules.rule_count // 4
    bounded = choose(sample, Settings(max_rules=budget), quiet)
    assert bounded.rules.rule_count <= budget
    assert bounded.params.min_support > everything.params.min_support
    for row in bounded.tuning.grid:
        whole = mine(sample, MiningParams(row["min_support"], 0.1, 2))
        assert whole.rule_count <= budget


def test_a_budget_nothing_fits_is_a_clear_error(sample: Playlists) -> None:
    with pytest.raises(MiningError, match="RECSYS_MAX_RULES"):
        choose(sample, Settings(max_rules=1), quiet)


def test_the_time_budget_still_scores_one_candidate(sample: Playlists) -> None:
    choice = choose(sample, Settings(tuning_seconds=1e-9), quiet)
    assert len(choice.tuning.grid) == 1
    assert choice.params.min_support == GRID[0]


def test_a_set_support_is_used_as_set(sample: Playlists) -> None:
    choice = choose(sample, Settings(min_support=0.03), quiet)
    assert choice.tuning.method == "set"
    assert choice.tuning.grid == []
    assert choice.rules == mine(sample, choice.params)


def test_too_few_playlists_to_hold_out_fall_back() -> None:
    rows = [(str(pid), f"song {song}") for pid in range(4) for song in range(pid, pid + 3)]
    tiny = clean_pairs(pl.DataFrame(rows, schema=["pid", "track_name"], orient="row"))
    choice = choose(tiny, Settings(), quiet)
    assert choice.tuning.method.startswith("fallback: ")
    assert choice.rules == mine(tiny, choice.params)


def test_counts_less_the_held_out_part_are_the_train_part_s_counts(sample: Playlists) -> None:
    split = split_playlists(sample, test_fraction=0.1, seeds=5, seed=0)
    direct = count_pairs(split.train, 1)
    for floor in (1, 4):  # above 1, the held-out part's pairs are counted among fewer songs
        derived = without(count_pairs(sample, floor), split.test, split.train)
        for min_count in (floor, 5, 20):
            params = MiningParams(min_count / split.train.playlist_count, 0.1, 2)
            assert rules_at(derived, min_count, params) == rules_at(direct, min_count, params)
