"""The `recsys` command: parse arguments, build Settings, call the module that does the work.

Heavy modules are imported inside each command, so `recsys serve` never loads the training
stack and `recsys --help` answers instantly. Expected failures (`RecsysError`, bad settings)
print one line and exit 1; argparse usage errors exit 2.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from recsys import __version__
from recsys.errors import RecsysError
from recsys.settings import Settings, load_settings

Handler = Callable[[argparse.Namespace], int]


def _stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _print_json(data: Any) -> None:
    print(json.dumps(data, ensure_ascii=False), flush=True)


def settings_from(args: argparse.Namespace) -> Settings:
    """Settings from the environment, overridden by the flags this command has."""
    flags = {name: getattr(args, name) for name in Settings.model_fields if hasattr(args, name)}
    return load_settings(**flags)


def _add_data_dir(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--data-dir", type=Path, help="model directory (RECSYS_DATA_DIR, default ./var/data)"
    )


def _add_training_flags(parser: argparse.ArgumentParser) -> None:
    _add_data_dir(parser)
    parser.add_argument(
        "--dataset-url", help="CSV path, file:// or http(s):// URL (RECSYS_DATASET_URL)"
    )
    parser.add_argument("--min-support", type=float, help="RECSYS_MIN_SUPPORT")
    parser.add_argument("--min-confidence", type=float, help="RECSYS_MIN_CONFIDENCE")
    parser.add_argument("--max-rule-length", type=int, help="RECSYS_MAX_RULE_LENGTH (2-4)")
    parser.add_argument("--keep-models", type=int, help="RECSYS_KEEP_MODELS")
    parser.add_argument("--force", action="store_true", help="retrain even if nothing changed")
    parser.add_argument("--json", action="store_true", help="print only the summary as JSON")


def _summary_line(result: Any) -> str:
    if result.status == "unchanged":
        return f"unchanged: model {result.model_id} is current"
    return (
        f"published {result.model_id}: {result.playlists} playlists, {result.songs} songs, "
        f"{result.itemsets} frequent itemsets, {result.rules} rules in {result.seconds:.2f} s"
    )


def cmd_train(args: argparse.Namespace) -> int:
    from recsys.trainer import train

    settings = settings_from(args)
    result = train(settings, force=args.force, report=_stderr)
    if args.json:
        _print_json(result.to_json())
    else:
        print(_summary_line(result), flush=True)
    return 0


def _try_it(settings: Settings) -> str:
    """A ready-to-paste curl, with songs of the current model when there is one."""
    from recsys.artifact import ModelError, read_header, read_pointer

    songs = ["HUMBLE.", "Mask Off"]
    try:
        pointer = read_pointer(settings.data_dir)
        if pointer is not None:
            songs = read_header(pointer.model_path(settings.data_dir))["vocabulary"][:2]
    except (ModelError, OSError, KeyError):
        pass
    host = "127.0.0.1" if settings.host in ("0.0.0.0", "::") else settings.host
    body = json.dumps({"songs": songs, "k": 5}, ensure_ascii=False).replace("'", "'\\''")
    return (
        f"recsys API on http://{host}:{settings.port}  (docs: http://{host}:{settings.port}/docs)\n"
        f"try: curl -s http://{host}:{settings.port}/api/recommend -d '{body}'"
    )


def cmd_serve(args: argparse.Namespace) -> int:
    import logging

    import uvicorn

    from recsys.service import create_app

    settings = settings_from(args)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s:     %(name)s: %(message)s")
    app = create_app(settings)
    _stderr(_try_it(settings))
    uvicorn.run(
        app,
        host=settings.host,
        port=settings.port,
        workers=1,
        access_log=not args.no_access_log,
        timeout_graceful_shutdown=30,
    )
    return 0


def cmd_synth(args: argparse.Namespace) -> int:
    from recsys.synth import synthesize

    report = synthesize(
        args.out,
        playlists=args.playlists,
        songs=args.songs,
        mean_length=args.mean_length,
        seed=args.seed,
    )
    for name, rows in report.files.items():
        print(f"{args.out / name}: {rows} rows")
    return 0


def cmd_models_list(args: argparse.Namespace) -> int:
    from recsys.models import list_models

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
    from recsys.models import show_model

    metadata, rules = show_model(settings_from(args).data_dir, args.model_id, args.rules)
    if args.json:
        _print_json(metadata)
        for rule in rules:
            _print_json(rule)
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
    from recsys.artifact import rollback

    previous, target = rollback(settings_from(args).data_dir, args.model_id)
    was = previous.model_id if previous else "none"
    print(f"current model is now {target.model_id} (was {was})")
    return 0


def build_parser() -> argparse.ArgumentParser:
    formatter = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(
        prog="recsys",
        description="Playlist recommendations from association rules.",
        formatter_class=formatter,
        epilog="Run `recsys COMMAND --help` for a command's options and examples.",
    )
    parser.add_argument("--version", action="version", version=f"recsys {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(
        name: str, handler: Handler, summary: str, examples: str
    ) -> argparse.ArgumentParser:
        sub = commands.add_parser(
            name,
            help=summary,
            description=summary,
            epilog=f"examples:\n{examples}",
            formatter_class=formatter,
        )
        sub.set_defaults(handler=handler)
        return sub

    train = command(
        "train",
        cmd_train,
        "Mine rules from a playlist CSV and publish the model atomically.",
        "  recsys train --dataset-url data/sample/ds1.csv\n"
        "  RECSYS_DATASET_URL=https://example.org/ds2.csv recsys train --json\n"
        "  recsys train --dataset-url ds1.csv --min-support 0.05 --force",
    )
    _add_training_flags(train)

    serve = command(
        "serve",
        cmd_serve,
        "Serve recommendations over HTTP, following every newly published model.",
        "  recsys serve\n"
        "  recsys serve --host 0.0.0.0 --port 8080 --data-dir /data\n"
        "  RECSYS_WATCH=poll RECSYS_POLL_INTERVAL=5 recsys serve",
    )
    _add_data_dir(serve)
    serve.add_argument("--host", help="listen address (RECSYS_HOST, default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="listen port (RECSYS_PORT, default 8000)")
    serve.add_argument(
        "--watch",
        choices=["events", "poll", "auto"],
        help="how to notice new models (RECSYS_WATCH)",
    )
    serve.add_argument("--poll-interval", type=float, help="seconds (RECSYS_POLL_INTERVAL)")
    serve.add_argument("--top-k", type=int, help="songs per answer by default (RECSYS_TOP_K)")
    serve.add_argument("--no-access-log", action="store_true", help="do not log every request")

    synth = command(
        "synth",
        cmd_synth,
        "Write synthetic datasets (ds1.csv, ds2.csv, songs.csv) in the course's shape.",
        "  recsys synth --out var/synth\n  recsys synth --out data/sample --playlists 300 --seed 1",
    )
    synth.add_argument("--out", type=Path, required=True, help="output folder")
    synth.add_argument("--playlists", type=int, default=2300, help="playlists per dataset")
    synth.add_argument("--songs", type=int, default=6000, help="catalogue size")
    synth.add_argument("--mean-length", type=float, default=100.0, help="mean playlist length")
    synth.add_argument("--seed", type=int, default=0, help="same seed, same files")

    models = command(
        "models",
        lambda args: (models.print_help(), 2)[1],
        "List, inspect and roll back published models.",
        "  recsys models list\n  recsys models show --rules 20\n  recsys models rollback",
    )
    model_commands = models.add_subparsers(dest="models_command", metavar="ACTION")
    listing = model_commands.add_parser("list", help="published models, newest last")
    listing.set_defaults(handler=cmd_models_list)
    _add_data_dir(listing)
    show = model_commands.add_parser("show", help="a model's metadata and top rules")
    show.set_defaults(handler=cmd_models_show)
    show.add_argument("model_id", nargs="?", help="default: the current model")
    show.add_argument("--rules", type=int, default=10, help="how many top rules (default 10)")
    show.add_argument("--json", action="store_true", help="JSON lines: metadata, then rules")
    _add_data_dir(show)
    back = model_commands.add_parser("rollback", help="point the service at an older model")
    back.set_defaults(handler=cmd_models_rollback)
    back.add_argument("model_id", nargs="?", help="default: the model before the current one")
    _add_data_dir(back)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.handler(args)
    except RecsysError as error:
        _stderr(f"recsys: error: {error}")
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in item['loc'])}: {item['msg']}"
            for item in error.errors()
        )
        _stderr(f"recsys: error: invalid settings: {problems}")
    except KeyboardInterrupt:
        _stderr("recsys: interrupted")
        return 130
    return 1


if __name__ == "__main__":
    sys.exit(main())
