"""Request and response bodies; their limits are part of the HTTP contract."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from recsys.songs import MAX_SONG_LENGTH

MAX_SONGS = 1000
MAX_K = 100
MAX_BODY_BYTES = 1024 * 1024

SongName = Annotated[str, StringConstraints(min_length=1, max_length=MAX_SONG_LENGTH)]


class RecommendRequest(BaseModel):
    """Songs the user likes; `k` overrides RECSYS_TOP_K for this answer."""

    model_config = ConfigDict(
        extra="ignore",
        json_schema_extra={
            "examples": [
                {"songs": ["Forever Ghost", "Gold"], "k": 5},
                {"songs": ["City Wild Echo", "Night"], "k": 2, "explain": True},
            ]
        },
    )

    songs: list[SongName] = Field(min_length=1, max_length=MAX_SONGS)
    k: int | None = Field(None, ge=1, le=MAX_K, strict=True)
    explain: bool = Field(
        False,
        strict=True,
        description="also say which sent songs led to each recommended song (`because`)",
    )


class Reason(BaseModel):
    """One rule behind a recommended song."""

    liked: list[str] = Field(
        description="the rule's antecedent: sent songs, spelled as sent (one song, or more "
        "for a model with longer rules)"
    )
    weight: float = Field(
        description="what the rule added to the song's score (6 significant digits)"
    )


# The answers to the request examples above from the bundled sample's default model (what
# `make run` serves); tests/deploy/test_readme.py checks both against that model.
_ANSWER_EXAMPLE: dict[str, Any] = {
    "songs": [
        "Shadow Señorita Mona",
        "Run",
        "Nefa Dream Tozeß Señorita",
        "Echo Dance River Zeñ",
        "Énaö",
    ],
    "version": "0.1.0",
    "model_date": "2026-12-03T10:17:19.754488+00:00",
    "model_id": "20261203T101719754433Z-d4885f87",
    "unknown_songs": [],
    "songs_without_rules": [],
    "filled": 0,
}
_EXPLAINED_EXAMPLE = {
    **_ANSWER_EXAMPLE,
    "songs": ["Forever Ghost", "Wild Lane"],
    "because": [
        [
            {"liked": ["City Wild Echo"], "weight": 0.787879},
            {"liked": ["Night"], "weight": 0.368421},
        ],
        [{"liked": ["Night"], "weight": 0.763158}],
    ],
}


class RecommendResponse(BaseModel):
    """Recommended songs in the dataset's spelling, and which model made them."""

    model_config = ConfigDict(json_schema_extra={"examples": [_ANSWER_EXAMPLE, _EXPLAINED_EXAMPLE]})

    songs: list[str]
    version: str = Field(description="recsys version of the server")
    model_date: str = Field(description="when the served model was trained (UTC, ISO 8601)")
    model_id: str
    unknown_songs: list[str] = Field(description="sent songs the model does not know")
    songs_without_rules: list[str] = Field(
        description="sent songs the model knows but has no rules for (too rare to share "
        "enough playlists with another song); they add nothing to the answer"
    )
    filled: int = Field(description="songs added from the most popular, as rules ran short")
    because: list[list[Reason]] | None = Field(
        None,
        description="only with `explain`: for each of `songs`, in order, the rules that "
        "scored it, heaviest first (the 10 heaviest at most); an empty list for a song "
        "from the popularity fill",
    )


class ErrorResponse(BaseModel):
    """Every error answer: a readable reason, and for 422 the individual problems."""

    detail: str
    errors: list[dict[str, Any]] | None = None


class ModelInfo(BaseModel):
    """The served model's metadata, as its file's header describes it."""

    model_config = ConfigDict(extra="allow")

    model_id: str
    model_date: str
    sha256: str
    loaded_at: str
    songs: int
    rules: int
