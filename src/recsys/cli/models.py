"""`recsys models list|show|rollback|unpin`: the published models of a data directory.

Everything printed as text passes through `printable`: song names, dates and file names
come from files anyone with write access to the volume may have made, and must not reach
the operator's terminal as escape sequences. JSON output is left as it is.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from recsys.cli.common import (
    Commands,
    add_command,
    data_dir_flag,
    json_flag,
    print_json,
    printable,
    settings_from,
)


def _pin_line(data_dir: Path, live: str | None) -> str | None:
    """What the pin file says, as `models list` shows it (None when there is none)."""
    from recsys.model.format import ModelError
    from recsys.model.pins import read_pin

    try:
        pin = read_pin(data_dir)
    except ModelError as error:
        return f"pin: {error}"
    if pin is None:
        return None
    if pin.model_id != live:
        return f"pin.json names {pin.model_id}, which is not current: it holds nothing"
    held = ", ".join(sha[:12] for sha in pin.held)
    return (
        f"pinned: {pin.model_id} by a rollback from {pin.rolled_back_from} at {pin.pinned_at}; "
        f"train and refresh publish again once the dataset is not {held} (sha256), "
        "or after `recsys models unpin`"
    )


def _looked_in(folder: Path) -> str:
    """The folder a command looked in, as its messages name it: run elsewhere, or with
    another RECSYS_DATA_DIR, a command must say where it found nothing."""
    return f"{folder}" if folder.is_dir() else f"{folder} (no such directory)"


def cmd_models_list(args: argparse.Namespace) -> int:
    from recsys.model.catalog import MODELS_DIR, list_models
    from recsys.model.pointer import live_pointer

    data_dir = settings_from(args).data_dir
    pointer = live_pointer(data_dir)
    live = pointer.model_id if pointer else None
    rows, junk = list_models(data_dir, live)
    if not rows:
        print(printable(f"no models published yet in {_looked_in(data_dir / MODELS_DIR)}"))
    else:
        print(f"  {'model id':<33} {'trained (UTC)':<26} {'rules':>8} {'songs':>7}  dataset sha256")
    for row in rows:
        marker = "*" if row.current else " "
        line = (
            f"{marker} {row.model_id:<33} {row.model_date[:26]:<26} {row.rules:>8} "
            f"{row.songs:>7}  {row.dataset_sha256[:12]}"
        )
        print(printable(line))
    pin = _pin_line(data_dir, live)
    if pin:
        print(printable(pin))
    for path, why in junk:
        print(printable(f"junk: {path.name}: {why} (left in place: never pruned, never current)"))
    return 0


def _model_to_show(data_dir: Path, model_id: str | None) -> Any:
    from recsys.model.catalog import MODEL_ID, MODEL_SUFFIX, MODELS_DIR
    from recsys.model.format import ModelError, read_model
    from recsys.model.pointer import load_current

    if model_id is None:
        current = load_current(data_dir)
        if current is None:
            raise ModelError(f"no model published yet in {_looked_in(data_dir)}")
        return current[1]
    if not MODEL_ID.match(model_id):
        raise ModelError(f"no published model {model_id!r} in {data_dir / MODELS_DIR}")
    return read_model(data_dir / MODELS_DIR / f"{model_id}{MODEL_SUFFIX}")


def cmd_models_show(args: argparse.Namespace) -> int:
    from recsys.model.catalog import show_model

    model = _model_to_show(settings_from(args).data_dir, args.model_id)
    metadata, rules = show_model(model, args.rules)
    if args.json:
        print_json(metadata)
        for rule in rules:
            print_json(rule)
        return 0
    for key, value in metadata.items():
        shown = json.dumps(value, ensure_ascii=False) if isinstance(value, dict) else value
        print(printable(f"{key + ':':<16} {shown}"))
    if rules:
        print(f"\ntop {len(rules)} rules (weight, confidence, lift, support):")
    for rule in rules:
        print(
            printable(
                f"  {' + '.join(rule['antecedent'])} -> {', '.join(rule['consequent'])}"
                f"  ({rule['weight']:.3f}, {rule['confidence']:.3f}, {rule['lift']:.2f}, "
                f"{rule['support']:.4f})"
            )
        )
    return 0


def cmd_models_rollback(args: argparse.Namespace) -> int:
    from recsys.model.rollback import rollback

    settings = settings_from(args)
    done = rollback(settings.data_dir, args.model_id, settings.max_model_bytes)
    was = done.previous.model_id if done.previous else "none"
    print(f"current model is now {done.target.model_id} (was {was})")
    if done.pin is not None:
        print(
            f"pinned: train and refresh keep {done.pin.model_id} until the dataset changes "
            "(`recsys models unpin` or `train --force` to publish sooner)"
        )
    return 0


def cmd_models_unpin(args: argparse.Namespace) -> int:
    from recsys.model.format import ModelError
    from recsys.model.pins import read_pin
    from recsys.model.rollback import unpin

    data_dir = settings_from(args).data_dir
    try:
        pin = read_pin(data_dir)
    except ModelError:
        pin = None
    if not unpin(data_dir):
        print(printable(f"nothing pinned in {_looked_in(data_dir)}"))
        return 0
    held = f" ({pin.model_id} was pinned)" if pin else ""
    print(f"unpinned{held}: train and refresh publish new datasets again")
    return 0


def register(commands: Commands) -> None:
    def usage(args: argparse.Namespace) -> int:  # `recsys models` alone
        models.print_help()
        return 2

    models = add_command(
        commands,
        "models",
        usage,
        "List, inspect and roll back published models.",
        "  recsys models list\n  recsys models show --rules 20\n  recsys models rollback\n"
        "  recsys models unpin",
    )
    actions = models.add_subparsers(dest="models_command", metavar="ACTION")
    data_dir = data_dir_flag()
    add_command(
        actions,
        "list",
        cmd_models_list,
        "Published models in publish order (* marks the current one); the pin; junk files.",
        "  recsys models list\n  recsys models list --data-dir /data   # the volume, in a pod",
        [data_dir],
    )
    show = add_command(
        actions,
        "show",
        cmd_models_show,
        "A model's metadata and top rules (weight, confidence, lift, support).",
        "  recsys models show                    # the current model, its 10 heaviest rules\n"
        "  recsys models show MODEL_ID --rules 20\n"
        "  recsys models show --json --rules 0   # the metadata alone, as JSON",
        [data_dir, json_flag("JSON lines: metadata, then rules")],
    )
    show.add_argument("model_id", nargs="?", help="default: the current model")
    show.add_argument("--rules", type=int, default=10, help="how many top rules (default 10)")
    back = add_command(
        actions,
        "rollback",
        cmd_models_rollback,
        "Point the service at an older model and pin it there until the dataset changes.",
        "  recsys models rollback                # to the model served before the current one\n"
        "  recsys models rollback MODEL_ID       # or to one `recsys models list` shows",
        [data_dir],
    )
    back.add_argument("model_id", nargs="?", help="default: the model before the current one")
    add_command(
        actions,
        "unpin",
        cmd_models_unpin,
        "Let train and refresh publish again after a rollback (removes pin.json).",
        "  recsys models unpin\n  recsys models unpin --data-dir /data  # the volume, in a pod",
        [data_dir],
    )
