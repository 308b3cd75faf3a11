"""What real clusters do with the manifests, as rules over every rendering: each overlay
alone, and each overlay with each optional component (deploy/kustomize/components).

No cluster runs here. Each rule is the behaviour of one component, read from its source or
its tracker, and each test names that component and where the rule comes from. They are the
reasons a first sync failed or hung on the clusters people have (kind, k3d, minikube, Docker
Desktop, managed clouds) with manifests that were valid Kubernetes all along.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from tests.support.manifests import (
    KUSTOMIZE,
    OVERLAYS,
    REPO,
    Obj,
    containers,
    load_yaml_documents,
    pod_template,
    render,
    render_overlay,
)

COMPONENTS_DIR = KUSTOMIZE / "components"
WAVE = "argocd.argoproj.io/sync-wave"
HOOK = "argocd.argoproj.io/hook"

# Kinds that make pods as soon as they are applied: a claim they mount is bound during the
# sync. A CronJob makes its first pod at its schedule, which may be minutes later or never.
POD_MAKERS = ("Deployment", "StatefulSet", "DaemonSet", "Job", "Pod")

# Access modes a dynamic provisioner accepts, for the provisioners of the clusters the dev
# overlay is for and the block storage that managed clouds provision by default.
PROVISIONERS: dict[str, set[str]] = {
    # rancher local-path-provisioner, the default class of kind, k3s, k3d and Rancher
    # Desktop: provisioner.go returns "Only support ReadWriteOnce access mode" for anything
    # else, and the claim stays Pending (kind issue 2371).
    "rancher.io/local-path": {"ReadWriteOnce"},
    # minikube's storage-provisioner and Docker Desktop's hostpath: a directory on the node
    # that runs the provisioner; any mode is accepted, but no other node sees the directory.
    "k8s.io/minikube-hostpath": {"ReadWriteOnce", "ReadWriteMany", "ReadOnlyMany"},
    "docker.io/hostpath": {"ReadWriteOnce", "ReadWriteMany", "ReadOnlyMany"},
    # Block disks (EBS gp2/gp3, GCE PD standard-rwo, Azure Disk managed-csi): one node.
    "ebs.csi.aws.com": {"ReadWriteOnce", "ReadWriteOncePod"},
    "pd.csi.storage.gke.io": {"ReadWriteOnce", "ReadWriteOncePod"},
    "disk.csi.azure.com": {"ReadWriteOnce", "ReadWriteOncePod"},
}

# Kinds whose ArgoCD health can turn Degraded after the sync applied them, for reasons the
# sync does not change: a CronJob whose last scheduled run failed (ArgoCD 3.2 and later,
# resource_customizations/batch/CronJob/health.lua), an autoscaler that cannot read its
# metrics (gitops-engine pkg/health/health_hpa.go).
DEGRADE_ON_THEIR_OWN = ("CronJob", "HorizontalPodAutoscaler")


@dataclass(frozen=True)
class Rendering:
    name: str
    objects: list[Obj]

    def all(self, kind: str) -> list[Obj]:
        return [obj for obj in self.objects if obj["kind"] == kind]


def optional_components() -> list[str]:
    """Components an overlay may add: every folder under components/ that the base does not
    already use."""
    base = yaml.safe_load((KUSTOMIZE / "base" / "kustomization.yaml").read_text())
    used = {Path(path).name for path in base.get("components", [])}
    return sorted(
        path.name
        for path in COMPONENTS_DIR.iterdir()
        if (path / "kustomization.yaml").is_file() and path.name not in used
    )


def render_with(overlay: str, component: str, folder: Path) -> list[Obj]:
    """OVERLAY with COMPONENT, from a kustomization outside the tree, as a user adds it."""
    folder.mkdir(parents=True)
    target = os.path.relpath(KUSTOMIZE / "overlays" / overlay, folder)
    added = os.path.relpath(COMPONENTS_DIR / component, folder)
    (folder / "kustomization.yaml").write_text(
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n"
        f"resources:\n  - {target}\ncomponents:\n  - {added}\n"
    )
    return load_yaml_documents(render(folder))


@pytest.fixture(scope="module")
def renderings(tmp_path_factory: pytest.TempPathFactory) -> list[Rendering]:
    found = [Rendering(overlay, render_overlay(overlay).objects) for overlay in OVERLAYS]
    root = tmp_path_factory.mktemp("with-components")
    for overlay in OVERLAYS:
        for component in optional_components():
            objects = render_with(overlay, component, root / f"{overlay}-{component}")
            found.append(Rendering(f"{overlay}+{component}", objects))
    return found


def test_every_optional_component_is_rendered(renderings: list[Rendering]) -> None:
    assert "trainer-mpd" in optional_components()
    assert len(renderings) == len(OVERLAYS) * (1 + len(optional_components()))


def wave(obj: Obj) -> int:
    return int(obj["metadata"].get("annotations", {}).get(WAVE, "0"))


def is_hook(obj: Obj) -> bool:
    return HOOK in obj["metadata"].get("annotations", {})


def claims_mounted(workload: Obj) -> set[str]:
    spec = pod_template(workload)["spec"]
    return {
        volume["persistentVolumeClaim"]["claimName"]
        for volume in spec.get("volumes", [])
        if "persistentVolumeClaim" in volume
    }


def workloads(rendering: Rendering) -> list[Obj]:
    return [obj for obj in rendering.objects if obj["kind"] in (*POD_MAKERS, "CronJob")]


# --- storage -------------------------------------------------------------------------------


def spans_nodes(rendering: Rendering, claim: str) -> bool:
    """Whether pods that mount CLAIM are meant to run on several nodes: an autoscaled or
    node-spread Deployment mounts it."""
    hpas = rendering.all("HorizontalPodAutoscaler")
    scaled = {hpa["spec"]["scaleTargetRef"]["name"] for hpa in hpas}
    for deployment in rendering.all("Deployment"):
        if claim not in claims_mounted(deployment):
            continue
        spread = pod_template(deployment)["spec"].get("topologySpreadConstraints", [])
        if deployment["metadata"]["name"] in scaled or any(
            item["topologyKey"] == "kubernetes.io/hostname" for item in spread
        ):
            return True
    return False


def test_every_claim_asks_for_access_modes_its_storage_gives(renderings: list[Rendering]) -> None:
    """A dynamically provisioned claim (no `storageClassName: ""`) asks only for a mode
    every provisioner in PROVISIONERS accepts: ReadWriteOnce. rancher's
    local-path-provisioner (kind, k3s, k3d, Rancher Desktop) refuses ReadWriteMany in its
    provisioner.go ("Only support ReadWriteOnce access mode"; kind issue 2371), and the claim
    and every pod that mounts it stay Pending. A claim that pods on several nodes mount binds
    a pre-made volume (`storageClassName: ""`, chosen by a selector) that is ReadWriteMany:
    a ReadWriteOnce volume is attached to one node at a time (Kubernetes, "Access Modes")."""
    everywhere = set.intersection(*PROVISIONERS.values())
    assert everywhere == {"ReadWriteOnce"}
    for rendering in renderings:
        for claim in rendering.all("PersistentVolumeClaim"):
            name, spec = claim["metadata"]["name"], claim["spec"]
            modes = set(spec["accessModes"])
            if spec.get("storageClassName") == "":
                assert spec.get("selector"), f"{rendering.name}: {name} binds a volume by label"
            else:
                assert modes <= everywhere, f"{rendering.name}: {name} asks for {sorted(modes)}"
            if spans_nodes(rendering, name):
                assert spec.get("storageClassName") == "", f"{rendering.name}: {name}"
                assert modes == {"ReadWriteMany"}, f"{rendering.name}: {name} spans nodes"


# --- ArgoCD's sync waves and health gate -----------------------------------------------


def test_every_claim_is_applied_in_the_wave_of_its_first_pod(renderings: list[Rendering]) -> None:
    """ArgoCD applies one sync wave at a time and waits for it to be healthy before the
    next (gitops-engine pkg/sync/sync_context.go). A claim a provisioner works on is
    Progressing until it is bound (gitops-engine pkg/health/health_pvc.go; every Pending
    claim in the ArgoCD releases of argo-cd issues 12840 and 29201), and a claim of a
    WaitForFirstConsumer class (kind, k3s, k3d, microk8s, EKS gp2/gp3, GKE standard-rwo, AKS
    managed-csi) is bound only once a pod that mounts it is scheduled (Kubernetes, "Volume
    Binding Mode"). In a wave before the first workload that makes such a pod during the
    sync, the first sync waits for a pod that only a later wave, or a CronJob's schedule,
    makes. In a later wave, those pods wait for a claim not applied yet."""
    for rendering in renderings:
        for claim in rendering.all("PersistentVolumeClaim"):
            name = claim["metadata"]["name"]
            consumers = [
                wave(workload)
                for workload in rendering.objects
                if workload["kind"] in POD_MAKERS and name in claims_mounted(workload)
            ]
            assert consumers, f"{rendering.name}: no workload makes a pod that binds {name}"
            assert wave(claim) == min(consumers), (
                f"{rendering.name}: {name} in wave {wave(claim)}, its first pods in "
                f"wave {min(consumers)}"
            )


def test_nothing_that_turns_degraded_on_its_own_gates_a_wave(renderings: list[Rendering]) -> None:
    """In gitops-engine's sync (pkg/sync/sync_context.go), a resource that is Degraded while
    its wave is waited on fails the sync, and the later waves are not applied; the last wave,
    when it holds no hook, succeeds as soon as it is applied, "EVEN if those objects
    subsequently degrade". A CronJob whose last run failed is Degraded in ArgoCD 3.2 and later
    (resource_customizations/batch/CronJob/health.lua), an autoscaler without metrics too: in
    any wave but that last one, one failed refresh would fail every later sync, and new images
    and trainer runs would never be applied."""
    for rendering in renderings:
        last = max(wave(obj) for obj in rendering.objects)
        in_last = [obj for obj in rendering.objects if wave(obj) == last]
        assert not [obj for obj in in_last if is_hook(obj)], (
            f"{rendering.name}: a hook in the last wave ({last}) makes ArgoCD wait on it"
        )
        for obj in rendering.objects:
            if obj["kind"] in DEGRADE_ON_THEIR_OWN:
                assert wave(obj) == last, (
                    f"{rendering.name}: {obj['kind']}/{obj['metadata']['name']} in wave "
                    f"{wave(obj)}, before wave {last}"
                )


def startup_budget(deployment: Obj) -> int:
    """The longest a container may take to pass its startup probe, in seconds."""
    budget = 0
    for container in containers(deployment):
        probe = container.get("startupProbe", {})
        budget = max(
            budget,
            probe.get("initialDelaySeconds", 0)
            + probe.get("periodSeconds", 10) * probe.get("failureThreshold", 3),
        )
    return budget


def test_a_stuck_rollout_fails_the_sync_within_a_stated_deadline(
    renderings: list[Rendering],
) -> None:
    """The Deployment controller marks a rollout without progress for progressDeadlineSeconds
    (600 unless set) ProgressDeadlineExceeded, and ArgoCD reports that as Degraded
    (gitops-engine pkg/health/health_deployment.go), which fails the sync so that its retry
    runs. Unset, a pod whose image cannot be pulled holds the sync for the default 10 minutes,
    and ArgoCD applies no newer commit meanwhile (its auto-sync docs). The deadline is
    written, leaves a new pod its whole startup probe, and is no longer than the trainer's
    own deadline, which a first rollout waits for."""
    for rendering in renderings:
        (job,) = [obj for obj in rendering.all("Job") if is_hook(obj)]
        for deployment in rendering.all("Deployment"):
            name = deployment["metadata"]["name"]
            deadline = deployment["spec"].get("progressDeadlineSeconds")
            assert deadline, f"{rendering.name}: {name} has no progressDeadlineSeconds"
            assert startup_budget(deployment) < deadline, f"{rendering.name}: {name}"
            assert deadline <= job["spec"]["activeDeadlineSeconds"], f"{rendering.name}: {name}"


def test_unready_api_pods_never_block_a_drain(renderings: list[Rendering]) -> None:
    """The eviction API, under a PodDisruptionBudget's default `IfHealthyBudget`, evicts a
    pod that is not ready only while the budget holds (Kubernetes 1.26+,
    `unhealthyPodEvictionPolicy`). API pods stay unready until a model loads, so a prod
    Deployment waiting for its first model, or a model that fails to load, would block every
    `kubectl drain` of their nodes. `AlwaysAllow` lets unready pods go."""
    for rendering in renderings:
        for pdb in rendering.all("PodDisruptionBudget"):
            policy = pdb["spec"].get("unhealthyPodEvictionPolicy")
            assert policy == "AlwaysAllow", f"{rendering.name}: {pdb['metadata']['name']}"


# --- network policies ----------------------------------------------------------------------


def test_network_policies_name_ports_by_number(renderings: list[Rendering]) -> None:
    """The NetworkPolicy API accepts a container port's name, but network plugins differ on
    it: Antrea once admitted every port for a named one (antrea issue 241), OpenShift SDN
    treated the policy as deny-all (openshift/sdn issue 61), AKS's Azure policy manager
    ignored the rule (Azure/AKS issue 1192). Numbers mean the same everywhere; each one is a
    port that a pod the policy selects declares."""
    for rendering in renderings:
        for policy in rendering.all("NetworkPolicy"):
            name = policy["metadata"]["name"]
            selected = [
                workload
                for workload in workloads(rendering)
                if all(
                    pod_template(workload)["metadata"]["labels"].get(key) == value
                    for key, value in policy["spec"]["podSelector"].get("matchLabels", {}).items()
                )
            ]
            declared = {
                port["containerPort"]
                for workload in selected
                for container in containers(workload)
                for port in container.get("ports", [])
            }
            for rule in policy["spec"].get("ingress", []):
                for port in rule.get("ports", []):
                    assert isinstance(port["port"], int), f"{rendering.name}: {name}: {port}"
                    assert port["port"] in declared, f"{rendering.name}: {name}: {port}"
            for rule in policy["spec"].get("egress", []):
                for port in rule.get("ports", []):
                    assert isinstance(port["port"], int), f"{rendering.name}: {name}: {port}"


# --- documented ArgoCD installs ------------------------------------------------------------

# Every place that tells someone to install ArgoCD.
INSTALL_DOCS = [
    REPO / "README.md",
    *sorted((REPO / "docs").glob("*.md")),
    *sorted((REPO / "deploy" / "e2e").glob("*.sh")),
    *sorted((REPO / ".github" / "workflows").glob("*.yml")),
]
INSTALL_MANIFEST = re.compile(r"argoproj/argo-cd/\S*/manifests/\S*install\.yaml")


def kubectl_applies(text: str) -> list[str]:
    """Every `kubectl apply` command line (continuation lines joined), with the variables a
    shell script assigns at the start of a line (NAME=value) written out."""
    joined = text.replace("\\\n", " ")
    for name, value in re.findall(r"^([A-Z_]+)=(\S+)$", joined, re.M):
        joined = re.sub(rf'"?\${{?{name}}}?"?', value, joined)
    lines = joined.splitlines()
    return [line.strip() for line in lines if re.search(r"kubectl\b.*\bapply\b", line)]


def test_every_documented_argocd_install_applies_server_side() -> None:
    """ArgoCD's install manifest holds CRDs (ApplicationSet's, from ArgoCD 3.3) bigger than
    the 262,144 bytes of annotations a client-side `kubectl apply` needs for its
    last-applied-configuration copy: the API server refuses it, and the install fails
    (argo-cd issues 26264 and 26265). `--server-side` keeps no such copy; ArgoCD's own install
    docs add `--force-conflicts` so that an upgrade takes over fields an earlier client-side
    apply owned."""
    installs = [
        (path.relative_to(REPO), line)
        for path in INSTALL_DOCS
        for line in kubectl_applies(path.read_text())
        if INSTALL_MANIFEST.search(line)
    ]
    places = {str(path) for path, _ in installs}
    assert {"docs/walkthrough.md", "deploy/e2e/run.sh"} <= places, places
    for path, line in installs:
        assert "--server-side" in line.split(), f"{path}: {line}"
        assert "--force-conflicts" in line.split(), f"{path}: {line}"
