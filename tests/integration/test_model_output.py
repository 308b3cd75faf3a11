"""What `train` and `models` show an operator: no dataset secrets, no terminal escapes."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from recsys.model.build import DatasetInfo, build_model
from recsys.model.pointer import load_current
from recsys.model.repository import MODELS_DIR, publish
from recsys.model.rules import RuleSet
from tests.support.http_server import DatasetServer
from tests.support.models import PARAMS
from tests.support.paths import SAMPLE_DS1
from tests.support.processes import run_recsys

SECRETS = ("s3cret-password", "s3cret-signature")
ESCAPES = ("\x1b", "\x07", "\x9b")


def test_the_model_header_and_the_output_hold_no_url_secrets(
    data_dir: Path, dataset_server: DatasetServer
) -> None:
    dataset_server.publish(SAMPLE_DS1.read_bytes())
    host = dataset_server.url.split("://", 1)[1]
    url = f"http://reader:{SECRETS[0]}@{host}?X-Amz-Signature={SECRETS[1]}"
    done = run_recsys("train", "--dataset-url", url, data_dir=data_dir)
    assert done.returncode == 0, done.stderr
    _, model = load_current(data_dir)
    assert model.header["dataset"]["url"] == f"http://***@{host}?X-Amz-Signature=***"
    shown = run_recsys("models", "show", data_dir=data_dir)
    for secret in SECRETS:
        assert secret not in done.stdout + done.stderr + shown.stdout
        assert secret not in (data_dir / MODELS_DIR / f"{model.model_id}.rsm").read_bytes().decode(
            errors="replace"
        )


def test_models_show_and_list_escape_control_characters(data_dir: Path, ds1_rules: RuleSet) -> None:
    """A model from an older trainer, or a hand-made one, may hold any song name."""
    hostile = [f"\x1b]0;owned\x07{name}\x1b[2J\x9b31m" for name in ds1_rules.vocabulary]
    rules = dataclasses.replace(ds1_rules, vocabulary=hostile)
    dataset = DatasetInfo(url="file:///x/\x1b[31mred.csv", sha256="0" * 64, bytes=1)
    built = build_model(rules, PARAMS, dataset)
    publish(data_dir, built, keep=5)
    (data_dir / MODELS_DIR / "\x1b[2Jjunk.rsm").write_bytes(b"junk")

    shown = run_recsys("models", "show", "--rules", "5", data_dir=data_dir)
    assert shown.returncode == 0, shown.stderr
    listing = run_recsys("models", "list", data_dir=data_dir)
    assert listing.returncode == 0, listing.stderr
    for output in (shown.stdout, listing.stdout):
        assert not any(char in output for char in ESCAPES), output
    assert "\\x1b]0;owned\\x07" in shown.stdout
    assert "\\u001b[31mred.csv" in shown.stdout  # dicts are shown as JSON
    assert "\\x1b[2Jjunk.rsm" in listing.stdout

    as_json = run_recsys("models", "show", "--rules", "5", "--json", data_dir=data_dir)
    lines = [json.loads(line) for line in as_json.stdout.splitlines()]
    assert lines[0]["dataset"]["url"] == dataset.url
    names = {name for rule in lines[1:] for name in rule["antecedent"] + rule["consequent"]}
    assert names
    assert names <= set(hostile)
