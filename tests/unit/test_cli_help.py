"""Every command's `--help` shows examples (README, "Commands"): each command and each
subcommand, found by walking the parser itself, so a new one is covered the day it is added.

The parser is built in-process, as `recsys` builds it; nothing runs as a child process.
"""

from __future__ import annotations

import argparse
import re

import pytest

from recsys.cli.main import build_parser

# An examples section: the heading `add_command` writes, then indented `recsys ...` lines.
EXAMPLES = re.compile(r"^examples:\n((?:  .*\n?)+)", re.M)


def commands(
    parser: argparse.ArgumentParser, path: tuple[str, ...] = ()
) -> list[tuple[tuple[str, ...], argparse.ArgumentParser]]:
    """Every command and subcommand under `parser`, each with the words that name it."""
    found = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                found.append(((*path, name), sub))
                found += commands(sub, (*path, name))
    return found


COMMANDS = commands(build_parser())


def test_the_walk_finds_every_command_and_the_models_subcommands() -> None:
    names = {" ".join(path) for path, _ in COMMANDS}
    assert {"train", "refresh", "serve", "recommend", "models"} <= names
    assert {"models list", "models show", "models rollback", "models unpin"} <= names


@pytest.mark.parametrize(("path", "parser"), COMMANDS, ids=[" ".join(path) for path, _ in COMMANDS])
def test_help_has_examples(path: tuple[str, ...], parser: argparse.ArgumentParser) -> None:
    text = parser.format_help()
    section = EXAMPLES.search(text)
    assert section, f"`recsys {' '.join(path)} --help` has no examples section:\n{text}"
    lines = [line.strip() for line in section.group(1).splitlines()]
    own = [line for line in lines if line.startswith(f"recsys {' '.join(path)}")]
    assert own, f"`recsys {' '.join(path)} --help` has no example of itself:\n{text}"


def test_help_is_what_recsys_prints(capsys: pytest.CaptureFixture[str]) -> None:
    """`format_help` is what `--help` prints: the examples reach the terminal."""
    with pytest.raises(SystemExit) as done:
        build_parser().parse_args(["models", "unpin", "--help"])
    assert done.value.code == 0
    assert "examples:\n  recsys models unpin" in capsys.readouterr().out
