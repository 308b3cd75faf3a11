"""The release workflow, linted here since it can only run on GitHub: the workflow schema,
shellcheck on every `run:` script, and the contract with the images and the prod overlay.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.deploy.manifests import DOCKERFILES, OVERLAYS_DIR, REPO, WORKFLOWS

RELEASE = WORKFLOWS / "release.yml"
WORKFLOW_FILES = sorted(WORKFLOWS.glob("*.yml"))


def load(path: Path) -> dict[str, Any]:
    # PyYAML reads the key `on` as True (YAML 1.1); GitHub reads it as "on".
    workflow = yaml.safe_load(path.read_text())
    workflow["on"] = workflow.pop(True)
    return workflow


def steps(workflow: dict[str, Any]) -> list[dict[str, Any]]:
    return [step for job in workflow["jobs"].values() for step in job["steps"]]


def tool(name: str) -> str:
    return str(Path(sys.executable).with_name(name))


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


def test_releases_on_version_tags_only() -> None:
    assert load(RELEASE)["on"] == {"push": {"tags": ["v[0-9]+.[0-9]+.[0-9]+"]}}


def test_builds_and_pushes_every_image() -> None:
    workflow = load(RELEASE)
    assert sorted(workflow["jobs"]["images"]["strategy"]["matrix"]["image"]) == sorted(DOCKERFILES)
    (build,) = [s for s in steps(workflow) if s.get("uses", "").startswith("docker/build-push")]
    assert build["with"]["file"] == "images/${{ matrix.image }}/Dockerfile"
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
