"""`recsys models list|show|rollback`: the published models of a data directory."""

from __future__ import annotations

import argparse
import json

from recsys.cli.common import (
    Commands,
    add_command,
    data_dir_flag,
    json_flag,
    print_json,
    settings_from,
)


def cmd_models_list(args: argparse.Namespace) -> int:
    from recsys.model.catalog import list_models

    rows = list_models(settings_from(args).data_dir)
    if not rows:
        print("no models published yet")
        return 0
    print(f"  {'model id':<33} {'trained (UTC)':<26} {'rules':>8} {'songs':>7}  dataset sha256")
    for row in rows:
        marker = "*" if row.current else " "
        print(
            f"{marker} {row.model_id:<33} {row.model_date[:26]:<26} {row.rules:>8} "
            f"{row.songs:>7}  {row.dataset_sha256[:12]}"
        )
    return 0


def cmd_models_show(args: argparse.Namespace) -> int:
    from recsys.model.catalog import show_model

    metadata, rules = show_model(settings_from(args).data_dir, args.model_id, args.rules)
    if args.json:
        print_json(metadata)
        for rule in rules:
            print_json(rule)
        return 0
    for key, value in metadata.items():
        shown = json.dumps(value, ensure_ascii=False) if isinstance(value, dict) else value
        print(f"{key + ':':<16} {shown}")
    if rules:
        print(f"\ntop {len(rules)} rules (confidence, lift, support):")
    for rule in rules:
        print(
            f"  {' + '.join(rule['antecedent'])} -> {', '.join(rule['consequent'])}"
            f"  ({rule['confidence']:.3f}, {rule['lift']:.2f}, {rule['support']:.4f})"
        )
    return 0


def cmd_models_rollback(args: argparse.Namespace) -> int:
    from recsys.model.repository import rollback

    previous, target = rollback(settings_from(args).data_dir, args.model_id)
    was = previous.model_id if previous else "none"
    print(f"current model is now {target.model_id} (was {was})")
    return 0


def register(commands: Commands) -> None:
    models = add_command(
        commands,
        "models",
        lambda args: (models.print_help(), 2)[1],
        "List, inspect and roll back published models.",
        "  recsys models list\n  recsys models show --rules 20\n  recsys models rollback",
    )
    actions = models.add_subparsers(dest="models_command", metavar="ACTION")
    data_dir = data_dir_flag()
    listing = actions.add_parser("list", help="published models, newest last", parents=[data_dir])
    listing.set_defaults(handler=cmd_models_list)
    show = actions.add_parser(
        "show",
        help="a model's metadata and top rules",
        parents=[data_dir, json_flag("JSON lines: metadata, then rules")],
    )
    show.set_defaults(handler=cmd_models_show)
    show.add_argument("model_id", nargs="?", help="default: the current model")
    show.add_argument("--rules", type=int, default=10, help="how many top rules (default 10)")
    back = actions.add_parser(
        "rollback", help="point the service at an older model", parents=[data_dir]
    )
    back.set_defaults(handler=cmd_models_rollback)
    back.add_argument("model_id", nargs="?", help="default: the model before the current one")
