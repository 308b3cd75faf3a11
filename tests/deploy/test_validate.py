"""Every rendered object is valid Kubernetes, checked offline against the API schemas.

kubernetes-validate answers an unknown kind or apiVersion with SchemaNotFoundError, which
its own command line only warns about: here it is an error, so a typo in a kind (or a CRD
nobody can install) fails the build instead of being applied and rejected by the cluster.
`strict` rejects unknown fields, the usual shape of an indentation mistake.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from tests.support.manifests import NEWEST, VERSIONS, Rendered, validation_errors


def test_the_newest_bundled_version_is_newer_than_the_oldest_supported() -> None:
    assert tuple(int(part) for part in NEWEST.split(".")[:2]) > (1, 30)


@pytest.mark.parametrize("version", VERSIONS)
def test_every_object_is_valid_kubernetes(rendered: Rendered, version: str) -> None:
    assert rendered.objects, f"{rendered.overlay} renders nothing"
    errors = [error for obj in rendered.objects for error in validation_errors(obj, version)]
    assert errors == []


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda obj: obj.update(kind="Deployement"), "Couldn't find schema"),
        (lambda obj: obj.update(apiVersion="apps/v2"), "Couldn't find schema"),
        (lambda obj: obj["spec"].update(replica=2), "Additional properties"),
        (lambda obj: obj["spec"].update(replicas="two"), "is not of type"),
    ],
    ids=["unknown kind", "unknown apiVersion", "unknown field", "wrong type"],
)
def test_a_broken_object_is_an_error(change: Any, expected: str) -> None:
    """The check above really fails on the mistakes it is there for."""
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "x"},
        "spec": {
            "selector": {"matchLabels": {"app": "x"}},
            "template": {
                "metadata": {"labels": {"app": "x"}},
                "spec": {"containers": [{"name": "x", "image": "x:1"}]},
            },
        },
    }
    assert validation_errors(deployment, "1.30.0") == []
    change(deployment)
    errors = validation_errors(deployment, "1.30.0")
    assert len(errors) == 1
    assert expected in errors[0]


@pytest.mark.parametrize("version", VERSIONS)
def test_the_prod_autoscaler_is_checked_against_its_schema(prod: Rendered, version: str) -> None:
    """autoscaling/v2 has a schema in every version checked: the HPA is validated, field by
    field, not skipped. A misspelt field deep in its metric is an error."""
    (hpa,) = prod.all("HorizontalPodAutoscaler")
    assert hpa["apiVersion"] == "autoscaling/v2"
    assert validation_errors(hpa, version) == []
    broken = copy.deepcopy(hpa)
    target = broken["spec"]["metrics"][0]["resource"]["target"]
    target["averageUtilisation"] = target.pop("averageUtilization")
    (error,) = validation_errors(broken, version)
    assert "Additional properties" in error
    assert "averageUtilisation" in error
