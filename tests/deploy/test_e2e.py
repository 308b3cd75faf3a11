"""The end-to-end test for a real cluster (deploy/e2e/run.sh, `make e2e`, the e2e workflow)
cannot run here: no cluster can. What can is tested: shellcheck, the script's arguments
(every bad one refused before anything runs), its plan (`--dry-run`: what it would apply,
in which order, without calling kubectl), the report it ends with (deploy/e2e/report.py,
fed the log lines and summary `recsys probe` itself writes), and that `make e2e` and the
workflow run it with the images the dev overlay needs.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from recsys.tools.probe import Sample, Timeline
from tests.support.manifests import (
    REPO,
    WORKFLOWS,
    containers,
    load_yaml_documents,
    render_overlay,
)

E2E = REPO / "deploy" / "e2e"
SCRIPT = E2E / "run.sh"
REPORT = E2E / "report.py"
WORKFLOW = WORKFLOWS / "e2e.yml"
GIT_URL = "https://github.com/someone/recsys.git"


def tool(name: str) -> str:
    return str(Path(sys.executable).with_name(name))


def run_script(
    *args: str, env: dict[str, str] | None = None, cwd: Path = REPO
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(SCRIPT), *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=cwd,
        env={**os.environ, **(env or {})},
    )


@pytest.fixture
def kubeconfig(tmp_path: Path) -> Path:
    path = tmp_path / "kubeconfig"
    path.write_text("apiVersion: v1\nkind: Config\n")
    return path


@pytest.fixture
def fake_kubectl(tmp_path: Path) -> tuple[dict[str, str], Path]:
    """A PATH whose kubectl records its arguments and fails: a dry run must never call it."""
    folder = tmp_path / "bin"
    folder.mkdir()
    calls = tmp_path / "kubectl-calls"
    kubectl = folder / "kubectl"
    kubectl.write_text(f'#!/bin/sh\necho "$@" >> {calls}\nexit 1\n')
    kubectl.chmod(0o755)
    return {"PATH": f"{folder}{os.pathsep}{os.environ['PATH']}"}, calls


def test_the_script_is_shellcheck_clean() -> None:
    done = subprocess.run(
        [tool("shellcheck"), "--severity=style", str(SCRIPT)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout


def test_help_lists_every_option_it_parses() -> None:
    text = SCRIPT.read_text()
    parsed = set(re.findall(r"^\s+(--[a-z-]+)\)", text, re.M))
    assert re.search(r"^\s+-h \| --help\)", text, re.M)
    done = run_script("--help")
    assert done.returncode == 0
    listed = set(re.findall(r"^  (--[a-z-]+)", done.stdout, re.M))
    assert listed == parsed
    assert "-h, --help" in done.stdout
    assert {"--repo", "--kubeconfig", "--revision", "--dry-run"} <= listed


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((), "--repo is required"),
        (("--repo",), "--repo needs a value"),
        (("--repo", "--dry-run"), "--repo needs a value"),
        (("--repo", "not a url"), "not a git URL"),
        (("--repo", GIT_URL, "--frobnicate"), "unknown argument: --frobnicate"),
        (("--repo", GIT_URL, "--replicas", "1"), "--replicas"),
        (("--repo", GIT_URL, "--replicas", "two"), "--replicas"),
        (("--repo", GIT_URL, "--window", "30"), "--window"),
        (("--repo", GIT_URL, "--window", "1m"), "--window"),
        (("--repo", GIT_URL, "--argocd-version", "latest"), "--argocd-version"),
        (("--repo", GIT_URL, "--revision", "main; rm -rf /"), "--revision"),
        (("--repo", GIT_URL, "--next-image", "a b"), "--next-image"),
    ],
)
def test_bad_arguments_are_refused_before_anything_runs(
    args: tuple[str, ...], message: str, kubeconfig: Path, fake_kubectl: tuple[dict, Path]
) -> None:
    env, calls = fake_kubectl
    done = run_script(*args, env={**env, "KUBECONFIG": str(kubeconfig)})
    assert done.returncode == 2, done.stderr
    assert message in done.stderr
    assert not calls.exists()


def test_a_kubeconfig_is_required(tmp_path: Path, fake_kubectl: tuple[dict, Path]) -> None:
    env, calls = fake_kubectl
    done = run_script("--repo", GIT_URL, env={**env, "KUBECONFIG": ""})
    assert done.returncode == 2
    assert "no kubeconfig" in done.stderr
    done = run_script("--repo", GIT_URL, "--kubeconfig", str(tmp_path / "missing"), env=env)
    assert done.returncode == 2
    assert "no such file" in done.stderr
    assert not calls.exists()


def dry_run(kubeconfig: Path, tmp_path: Path, env: dict[str, str], *extra: str) -> str:
    done = run_script(
        "--kubeconfig",
        str(kubeconfig),
        "--repo",
        GIT_URL,
        "--revision",
        "0123abcd",
        "--out",
        str(tmp_path / "out"),
        "--dry-run",
        *extra,
        env=env,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def applied(plan: str) -> dict[str, list[dict[str, Any]]]:
    """What a dry run would apply, by the name it prints beside `kubectl apply -f -`."""
    found: dict[str, list[dict[str, Any]]] = {}
    for name, body in re.findall(
        r"^\+ kubectl apply --server-side -f - # ([^\n]+)\n(.*?)^---$", plan, re.M | re.S
    ):
        found[name] = load_yaml_documents(body)
    return found


def test_a_dry_run_calls_no_kubectl_and_shows_the_plan(
    kubeconfig: Path, tmp_path: Path, fake_kubectl: tuple[dict, Path]
) -> None:
    env, calls = fake_kubectl
    plan = dry_run(kubeconfig, tmp_path, env)
    assert not calls.exists(), "a dry run called kubectl"
    commands = [line for line in plan.splitlines() if line.startswith("+ ")]
    (install,) = [line for line in commands if "install.yaml" in line]
    assert install.split()[1:5] == ["kubectl", "apply", "--server-side", "--force-conflicts"]
    assert "argoproj/argo-cd/stable/manifests/install.yaml" in install
    # In order: ArgoCD, the project, the Application, then the three changes, then the report.
    order = [
        install,
        "+ kubectl apply --server-side -f - # deploy/argocd/project.yaml",
        "+ kubectl apply --server-side -f - # deploy/argocd/recsys-dev.yaml",
        '"images":["recsys-api=recsys-api:e2e-next"]',
        '"replicas":[{"name":"recsys-api","count":3}]',
        "RECSYS_DATASET_URL",
        "create job e2e-refresh --from=cronjob/recsys-refresh",
        "+ python3 deploy/e2e/report.py",
    ]
    where = [next(i for i, line in enumerate(commands) if step in line) for step in order]
    assert where == sorted(where)


def test_the_application_it_applies_is_the_dev_one_at_the_revision(
    kubeconfig: Path, tmp_path: Path, fake_kubectl: tuple[dict, Path]
) -> None:
    env, _ = fake_kubectl
    objects = applied(dry_run(kubeconfig, tmp_path, env, "--argocd-version", "v3.2.1"))
    (project,) = objects["deploy/argocd/project.yaml"]
    (app,) = objects["deploy/argocd/recsys-dev.yaml"]
    assert project["spec"]["sourceRepos"] == [GIT_URL]
    source = app["spec"]["source"]
    assert source == {
        "repoURL": GIT_URL,
        "targetRevision": "0123abcd",
        "path": "deploy/kustomize/overlays/dev",
    }
    # Everything else as committed.
    committed = yaml.safe_load((REPO / "deploy" / "argocd" / "recsys-dev.yaml").read_text())
    committed["spec"]["source"] = source
    assert app == committed


def test_the_probe_runs_in_the_cluster_against_the_service(
    kubeconfig: Path, tmp_path: Path, fake_kubectl: tuple[dict, Path]
) -> None:
    """Through the Service, as the cluster balances it (a port-forward would stick to one
    pod and break when the rolling update removes it); as long as the window."""
    env, _ = fake_kubectl
    objects = applied(dry_run(kubeconfig, tmp_path, env, "--window", "240"))
    probes = [obj for name, found in objects.items() if name.startswith("probe ") for obj in found]
    assert len(probes) == 3
    dev = render_overlay("dev")
    service = dev.one("Service", "recsys-api")
    for pod in probes:
        (container,) = pod["spec"]["containers"]
        assert container["args"] == [
            "probe",
            "--url",
            f"http://{service['metadata']['name']}.{service['metadata']['namespace']}.svc",
            "--duration",
            "240",
            "--json",
        ]
        assert (
            container["image"]
            == dev.one("Deployment", "recsys-api")["spec"]["template"]["spec"]["containers"][0][
                "image"
            ]
        )
        assert pod["metadata"]["namespace"] == service["metadata"]["namespace"]


def test_the_code_update_image_is_not_the_dev_one() -> None:
    (default,) = re.findall(r"^next_image=(\S+)$", SCRIPT.read_text(), re.M)
    dev_images = {c["image"] for w in render_overlay("dev").workloads() for c in containers(w)}
    assert default not in dev_images


# --- the report ----------------------------------------------------------------------------


def probe_log(samples: list[tuple[float, str, str, int]]) -> str:
    """The log of `recsys probe --json` (stderr, then stdout) for these samples, made by the
    probe's own Timeline, so that a change in what the probe writes fails here."""
    lines = ["probing http://recsys-api.recsys-dev.svc every 0.1 s (Ctrl-C to stop)"]
    timeline = Timeline(lines.append)
    for at, version, model, status in samples:
        timeline.add(Sample(at, status, 0.002, version if status == 200 else None, model))
    summary = timeline.close(samples[-1][0] + 0.1)
    lines.append(f"requests: {summary.requests}, failures: {summary.failures}")
    lines.append(json.dumps(summary.to_json()))
    return "\n".join(lines) + "\n"


def steady(start: float, end: float, version: str, model: str) -> list[tuple]:
    count = round((end - start) * 10)
    return [(start + i / 10, version, model, 200) for i in range(count)]


A, B = "2026-01-01T00:00:00+00:00", "2026-01-01T00:05:00+00:00"


def write_case(out: Path, case: str, samples: list[tuple], changed: float, done: float) -> None:
    (out / f"{case}.log").write_text(probe_log(samples))
    meta = {
        "case": case,
        "change_offset_seconds": changed,
        "done_offset_seconds": done,
        "window_seconds": 60,
    }
    (out / f"{case}.meta.json").write_text(json.dumps(meta))


def good_run(out: Path) -> None:
    # A rolling update: the new version appears, both answer for a while, then only the new.
    code = steady(0, 20, "0.1.0", A) + steady(20, 21, "0.1.0+e2e", A)
    code += steady(21, 22, "0.1.0", A) + steady(22, 50, "0.1.0+e2e", A)
    write_case(out, "code", code, changed=10, done=35)
    write_case(out, "replicas", steady(0, 50, "0.1.0+e2e", A), changed=10, done=30)
    write_case(
        out,
        "dataset",
        steady(0, 25, "0.1.0+e2e", A) + steady(25, 50, "0.1.0+e2e", B),
        changed=10,
        done=24,
    )


def report(out: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(REPORT), str(out)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_a_good_run_passes_with_the_times_from_each_change(tmp_path: Path) -> None:
    good_run(tmp_path)
    done = report(tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    rows = {row["case"]: row for row in json.loads((tmp_path / "report.json").read_text())}
    assert rows["code"]["first_new_answer_seconds"] == 10.0
    assert rows["code"]["only_new_answers_seconds"] == 12.0
    assert rows["dataset"]["first_new_answer_seconds"] == 15.0
    assert rows["replicas"]["first_new_answer_seconds"] is None
    assert all(row["failures"] == 0 and row["passed"] for row in rows.values())
    assert (tmp_path / "report.md").read_text() == done.stdout
    assert done.stdout.count("| passed |") == 3


def test_failed_requests_fail_the_run(tmp_path: Path) -> None:
    good_run(tmp_path)
    samples = [*steady(0, 20, "0.1.0+e2e", A), (20.0, "", "", 502), (20.1, "", "", 0)]
    samples += steady(20.2, 50, "0.1.0+e2e", A)
    write_case(tmp_path, "replicas", samples, changed=10, done=30)
    done = report(tmp_path)
    assert done.returncode == 1
    assert "FAILED: 2 failed requests" in done.stdout


@pytest.mark.parametrize(
    ("case", "samples", "why"),
    [
        ("code", steady(0, 50, "0.1.0", A), "no answer from a version other than 0.1.0"),
        (
            "code",
            steady(0, 20, "0.1.0", A) + steady(20, 30, "0.1.0+e2e", A) + steady(30, 50, "0.1.0", A),
            "still answering from 0.1.0 at the end",
        ),
        ("dataset", steady(0, 50, "0.1.0+e2e", A), f"no answer from a model other than {A}"),
    ],
)
def test_a_change_the_answers_never_show_fails_the_run(
    tmp_path: Path, case: str, samples: list[tuple], why: str
) -> None:
    good_run(tmp_path)
    write_case(tmp_path, case, samples, changed=10, done=30)
    done = report(tmp_path)
    assert done.returncode == 1
    assert why in done.stdout


def test_a_change_done_after_the_window_fails_the_run(tmp_path: Path) -> None:
    good_run(tmp_path)
    write_case(tmp_path, "replicas", steady(0, 50, "0.1.0+e2e", A), changed=10, done=75)
    assert "the cluster finished after the probe stopped" in report(tmp_path).stdout


def test_missing_or_unreadable_input_is_an_error(tmp_path: Path) -> None:
    assert report(tmp_path).returncode == 2
    good_run(tmp_path)
    (tmp_path / "dataset.log").write_text("probing ...\nTraceback (most recent call last):\n")
    done = report(tmp_path)
    assert done.returncode == 2
    assert "no summary line" in done.stderr


# --- make e2e and the workflow -------------------------------------------------------------


def test_make_e2e_runs_the_script_with_the_kubeconfig() -> None:
    # Under `make test` the parent make's MAKEFLAGS/MAKELEVEL would make this nested make
    # print "Entering directory" lines; run it as a user would, from a plain shell.
    plain = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MAKELEVEL", "MFLAGS")}
    done = subprocess.run(
        ["make", "-n", "e2e", "KUBECONFIG=/tmp/kc", "E2E_ARGS=--repo URL --dry-run"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=REPO,
        env=plain,
    )
    assert done.returncode == 0, done.stderr
    expected = 'bash deploy/e2e/run.sh --kubeconfig "/tmp/kc" --repo URL --dry-run'
    assert done.stdout.strip() == expected


def load_workflow() -> dict[str, Any]:
    workflow = yaml.safe_load(WORKFLOW.read_text())
    workflow["on"] = workflow.pop(True)
    return workflow


def test_the_workflow_runs_make_e2e_on_kind_with_the_images_it_needs() -> None:
    (job,) = load_workflow()["jobs"].values()
    steps = job["steps"]
    (kind,) = [step for step in steps if step.get("uses", "").startswith("helm/kind-action")]
    cluster = kind["with"]["cluster_name"]
    built = {
        word
        for step in steps
        for line in step.get("run", "").splitlines()
        if line.strip().startswith("docker build")
        for word in [line.split("-t ")[1].split()[0]]
    }
    (load,) = [step["run"] for step in steps if "kind load docker-image" in step.get("run", "")]
    loaded = load.split("kind load docker-image")[1].split("--name")[0].split()
    assert load.split("--name")[1].split() == [cluster]
    dev_images = {c["image"] for w in render_overlay("dev").workloads() for c in containers(w)}
    (next_image,) = re.findall(r"^next_image=(\S+)$", SCRIPT.read_text(), re.M)
    assert set(loaded) == built == dev_images | {next_image}
    (e2e,) = [step for step in steps if "make e2e" in step.get("run", "")]
    assert "--repo $REPO_URL" in e2e["run"]
    assert "--revision $GITHUB_SHA" in e2e["run"]
    assert e2e["env"]["REPO_URL"] == "${{ github.server_url }}/${{ github.repository }}.git"
    # The step that builds the next image changes the version, and puts it back.
    (bump,) = [
        step["run"]
        for step in steps
        if f"-t {next_image}" in step.get("run", "") and "docker build" in step["run"]
    ]
    assert "+e2e" in bump
    assert "git checkout -- pyproject.toml" in bump
    assert load_workflow()["on"]["push"] == {
        "branches": ["main"],
        "paths": load_workflow()["on"]["push"]["paths"],
    }
    assert "deploy/**" in load_workflow()["on"]["push"]["paths"]
