"""`recsys probe` and `recsys recommend` against a real `recsys serve`."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import httpx

from recsys.model.pointer import read_pointer
from recsys.model.rules import RuleSet
from tests.support.models import publish_rules
from tests.support.paths import SAMPLE_SONGS
from tests.support.processes import recsys_env, run_recsys
from tests.support.server import ServerProcess


def start_probe(data_dir: Path, url: str, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "recsys", "probe", "--url", url, "--json", *args],
        env=recsys_env(data_dir),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish(probe: subprocess.Popen[str]) -> tuple[dict, str]:
    stdout, stderr = probe.communicate(timeout=60)
    assert probe.returncode == 0, stderr
    return json.loads(stdout.strip().splitlines()[-1]), stderr


def test_probe_reports_a_new_model(
    data_dir: Path,
    tmp_path: Path,
    ds1_rules: RuleSet,
    ds2_rules: RuleSet,
    start_server: Callable[..., ServerProcess],
) -> None:
    publish_rules(data_dir, ds1_rules)
    server = start_server(data_dir)
    out, picture = tmp_path / "probe.csv", tmp_path / "probe.png"
    probe = start_probe(
        data_dir,
        server.url,
        "--interval",
        "0.05",
        "--duration",
        "4",
        "--out",
        str(out),
        "--plot",
        str(picture),
    )
    time.sleep(1.5)
    _, new_date = publish_rules(data_dir, ds2_rules)
    summary, log = finish(probe)
    assert summary["failures"] == 0
    assert summary["longest_outage_seconds"] == 0
    assert [change["model_date"] for change in summary["changes"]] == [new_date]
    assert summary["changes"][0]["at_seconds"] > 0
    assert summary["requests"] >= 60
    assert "CHANGED to version" in log
    with out.open() as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == summary["requests"]
    assert {row["model_date"] for row in rows} == {new_date, rows[0]["model_date"]}
    assert picture.read_bytes().startswith(b"\x89PNG")


def test_probe_measures_an_outage(
    data_dir: Path, ds1_rules: RuleSet, start_server: Callable[..., ServerProcess]
) -> None:
    publish_rules(data_dir, ds1_rules)
    server = start_server(data_dir)
    interval = 0.1
    probe = start_probe(data_dir, server.url, "--interval", str(interval), "--duration", "7")
    time.sleep(1.5)
    server.kill()
    killed = time.monotonic()
    time.sleep(2.0)
    server.start()  # returns within 10 ms of the first answer, model loaded at startup
    back = time.monotonic()
    assert httpx.get(f"{server.url}/readyz").status_code == 200
    real = back - killed
    summary, log = finish(probe)
    assert summary["failures"] > 0
    assert len(summary["outages"]) == 1
    measured = summary["longest_outage_seconds"]
    print(f"real outage {real:.2f} s, measured {measured:.2f} s")
    assert abs(measured - real) <= 2 * interval, (measured, real)
    assert "outage starts" in log
    assert "outage ends" in log


def test_probe_until_change(
    data_dir: Path,
    ds1_rules: RuleSet,
    ds2_rules: RuleSet,
    start_server: Callable[..., ServerProcess],
) -> None:
    publish_rules(data_dir, ds1_rules)
    server = start_server(data_dir)
    probe = start_probe(data_dir, server.url, "--until-change", "--duration", "30")
    time.sleep(1.0)
    publish_rules(data_dir, ds2_rules)
    summary, log = finish(probe)
    assert len(summary["changes"]) == 1
    assert "changed after" in log
    assert summary["changes"][0]["at_seconds"] < 10


def test_recommend_end_to_end(
    data_dir: Path, ds1_rules: RuleSet, start_server: Callable[..., ServerProcess]
) -> None:
    publish_rules(data_dir, ds1_rules)
    server = start_server(data_dir)
    liked = ds1_rules.vocabulary[0]
    table = run_recsys("recommend", liked, "--url", server.url, "--k", "3", data_dir=data_dir)
    assert table.returncode == 0, table.stderr
    lines = table.stdout.splitlines()
    assert lines[0] == f"you like: {liked}"
    assert read_pointer(data_dir).model_id in lines[1]
    assert [line[:4] for line in lines[2:5]] == ["  1.", "  2.", "  3."]

    raw = run_recsys("recommend", liked, "--json", data_dir=data_dir, RECSYS_API_URL=server.url)
    answer = json.loads(raw.stdout)
    assert set(answer) >= {"songs", "version", "model_date"}

    from_file = run_recsys(
        "recommend",
        "--random",
        "3",
        "--songs-file",
        str(SAMPLE_SONGS),
        "--url",
        server.url,
        data_dir=data_dir,
    )
    assert from_file.returncode == 0, from_file.stderr
    with SAMPLE_SONGS.open(newline="", encoding="utf-8") as handle:
        catalogue = {row["track_name"] for row in csv.DictReader(handle)}
    picked = from_file.stdout.splitlines()[0].removeprefix("you like: ").split("; ")
    assert len(picked) == 3
    assert set(picked) <= catalogue

    from_model = run_recsys("recommend", "--random", "2", "--url", server.url, data_dir=data_dir)
    assert from_model.returncode == 0, from_model.stderr
    chosen = from_model.stdout.splitlines()[0].removeprefix("you like: ").split("; ")
    assert len(chosen) == 2
    assert set(chosen) <= set(ds1_rules.vocabulary)


def test_recommend_explain_prints_each_songs_reasons(
    data_dir: Path, ds1_rules: RuleSet, start_server: Callable[..., ServerProcess]
) -> None:
    publish_rules(data_dir, ds1_rules)
    server = start_server(data_dir)
    liked = ds1_rules.vocabulary[:2]
    args = ["recommend", *liked, "--url", server.url, "--k", "4", "--explain"]
    table = run_recsys(*args, data_dir=data_dir)
    assert table.returncode == 0, table.stderr
    answer = json.loads(run_recsys(*args, "--json", data_dir=data_dir).stdout)
    lines = table.stdout.splitlines()
    expected = []
    for rank, (song, reasons) in enumerate(zip(answer["songs"], answer["because"], strict=True)):
        expected.append(f"{rank + 1:3}. {song}")
        if reasons:
            shown = "; ".join(f"{r['liked'][0]} ({r['weight']:.3g})" for r in reasons)
            expected.append(f"     because you liked {shown}")
    assert lines[2 : 2 + len(expected)] == expected
    assert sum(bool(reasons) for reasons in answer["because"]) >= 1
    assert "because" not in json.loads(run_recsys(*args[:-1], "--json", data_dir=data_dir).stdout)


def test_recommend_when_the_server_is_down(data_dir: Path) -> None:
    done = run_recsys("recommend", "x", "--url", "http://127.0.0.1:9", data_dir=data_dir)
    assert done.returncode == 1
    assert done.stderr.strip() == (
        "recsys: error: cannot reach the recsys API at http://127.0.0.1:9 "
        "(is `recsys serve` running?)"
    )
    assert done.stdout == ""


def test_recommend_prints_control_characters_escaped(
    data_dir: Path, ds1_rules: RuleSet, start_server: Callable[..., ServerProcess]
) -> None:
    hostile = ["\x1b]0;owned\x07Title", "\x1b[2JClear", *ds1_rules.vocabulary[2:]]
    publish_rules(data_dir, replace(ds1_rules, vocabulary=hostile))
    server = start_server(data_dir)
    table = run_recsys("recommend", hostile[1], "--url", server.url, "--k", "3", data_dir=data_dir)
    assert table.returncode == 0, table.stderr
    assert "\x1b" not in table.stdout
    assert "\\x1b[2JClear" in table.stdout.splitlines()[0]
    raw = run_recsys("recommend", hostile[1], "--url", server.url, "--json", data_dir=data_dir)
    assert json.loads(raw.stdout)["songs"][0] == hostile[0]  # JSON keeps the names as they are
