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


def cmd_refresh(args: argparse.Namespace) -> int:
    from recsys.refresh import refresh

    result = refresh(settings_from(args), force=args.force, report=_stderr)
    if args.json:
        _print_json(result.to_json())
    else:
        print(_summary_line(result), flush=True)
    return 0


def _random_songs(args: argparse.Namespace, client: Any) -> list[str]:
    """N random songs from a songs CSV (artist_name,track_name) or the model's vocabulary."""
    import csv
    import random

    if args.songs_file:
        try:
            with args.songs_file.open(newline="", encoding="utf-8") as handle:
                pool = [
                    row["track_name"] for row in csv.DictReader(handle) if row.get("track_name")
                ]
        except (OSError, UnicodeDecodeError, KeyError) as error:
            raise RecsysError(f"cannot read songs from {args.songs_file}: {error}") from None
    else:
        pool = client.songs(limit=1_000_000)
    if not pool:
        raise RecsysError("no songs to choose from")
    return random.sample(pool, min(args.random, len(pool)))


def cmd_recommend(args: argparse.Namespace) -> int:
    from recsys.client import RecsysClient

    settings = settings_from(args)
    with RecsysClient(settings.api_url) as client:
        songs = list(args.songs)
        if args.random:
            songs += _random_songs(args, client)
        if not songs:
            raise RecsysError("name at least one song, or use --random N")
        answer = client.recommend(songs, args.k)
    if args.json:
        _print_json(answer)
        return 0
    print(f"you like: {'; '.join(songs)}")
    print(
        f"model {answer['model_id']} (trained {answer['model_date']}), recsys {answer['version']}"
    )
    for rank, song in enumerate(answer["songs"], 1):
        print(f"{rank:3}. {song}")
    if answer.get("unknown_songs"):
        print(f"not in the model: {'; '.join(answer['unknown_songs'])}")
    if answer.get("filled"):
        print(f"({answer['filled']} of these are popular songs added because rules ran short)")
    return 0


def cmd_probe(args: argparse.Namespace) -> int:
    import asyncio

    from recsys.probe import ProbeConfig, plot, run_probe, write_csv

    settings = settings_from(args)
    config = ProbeConfig(
        url=settings.api_url,
        interval=args.interval,
        duration=args.duration,
        timeout=args.timeout,
        until_change=args.until_change,
        songs=args.song or None,
    )
    _stderr(f"probing {config.url} every {config.interval:g} s (Ctrl-C to stop)")
    timeline = asyncio.run(run_probe(config, _stderr))
    summary = timeline.summary
    if args.out:
        write_csv(timeline.samples, args.out)
    if args.plot:
        plot(timeline, args.plot, f"recsys probe of {config.url}")
    lines = [
        f"requests: {summary.requests}, failures: {summary.failures}, "
        f"longest outage: {summary.longest_outage_seconds:.2f} s",
        *(
            f"change at {change.at_seconds:.2f} s: version {change.version}, "
            f"model {change.model_date}"
            for change in summary.changes
        ),
    ]
    if args.until_change and summary.changes:
        lines.append(f"changed after {summary.changes[0].at_seconds:.2f} s")
    if args.json:
        for line in lines:
            _stderr(line)
        _print_json(summary.to_json())
    else:
        print("\n".join(lines), flush=True)
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from recsys.demo import FAST, NORMAL, run_demo, summary_table, to_json

    summary = run_demo(args.out, FAST if args.fast else NORMAL, _stderr)
    if args.json:
        _stderr(summary_table(summary))
        _print_json(to_json(summary))
    else:
        print(summary_table(summary), flush=True)
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

    refresh = command(
        "refresh",
        cmd_refresh,
        "Retrain only if the dataset changed (the CronJob): conditional GET, then train.",
        "  recsys refresh --dataset-url https://example.org/playlists.csv\n"
        "  RECSYS_DATASET_URL=/data/ds.csv recsys refresh --json",
    )
    _add_training_flags(refresh)

    recommend = command(
        "recommend",
        cmd_recommend,
        "Ask the API for songs you may like.",
        '  recsys recommend "HUMBLE." "Mask Off"\n'
        "  recsys recommend --random 3 --songs-file data/sample/songs.csv --k 5\n"
        "  recsys recommend --random 2 --url http://10.0.0.5:30080 --json",
    )
    recommend.add_argument("songs", nargs="*", metavar="SONG", help="songs you like")
    recommend.add_argument("--url", dest="api_url", help="API base URL (RECSYS_API_URL)")
    recommend.add_argument("--k", type=int, help="how many songs (1-100)")
    recommend.add_argument("--random", type=int, default=0, metavar="N", help="add N random songs")
    recommend.add_argument(
        "--songs-file", type=Path, help="CSV with a track_name column to draw --random songs from"
    )
    recommend.add_argument("--json", action="store_true", help="print the raw JSON answer")

    probe = command(
        "probe",
        cmd_probe,
        "Send requests continuously; report model changes and outages (measure a rollout).",
        "  recsys probe --url http://127.0.0.1:8000 --duration 60 --out p.csv --plot p.png\n"
        "  recsys probe --until-change          # how long until the new model answers\n"
        "  recsys probe --duration 30 --json",
    )
    probe.add_argument("--url", dest="api_url", help="API base URL (RECSYS_API_URL)")
    probe.add_argument("--interval", type=float, default=0.1, help="seconds between requests")
    probe.add_argument("--duration", type=float, help="stop after this many seconds")
    probe.add_argument("--timeout", type=float, default=2.0, help="seconds before a request fails")
    probe.add_argument("--until-change", action="store_true", help="stop at the first change")
    probe.add_argument(
        "--song", action="append", help="song to send (repeat); default: popular ones"
    )
    probe.add_argument("--out", type=Path, help="write every sample to this CSV")
    probe.add_argument(
        "--plot", type=Path, help="draw the timeline to this PNG (needs recsys[plot])"
    )
    probe.add_argument("--json", action="store_true", help="summary as JSON on the last line")

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

    demo = command(
        "demo",
        cmd_demo,
        "Play the whole story locally: train, serve, dataset change, refresh, rollback.",
        "  recsys demo                 # about a minute; leaves probe.csv and probe.png\n"
        "  recsys demo --fast --json   # shorter waits, summary as JSON (CI)",
    )
    demo.add_argument("--out", type=Path, default=Path("var/demo"), help="output folder")
    demo.add_argument("--fast", action="store_true", help="shorter waits")
    demo.add_argument("--json", action="store_true", help="summary as JSON on the last line")

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
