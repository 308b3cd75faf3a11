"""The entry point: build the parser from each command module, run the chosen handler.

Expected failures (`RecsysError`, bad settings) print one line and exit 1; argparse usage
errors exit 2; Ctrl-C exits 130.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from pydantic import ValidationError

from recsys import __version__
from recsys.cli import ask, models, serve, tools, train
from recsys.cli.common import say
from recsys.errors import RecsysError


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
    return 1


if __name__ == "__main__":
    sys.exit(main())
