"""What a model holds, before it is encoded: mining parameters and the rules they gave.

Training produces these; `build` turns them into model bytes. They are plain data, so the
model package needs nothing of the training stack to describe them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from recsys.model.format import KEY_BITS, MAX_ANTECEDENT


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

    @property
    def coverage(self) -> float:
        """Share of the vocabulary that makes some rule fire when sent alone."""
        singles = sum(1 for key in self.antecedent_keys if key & _LOWER_ITEMS == 0)
        return singles / len(self.vocabulary) if self.vocabulary else 0.0


# The bits of an antecedent key below its first song (see format.encode_antecedent): zero
# for a one-song antecedent.
_LOWER_ITEMS = (1 << (KEY_BITS * (MAX_ANTECEDENT - 1))) - 1


@dataclass(frozen=True)
class Tuning:
    """How a model's mining parameters were chosen; recorded in its header.

    `requested` is what the settings asked for (its min_support may be "auto") and is what
    identifies a training run: the same dataset and the same request give the same model.
    """

    requested: dict[str, Any]
    method: str  # "set" (the operator's values) or how "auto" chose
    held_out_playlists: int = 0
    seconds: float = 0.0
    grid: list[dict[str, Any]] = field(default_factory=list)  # each candidate's scores
