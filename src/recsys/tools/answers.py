"""What each answer of the recsys API must look like before a command reads it.

Whatever answers at the API's URL (a proxy's HTML error page, a broken or hostile server)
can answer 200 with anything. Each call names the shape it expects, so a command reads
only fields of the types it uses, and garbage becomes one line saying what was wrong
instead of a KeyError deep in the command. The server's text that such a line quotes is
cut short and escaped, as it goes to the operator's terminal.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

MiB = 2**20
SHOWN_CHARACTERS = 200


@dataclass(frozen=True)
class Kind:
    """A field's type: a check and its name for messages ("a list of strings")."""

    check: Callable[[object], bool]
    name: str


TEXT = Kind(lambda value: isinstance(value, str), "a string")
TEXTS = Kind(
    lambda value: isinstance(value, list) and all(isinstance(item, str) for item in value),
    "a list of strings",
)
COUNT = Kind(
    lambda value: isinstance(value, int) and not isinstance(value, bool) and value >= 0,
    "a whole number of at least 0",
)


def _is_reason(value: object) -> bool:
    weight = value.get("weight") if isinstance(value, dict) else None
    return (
        isinstance(value, dict)
        and TEXTS.check(value.get("liked"))
        and isinstance(weight, int | float)
        and not isinstance(weight, bool)
    )


REASONS = Kind(
    lambda value: (
        isinstance(value, list)
        and all(isinstance(song, list) and all(map(_is_reason, song)) for song in value)
    ),
    "a list of each song's reasons (`liked` songs and a `weight`)",
)


@dataclass(frozen=True)
class Shape:
    """A JSON object's fields, and the most bytes its answer may take."""

    max_bytes: int
    required: Mapping[str, Kind]
    optional: Mapping[str, Kind] = field(default_factory=dict)


# The worst real answer: 100 songs, up to the 1,000 sent songs echoed twice (unknown, or
# without rules), and with `explain` 10 reasons per song of up to 3 sent songs each; each
# name 500 characters that JSON may spell with up to 6 bytes apiece (about 15 MiB).
RECOMMENDATION = Shape(
    max_bytes=16 * MiB,
    required={"songs": TEXTS, "version": TEXT, "model_date": TEXT, "model_id": TEXT},
    optional={
        "unknown_songs": TEXTS,
        "songs_without_rules": TEXTS,
        "filled": COUNT,
        "because": REASONS,
    },
)

# The API lists at most 1,000,000 songs. Names in real playlist datasets take a few tens
# of bytes each as JSON, so this holds the whole listing of a catalogue twice that size,
# while a hostile server still cannot make the client hold more than this.
SONG_LIST = Shape(max_bytes=64 * MiB, required={"songs": TEXTS}, optional={"model_id": TEXT})


def parsed_json(body: bytes | bytearray) -> object:
    """The JSON value of `body`; ValueError if it is not JSON (nested too deep included)."""
    try:
        return json.loads(body)
    except RecursionError:
        raise ValueError("JSON nested too deep") from None


class ShapeError(Exception):
    """What keeps a value from having a shape; it completes "answered 200 with ..."."""


def matching(shape: Shape, value: object) -> dict[str, Any]:
    """`value`, a JSON object of `shape`; or ShapeError."""
    if not isinstance(value, dict):
        raise ShapeError(f"a JSON {_json_type(value)}, not an object")
    missing = [name for name in shape.required if name not in value]
    if missing:
        raise ShapeError(f"a JSON object without `{missing[0]}`")
    for name, kind in {**shape.required, **shape.optional}.items():
        if name in value and not kind.check(value[name]):
            raise ShapeError(f"a JSON object whose `{name}` is not {kind.name}")
    return value


def shown(text: str) -> str:
    """The server's `text` as a message may quote it: short, control characters escaped."""
    cut = text[:SHOWN_CHARACTERS]
    escaped = "".join(char if char.isprintable() else repr(char)[1:-1] for char in cut)
    return escaped + ("…" if len(text) > SHOWN_CHARACTERS else "")


def _json_type(value: object) -> str:
    if isinstance(value, list):
        return "array"
    if isinstance(value, str):
        return "string"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    return "null"
