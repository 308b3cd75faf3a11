"""docs/walkthrough.md: its commands are the ones the tests run, where a machine without a
cluster can run them (render, validate, kube play), and it says what only a cluster shows.
"""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.manifests import (
    REPO,
    TEST_IMAGES,
    containers,
    load_yaml_documents,
    render,
    render_overlay,
)

WALKTHROUGH = REPO / "docs" / "walkthrough.md"


def commands(markdown: str | None = None) -> list[list[str]]:
    """Every command line of the sh blocks of MARKDOWN (the page by default), split as the
    shell would (comments and continuation lines handled)."""
    text = WALKTHROUGH.read_text() if markdown is None else markdown
    blocks = re.findall(r"^```sh\n(.*?)^```", text, re.M | re.S)
    found = []
    for block in blocks:
        for line in block.replace("\\\n", " ").splitlines():
            words = shlex.split(line, comments=True)
            if words:
                found.append(words)
    return found


def section(title: str) -> str:
    match = re.search(
        rf"^## {re.escape(title)}\n(.*?)(?=^## |\Z)", WALKTHROUGH.read_text(), re.M | re.S
    )
    assert match, f"docs/walkthrough.md has no section {title!r}"
    return match.group(1)


def script() -> str:
    return TEST_IMAGES.read_text()


def script_value(name: str) -> str:
    (value,) = re.findall(rf"^{name}=(\S+)$", script(), re.M)
    return value


def test_every_path_it_renders_renders() -> None:
    rendered = [words[2] for words in commands() if words[:2] == ["kubectl", "kustomize"]]
    assert "deploy/kustomize/overlays/dev" in rendered
    for path in rendered:
        assert load_yaml_documents(render(REPO / path)), path


def test_the_validation_it_shows_passes_on_the_dev_overlay(tmp_path: Path) -> None:
    """The command as written, on what the page renders into dev.yaml."""
    (validate,) = [words for words in commands() if words[0].endswith("kubernetes-validate")]
    assert "--strict" in validate
    (dev,) = [w for w in commands() if w[:2] == ["kubectl", "kustomize"] and w[-1] == "dev.yaml"]
    (tmp_path / "dev.yaml").write_text(render(REPO / dev[2]))
    program = str(Path(sys.executable).with_name("kubernetes-validate"))
    done = subprocess.run(
        [program, *validate[1:]],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_its_kube_play_steps_are_the_ones_test_images_runs() -> None:
    """pods.py with the same arguments, kube play of the same files, the same containers
    waited for, the same port asked, in the same order."""
    page = section("2. Run the dev overlay with podman (no cluster)")
    shown = commands(page)
    cut = [
        words[2 : words.index("<")]
        for words in shown
        if words[:2] == ["python3", "images/kube-play/pods.py"]
    ]
    run = [shlex.split(args) for args in re.findall(r"^pods ((?:api|pod) [^<]*)<", script(), re.M)]
    assert cut == run
    played = [words[3] for words in shown if words[:3] == ["podman", "kube", "play"]]
    assert played == re.findall(r"^play (\S+)$", script(), re.M)
    waited = [words[-1] for words in shown if "wait" in words and words[0] == "timeout"]
    assert waited == ["recsys-train-trainer", "recsys-refresh-refresh"]
    assert set(re.findall(r"http://127\.0\.0\.1:(\d+)/", page)) == {script_value("API_PORT")}
    built = {words[-2] for words in shown if words[:2] == ["podman", "build"]}
    assert built == {script_value("API_IMAGE"), script_value("TRAINER_IMAGE")}


def dev_images() -> set[str]:
    dev = render_overlay("dev")
    return {c["image"] for w in dev.workloads() for c in containers(w)}


def subsection(title: str) -> str:
    page = section("3. A local cluster, with kubectl")
    match = re.search(rf"^### {re.escape(title)}\n(.*?)(?=^### |\Z)", page, re.M | re.S)
    assert match, f"section 3 has no subsection {title!r}"
    return match.group(1)


def built_on_the_host() -> set[str]:
    page = section("3. A local cluster, with kubectl")
    before = page[: page.index("### kind")]
    return {w[w.index("-t") + 1] for w in commands(before) if w[:2] == ["docker", "build"]}


@pytest.mark.parametrize(
    ("cluster", "loads"),
    [
        ("kind", ["kind", "load", "docker-image"]),
        ("k3d", ["k3d", "image", "import"]),
    ],
)
def test_kind_and_k3d_load_the_images_the_dev_overlay_runs(cluster: str, loads: list[str]) -> None:
    """kind's and k3d's nodes are containers with their own image store: an image only in the
    host's Docker is not there, and IfNotPresent never pulls it."""
    (load,) = [words for words in commands(subsection(cluster)) if words[:3] == loads]
    images = [word for word in load[3:] if not word.startswith("-") and "recsys-" in word]
    assert set(images) == dev_images() == built_on_the_host()


def test_minikube_builds_the_images_inside_the_cluster() -> None:
    """`minikube image build` works whatever the runtime and node count; `minikube
    docker-env` refuses clusters of several nodes and runtimes other than docker."""
    page = subsection("minikube")
    builds = [words for words in commands(page) if words[:3] == ["minikube", "image", "build"]]
    assert {words[words.index("-t") + 1] for words in builds} == dev_images()
    for words in builds:
        tag = words[words.index("-t") + 1]
        target = tag.removeprefix("recsys-").split(":")[0]
        assert f"--build-opt=target={target}" in words
        assert words[words.index("-f") + 1] == "images/Dockerfile"
    assert "docker-env" not in " ".join(" ".join(words) for words in commands(page))


def test_docker_desktop_uses_the_images_docker_built() -> None:
    assert built_on_the_host() == dev_images()
    assert not [w for w in commands(subsection("Docker Desktop")) if "load" in w or "import" in w]


def test_the_dev_overlay_is_applied_unedited_on_every_local_cluster() -> None:
    page = section("3. A local cluster, with kubectl")
    shown = commands(page)
    first_apply = shown.index(["kubectl", "apply", "-k", "deploy/kustomize/overlays/dev"])
    assert not [w for w in shown[:first_apply] if "deploy/kustomize" in " ".join(w)]
    for cluster in ("kind", "k3d", "minikube", "Docker Desktop"):
        assert subsection(cluster)


@pytest.mark.parametrize(
    "shown", ["Rolling updates", "ArgoCD sync waves", "Sync hook", "NFS", "NetworkPolicies"]
)
def test_it_says_what_only_a_cluster_shows(shown: str) -> None:
    assert shown.lower() in section("What only a real cluster shows").lower()
