"""Which engine counts pairs of songs: this process, or a Spark cluster.

Everything else in training (reading, validation, tuning, rules, publishing) is the same
code for both, so the model file cannot tell which engine counted its pairs.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from recsys.settings import Settings
from recsys.training.counting import frequent_pairs
from recsys.training.heaviest import Heaviest, SongPowers, heaviest_pairs
from recsys.training.mining import PairCounter


def pair_counter(settings: Settings) -> PairCounter:
    """The counter RECSYS_ENGINE names; Spark refuses, up front, what it cannot count."""
    if settings.engine == "local":
        return frequent_pairs
    from recsys.training.spark import refuse_longer_rules, spark_pair_counts

    refuse_longer_rules(settings.max_rule_length)
    master = settings.spark_master

    def on_spark(
        pairs: pl.DataFrame, songs: int, min_count: int, keep: Heaviest | None = None
    ) -> pl.DataFrame:
        counted = spark_pair_counts(pairs, min_count, master)
        if keep is None:
            return counted
        counts = np.bincount(pairs["id"].to_numpy(), minlength=songs)
        return heaviest_pairs(
            counted, SongPowers.of(counts, keep.damping), keep
        )  # what the local counter keeps

    return on_spark
