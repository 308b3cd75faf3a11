"""What a model holds, before it is encoded: mining parameters and the rules they gave.

Training produces these; `build` turns them into model bytes. They are plain data, so the
model package needs nothing of the training stack to describe them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from recsys.model.format import KEY_BITS, MAX_ANTECEDENT


@dataclass(frozen=True)
class MiningParams:
    """What makes a rule and what it weighs.

    A rule's songs share at least `min_count` playlists and at least `min_support` of all
    playlists (a fraction, as efficient-apriori reads it; 0 for none). Its weight is
    count / (antecedent_count ** (1 - damping) * consequent_count ** damping): with
    `popularity_damping` 0 that is the rule's confidence; at 0.5, the cosine of the two
    songs' playlist sets, which ranks a chart song lower. Each antecedent keeps its
    `rules_per_song` heaviest rules, fewer if the model would exceed `max_rules`.
    """

    min_support: float
    min_confidence: float
    max_rule_length: int
    popularity_damping: float = 0.0
    rules_per_song: int = 20
    min_count: int = 1
    max_rules: int = 10_000_000


@dataclass(frozen=True)
class RuleSet:
    """Everything a model holds, in serving order; ids rank songs by popularity.

    The columns are sequences of numbers: the trainer passes `array`s, which hold a
    rule in a few bytes where a list would hold a Python object per number (tens of
    millions of them at the Million Playlist Dataset's size); tests may pass lists.
    """

    playlists: int
    vocabulary: Sequence[str]
    counts: Sequence[int]
    frequent_songs: int
    itemsets: int
    rules_per_song: int  # rules an antecedent could keep: params', fewer if max_rules binds
    antecedent_keys: Sequence[int]
    antecedent_counts: Sequence[int]
    group_offsets: Sequence[int]
    consequents: Sequence[int]
    pair_counts: Sequence[int]
    weights: Sequence[float]

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
