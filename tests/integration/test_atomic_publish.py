"""Publishing under stress: SIGKILL mid-publish, and two trainers racing for one dataset.

Readers only ever see a whole model, and the publish lock, not luck, decides which of two
concurrent trainers publishes.
"""

from __future__ import annotations

import fcntl
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

from recsys.model.pointer import load_current, read_pointer
from recsys.model.repository import LOCK_NAME, MODELS_DIR, POINTER_NAME, TEMP_MARK
from tests.support.paths import SAMPLE_DS1, SAMPLE_DS2
from tests.support.processes import recsys_env, run_recsys

KILLS = 24


def wait_for_publish_start(
    process: subprocess.Popen, models: Path, leftovers: set[str], deadline: float
) -> bool:
    """Poll until a new temp artifact appears (the trainer is publishing) or it exits."""
    while time.monotonic() < deadline and process.poll() is None:
        if any(TEMP_MARK in name and name not in leftovers for name in os.listdir(models)):
            return True
        time.sleep(0.0005)
    return False


def test_sigkill_during_publish_never_exposes_a_partial_model(data_dir: Path) -> None:
    first = run_recsys("train", "--dataset-url", str(SAMPLE_DS1), data_dir=data_dir)
    assert first.returncode == 0, first.stderr
    models = data_dir / MODELS_DIR
    rng = random.Random(1234)
    outcomes = {"old": 0, "new": 0}
    killed_while_publishing = 0
    for _ in range(KILLS):
        before = read_pointer(data_dir)
        leftovers = set(os.listdir(models))
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "recsys",
                "train",
                "--dataset-url",
                str(SAMPLE_DS1),
                "--force",
                "--keep-models",
                "100",
                # set, not chosen: the kills are about publishing, and tuning would make
                # each of them seconds longer
                "--min-pair-count",
                "2",
                "--popularity-damping",
                "0",
            ],
            env=recsys_env(data_dir),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        publishing = wait_for_publish_start(process, models, leftovers, time.monotonic() + 60)
        time.sleep(rng.uniform(0, 0.01))
        killed_while_publishing += publishing and process.poll() is None
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)

        pointer, model = load_current(data_dir)  # verifies the sha256 of the named file
        assert model.model_id == pointer.model_id
        outcomes["old" if pointer == before else "new"] += 1
        visible = [name for name in os.listdir(models) if not name.startswith(".")]
        assert all(name.endswith(".rsm") for name in visible)
        assert not (data_dir / POINTER_NAME).is_symlink()

    assert killed_while_publishing >= KILLS // 2, (killed_while_publishing, outcomes)
    assert outcomes["old"] >= 1, outcomes
    print(f"{KILLS} kills, {killed_while_publishing} mid-publish, pointer after kill: {outcomes}")

    # The next complete run removes whatever temp files the killed runs left behind.
    done = run_recsys("train", "--dataset-url", str(SAMPLE_DS1), "--force", data_dir=data_dir)
    assert done.returncode == 0, done.stderr
    leftovers = [
        path.name
        for folder in (data_dir, models)
        for path in folder.iterdir()
        if TEMP_MARK in path.name
    ]
    assert leftovers == []


def start_train(data_dir: Path, dataset: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "recsys", "train", "--dataset-url", str(dataset), "--json"],
        env=recsys_env(data_dir),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for_line(process: subprocess.Popen[str], start: str, deadline: float) -> None:
    """Read the child's stderr until a line starts with `start` (it is past that stage)."""
    assert process.stderr is not None
    seen = []
    while time.monotonic() < deadline:
        line = process.stderr.readline()
        if not line:
            break
        seen.append(line)
        if line.startswith(start):
            return
    raise AssertionError(f"no {start!r} line from the trainer: {seen}")


def test_concurrent_trains_of_one_dataset_publish_once(data_dir: Path) -> None:
    """Both trainers find no model of their dataset and mine; the publish lock decides.

    The test holds the publish lock itself until both have mined, so the race that two
    trainers lose only sometimes happens every time: first on an empty data directory,
    then over a model of another dataset.
    """
    for dataset in (SAMPLE_DS1, SAMPLE_DS2):
        before = read_pointer(data_dir)
        with (data_dir / LOCK_NAME).open("a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            trainers = [start_train(data_dir, dataset) for _ in range(2)]
            for trainer in trainers:
                wait_for_line(trainer, "mine", time.monotonic() + 60)
            fcntl.flock(lock, fcntl.LOCK_UN)
        outcomes = []
        for trainer in trainers:
            out, err = trainer.communicate(timeout=60)
            assert trainer.returncode == 0, err
            outcomes.append(json.loads(out))
        assert sorted(outcome["status"] for outcome in outcomes) == ["published", "unchanged"]
        assert outcomes[0]["model_id"] == outcomes[1]["model_id"] == read_pointer(data_dir).model_id
        assert read_pointer(data_dir) != before
        models = {path.stem for path in (data_dir / MODELS_DIR).glob("*.rsm")}
        assert models == {read_pointer(data_dir).model_id} | (
            {before.model_id} if before else set()
        )
