"""The sizing for the Million Playlist Dataset's scale (components/trainer-mpd), rendered onto
the prod overlay as docs/deployment.md ("Sizing the trainer") says to, follows the documented
rules from the figures measured in bench/RESULTS.md: the trainer's from its peak, the API's
from its resident memory with a model of that many songs."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from recsys.settings import Settings
from tests.support.manifests import (
    KUSTOMIZE,
    VERSIONS,
    Obj,
    containers,
    load_yaml_documents,
    markdown_section,
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


# --- the API at the MPD's size -------------------------------------------------------------

# An upper bound on a song's share of a model file: 16 bytes (its count, where its name
# starts) and its name (docs/operations.md, "Sizing memory"), the name taken at 64 bytes;
# and on a rule's: 32 bytes, plus 16 for its antecedent.
SONG_BYTES = 16 + 64
RULE_BYTES = 32 + 16


def api_at_mpd_size() -> tuple[int, float]:
    """The song count and the API's resident memory (bytes) with a model of that many songs
    loaded and its search structure built, from bench/RESULTS.md, "Song search"."""
    results = (REPO / "bench" / "RESULTS.md").read_text()
    section = markdown_section(results, "Song search")
    (songs,) = re.findall(r"on a model of ([\d,]+) songs", section)
    (after,) = re.findall(r"process RSS \d+ MB before, (\d+) MB after", section)
    return int(songs.replace(",", "")), float(after) * 1024**2


def operations_factor() -> int:
    section = markdown_section((REPO / "docs" / "operations.md").read_text(), "Sizing memory")
    (factor,) = re.findall(r"^API memory limit >= R \+ (\d+) x F$", section, re.M)
    return int(factor)


def test_the_component_sizes_the_api_for_a_model_of_that_size(sized: list[Obj]) -> None:
    """Every API replica loads each new model at the same swap: one under-sized limit and all
    of them are OOM-killed together. The rule of docs/operations.md (limit >= R + 3 x F),
    with R measured with a model of the MPD's song count (bench/RESULTS.md, "Song search")
    and F bounded by that song count and RECSYS_MAX_RULES, the most rules a model may have."""
    songs, resident = api_at_mpd_size()
    assert songs >= 2_000_000  # the MPD's 2.26 million tracks, rounded as the bench does
    model_bytes = songs * SONG_BYTES + Settings().max_rules * RULE_BYTES
    needed = resident + operations_factor() * model_bytes
    (api,) = [obj for obj in sized if obj["kind"] == "Deployment"]
    (container,) = containers(api)
    resources = container["resources"]
    assert quantity(resources["limits"]["memory"]) >= needed
    assert quantity(resources["requests"]["memory"]) == quantity(resources["limits"]["memory"])
    docs = (REPO / "docs" / "deployment.md").read_text()
    assert "R + 3 x F" in markdown_section(docs, "Sizing the trainer")
