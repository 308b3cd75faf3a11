"""Rendering overlays and walking the objects they contain, for the deploy tests."""

from __future__ import annotations

import functools
import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import kubernetes_validate
import yaml
from kubernetes_validate.utils import all_versions

REPO = Path(__file__).resolve().parents[2]
KUSTOMIZE = REPO / "deploy" / "kustomize"
OVERLAYS_DIR = KUSTOMIZE / "overlays"
COMPONENTS_DIR = KUSTOMIZE / "components"
# The opt-in alerts, PodMonitor and Grafana dashboard (kube-prometheus-stack).
MONITORING = COMPONENTS_DIR / "monitoring"
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


def overlay_with(
    overlay: str, folder: Path, components: Sequence[str] = (), patches: Sequence[Obj] = ()
) -> Path:
    """A copy of OVERLAY in FOLDER whose kustomization.yaml also lists COMPONENTS (folder
    names under components/) and PATCHES, as an operator adds them to the overlay itself:
    the overlay's namespace then applies to what a component adds, as it would not from a
    kustomization around the overlay. The copy names the folders the overlay reaches outside
    itself (`../../base`) by their path from the copy; files beside it (patch files) go in it.
    """
    source = OVERLAYS_DIR / overlay
    copy = folder / overlay
    shutil.copytree(source, copy)
    kustomization = yaml.safe_load((copy / "kustomization.yaml").read_text())

    def relocated(entry: str) -> str:
        if "://" not in entry and (source / entry).is_dir():
            return os.path.relpath((source / entry).resolve(), copy)
        return entry

    for key in ("resources", "components"):
        if key in kustomization:
            kustomization[key] = [relocated(entry) for entry in kustomization[key]]
    added = [os.path.relpath(COMPONENTS_DIR / name, copy) for name in components]
    if added:
        kustomization["components"] = [*kustomization.get("components", []), *added]
    if patches:
        kustomization["patches"] = [*kustomization.get("patches", []), *patches]
    (copy / "kustomization.yaml").write_text(yaml.safe_dump(kustomization, sort_keys=False))
    return copy


# --- the monitoring component's PromQL ----------------------------------------------------

# Grafana's variables, by what stands in for them when an expression is checked alone.
_GRAFANA_INTERVALS = re.compile(r"\$__(rate_interval|interval|range)\b")
_GRAFANA_VARIABLES = re.compile(r"\$\{?\w+\}?")


def monitoring_expressions() -> dict[str, list[str]]:
    """Every PromQL expression of the monitoring component, read from its files (no render):
    `alerts`, the PrometheusRule's; `dashboard`, the Grafana panels' queries, with Grafana's
    variables replaced by values (`$__rate_interval` by 5m, `$namespace` by a name) so that
    each is PromQL as Prometheus receives it."""
    (rule,) = load_yaml_documents((MONITORING / "prometheusrule.yaml").read_text())
    alerts = [item["expr"] for group in rule["spec"]["groups"] for item in group["rules"]]
    dashboard = json.loads((MONITORING / "dashboard" / "recsys.json").read_text())
    queries = [
        target["expr"]
        for panel in dashboard["panels"]
        for target in panel.get("targets", [])
        if target.get("expr")
    ]
    substituted = [
        _GRAFANA_VARIABLES.sub("recsys", _GRAFANA_INTERVALS.sub("5m", query)) for query in queries
    ]
    return {"alerts": alerts, "dashboard": substituted}


_PROMQL_STRINGS = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'')
_PROMQL_MATCHERS = re.compile(r"\{[^}]*\}|\[[^\]]*\]")
_PROMQL_LABEL_LISTS = re.compile(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
_PROMQL_KEYWORDS = {"and", "or", "unless", "offset", "bool", "inf", "nan"}


def metric_names(expression: str) -> set[str]:
    """The metric names an expression reads: what is left once strings, label matchers,
    ranges, label lists (by, on, ...), functions (a name before `(`), keywords, durations
    and numbers are taken out."""
    text = _PROMQL_STRINGS.sub('""', expression)
    text = _PROMQL_MATCHERS.sub(" ", text)
    text = _PROMQL_LABEL_LISTS.sub(" ", text)
    text = re.sub(r"#[^\n]*", " ", text)  # comments
    names = set()
    for match in re.finditer(r"(?<![\w.])([a-zA-Z_:][a-zA-Z0-9_:]*)(\s*\()?", text):
        name, call = match.groups()
        if not call and name.lower() not in _PROMQL_KEYWORDS:
            names.add(name)
    return names


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
