"""The synthetic catalogue: songs with names that look real and break naive CSV handling.

Names mix English and non-ASCII words and invented syllables, and some carry commas,
quotes or dashes, because real track names do and a loader must survive them. Every
title is unique ignoring case, since datasets key songs by name: two songs of one name
would silently merge into one.
"""

from __future__ import annotations

import random
import string
from dataclasses import dataclass

_SYLLABLES = [
    "la",
    "ri",
    "mo",
    "sa",
    "ven",
    "to",
    "ka",
    "lu",
    "ne",
    "ra",
    "fa",
    "so",
    "mi",
    "do",
    "ze",
    "ro",
    "ba",
    "ti",
    "na",
    "ko",
    "é",
    "ö",
    "ñ",
    "ü",
    "ø",
    "å",
    "ç",
    "ß",
    "ł",
    "ő",
]
_WORDS = [
    "love",
    "night",
    "fire",
    "summer",
    "heart",
    "dream",
    "city",
    "light",
    "rain",
    "river",
    "gold",
    "blue",
    "wild",
    "run",
    "home",
    "señorita",
    "niño",
    "café",
    "über",
    "mädchen",
    "søndag",
    "été",
    "corazón",
    "fiesta",
    "día",
    "noche",
    "hold",
    "forever",
    "dance",
    "shadow",
    "echo",
    "ocean",
    "thunder",
    "velvet",
    "neon",
    "paper",
    "ghost",
]
_DECORATIONS = (
    '"{}"',
    "{}, Pt. 2",
    "{}, {}",
    "Don't {}",
    "{} (Live)",
    "{} – Remastered",
    "{} feat. {}",
)
_ARTIST_DECORATIONS = ("{}, {} & {}", "The {}s", "{} y los {}", '{} "{}"')
_NUMERALS = (
    (1000, "M"),
    (900, "CM"),
    (500, "D"),
    (400, "CD"),
    (100, "C"),
    (90, "XC"),
    (50, "L"),
    (40, "XL"),
    (10, "X"),
    (9, "IX"),
    (5, "V"),
    (4, "IV"),
    (1, "I"),
)


@dataclass(frozen=True)
class Song:
    """One catalogue entry; ``genre`` and ``album`` drive co-occurrence, not written out."""

    track_name: str
    artist_name: str
    album_name: str
    track_uri: str
    duration_ms: int
    genre: int
    album: int


def _word(rng: random.Random) -> str:
    if rng.random() < 0.6:
        return rng.choice(_WORDS).capitalize()
    syllables = "".join(rng.choice(_SYLLABLES) for _ in range(rng.randint(2, 3)))
    return syllables.capitalize()


def _phrase(rng: random.Random, words: int) -> str:
    return " ".join(_word(rng) for _ in range(words))


def _decorated(rng: random.Random, patterns: tuple[str, ...], base: str, odds: float) -> str:
    if rng.random() >= odds:
        return base
    pattern = rng.choice(patterns)
    extra = [_word(rng) for _ in range(pattern.count("{}") - 1)]
    return pattern.format(base, *extra)


class _UniqueNames:
    """Titles made unique ignoring case: "Love", then "Love II", "Love III", ...

    Each base title remembers the last numeral it was given, so a common title ("Love"
    comes up about a thousand times in a catalogue of a few hundred thousand songs) costs
    one lookup rather than one per earlier duplicate.
    """

    def __init__(self) -> None:
        self.taken: set[str] = set()
        self.next_numeral: dict[str, int] = {}

    def claim(self, name: str) -> str:
        key, candidate = name.casefold(), name
        if key in self.taken:
            n = self.next_numeral.get(key, 2)  # every numeral below it is taken already
            candidate = f"{name} {_roman(n)}"
            while candidate.casefold() in self.taken:
                n += 1
                candidate = f"{name} {_roman(n)}"
            self.next_numeral[key] = n + 1
        self.taken.add(candidate.casefold())
        return candidate


def _roman(n: int) -> str:
    out = ""
    for value, numeral in _NUMERALS:
        while n >= value:
            out, n = out + numeral, n - value
    return out


def make_catalogue(rng: random.Random, songs: int, genres: int) -> list[Song]:
    """Songs grouped in albums of 6-14 tracks by one artist, each album in one genre."""
    catalogue: list[Song] = []
    names = _UniqueNames()
    uri_chars = string.ascii_letters + string.digits
    album = 0
    while len(catalogue) < songs:
        artist = _decorated(rng, _ARTIST_DECORATIONS, _phrase(rng, rng.randint(1, 2)), 0.08)
        album_name = _phrase(rng, rng.randint(1, 3))
        genre = album % genres  # round robin: no genre is left empty
        for _ in range(min(rng.randint(6, 14), songs - len(catalogue))):
            title = _decorated(rng, _DECORATIONS, _phrase(rng, rng.randint(1, 4)), 0.12)
            catalogue.append(
                Song(
                    track_name=names.claim(title),
                    artist_name=artist,
                    album_name=album_name,
                    track_uri="spotify:track:" + "".join(rng.choices(uri_chars, k=22)),
                    duration_ms=rng.randint(90_000, 420_000),
                    genre=genre,
                    album=album,
                )
            )
        album += 1
    return catalogue
