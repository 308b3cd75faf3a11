"""`recsys evaluate`, `recsys synth` and `recsys demo`: tools around the service."""

from __future__ import annotations

import argparse
from pathlib import Path

from recsys.cli.common import (
    Commands,
    add_command,
    json_flag,
    mining_flags,
    print_json,
    say,
    settings_from,
)


def cmd_demo(args: argparse.Namespace) -> int:
    from recsys.tools.demo import FAST, NORMAL, run_demo, summary_table, to_json

    summary = run_demo(args.out, FAST if args.fast else NORMAL, say)
    if args.json:
        say(summary_table(summary))
        print_json(to_json(summary))
    else:
        print(summary_table(summary), flush=True)
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    from recsys.tools.evaluate import EvaluateOptions, evaluate, table

    options = EvaluateOptions(
        test_fraction=args.test_fraction, seeds=args.seeds, k=args.k, seed=args.seed
    )
    result = evaluate(settings_from(args), args.dataset, options, report=say)
    if args.json:
        print_json(result.to_json())
    else:
        print(table(result), flush=True)
    return 0


def cmd_synth(args: argparse.Namespace) -> int:
    from recsys.tools.synth import synthesize

    report = synthesize(
        args.out,
        family=args.family,
        playlists=args.playlists,
        songs=args.songs,
        mean_length=args.mean_length,
        seed=args.seed,
        ds2=args.ds2,
    )
    for name, rows in report.files.items():
        print(f"{args.out / name}: {rows} rows")
    return 0


def register(commands: Commands) -> None:
    _register_evaluate(commands)
    _register_synth_and_demo(commands)


def _register_evaluate(commands: Commands) -> None:
    evaluate = add_command(
        commands,
        "evaluate",
        cmd_evaluate,
        "Measure recommendation quality offline against EASE, item-kNN and simpler baselines.",
        "  recsys evaluate data/sample/ds1.csv\n"
        "  recsys evaluate var/synth/ds1.csv --seeds 10 --k 20 --json\n"
        "  recsys evaluate ds1.csv --min-support 0.02 --max-rule-length 2 --seed 3\n"
        "\n"
        "Playlists are split by pid (a hash of --seed and the pid chooses the test share).\n"
        "The model is trained on the rest exactly as `train` would, without publishing.\n"
        "Each test playlist sends --seeds of its songs, a random choice seeded by --seed and\n"
        "the pid (not the first ones in file order), and keeps the rest hidden; playlists\n"
        "with no more than --seeds songs are skipped. Scored per answer of --k songs:\n"
        "  hit@k     1 if any of the k songs is hidden, else 0\n"
        "  prec@k    hidden songs among the k, divided by k\n"
        "  recall@k  hidden songs among the k, divided by the number hidden\n"
        "  ndcg@k    binary-relevance NDCG; the ideal ranks min(k, hidden) hits first\n"
        "  r-prec    hidden songs among the first |hidden| recommended, divided by |hidden|\n"
        "  cover     distinct songs in all answers / songs of the train split\n"
        "  fill      share of answers completed with popular songs (a song no seed points at)\n"
        "Baselines, trained on the same split: `ease` (Steck's EASE in closed form: exact, in\n"
        "playlist space through the Woodbury identity when songs outnumber playlists) and\n"
        "`knn` (asymmetric-cosine item-kNN), their lambda, neighbours and alpha chosen on a\n"
        "validation split of the train part, never on the test playlists; `cooccurrence`\n"
        "(songs sharing playlists with the ones sent, cosine-normalised, summed over them),\n"
        "`popularity` (most popular songs not sent) and `random` (seeded).\n"
        "--json prints one object: a key per method (rules, ease, knn, cooccurrence,\n"
        "popularity, random) holding hit_rate, precision, recall, ndcg, r_precision,\n"
        "coverage and fill_share; `baselines` holds ease's and knn's chosen values and\n"
        "validation grid; plus k, seeds, test_playlists and the run's details.",
        [mining_flags(), json_flag("print only the result as JSON")],
    )
    evaluate.add_argument("dataset", metavar="DATASET", help="CSV path, file:// or http(s):// URL")
    evaluate.add_argument(
        "--test-fraction",
        type=float,
        default=0.1,
        help="share of playlists held out (default 0.1)",
    )
    evaluate.add_argument(
        "--seeds", type=int, default=5, help="songs sent per test playlist (default 5)"
    )
    evaluate.add_argument("--k", type=int, default=10, help="songs per answer scored (default 10)")
    evaluate.add_argument(
        "--seed", type=int, default=0, help="seeds the split, the seed songs and random baseline"
    )


def _register_synth_and_demo(commands: Commands) -> None:
    synth = add_command(
        commands,
        "synth",
        cmd_synth,
        "Write synthetic datasets (ds1.csv, ds2.csv, songs.csv) in the course's CSV shape.",
        "  recsys synth --out var/synth\n"
        "  recsys synth --out data/sample --playlists 300 --seed 1\n"
        "  recsys synth --out var/longtail --family longtail\n"
        "  recsys synth --out var/mpd --family mpd                    # ~6 GB, ~2 minutes\n"
        "  recsys synth --out var/mpd20 --family mpd --playlists 50000  # the MPD / 20\n"
        "\n"
        'Families (docs/training.md, "Synthetic data"):\n'
        "  course    the course's datasets: 2,300 playlists of ~100 songs, 20 genres\n"
        "  flat      popularity less skewed, 60 small genres, shorter playlists\n"
        "  longtail  a real catalogue's long tail: 7,000 playlists, 300,000 songs, most\n"
        "            songs in one or two playlists\n"
        "  mpd       the Million Playlist Dataset's shape and size: 1,000,000 playlists,\n"
        "            66 million rows, 2.26 million distinct songs; with --playlists only,\n"
        "            the catalogue shrinks in proportion. Writes no ds2.csv unless --ds2.",
    )
    synth.add_argument("--out", type=Path, required=True, help="output folder")
    synth.add_argument(
        "--family",
        choices=("course", "flat", "longtail", "mpd"),
        default="course",
        help="shape of the data (default course)",
    )
    synth.add_argument(
        "--playlists", type=int, help="playlists per dataset (default: the family's)"
    )
    synth.add_argument(
        "--songs",
        type=int,
        help="catalogue size (default: the family's; for mpd, in proportion to --playlists)",
    )
    synth.add_argument(
        "--mean-length", type=float, help="mean playlist length (default: the family's)"
    )
    synth.add_argument("--seed", type=int, default=0, help="same seed, same files")
    synth.add_argument(
        "--ds2",
        action=argparse.BooleanOptionalAction,
        help="write ds2.csv, the drifted dataset (default: yes, except for mpd)",
    )

    demo = add_command(
        commands,
        "demo",
        cmd_demo,
        "Play the whole story locally: train, serve, dataset change, refresh, rollback.",
        "  recsys demo                 # about a minute; leaves probe.csv and probe.png\n"
        "  recsys demo --fast --json   # shorter waits, summary as JSON (CI)",
        [json_flag("summary as JSON on the last line")],
    )
    demo.add_argument("--out", type=Path, default=Path("var/demo"), help="output folder")
    demo.add_argument("--fast", action="store_true", help="shorter waits")
