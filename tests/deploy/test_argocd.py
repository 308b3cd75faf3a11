"""One ArgoCD Application per overlay, each syncing it automatically into its namespace."""

from __future__ import annotations

import pytest

from tests.support.manifests import ARGOCD, OVERLAYS, REPO, Obj, load_yaml_documents, render_overlay


def applications() -> dict[str, Obj]:
    """The Applications in deploy/argocd, by the overlay folder their source points at."""
    apps: dict[str, Obj] = {}
    for path in sorted(ARGOCD.glob("*.yaml")):
        for app in load_yaml_documents(path.read_text()):
            assert app["apiVersion"] == "argoproj.io/v1alpha1"
            assert app["kind"] == "Application"
            overlay_path = app["spec"]["source"]["path"]
            assert overlay_path.startswith("deploy/kustomize/overlays/")
            assert (REPO / overlay_path / "kustomization.yaml").is_file(), overlay_path
            apps[overlay_path.rsplit("/", 1)[1]] = app
    return apps


def test_every_overlay_has_exactly_one_application() -> None:
    files = [app for path in ARGOCD.glob("*.yaml") for app in load_yaml_documents(path.read_text())]
    assert sorted(applications()) == OVERLAYS
    assert len(files) == len(OVERLAYS)


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
