"""The trainer's sizing for the Million Playlist Dataset's scale (components/trainer-mpd),
rendered onto the prod overlay as docs/deployment.md ("Sizing the trainer") says to, follows
the documented rule from the measured peak in bench/RESULTS.md."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from tests.support.manifests import (
    KUSTOMIZE,
    VERSIONS,
    Obj,
    containers,
    load_yaml_documents,
    pod_template,
    render,
    validation_errors,
)
from tests.support.paths import REPO

COMPONENT = KUSTOMIZE / "components" / "trainer-mpd"
MARGIN = 1.25  # the limit over the measured peak
GI = 1024**3


@pytest.fixture(scope="module")
def sized(tmp_path_factory: pytest.TempPathFactory) -> list[Obj]:
    """prod with the component, from a kustomization outside the tree, as a user adds it."""
    folder = tmp_path_factory.mktemp("prod-mpd")
    prod = os.path.relpath(KUSTOMIZE / "overlays" / "prod", folder)
    component = os.path.relpath(COMPONENT, folder)
    (folder / "kustomization.yaml").write_text(
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n"
        f"resources:\n  - {prod}\ncomponents:\n  - {component}\n"
    )
    return load_yaml_documents(render(folder))


def trainers(objects: list[Obj]) -> list[Obj]:
    return [obj for obj in objects if obj["kind"] in ("Job", "CronJob")]


def quantity(text: str) -> float:
    """Bytes of a Kubernetes quantity such as 10Gi or 512Mi."""
    units = {"Ki": 1024, "Mi": 1024**2, "Gi": GI, "Ti": 1024**4}
    number, unit = re.fullmatch(r"(\d+)([KMGT]i)?", text).groups()
    return int(number) * units.get(unit or "", 1)


def measured() -> tuple[float, float]:
    """The MPD shape's CSV size and peak RSS in bytes, from bench/RESULTS.md, "Scale"."""
    results = (REPO / "bench" / "RESULTS.md").read_text()
    row = re.search(r"^\| MPD shape \| streaming \|(.*)$", results, re.M)
    assert row, "bench/RESULTS.md has no MPD-shape row in section Scale"
    csv_mb, _, _, peak_mb, *_ = (cell.strip() for cell in row.group(1).split("|"))
    return float(csv_mb) * 1024**2, float(peak_mb) * 1024**2


@pytest.mark.parametrize("version", VERSIONS)
def test_the_sized_overlay_is_valid_kubernetes(sized: list[Obj], version: str) -> None:
    assert [error for obj in sized for error in validation_errors(obj, version)] == []


def test_job_and_cronjob_get_the_same_sizing(sized: list[Obj]) -> None:
    specs = [pod_template(obj)["spec"] for obj in trainers(sized)]
    assert len(specs) == 2
    (job, cron) = specs
    assert job["containers"][0]["resources"] == cron["containers"][0]["resources"]
    assert job["containers"][0]["env"] == cron["containers"][0]["env"]
    assert job["volumes"] == cron["volumes"]


def test_the_sizing_follows_the_rule(sized: list[Obj]) -> None:
    csv_bytes, peak = measured()
    for workload in trainers(sized):
        (container,) = containers(workload)
        env = {item["name"]: item["value"] for item in container["env"]}
        cap = int(env["RECSYS_MAX_DATASET_BYTES"])
        scratch = next(
            volume["emptyDir"]["sizeLimit"]
            for volume in pod_template(workload)["spec"]["volumes"]
            if volume["name"] == "tmp"
        )
        resources = container["resources"]
        assert cap >= csv_bytes  # the MPD shape's CSV (`recsys synth --family mpd`)
        assert quantity(scratch) >= cap  # the download is written to /tmp
        assert quantity(resources["limits"]["memory"]) >= MARGIN * peak
        assert quantity(resources["requests"]["memory"]) >= peak
        assert resources["requests"]["cpu"] == resources["limits"]["cpu"]


def test_the_component_is_documented_where_the_docs_say() -> None:
    docs = (REPO / "docs" / "deployment.md").read_text()
    assert "components/trainer-mpd" in docs
    assert Path(COMPONENT / "kustomization.yaml").is_file()
