"""What `podman kube play` is given, cut from a rendered overlay (images/test-images.sh).

    kubectl kustomize images/kube-play/dev | python3 images/kube-play/pods.py api
    kubectl kustomize images/kube-play/dev | python3 images/kube-play/pods.py pod Job recsys-train
    kubectl kustomize images/kube-play/dev | python3 images/kube-play/pods.py \
        check Job recsys-train CONTAINER
    kubectl kustomize images/kube-play/dev | python3 images/kube-play/pods.py \
        config recsys-dataset RECSYS_DATASET_URL

`api`: the ConfigMaps, the PersistentVolumeClaims and the Deployments, exactly as rendered.
`pod KIND NAME`: the pod template of the Job or CronJob NAME as a Pod of that name (its
labels, annotations and spec as rendered), after the ConfigMaps it reads.
`check KIND NAME CONTAINER`: the podman container CONTAINER, which kube play made from the
workload's (only) container, runs as the manifest says: user and group, read-only root, no
capabilities, no privilege escalation, the memory limit, and each volume mounted where the
manifest mounts it, read-only where it says so (and the claim's volume for a PVC).
`config NAME KEY`: the value of KEY in the ConfigMap NAME.

podman kube play runs Pods and Deployments, and makes volumes of PersistentVolumeClaims,
but has no Job or CronJob: what a Job's controller would start is one Pod of its template.
The other kinds (Namespace, Service, PodDisruptionBudget, NetworkPolicy) are left out, as
kube play has nothing to make of them. Nothing is changed: a field kube play cannot honour
is left for it to ignore, and test-images.sh says which.
"""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import yaml

Obj = dict[str, Any]
API_KINDS = ("ConfigMap", "PersistentVolumeClaim", "Deployment")


def pod_of(workload: Obj) -> Obj:
    """The Pod a controller would make from a Deployment's, a Job's or a CronJob's template."""
    spec = workload["spec"]
    if workload["kind"] == "CronJob":
        spec = spec["jobTemplate"]["spec"]
    template = spec["template"]
    metadata = {"name": workload["metadata"]["name"]}
    if "namespace" in workload["metadata"]:
        metadata["namespace"] = workload["metadata"]["namespace"]
    for key in ("labels", "annotations"):
        if template.get("metadata", {}).get(key):
            metadata[key] = template["metadata"][key]
    return {"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": template["spec"]}


def config_maps_read(pod: Obj, objects: list[Obj]) -> list[Obj]:
    """The ConfigMaps a pod reads through envFrom, env or volumes, in rendered order."""
    spec = pod["spec"]
    names = set()
    for container in [*spec.get("initContainers", []), *spec["containers"]]:
        for source in container.get("envFrom", []):
            if "configMapRef" in source:
                names.add(source["configMapRef"]["name"])
        for variable in container.get("env", []):
            reference = variable.get("valueFrom", {}).get("configMapKeyRef")
            if reference:
                names.add(reference["name"])
    for volume in spec.get("volumes", []):
        if "configMap" in volume:
            names.add(volume["configMap"]["name"])
    found = [o for o in objects if o["kind"] == "ConfigMap" and o["metadata"]["name"] in names]
    missing = names - {o["metadata"]["name"] for o in found}
    if missing:
        sys.exit(f"pods.py: the pod reads ConfigMaps the overlay lacks: {sorted(missing)}")
    return found


_QUANTITY = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "k": 10**3, "M": 10**6, "G": 10**9}


def quantity_bytes(quantity: str | int) -> int:
    text = str(quantity)
    for suffix, factor in _QUANTITY.items():
        if text.endswith(suffix):
            return int(float(text[: -len(suffix)]) * factor)
    return int(text)


def differences(workload: Obj, inspected: Obj) -> list[str]:
    """How the container podman runs departs from the workload's manifest."""
    pod = pod_of(workload)["spec"]
    (container,) = pod["containers"]
    security = {**pod.get("securityContext", {}), **container.get("securityContext", {})}
    host = inspected["HostConfig"]
    found: list[str] = []

    def expect(what: str, wanted: Any, actual: Any) -> None:
        if wanted != actual:
            found.append(f"{what}: the manifest says {wanted!r}, podman runs {actual!r}")

    expect("user", f"{security['runAsUser']}:{security['runAsGroup']}", inspected["Config"]["User"])
    if security.get("runAsNonRoot"):
        expect("runAsNonRoot", True, security["runAsUser"] != 0)
    expect("read-only root", security.get("readOnlyRootFilesystem", False), host["ReadonlyRootfs"])
    expect("privileged", security.get("privileged", False), host["Privileged"])
    if security.get("allowPrivilegeEscalation") is False:
        expect("no-new-privileges", True, "no-new-privileges" in (host.get("SecurityOpt") or []))
    capabilities = security.get("capabilities", {})
    if "ALL" in capabilities.get("drop", []):
        added = sorted(f"CAP_{name}" for name in capabilities.get("add", []))
        expect("effective capabilities", added, sorted(inspected.get("EffectiveCaps") or []))
    limit = container.get("resources", {}).get("limits", {}).get("memory")
    if limit is not None:
        expect("memory limit", quantity_bytes(limit), host["Memory"])
    volumes = {volume["name"]: volume for volume in pod.get("volumes", [])}
    mounts = {mount["Destination"]: mount for mount in inspected["Mounts"]}
    for wanted in container.get("volumeMounts", []):
        mount = mounts.get(wanted["mountPath"])
        if mount is None:
            found.append(f"{wanted['mountPath']}: not mounted")
            continue
        expect(f"{wanted['mountPath']} writable", not wanted.get("readOnly", False), mount["RW"])
        claim = volumes[wanted["name"]].get("persistentVolumeClaim")
        if claim:
            expect(f"{wanted['mountPath']} volume", claim["claimName"], mount.get("Name"))
    return found


def check(workload: Obj, container: str) -> int:
    done = subprocess.run(
        ["podman", "inspect", "--type", "container", container],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if done.returncode != 0:
        sys.exit(f"pods.py: podman inspect {container}: {done.stderr.strip()}")
    (inspected,) = json.loads(done.stdout)
    found = differences(workload, inspected)
    name = f"{workload['kind']}/{workload['metadata']['name']}"
    for line in found:
        print(f"{container} ({name}): {line}", file=sys.stderr)
    if found:
        return 1
    print(f"{container} runs as {name} says: user {inspected['Config']['User']}, read-only root,")
    print("  no capabilities, no privilege escalation, its memory limit and its mounts")
    return 0


def one(objects: list[Obj], kind: str, name: str) -> Obj:
    found = [o for o in objects if o["kind"] == kind and o["metadata"]["name"] == name]
    if len(found) != 1:
        sys.exit(f"pods.py: the overlay renders {len(found)} {kind} named {name}")
    return found[0]


def main(argv: list[str]) -> int:
    objects = [doc for doc in yaml.safe_load_all(sys.stdin) if doc]
    if argv == ["api"]:
        chosen = [o for kind in API_KINDS for o in objects if o["kind"] == kind]
    elif len(argv) == 3 and argv[0] == "pod" and argv[1] in ("Job", "CronJob"):
        pod = pod_of(one(objects, argv[1], argv[2]))
        chosen = [*config_maps_read(pod, objects), pod]
    elif len(argv) == 4 and argv[0] == "check":
        return check(one(objects, argv[1], argv[2]), argv[3])
    elif len(argv) == 3 and argv[0] == "config":
        print(one(objects, "ConfigMap", argv[1]).get("data", {})[argv[2]])
        return 0
    else:
        sys.exit(__doc__)
    if not chosen:
        sys.exit(f"pods.py: nothing to play for {' '.join(argv)}")
    yaml.safe_dump_all(chosen, sys.stdout, sort_keys=False)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
