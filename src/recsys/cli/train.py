"""`recsys train` and `recsys refresh`: the Job and the CronJob."""

from __future__ import annotations

import argparse
from typing import Any

from recsys.cli.common import (
    Commands,
    add_command,
    data_dir_flag,
    json_flag,
    mining_flags,
    print_json,
    say,
    settings_from,
)


def _summary_line(result: Any) -> str:
    if result.status == "unchanged":
        return f"unchanged: model {result.model_id} is current"
    if result.status == "pinned":
        return (
            f"pinned: model {result.model_id} stays current (a rollback holds this dataset "
            "back); `recsys models unpin` or --force to publish it"
        )
    return (
        f"published {result.model_id}: {result.playlists} playlists, {result.songs} songs, "
        f"{result.itemsets} frequent itemsets, {result.rules} rules in {result.seconds:.2f} s"
    )


def _report(result: Any, args: argparse.Namespace) -> int:
    if args.json:
        print_json(result.to_json())
    else:
        print(_summary_line(result), flush=True)
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    from recsys.training.trainer import train

    return _report(train(settings_from(args), force=args.force, report=say), args)


def cmd_refresh(args: argparse.Namespace) -> int:
    from recsys.training.refresh import refresh

    return _report(refresh(settings_from(args), force=args.force, report=say), args)


def _training_flags() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        add_help=False, parents=[data_dir_flag(), mining_flags(), json_flag(_JSON_HELP)]
    )
    parser.add_argument(
        "--dataset-url", help="CSV path, file:// or http(s):// URL (RECSYS_DATASET_URL)"
    )
    parser.add_argument("--keep-models", type=int, help="RECSYS_KEEP_MODELS")
    parser.add_argument(
        "--engine",
        choices=["local", "spark"],
        help="count pairs in this process (default) or on Spark at RECSYS_SPARK_MASTER; the "
        "same model either way (RECSYS_ENGINE, docs/spark.md)",
    )
    parser.add_argument(
        "--force",
        action="store_true",
        help="retrain and publish even if nothing changed, or a rollback pinned the current "
        "model (this lifts the pin)",
    )
    parser.add_argument(
        "--allow-shrink",
        action="store_true",
        default=None,
        help="publish even a model with no rules, or from under half the playlists of the "
        "current model; refused otherwise, since that is almost always a broken dataset "
        "(RECSYS_ALLOW_SHRINK; --force does not imply it)",
    )
    return parser


_JSON_HELP = "print only the summary as JSON"


def register(commands: Commands) -> None:
    flags = _training_flags()
    add_command(
        commands,
        "train",
        cmd_train,
        "Mine rules from a playlist CSV and publish the model atomically.",
        "  recsys train --dataset-url data/sample/ds1.csv\n"
        "  RECSYS_DATASET_URL=https://example.org/ds2.csv recsys train --json\n"
        "  recsys train --dataset-url ds1.csv --min-support 0.05 --force\n"
        "  recsys train --dataset-url small-sample.csv --allow-shrink",
        [flags],
    )
    add_command(
        commands,
        "refresh",
        cmd_refresh,
        "Retrain only if the dataset changed (the CronJob): conditional GET, then train.",
        "  recsys refresh --dataset-url https://example.org/playlists.csv\n"
        "  RECSYS_DATASET_URL=/data/ds.csv recsys refresh --json",
        [flags],
    )
