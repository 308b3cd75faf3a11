"""Every knob of recsys in one place.

The environment (``RECSYS_*``) configures containers; the CLI flag of the same name
overrides it for one run. Keeping both behind one pydantic-settings class means the
manifests, the CLI and the docs can never disagree about a name or a default.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Any, Final, Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# A share of playlists means different things on datasets of different sizes and shapes,
# so by default ("auto") no share is asked of a rule: a pair of songs in RECSYS_MIN_PAIR_COUNT
# playlists makes one, and each song keeps its RECSYS_RULES_PER_SONG heaviest (see
# docs/training.md, "Mining parameters"). The popularity damping is chosen per dataset on
# held-out playlists unless set. Rules of three songs added too little for their cost
# (bench/RESULTS.md, "Quality").
AUTO: Final = "auto"
DEFAULT_MIN_CONFIDENCE = 0.0
DEFAULT_MAX_RULE_LENGTH = 2
# Far above any model this format holds for a real catalogue; a cap, not a target.
DEFAULT_MAX_MODEL_BYTES = 1 << 30


class WatchMode(StrEnum):
    """How the API notices a new pointer."""

    EVENTS = "events"
    POLL = "poll"
    AUTO = "auto"


class Settings(BaseSettings):
    """Configuration shared by every `recsys` command."""

    model_config = SettingsConfigDict(env_prefix="RECSYS_", extra="ignore")

    data_dir: Path = Field(Path("./var/data"), description="Shared model directory (the PVC).")
    dataset_url: str | None = Field(
        None, description="http(s)://, file:// URL or a path of the playlist CSV."
    )
    min_support: float | Literal["auto"] = Field(
        AUTO,
        description='In (0, 1]: the share of playlists a rule\'s songs must share; "auto": '
        "no share, only RECSYS_MIN_PAIR_COUNT playlists.",
    )
    min_pair_count: int | Literal["auto"] = Field(
        AUTO,
        description='Playlists a rule\'s songs must share (at least 1); "auto": 1 or 2, '
        "chosen on held-out playlists.",
    )
    min_confidence: float = Field(
        DEFAULT_MIN_CONFIDENCE, ge=0, le=1, description="P(consequent | antecedent) at least."
    )
    popularity_damping: float | Literal["auto"] = Field(
        AUTO,
        description="In [0, 1]: how much a popular song's rules are weighed down (0: by "
        'confidence, 0.5: by cosine); "auto": chosen on held-out playlists.',
    )
    rules_per_song: int = Field(
        20, ge=1, description="Rules each song (antecedent) keeps: its heaviest."
    )
    max_rule_length: int = Field(
        DEFAULT_MAX_RULE_LENGTH,
        ge=2,
        le=4,
        description="Most songs in one rule (antecedent + consequent).",
    )
    top_k: int = Field(
        10, ge=1, le=100, description="Songs per answer when a request gives no `k` (1-100)."
    )
    watch: WatchMode = Field(
        WatchMode.AUTO,
        description='How `serve` notices a new current.json: "events" (inotify), "poll" (for '
        'NFS-like volumes), or "auto" (events, polling where there are none).',
    )
    poll_interval: float = Field(
        2.0,
        gt=0,
        le=3600,
        description="Seconds between polls, and between the re-checks `serve` makes in every "
        "watch mode; rounded up, the 503's Retry-After.",
    )
    keep_models: int = Field(
        5,
        ge=1,
        description="Models each publish keeps: the newest this many, and the current one's "
        "rollback target (so up to this + 2 files while a publish writes).",
    )
    host: str = Field("127.0.0.1", description="Address the API (`serve`) listens on.")
    port: int = Field(
        8000,
        ge=0,
        le=65535,
        description="Port of the API (`serve`); metrics have RECSYS_METRICS_PORT.",
    )
    max_dataset_bytes: int = Field(
        512 * 1024 * 1024, gt=0, description="Downloads larger than this are refused."
    )
    http_timeout: float = Field(30.0, gt=0, description="Connect/read timeout for downloads.")
    refresh_deadline: float = Field(
        300.0, gt=0, description="Seconds `refresh` keeps retrying a failing download."
    )
    api_url: str = Field(
        "http://127.0.0.1:8000", description="The API that `recommend` and `probe` talk to."
    )
    # Serving limits: what one client, or one file on the shared volume, can cost a pod.
    max_model_bytes: int = Field(
        DEFAULT_MAX_MODEL_BYTES, gt=0, description="Model files larger than this are refused."
    )
    metrics_port: int = Field(
        9100,
        ge=0,
        le=65535,
        description="Port of the /metrics and liveness /healthz listener (not the API's port).",
    )
    client_timeout: float = Field(
        10.0,
        gt=0,
        description="Seconds a connection may idle, or take over a request's headers, its "
        "body, or reading a write of its answer.",
    )
    access_log: bool = Field(
        False, description="Log a line per request; off: the metrics count every request."
    )
    max_connections: int = Field(
        1000, ge=1, description="Open connections per API process; more are closed at once."
    )
    # Publishing guard: a model with no rules, or from under half the live model's playlists,
    # is refused unless this is set (for one run: `train --allow-shrink`).
    allow_shrink: bool = Field(
        False, description="Publish a model without rules, or from far fewer playlists."
    )
    # Download guards: a dataset server may be slow, or may point elsewhere.
    download_deadline: float = Field(
        600.0, gt=0, description="Seconds one whole dataset download may take, redirects included."
    )
    dataset_redirect_hosts: str = Field(
        "",
        description="Comma-separated hosts (`host` or `host:port`) a dataset download may be "
        "redirected to besides the dataset URL's own scheme, host and port.",
    )

    # The model's size: past this, every song keeps fewer rules (docs/training.md).
    max_rules: int = Field(
        10_000_000, ge=1, description="Most rules in one model; songs keep fewer past it."
    )
    # Where pairs are counted (docs/spark.md): the same rules either way.
    engine: Literal["local", "spark"] = Field(
        "local",
        description="Where training counts pairs of songs: in this process, or on Spark "
        "(RECSYS_SPARK_MASTER). The same model either way.",
    )
    spark_master: str = Field(
        "local[*]",
        description="Spark master of the Spark engine: local[N], spark://, k8s:// or a Spark "
        "Connect URL sc://host:port.",
    )

    @field_validator("min_support")
    @classmethod
    def _a_share_of_playlists(cls, value: float | str) -> float | str:
        if value != AUTO and not 0 < float(value) <= 1:
            raise ValueError('must be in (0, 1] or "auto"')
        return value

    @field_validator("min_pair_count")
    @classmethod
    def _a_count(cls, value: int | str) -> int | str:
        if value != AUTO and int(value) < 1:
            raise ValueError('must be at least 1, or "auto"')
        return value

    @field_validator("popularity_damping")
    @classmethod
    def _an_exponent(cls, value: float | str) -> float | str:
        if value != AUTO and not 0 <= float(value) <= 1:
            raise ValueError('must be in [0, 1] or "auto"')
        return value

    @field_validator("dataset_url")
    @classmethod
    def _empty_url_is_none(cls, value: str | None) -> str | None:
        """An empty env var (common in manifests) means "not set", not "the path ''"."""
        return value or None


def load_settings(**overrides: Any) -> Settings:
    """Settings from the environment, with CLI values (those not None) taking precedence."""
    return Settings(**{key: value for key, value in overrides.items() if value is not None})
