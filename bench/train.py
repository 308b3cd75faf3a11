"""Training benchmark: `recsys train` against fpgrowth-py and mlxtend on the same data.

All runs are separate processes on the default-size synthetic ds1, in the same run, so
the ratios hold on any machine. The coverage table is what the default parameters were
chosen from (README, "Mining parameters").
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import polars as pl

from bench.common import OUT, ProcessRun, machine, python, run_measured, table, write_section
from recsys.dataset import load_playlists
from recsys.mining import MiningParams, mine
from recsys.settings import Settings
from recsys.synth import synthesize

CONFIDENCE = Settings().min_confidence
DEFAULT_SUPPORT = Settings().min_support
MAX_LENGTH = Settings().max_rule_length


def dataset() -> Path:
    folder = OUT / "synth"
    if not (folder / "ds1.csv").exists():
        synthesize(folder, seed=0)
    return folder / "ds1.csv"


def recsys_train(path: Path, support: float, cutoff: float) -> ProcessRun:
    data_dir = OUT / f"train-{support}"
    return run_measured(
        python(
            "-m",
            "recsys",
            "train",
            "--dataset-url",
            str(path),
            "--data-dir",
            str(data_dir),
            "--min-support",
            str(support),
            "--force",
            "--json",
        ),
        cutoff=cutoff,
    )


def baseline(
    tool: str, path: Path, support: float, cutoff: float, max_len: str = "none"
) -> ProcessRun:
    return run_measured(
        python("-m", "bench.baselines", tool, str(path), str(support), str(CONFIDENCE), max_len),
        cutoff=cutoff,
    )


def describe(run: ProcessRun, cutoff: float, key: str = "rules") -> list[object]:
    if run.returncode is None:
        return [f"cut off at {cutoff:.0f} s", f"{run.peak_rss_mb:.0f}", "-"]
    if run.returncode != 0:
        return [f"failed (exit {run.returncode})", f"{run.peak_rss_mb:.0f}", "-"]
    return [f"{run.seconds:.2f}", f"{run.peak_rss_mb:.0f}", run.json[key]]


def coverage_rows(path: Path) -> list[list[object]]:
    """Per min_support: size, time and how much of what people play the rules know."""
    playlists = load_playlists(path)
    total = playlists.playlist_count
    counts = playlists.pairs.group_by("song").len("count")
    common = counts.filter(pl.col("count") / total >= 0.01)
    rows = []
    for support in (0.05, 0.04, 0.03, 0.025, 0.02, 0.015):
        started = time.perf_counter()
        rules = mine(playlists, MiningParams(support, CONFIDENCE, MAX_LENGTH))
        seconds = time.perf_counter() - started
        in_rules = {rules.vocabulary[song] for song in rules.consequents}
        keys = {name.casefold() for name in in_rules}
        covered = common.filter(pl.col("song").is_in(list(keys)))
        rows.append(
            [
                support,
                rules.frequent_songs,
                rules.itemsets,
                rules.rule_count,
                f"{seconds:.2f}",
                f"{covered.height / common.height:.0%}",
                f"{covered['count'].sum() / common['count'].sum():.0%}",
            ]
        )
    return rows


def main() -> str:
    cutoff = float(os.environ.get("BENCH_CUTOFF", "600"))
    path = dataset()
    rows = []
    checks = []
    for support in (0.05, DEFAULT_SUPPORT, 0.02):
        ours = recsys_train(path, support, cutoff)
        fpg = baseline("fpgrowth-py", path, support, cutoff)
        mlx = baseline("mlxtend", path, support, cutoff)
        mlx3 = baseline("mlxtend", path, support, cutoff, str(MAX_LENGTH))
        ratio = f"{fpg.seconds / ours.seconds:.0f}x" + ("+" if fpg.returncode is None else "")
        rows.append(
            [
                support,
                *describe(ours, cutoff),
                *describe(fpg, cutoff),
                *describe(mlx, cutoff),
                *describe(mlx3, cutoff),
                ratio,
            ]
        )
        print(f"support {support}: recsys {ours.seconds:.2f} s, fpgrowth-py {fpg.seconds:.1f} s")
        if support == 0.05:
            checks.append(
                f"- at 0.05, recsys train is {ratio} faster than fpgrowth-py (target: 20x)"
            )
        if support == DEFAULT_SUPPORT:
            checks.append(
                f"- default parameters: {ours.seconds:.2f} s and {ours.peak_rss_mb:.0f} MB peak "
                "(targets: under 2 s, under 500 MB)"
            )
        if support == 0.02:
            checks.append(f"- at 0.02: recsys {ours.seconds:.2f} s (target: under 10 s)")
    headers = [
        "min_support",
        "recsys s",
        "MB",
        "rules",
        "fpgrowth-py s",
        "MB",
        "rules",
        "mlxtend s",
        "MB",
        "rules",
        f"mlxtend max_len={MAX_LENGTH} s",
        "MB",
        "rules",
        "fpgrowth-py / recsys",
    ]
    coverage = coverage_rows(path)
    return "\n\n".join(
        [
            "## Training (`python -m bench train`)",
            f"Synthetic ds1 (`recsys synth`, seed 0: 2,300 playlists, ~235,000 rows), "
            f"min_confidence {CONFIDENCE}, {machine()}. Seconds are whole processes "
            f"(start-up, CSV load, mining, writing); MB is each process's peak RSS. recsys "
            f"mines rules of up to {MAX_LENGTH} songs; fpgrowth-py has no length limit, "
            "mlxtend is shown both ways.",
            table(headers, rows),
            "\n".join(checks),
            "### Choosing min_support (in-process mining only)",
            "Coverage: of the songs in at least 1% of playlists, the share that rules can "
            "recommend, by count of songs and weighted by how often they are played.",
            table(
                [
                    "min_support",
                    "frequent songs",
                    "itemsets",
                    "rules",
                    "mine s",
                    "songs >=1% covered",
                    "plays covered",
                ],
                coverage,
            ),
        ]
    )


if __name__ == "__main__":
    write_section("train", main())
