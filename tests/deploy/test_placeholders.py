"""The dataset URL each overlay names: dev's works as it is, prod's is a placeholder an
operator must replace, and until then the trainer refuses it with a message that says so
(not a download error that hides why).

`recsys.training.urls.is_placeholder` is the trainer's own test of a URL.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from recsys.training.urls import is_placeholder
from tests.support.manifests import REPO, render_overlay

DEPLOYMENT = REPO / "docs" / "deployment.md"


def dataset_url(overlay: str) -> str:
    return render_overlay(overlay).one("ConfigMap", "recsys-dataset")["data"]["RECSYS_DATASET_URL"]


def test_the_dev_dataset_needs_no_edit() -> None:
    assert not is_placeholder(dataset_url("dev"))


def test_the_prod_dataset_is_a_placeholder_the_trainer_refuses() -> None:
    assert is_placeholder(dataset_url("prod"))


def test_the_documented_edit_clears_the_placeholder() -> None:
    """docs/deployment.md, "Before the first deployment": the sed that names your owner."""
    (owner,) = re.findall(r"sed -i 's/your-org/(\w+)/g'", DEPLOYMENT.read_text())
    assert not is_placeholder(dataset_url("prod").replace("your-org", owner))


@pytest.mark.parametrize("command", ["train", "refresh"])
def test_the_trainer_refuses_the_prod_placeholder(command: str, tmp_path: Path) -> None:
    """As the trainer Job and the refresh CronJob would run in an unedited prod: exit 1, one
    line that names the setting and the placeholder, and nothing published. Download limits
    are short so that, were the URL tried, the test would fail fast on another message."""
    environment = {key: value for key, value in os.environ.items() if not key.startswith("RECSYS_")}
    environment |= {
        "RECSYS_DATASET_URL": dataset_url("prod"),
        "RECSYS_DATA_DIR": str(tmp_path / "data"),
        "RECSYS_HTTP_TIMEOUT": "2",
        "RECSYS_DOWNLOAD_DEADLINE": "3",
        "RECSYS_REFRESH_DEADLINE": "3",
    }
    done = subprocess.run(
        [sys.executable, "-m", "recsys", command],
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1, done.stderr
    message = done.stderr.strip().splitlines()[-1]
    assert "placeholder" in message
    assert "RECSYS_DATASET_URL" in message
    assert not list(tmp_path.rglob("current.json"))
