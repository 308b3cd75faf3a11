"""The end-to-end story: `recsys demo --fast` with every part as a real process."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import psutil


def test_demo_swaps_and_rolls_back_without_a_failed_request(tmp_path: Path) -> None:
    out = tmp_path / "demo-output"
    done = subprocess.run(
        [sys.executable, "-m", "recsys", "demo", "--fast", "--json", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    print(done.stderr)
    assert summary["probe_changes"] == 2, "the probe saw the new model and the rollback"
    assert summary["failed_requests"] == 0
    assert summary["longest_outage_seconds"] == 0
    assert summary["requests"] > 50
    budget = summary["refresh_interval_seconds"] + summary["train_seconds"] + 2
    assert summary["new_model_seconds"] < budget, summary
    assert summary["rollback_seconds"] > 0
    assert summary["output_dir"] == str(out)
    assert (out / "probe.csv").stat().st_size > 0
    assert (out / "probe.png").read_bytes().startswith(b"\x89PNG")

    assert survivors(out) == [], "a child process outlived the demo"


def survivors(out: Path) -> list[dict]:
    """Processes still running whose command line names the demo's output folder."""
    return [
        process.info
        for process in psutil.process_iter(["pid", "cmdline"])
        if any(str(out) in part for part in process.info["cmdline"] or [])
    ]


def test_ctrl_c_stops_every_child(tmp_path: Path) -> None:
    out = tmp_path / "interrupted"
    demo = subprocess.Popen(
        [sys.executable, "-m", "recsys", "demo", "--fast", "--out", str(out)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert demo.stderr is not None
    for line in demo.stderr:  # bounded: the demo ends, closing its stderr
        if line.startswith("[probe]"):
            break
    assert len(survivors(out)) >= 3  # serve, probe and the demo itself at least
    demo.send_signal(signal.SIGINT)
    demo.communicate(timeout=120)
    assert demo.returncode != 0
    assert survivors(out) == []
