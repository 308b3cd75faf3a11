"""The entry point: build the parser from each command module, run the chosen handler.

Expected failures (`RecsysError`, bad settings) print one line and exit 1; argparse usage
errors exit 2; Ctrl-C exits 130; SIGTERM exits 143.
"""

from __future__ import annotations

import argparse
import signal
import sys
from collections.abc import Sequence

from pydantic import ValidationError

from recsys import __version__
from recsys.cli import ask, models, serve, tools, train
from recsys.cli.common import say
from recsys.errors import RecsysError


class Terminated(BaseException):
    """SIGTERM, raised where the process is, so every `with` and `finally` still runs.

    Kubernetes stops a Job or CronJob pod with SIGTERM; the default action would end the
    process on the spot and leave its temp files (a partial dataset download) behind. A
    BaseException, like KeyboardInterrupt, so no `except Exception` swallows it.
    """


def _terminate(signum: int, frame: object) -> None:
    # Once is enough: a second SIGTERM must not interrupt the clean-up the first started.
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    raise Terminated


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="recsys",
        description="Playlist recommendations from association rules.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Run `recsys COMMAND --help` for a command's options and examples.",
    )
    parser.add_argument("--version", action="version", version=f"recsys {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in (train, ask, serve, tools, models):
        module.register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    previous = signal.signal(signal.SIGTERM, _terminate)
    try:
        return _run(args)
    finally:
        signal.signal(signal.SIGTERM, previous)


def _run(args: argparse.Namespace) -> int:
    """The chosen command; every expected way it can end is one line on stderr."""
    try:
        return args.handler(args)
    except RecsysError as error:
        say(f"recsys: error: {error}")
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in item['loc'])}: {item['msg']}"
            for item in error.errors()
        )
        say(f"recsys: error: invalid settings: {problems}")
    except KeyboardInterrupt:
        say("recsys: interrupted")
        return 130
    except Terminated:
        say("recsys: terminated")
        return 143
    return 1


if __name__ == "__main__":
    sys.exit(main())
