"""What a model holds, before it is encoded: mining parameters and the rules they gave.

Training produces these; `build` turns them into model bytes. They are plain data, so the
model package needs nothing of the training stack to describe them.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class MiningParams:
    """Thresholds as efficient-apriori reads them: fractions of all playlists."""

    min_support: float
    min_confidence: float
    max_rule_length: int


@dataclass(frozen=True)
class RuleSet:
    """Everything a model holds, in serving order; ids rank songs by popularity."""

    playlists: int
    vocabulary: list[str]
    counts: list[int]
    frequent_songs: int
    itemsets: int
    antecedent_keys: list[int]
    group_offsets: list[int]
    consequents: list[int]
    support: list[float]
    confidence: list[float]
    lift: list[float]
    rank: list[int]

    @property
    def rule_count(self) -> int:
        return len(self.consequents)
