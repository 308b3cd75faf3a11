"""One ArgoCD Application per overlay, each syncing it automatically into its namespace, in
one AppProject that admits this repository, these namespaces and these kinds only.

kubernetes-validate has no schema for ArgoCD's kinds: the tests read them as YAML and check
what they need.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest

from tests.support.manifests import (
    ARGOCD,
    OVERLAYS,
    REPO,
    Obj,
    load_yaml_documents,
    overlay_with,
    render,
    render_overlay,
)

PROJECT = "recsys"
# Opt-in components that add objects (components/*): the project admits their kinds too.
OPT_IN_COMPONENTS = ["monitoring"]
ARGOCD_NAMESPACE = "argocd"
IN_CLUSTER = "https://kubernetes.default.svc"
# AppProject's spec fields (argoproj.io/v1alpha1): a misspelt one would be dropped unnoticed.
PROJECT_FIELDS = {
    "description",
    "sourceRepos",
    "sourceNamespaces",
    "destinations",
    "destinationServiceAccounts",
    "clusterResourceWhitelist",
    "clusterResourceBlacklist",
    "namespaceResourceWhitelist",
    "namespaceResourceBlacklist",
    "orphanedResources",
    "permitOnlyProjectScopedClusters",
    "roles",
    "signatureKeys",
    "syncWindows",
}


def argocd_objects() -> list[Obj]:
    objects = [
        obj
        for path in sorted(ARGOCD.glob("*.yaml"))
        for obj in load_yaml_documents(path.read_text())
    ]
    for obj in objects:
        assert obj["apiVersion"] == "argoproj.io/v1alpha1"
        assert obj["kind"] in ("Application", "AppProject"), obj["kind"]
        # ArgoCD reads its Applications and projects from its own namespace only.
        assert obj["metadata"]["namespace"] == ARGOCD_NAMESPACE
    return objects


def project() -> Obj:
    (found,) = [obj for obj in argocd_objects() if obj["kind"] == "AppProject"]
    assert found["metadata"]["name"] == PROJECT
    return found


def applications() -> dict[str, Obj]:
    """The Applications in deploy/argocd, by the overlay folder their source points at."""
    apps: dict[str, Obj] = {}
    for app in argocd_objects():
        if app["kind"] == "Application":
            overlay_path = app["spec"]["source"]["path"]
            assert overlay_path.startswith("deploy/kustomize/overlays/")
            assert (REPO / overlay_path / "kustomization.yaml").is_file(), overlay_path
            apps[overlay_path.rsplit("/", 1)[1]] = app
    return apps


def test_every_overlay_has_exactly_one_application() -> None:
    found = [obj for obj in argocd_objects() if obj["kind"] == "Application"]
    assert sorted(applications()) == OVERLAYS
    assert len(found) == len(OVERLAYS)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_application_syncs_by_itself_and_retries(overlay: str) -> None:
    spec = applications()[overlay]["spec"]
    automated = spec["syncPolicy"]["automated"]
    assert automated["prune"] is True
    assert automated["selfHeal"] is True
    retry = spec["syncPolicy"]["retry"]
    assert retry["limit"] >= 1
    assert set(retry["backoff"]) == {"duration", "factor", "maxDuration"}
    assert retry["backoff"]["factor"] > 1


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_a_retry_applies_the_newest_commit(overlay: str) -> None:
    """ArgoCD's application controller retries a failed sync at the revision that failed
    unless `retry.refresh` is set (argo-cd pull request 23038, ArgoCD 3.2), and its automated
    sync does not try a failed commit again (its auto-sync docs): without it, a fix pushed
    after a failure waits until every retry of the broken commit has failed."""
    assert applications()[overlay]["spec"]["syncPolicy"]["retry"]["refresh"] is True


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_application_deploys_where_the_overlay_puts_things(overlay: str) -> None:
    spec = applications()[overlay]["spec"]
    rendered = render_overlay(overlay)
    (namespace,) = {
        obj["metadata"]["namespace"] for obj in rendered.objects if obj["kind"] != "Namespace"
    }
    assert spec["destination"]["namespace"] == namespace
    assert spec["destination"]["server"] == "https://kubernetes.default.svc"
    assert spec["source"]["targetRevision"] == "main"


def test_every_application_follows_the_same_repository() -> None:
    urls = {app["spec"]["source"]["repoURL"] for app in applications().values()}
    assert len(urls) == 1
    assert urls.pop().endswith("/recsys.git")


# --- the AppProject ----------------------------------------------------------------------


def test_every_application_is_in_the_recsys_project() -> None:
    """Not `default`, which deploys anything from anywhere to anywhere."""
    for overlay, app in applications().items():
        assert app["spec"]["project"] == project()["metadata"]["name"], overlay


def test_the_project_is_well_formed() -> None:
    found = project()
    assert set(found["spec"]) <= PROJECT_FIELDS, set(found["spec"]) - PROJECT_FIELDS
    # Not deleted while Applications use it.
    assert "resources-finalizer.argocd.argoproj.io" in found["metadata"]["finalizers"]
    spec = found["spec"]
    for entry in spec["destinations"]:
        assert set(entry) == {"server", "namespace"}
    for entry in spec["namespaceResourceWhitelist"]:
        assert set(entry) == {"group", "kind"}
    # Cluster-scoped objects are admitted by name as well (see the test below).
    for entry in spec["clusterResourceWhitelist"]:
        assert set(entry) == {"group", "kind", "name"}
    for key in ("clusterResourceBlacklist", "namespaceResourceBlacklist"):
        assert key not in spec, f"{key}: the whitelists say it all"


def test_the_project_takes_only_the_applications_repository() -> None:
    repos = {app["spec"]["source"]["repoURL"] for app in applications().values()}
    assert project()["spec"]["sourceRepos"] == sorted(repos)


def test_the_project_deploys_only_where_the_applications_do() -> None:
    wanted = {
        (app["spec"]["destination"]["server"], app["spec"]["destination"]["namespace"])
        for app in applications().values()
    }
    destinations = project()["spec"]["destinations"]
    found = [(entry["server"], entry["namespace"]) for entry in destinations]
    assert sorted(found) == sorted(wanted)
    assert all(server == IN_CLUSTER for server, _ in found)
    assert not any("*" in part for entry in found for part in entry), "no wildcards"


def group_kind(obj: Obj) -> tuple[str, str]:
    api_version: str = obj["apiVersion"]
    return (api_version.rpartition("/")[0], obj["kind"])


def rendered_with_every_component(overlay: str) -> list[Obj]:
    """OVERLAY's objects, and those its opt-in components add."""
    with tempfile.TemporaryDirectory() as folder:
        copy = overlay_with(overlay, Path(folder), OPT_IN_COMPONENTS)
        return load_yaml_documents(render(copy))


def test_the_project_admits_exactly_the_kinds_and_namespaces_the_overlays_render() -> None:
    """ArgoCD's AppProject admits a cluster-scoped object by its group and kind, and, when
    the entry has a `name`, by that name too (a glob; argocd proj allow-cluster-resource
    PROJECT GROUP KIND NAME). Without a name, the Namespace entry would let an Application of
    this project create any namespace, and prune delete it. So cluster-scoped objects (no
    namespace once rendered: the dev Namespace) are listed by group, kind and exact name, the
    rest by group and kind. Both lists are exact: what nothing renders is a permission
    nobody needs. The namespaces the project deploys into are the ones rendered. The opt-in
    components an overlay may add (the monitoring one) count as rendered."""
    cluster: set[tuple[str, str, str]] = set()
    namespaced: set[tuple[str, str]] = set()
    namespaces: set[str] = set()
    for overlay in OVERLAYS:
        for obj in [*render_overlay(overlay).objects, *rendered_with_every_component(overlay)]:
            if obj["metadata"].get("namespace"):
                namespaced.add(group_kind(obj))
                namespaces.add(obj["metadata"]["namespace"])
            else:
                cluster.add((*group_kind(obj), obj["metadata"]["name"]))
    spec = project()["spec"]
    assert sorted(
        (entry["group"], entry["kind"], entry["name"]) for entry in spec["clusterResourceWhitelist"]
    ) == sorted(cluster)
    assert sorted(
        (entry["group"], entry["kind"]) for entry in spec["namespaceResourceWhitelist"]
    ) == sorted(namespaced)
    assert cluster == {("", "Namespace", "recsys-dev")}
    assert {entry["namespace"] for entry in spec["destinations"]} == namespaces
