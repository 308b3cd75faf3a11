"""`recsys recommend` and `recsys probe`: clients of a running API."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from recsys.cli.common import (
    Commands,
    add_command,
    api_url_flag,
    json_flag,
    print_json,
    printable,
    say,
    settings_from,
)
from recsys.errors import RecsysError

MAX_TIMEOUT_SECONDS = 86400.0  # a day; sockets and timers refuse far larger waits


def _seconds(text: str) -> float:
    """A timeout flag's value: more than 0 seconds, at most a day."""
    try:
        seconds = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0 < seconds <= MAX_TIMEOUT_SECONDS:  # also refuses nan
        raise argparse.ArgumentTypeError(
            f"must be more than 0 and at most {MAX_TIMEOUT_SECONDS:g} seconds: {text!r}"
        )
    return seconds


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
    from recsys.tools.client import RecsysClient

    settings = settings_from(args)
    with RecsysClient(settings.api_url, timeout=args.timeout) as client:
        songs = list(args.songs)
        if args.random:
            songs += _random_songs(args, client)
        if not songs:
            raise RecsysError("name at least one song, or use --random N")
        answer = client.recommend(songs, args.k, args.explain)
    if args.json:
        print_json(answer)
        return 0
    _print_answer(songs, answer, args.explain)
    return 0


def _print_answer(songs: list[str], answer: dict[str, Any], explain: bool) -> None:
    """The answer as a table, with each song's reasons under it when asked for."""
    print(printable(f"you like: {'; '.join(songs)}"))
    print(
        printable(
            f"model {answer['model_id']} (trained {answer['model_date']}), "
            f"recsys {answer['version']}"
        )
    )
    because = answer.get("because")
    for rank, song in enumerate(answer["songs"], 1):
        print(f"{rank:3}. {printable(song)}")
        if because and because[rank - 1]:
            print(printable(f"     because you liked {_reasons(because[rank - 1])}"))
    if explain and because is None:
        print("(the API gave no reasons: it may be a recsys from before `explain`)")
    if answer.get("unknown_songs"):
        print(printable(f"not in the model: {'; '.join(answer['unknown_songs'])}"))
    if answer.get("songs_without_rules"):
        rare = "; ".join(answer["songs_without_rules"])
        print(printable(f"known, but in no rule (too rare): {rare}"))
    if answer.get("filled"):
        print(f"({answer['filled']} of these are popular songs added because rules ran short)")


def _reasons(reasons: list[dict[str, Any]]) -> str:
    """Each rule's liked songs and its weight, as in `A (0.41); B with C (0.2)`."""
    return "; ".join(
        f"{' with '.join(reason['liked'])} ({reason['weight']:.3g})" for reason in reasons
    )


def cmd_probe(args: argparse.Namespace) -> int:
    import asyncio

    from recsys.tools.probe import ProbeConfig, plot, run_probe, write_csv

    settings = settings_from(args)
    config = ProbeConfig(
        url=settings.api_url,
        interval=args.interval,
        duration=args.duration,
        timeout=args.timeout,
        until_change=args.until_change,
        songs=args.song or None,
    )
    say(f"probing {config.url} every {config.interval:g} s (Ctrl-C to stop)")
    timeline = asyncio.run(run_probe(config, say))
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
            say(line)
        print_json(summary.to_json())
    else:
        print("\n".join(lines), flush=True)
    return 0


def register(commands: Commands) -> None:
    recommend = add_command(
        commands,
        "recommend",
        cmd_recommend,
        "Ask the API for songs you may like.",
        '  recsys recommend "Forever Ghost" "Gold"             # songs of the bundled sample\n'
        "  recsys recommend --random 3 --songs-file data/sample/songs.csv --k 5\n"
        "  recsys recommend --random 2 --url http://10.0.0.5:30080 --json\n"
        '  recsys recommend --explain "Forever Ghost" "Gold"   # which of your songs led to each',
        [api_url_flag(), json_flag("print the raw JSON answer")],
    )
    recommend.add_argument("songs", nargs="*", metavar="SONG", help="songs you like")
    recommend.add_argument("--k", type=int, help="how many songs (1-100)")
    recommend.add_argument("--random", type=int, default=0, metavar="N", help="add N random songs")
    recommend.add_argument(
        "--explain", action="store_true", help="show which of your songs led to each answer"
    )
    recommend.add_argument(
        "--songs-file", type=Path, help="CSV with a track_name column to draw --random songs from"
    )
    recommend.add_argument(
        "--timeout",
        type=_seconds,
        default=10.0,
        help="seconds each answer may take in all, connect included (default 10)",
    )
    probe = add_command(
        commands,
        "probe",
        cmd_probe,
        "Send requests continuously; report model changes and outages (measure a rollout).",
        "  recsys probe --url http://127.0.0.1:8000 --duration 60 --out p.csv --plot p.png\n"
        "  recsys probe --until-change          # how long until the new model answers\n"
        "  recsys probe --duration 30 --json",
        [api_url_flag(), json_flag("summary as JSON on the last line")],
    )
    probe.add_argument("--interval", type=float, default=0.1, help="seconds between requests")
    probe.add_argument("--duration", type=float, help="stop after this many seconds")
    probe.add_argument(
        "--timeout",
        type=_seconds,
        default=2.0,
        help="seconds a request may take in all, its whole answer included (default 2)",
    )
    probe.add_argument("--until-change", action="store_true", help="stop at the first change")
    probe.add_argument(
        "--song", action="append", help="song to send (repeat); default: popular ones"
    )
    probe.add_argument("--out", type=Path, help="write every sample to this CSV")
    probe.add_argument(
        "--plot", type=Path, help="draw the timeline to this PNG (needs recsys[plot])"
    )
