"""Song names as both sides compare them.

Training keys its counts by this normal form and serving looks requests up by it, so the
two must share one definition: a dataset that spells a song "Mask Off " and a request
that says "mask off" meet here.
"""

from __future__ import annotations

import re
import unicodedata

_SPACES = re.compile(r"\s+")
# The longest song name the API accepts, and so the longest a dataset may hold: a longer
# one could never be asked for.
MAX_SONG_LENGTH = 500


def normalize_song_name(name: str) -> str:
    """The key two spellings of one song share: NFC, case-folded, whitespace collapsed."""
    return _SPACES.sub(" ", unicodedata.normalize("NFC", name).casefold()).strip()
