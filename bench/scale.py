"""Training at scale: time and peak memory of `recsys train` as datasets grow.

Course-shaped datasets at 1x, 10x and 50x ds1, and the Million Playlist Dataset's shape
(`recsys synth --family mpd`), trained with every setting at its default, each as its own
process (wait4 gives its peak RSS). The baseline, in the same run, is the engine this
project shipped before streaming (`BASELINE_REF`, exported from git into bench/out), on
the course-shaped datasets; at ds1 size both run alternately, several times, so the
comparison of the default's speed is not one noisy pair of runs.
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
from dataclasses import dataclass
from pathlib import Path

from bench.common import OUT, REPO, ProcessRun, machine, python, run_measured, table
from bench.scale_serve import Served, serve_at_scale
from bench.train import dataset

# The last commit with the engine that held the rows as strings and counted pairs in one
# polars self-join; override with BENCH_SCALE_BASELINE.
BASELINE_REF = os.environ.get("BENCH_SCALE_BASELINE", "6c60f00")
CUTOFF = 1800.0
DS1_ROUNDS = 5
UNLIMITED = {"RECSYS_MAX_DATASET_BYTES": str(64 * 1024**3)}  # the MPD's CSV is ~5 GB


@dataclass(frozen=True)
class Size:
    name: str
    path: Path
    baseline: bool  # the old engine runs it too (not the MPD's shape: ~24 GB, hours)


def sizes() -> list[Size]:
    return [
        Size("1x ds1", dataset(2300), True),
        Size("10x ds1", dataset(23000), True),
        Size("50x ds1", dataset(115000), True),
        Size("MPD shape", mpd_dataset(), False),
    ]


def mpd_dataset() -> Path:
    """Made once (6 GB); in a scratch folder first, so an interrupted run leaves no half."""
    folder = OUT / "synth-mpd"
    if not (folder / "ds1.csv").exists():
        scratch = OUT / "synth-mpd.partial"
        shutil.rmtree(scratch, ignore_errors=True)
        # A child process: memory the bench itself touched would count in the peak of every
        # child it forks later (a child's maxrss starts from its parent's at the fork).
        subprocess.run(
            python("-m", "recsys", "synth", "--out", str(scratch), "--family", "mpd"), check=True
        )
        shutil.rmtree(folder, ignore_errors=True)
        scratch.rename(folder)
    return folder / "ds1.csv"


def baseline_source() -> Path:
    """The baseline engine's `src`, exported from git (no worktree, no checkout)."""
    folder = OUT / f"baseline-{BASELINE_REF}"
    if not (folder / "src").exists():
        folder.mkdir(parents=True, exist_ok=True)
        archive = subprocess.run(
            ["git", "-C", str(REPO), "archive", BASELINE_REF, "src"],
            check=True,
            capture_output=True,
        ).stdout
        subprocess.run(["tar", "-x", "-C", str(folder)], input=archive, check=True)
    return folder / "src"


def train(path: Path, tag: str, source: Path | None = None) -> ProcessRun:
    """`recsys train` with defaults; `source` runs another copy of the package."""
    env = {**os.environ, **UNLIMITED}
    if source is not None:
        env["PYTHONPATH"] = str(source)
    data_dir = OUT / f"scale-{tag}-{path.parent.name}"
    args = ["-m", "recsys", "train", "--dataset-url", str(path), "--data-dir", str(data_dir)]
    return run_measured(
        python(*args, "--force", "--json"), cutoff=CUTOFF, env=env, address_space=None
    )


def row(size: Size, engine: str, run: ProcessRun) -> list[object]:
    csv_mb = f"{size.path.stat().st_size / 1024**2:.0f}"
    if run.returncode != 0:
        status = "cut off" if run.returncode is None else f"failed ({run.returncode})"
        return [size.name, engine, csv_mb, "-", f"{run.seconds:.1f}", f"{run.peak_rss_mb:.0f}",
                status, "-"]  # fmt: skip
    result = run.json
    return [
        size.name, engine, csv_mb, result["playlists"], f"{run.seconds:.1f}",
        f"{run.peak_rss_mb:.0f}", result.get("rules", "-"), _share(result.get("coverage")),
    ]  # fmt: skip


def _share(value: float | None) -> str:
    return "-" if value is None else f"{value:.0%}"  # the baseline reports no coverage


def ds1_speed(path: Path, source: Path) -> tuple[float, float]:
    """Median seconds of the default at ds1 size: this engine, the baseline; alternating."""
    ours, theirs = [], []
    for _ in range(DS1_ROUNDS):
        ours.append(train(path, "ds1-ours").seconds)
        theirs.append(train(path, "ds1-baseline", source).seconds)
    return statistics.median(ours), statistics.median(theirs)


def main() -> str:
    source = baseline_source()
    rows: list[list[object]] = []
    runs: dict[tuple[str, str], ProcessRun] = {}
    for size in sizes():
        runs[size.name, "streaming"] = run = train(size.path, "ours")
        rows.append(row(size, "streaming", run))
        print(rows[-1], flush=True)
        if size.baseline:
            runs[size.name, "baseline"] = run = train(size.path, "baseline", source)
            rows.append(row(size, f"baseline ({BASELINE_REF})", run))
            print(rows[-1], flush=True)
    served = serve_at_scale(OUT / "scale-ours-synth-mpd")
    print(served, flush=True)
    ours, theirs = ds1_speed(sizes()[0].path, source)
    return "\n\n".join(
        [
            "## Scale (`python -m bench scale`)",
            f"{machine()}. `recsys train` with every setting at its default, whole "
            "process, peak RSS from wait4; coverage: the share of songs with rules of their "
            "own. Then `recsys serve`, as the Deployment runs it, on the MPD shape's model: "
            "seconds until /readyz answers 200, resident memory then, and the peak through "
            "one swap to a model of the same size. 1x is `recsys synth` (2,300 "
            "playlists), 10x and 50x the same with `--playlists 23000` and `115000`; the "
            "MPD shape is `recsys synth --family mpd` (1,000,000 playlists, docs/training.md, "
            f'"Synthetic data"). The baseline is the engine of commit {BASELINE_REF}, '
            "before streaming, run in the same session.",
            table(
                ["dataset", "engine", "CSV MB", "playlists", "s", "peak MB", "rules", "coverage"],
                rows,
            ),
            "\n".join(checks(runs, ours, theirs, served)),
        ]
    )


def checks(
    runs: dict[tuple[str, str], ProcessRun], ours: float, theirs: float, served: Served
) -> list[str]:
    x50 = runs["50x ds1", "streaming"]
    mpd = runs["MPD shape", "streaming"]
    coverage = mpd.json["coverage"] if mpd.returncode == 0 else 0.0
    return [
        f"- 50x ds1 peak memory: {x50.peak_rss_mb / 1024:.2f} GB (target: at most 1.5 GB)",
        f"- MPD shape peak memory: {mpd.peak_rss_mb / 1024:.2f} GB (target: at most 8 GB)",
        f"- MPD shape time: {mpd.seconds / 60:.1f} min (target: at most 10 min)",
        f"- MPD shape songs with rules: {coverage:.0%} (target: at least 20%)",
        f"- MPD shape model served: ready in {served.ready_seconds:.0f} s (target: within 60 s); "
        f"{served.rss_mb:.0f} MB resident, {served.swap_peak_mb:.0f} MB peak through a swap "
        "(target: within 1024 MB)",
        f"- default at ds1 size, median of {DS1_ROUNDS}: {ours:.2f} s, baseline {theirs:.2f} s: "
        f"{ours / theirs:.2f}x the baseline's time (target: at most 1.00x)",
    ]
