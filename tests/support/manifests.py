"""Rendering overlays and walking the objects they contain, for the deploy tests."""

from __future__ import annotations

import functools
import re
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import kubernetes_validate
import yaml
from kubernetes_validate.utils import all_versions

REPO = Path(__file__).resolve().parents[2]
KUSTOMIZE = REPO / "deploy" / "kustomize"
OVERLAYS_DIR = KUSTOMIZE / "overlays"
ARGOCD = REPO / "deploy" / "argocd"
WORKFLOWS = REPO / ".github" / "workflows"
# One Dockerfile, one build target per image: target api is the image recsys-api, and so on.
DOCKERFILE = REPO / "images" / "Dockerfile"
IMAGES = ("api", "trainer")
# `make test-images` (images/test-images.sh) runs the dev overlay with podman kube play
# through the overlays here: dev (images, loopback ports) and ds2 (dev with the other sample).
KUBE_PLAY = REPO / "images" / "kube-play"
TEST_IMAGES = REPO / "images" / "test-images.sh"

# Every overlay is a folder with a kustomization.yaml: a new one is tested without a change here.
OVERLAYS = sorted(
    path.name for path in OVERLAYS_DIR.iterdir() if (path / "kustomization.yaml").is_file()
)

Obj = dict[str, Any]
WORKLOAD_KINDS = ("Deployment", "Job", "CronJob")


def render(path: Path) -> str:
    """`kubectl kustomize PATH`, the same renderer ArgoCD runs (kustomize build)."""
    done = subprocess.run(
        ["kubectl", "kustomize", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, f"kubectl kustomize {path} failed:\n{done.stderr}"
    return done.stdout


def load_yaml_documents(text: str) -> list[Obj]:
    return [doc for doc in yaml.safe_load_all(text) if doc]


@dataclass(frozen=True)
class Rendered:
    """One overlay, rendered."""

    overlay: str
    yaml: str
    objects: list[Obj]

    def all(self, kind: str) -> list[Obj]:
        return [obj for obj in self.objects if obj["kind"] == kind]

    def one(self, kind: str, name: str) -> Obj:
        matches = [obj for obj in self.all(kind) if obj["metadata"]["name"] == name]
        assert len(matches) == 1, f"{self.overlay}: expected one {kind}/{name}, got {len(matches)}"
        return matches[0]

    def workloads(self) -> list[Obj]:
        return [obj for obj in self.objects if obj["kind"] in WORKLOAD_KINDS]


@functools.cache
def render_overlay(overlay: str) -> Rendered:
    """Rendered once per test session: kubectl takes about a second per overlay."""
    text = render(OVERLAYS_DIR / overlay)
    return Rendered(overlay, text, load_yaml_documents(text))


def pod_template(workload: Obj) -> Obj:
    """The pod template of a Deployment, a Job or a CronJob."""
    spec = workload["spec"]
    if workload["kind"] == "CronJob":
        spec = spec["jobTemplate"]["spec"]
    return spec["template"]


def containers(workload: Obj) -> Iterator[Obj]:
    """Every container of a workload, init containers included."""
    spec = pod_template(workload)["spec"]
    yield from spec.get("initContainers", [])
    yield from spec["containers"]


def split_image(image: str) -> tuple[str, str, str]:
    """An image reference as (name, tag, digest); tag and digest may be empty.

    `ghcr.io/o/recsys-api:1.2.3@sha256:ab..` -> (`ghcr.io/o/recsys-api`, `1.2.3`, `sha256:ab..`)
    """
    reference, _, digest = image.partition("@")
    name, colon, tag = reference.rpartition(":")
    if not colon or "/" in tag:  # no tag, or the colon was a registry's port
        return reference, "", digest
    return name, tag, digest


def label_selector_matches(selector: Obj, labels: dict[str, str]) -> bool:
    """Kubernetes label selector semantics (matchLabels and matchExpressions)."""
    if not selector:
        return False
    for key, value in selector.get("matchLabels", {}).items():
        if labels.get(key) != value:
            return False
    for expression in selector.get("matchExpressions", []):
        key, operator = expression["key"], expression["operator"]
        values = expression.get("values", [])
        if operator == "In" and labels.get(key) not in values:
            return False
        if operator == "NotIn" and labels.get(key) in values:
            return False
        if operator == "Exists" and key not in labels:
            return False
        if operator == "DoesNotExist" and key in labels:
            return False
    return True


def resolve_port(container: Obj, port: int | str) -> int:
    """A probe's or a Service's port, by number or by the container port's name."""
    if isinstance(port, int):
        return port
    named = [
        item["containerPort"] for item in container.get("ports", []) if item.get("name") == port
    ]
    assert named, f"container {container['name']} has no port named {port!r}"
    return named[0]


_QUANTITY_SUFFIXES = {
    "Ki": 2**10,
    "Mi": 2**20,
    "Gi": 2**30,
    "Ti": 2**40,
    "k": 10**3,
    "M": 10**6,
    "G": 10**9,
    "T": 10**12,
}


def quantity_bytes(quantity: str | int) -> float:
    """A memory quantity (`256Mi`, `1G`, `1048576`) in bytes."""
    text = str(quantity)
    for suffix, factor in _QUANTITY_SUFFIXES.items():
        if text.endswith(suffix):
            return float(text[: -len(suffix)]) * factor
    return float(text)


# --- the docs and bench/RESULTS.md, for the contracts sized from measured figures ---------


def markdown_section(markdown: str, title: str) -> str:
    """A section of a Markdown page, from its heading to the next one of the same or a higher
    level. A heading matches its title exactly or followed by ` (...)`, as RESULTS.md's
    "API throughput (`python -m bench serve`)"."""
    for match in re.finditer(r"^(#+) (.+)$", markdown, re.M):
        level, heading = len(match.group(1)), match.group(2)
        if heading == title or heading.startswith(f"{title} ("):
            rest = markdown[match.end() :]
            end = re.search(rf"^#{{1,{level}}} ", rest, re.M)
            return rest[: end.start()] if end else rest
    raise AssertionError(f"no section {title!r}")


def markdown_tables(markdown: str) -> list[list[dict[str, str]]]:
    """Every table of a piece of Markdown, each as its rows, a row as {header: cell}."""
    tables: list[list[dict[str, str]]] = []
    header: list[str] | None = None
    for line in [*markdown.splitlines(), ""]:
        if not line.startswith("|"):
            header = None
            continue
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if header is None:
            header = cells
            tables.append([])
        elif not all(re.fullmatch(r":?-+:?", cell) for cell in cells):
            tables[-1].append(dict(zip(header, cells, strict=True)))
    return tables


# 1.30: the oldest release these manifests promise to work on; the newest the library bundles.
NEWEST = all_versions()[-1]
VERSIONS = ["1.30.0", NEWEST]


def validation_errors(obj: dict[str, Any], version: str) -> list[str]:
    """Why OBJ is not valid Kubernetes VERSION (empty if it is)."""
    name = f"{obj.get('kind')}/{obj.get('metadata', {}).get('name')}"
    try:
        kubernetes_validate.validate(obj, version, strict=True)
    except kubernetes_validate.SchemaNotFoundError as error:
        return [f"{name}: {error.message}"]
    except kubernetes_validate.ValidationError as error:
        where = "/".join(str(part) for part in error.absolute_path)
        return [f"{name}: {where}: {error.message}"]
    return []
