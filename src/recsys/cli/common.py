"""What every command shares: output helpers, settings from flags, and the shared flags.

Shared flags are argparse parents, declared once: a command lists the parents it takes.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from recsys.settings import Settings, load_settings

Handler = Callable[[argparse.Namespace], int]
Commands = Any  # argparse's private _SubParsersAction


def say(message: str) -> None:
    """Progress and diagnostics go to stderr, so stdout stays the command's answer."""
    print(message, file=sys.stderr, flush=True)


def printable(text: str) -> str:
    """`text` safe for a terminal: control characters (escape sequences included) escaped.

    Song names come from datasets and APIs nobody here controls; a name holding ESC could
    otherwise repaint or retitle the operator's terminal. JSON output needs none of this.
    """
    if text.isprintable():
        return text
    return "".join(char if char.isprintable() else repr(char)[1:-1] for char in text)


def print_json(data: Any) -> None:
    print(json.dumps(data, ensure_ascii=False), flush=True)


def settings_from(args: argparse.Namespace) -> Settings:
    """Settings from the environment, overridden by the flags this command has."""
    flags = {name: getattr(args, name) for name in Settings.model_fields if hasattr(args, name)}
    return load_settings(**flags)


def _parent() -> argparse.ArgumentParser:
    return argparse.ArgumentParser(add_help=False)


def data_dir_flag() -> argparse.ArgumentParser:
    parser = _parent()
    parser.add_argument(
        "--data-dir", type=Path, help="model directory (RECSYS_DATA_DIR, default ./var/data)"
    )
    return parser


def json_flag(help_text: str) -> argparse.ArgumentParser:
    parser = _parent()
    parser.add_argument("--json", action="store_true", help=help_text)
    return parser


def api_url_flag() -> argparse.ArgumentParser:
    parser = _parent()
    parser.add_argument("--url", dest="api_url", help="API base URL (RECSYS_API_URL)")
    return parser


def _number_or_auto(text: str) -> float | str:
    """A number (a share of playlists, an exponent), or "auto"."""
    if text == "auto":
        return text
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f'not a number or "auto": {text!r}') from None


def mining_flags() -> argparse.ArgumentParser:
    parser = _parent()
    parser.add_argument(
        "--min-support",
        type=_number_or_auto,
        help='RECSYS_MIN_SUPPORT: a share of playlists, or "auto" (default: none, only '
        "--min-pair-count)",
    )
    parser.add_argument(
        "--min-pair-count",
        type=_number_or_auto,
        help='RECSYS_MIN_PAIR_COUNT: playlists a rule\'s songs share, or "auto" (default: 1 or '
        "2, chosen per dataset)",
    )
    parser.add_argument("--min-confidence", type=float, help="RECSYS_MIN_CONFIDENCE")
    parser.add_argument("--max-rule-length", type=int, help="RECSYS_MAX_RULE_LENGTH (2-4)")
    parser.add_argument(
        "--popularity-damping",
        type=_number_or_auto,
        help='RECSYS_POPULARITY_DAMPING: 0 to 1, or "auto" (default: chosen per dataset)',
    )
    parser.add_argument(
        "--rules-per-song", type=int, help="RECSYS_RULES_PER_SONG: rules each song keeps"
    )
    return parser


def add_command(
    commands: Commands,
    name: str,
    handler: Handler,
    summary: str,
    examples: str,
    parents: list[argparse.ArgumentParser] | None = None,
) -> argparse.ArgumentParser:
    """A subcommand with its one-line summary and an examples epilog."""
    sub = commands.add_parser(
        name,
        help=summary,
        description=summary,
        epilog=f"examples:\n{examples}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        parents=parents or [],
    )
    sub.set_defaults(handler=handler)
    return sub
