"""Rendering overlays and walking the objects they contain, for the deploy tests."""

from __future__ import annotations

import functools
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
KUSTOMIZE = REPO / "deploy" / "kustomize"
OVERLAYS_DIR = KUSTOMIZE / "overlays"
ARGOCD = REPO / "deploy" / "argocd"
WORKFLOWS = REPO / ".github" / "workflows"
# One Dockerfile, one build target per image: target api is the image recsys-api, and so on.
DOCKERFILE = REPO / "images" / "Dockerfile"
IMAGES = ("api", "trainer")

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
