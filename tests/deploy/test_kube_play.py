"""images/kube-play: what `make test-images` runs with `podman kube play` is the dev overlay
as it renders, changed only where the machine needs it (the images it built, loopback host
ports), and the helpers that cut it up and check the containers do what they say.

The script runs it for real (images/test-images.sh); these are the static checks, fast
enough for every `make test`.
"""

from __future__ import annotations

import ast
import copy
import functools
import importlib.util
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

from tests.support.manifests import (
    KUBE_PLAY,
    OVERLAYS,
    REPO,
    TEST_IMAGES,
    Obj,
    containers,
    load_yaml_documents,
    pod_template,
    render,
    render_overlay,
    split_image,
)
from tests.support.manifests import (
    WORKLOAD_KINDS as WORKLOADS,
)

PODS = KUBE_PLAY / "pods.py"
PROBE = KUBE_PLAY / "probe.py"
LOOPBACK = "127.0.0.1"


@functools.cache
def played(name: str) -> list[Obj]:
    """images/kube-play/NAME, rendered."""
    return load_yaml_documents(render(KUBE_PLAY / name))


def pods_py(*args: str, objects: list[Obj]) -> list[Obj]:
    """images/kube-play/pods.py ARGS, given OBJECTS as rendered YAML."""
    text = yaml.safe_dump_all(objects)
    done = subprocess.run(
        [sys.executable, str(PODS), *args],
        input=text,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return load_yaml_documents(done.stdout)


@functools.cache
def module(path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec is not None
    assert spec.loader is not None
    loaded = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(loaded)
    return loaded


def script_value(name: str) -> str:
    (value,) = re.findall(rf"^{name}=(\S+)$", TEST_IMAGES.read_text(), re.M)
    return value


def without_machine_changes(objects: list[Obj]) -> list[Obj]:
    """OBJECTS without what images/kube-play/dev may change: the registry and tag of each
    image, and the host side of each container port."""
    objects = copy.deepcopy(objects)
    for obj in objects:
        if obj["kind"] not in WORKLOADS:
            continue
        for container in containers(obj):
            name = split_image(container["image"])[0]
            container["image"] = name.rsplit("/", 1)[-1]
            for port in container.get("ports", []):
                port.pop("hostIP", None)
                port.pop("hostPort", None)
    return objects


def host_ports(objects: list[Obj]) -> dict[str, tuple[str, int]]:
    """Every container port of every workload: name -> (hostIP, hostPort)."""
    found = {}
    for obj in objects:
        if obj["kind"] in WORKLOADS:
            for container in containers(obj):
                for port in container.get("ports", []):
                    found[port["name"]] = (port.get("hostIP", ""), port.get("hostPort", 0))
    return found


# --- the overlays -----------------------------------------------------------------------


def test_kube_play_runs_the_dev_overlay_with_only_images_and_host_ports_changed() -> None:
    dev = render_overlay("dev").objects
    play = played("dev")
    assert [(o["kind"], o["metadata"]["name"]) for o in play] == [
        (o["kind"], o["metadata"]["name"]) for o in dev
    ]
    assert without_machine_changes(play) == without_machine_changes(dev)


def test_every_port_kube_play_publishes_is_on_the_loopback() -> None:
    """podman 4 publishes every containerPort of a pod, on all addresses unless hostIP
    says otherwise: each needs a loopback hostIP, and a hostPort apart from the others."""
    ports = host_ports(played("dev"))
    assert ports, "the API declares no port"
    for name, (address, port) in ports.items():
        assert address == LOOPBACK, f"port {name} is published on {address or 'every address'}"
        assert 1024 < port < 65536, name
    assert len({port for _, port in ports.values()}) == len(ports)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_deploy_overlays_publish_no_host_port(overlay: str) -> None:
    """Host ports are for the test machine only; in a cluster the Service reaches the pods."""
    for name, published in host_ports(render_overlay(overlay).objects).items():
        assert published == ("", 0), f"{overlay}: port {name} is published on the node"


def test_the_script_builds_and_asks_what_the_overlay_names() -> None:
    play = played("dev")
    images = {c["image"] for o in play if o["kind"] in WORKLOADS for c in containers(o)}
    assert images == {script_value("API_IMAGE"), script_value("TRAINER_IMAGE")}
    ports = host_ports(play)
    assert ports["http"] == (LOOPBACK, int(script_value("API_PORT")))
    assert ports["metrics"] == (LOOPBACK, int(script_value("METRICS_PORT")))


def test_the_refresh_overlay_changes_the_dataset_only() -> None:
    """images/kube-play/ds2 is kube-play/dev with another dataset URL, as an operator
    changes it (docs/deployment.md, "New dataset")."""
    dev, ds2 = played("dev"), played("ds2")
    changed = [(a["kind"], a["metadata"]["name"]) for a, b in zip(dev, ds2, strict=True) if a != b]
    assert changed == [("ConfigMap", "recsys-dataset")]
    (before,) = [o["data"] for o in dev if o["kind"] == "ConfigMap"]
    (after,) = [o["data"] for o in ds2 if o["kind"] == "ConfigMap"]
    assert before.keys() == after.keys()
    assert [key for key in before if before[key] != after[key]] == ["RECSYS_DATASET_URL"]


# --- pods.py: what kube play is given ---------------------------------------------------


def test_the_api_play_is_the_config_the_claim_and_the_deployment_as_rendered() -> None:
    play = played("dev")
    given = pods_py("api", objects=play)
    assert sorted(o["kind"] for o in given) == ["ConfigMap", "Deployment", "PersistentVolumeClaim"]
    for obj in given:
        assert obj in play


@pytest.mark.parametrize(
    ("overlay", "kind", "name"),
    [("dev", "Job", "recsys-train"), ("ds2", "CronJob", "recsys-refresh")],
)
def test_a_job_runs_as_a_pod_of_its_template(overlay: str, kind: str, name: str) -> None:
    play = played(overlay)
    (workload,) = [o for o in play if o["kind"] == kind and o["metadata"]["name"] == name]
    config, pod = pods_py("pod", kind, name, objects=play)
    assert config in play
    assert config["kind"] == "ConfigMap"
    template = pod_template(workload)
    assert pod["kind"] == "Pod"
    assert pod["metadata"]["name"] == name
    assert pod["metadata"]["labels"] == template["metadata"]["labels"]
    assert pod["spec"] == template["spec"]


def inspected_as_the_manifest_says() -> dict[str, Any]:
    """What `podman inspect` shows of the API container when it runs as the Deployment says
    (measured on podman 4.3)."""
    return {
        "Config": {"User": "10001:10001"},
        "EffectiveCaps": None,
        "HostConfig": {
            "ReadonlyRootfs": True,
            "Privileged": False,
            "SecurityOpt": ["no-new-privileges"],
            "Memory": 256 * 2**20,
        },
        "Mounts": [
            {"Destination": "/data", "RW": False, "Name": "recsys-data"},
            {"Destination": "/tmp", "RW": True, "Name": "tmp"},
        ],
    }


def test_the_container_check_passes_a_container_that_runs_as_the_manifest_says() -> None:
    (deployment,) = [o for o in played("dev") if o["kind"] == "Deployment"]
    assert module(PODS).differences(deployment, inspected_as_the_manifest_says()) == []


@pytest.mark.parametrize(
    ("change", "named"),
    [
        (lambda i: i["Config"].update(User="0:0"), "user"),
        (lambda i: i["HostConfig"].update(ReadonlyRootfs=False), "read-only root"),
        (lambda i: i["HostConfig"].update(Privileged=True), "privileged"),
        (lambda i: i["HostConfig"].update(SecurityOpt=[]), "no-new-privileges"),
        (lambda i: i.update(EffectiveCaps=["CAP_NET_RAW"]), "effective capabilities"),
        (lambda i: i["HostConfig"].update(Memory=0), "memory limit"),
        (lambda i: i["Mounts"][0].update(RW=True), "/data writable"),
        (lambda i: i["Mounts"][0].update(Name="other"), "/data volume"),
        (lambda i: i["Mounts"].pop(1), "/tmp: not mounted"),
    ],
    ids=lambda value: value if isinstance(value, str) else "",
)
def test_the_container_check_names_each_departure(change: Any, named: str) -> None:
    """The check test-images.sh runs on every container fails on what it is there for."""
    (deployment,) = [o for o in played("dev") if o["kind"] == "Deployment"]
    inspected = inspected_as_the_manifest_says()
    change(inspected)
    (found,) = module(PODS).differences(deployment, inspected)
    assert found.startswith(named), found


# --- the helpers themselves ---------------------------------------------------------------


@pytest.mark.parametrize(("path", "allowed"), [(PODS, {"yaml"}), (PROBE, set())])
def test_the_helpers_need_only_the_hosts_python(path: Path, allowed: set[str]) -> None:
    """They run on the host's python3 (PyYAML from python3-yaml), not in the venv."""
    imported = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            imported |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            imported.add(node.module.split(".")[0])
    assert imported - sys.stdlib_module_names - {"__future__"} <= allowed


def test_the_helpers_are_ruff_clean() -> None:
    ruff = str(Path(sys.executable).with_name("ruff"))
    for command in ([ruff, "check"], [ruff, "format", "--check"]):
        done = subprocess.run(
            [*command, str(PODS), str(PROBE)],
            capture_output=True,
            text=True,
            timeout=60,
            cwd=REPO,
            check=False,
        )
        assert done.returncode == 0, done.stdout + done.stderr
