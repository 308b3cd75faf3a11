"""`refresh-state.json`: what `recsys refresh` last saw, and when a refresh last ended well.

`recsys refresh` writes it (training/refresh.py); the API reads its `checked_at` to export
when the dataset was last checked, so an operator can tell a refresh that stopped running
from a dataset that did not change. It lives in `model` because both sides read it and
the API must not import the trainer.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

from recsys.model.files import UnsafeFileError, read_small_file

STATE_NAME = "refresh-state.json"
# The state is a URL, validators and a few digests; anything much larger is not one.
MAX_STATE_BYTES = 64 * 1024


def read_refresh_state(data_dir: Path) -> dict[str, Any]:
    """The state; {} if there is none or its content is damaged (not a JSON object).

    Raises UnsafeFileError if the path holds something that is not a small regular file.
    """
    raw = read_small_file(data_dir / STATE_NAME, MAX_STATE_BYTES, STATE_NAME)
    try:
        state = json.loads(raw) if raw is not None else {}
    except ValueError:
        return {}
    return state if isinstance(state, dict) else {}


def last_success(data_dir: Path) -> float | None:
    """The unix time of the last refresh that ended well, if the state says one did."""
    try:
        checked_at = read_refresh_state(data_dir).get("checked_at")
    except UnsafeFileError:
        return None
    if not isinstance(checked_at, str):
        return None
    try:
        moment = datetime.fromisoformat(checked_at)
    except ValueError:
        return None
    return moment.timestamp() if moment.tzinfo is not None else None
