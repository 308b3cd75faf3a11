"""The rendered manifests keep the program's contracts (docs/architecture.md), in every overlay.

These are the mistakes a schema cannot see: a probe on the wrong port, a Service selecting
nothing, an env var the program never reads, a writable volume in the read-only API.
"""

from __future__ import annotations

import copy
import math
import re
from typing import Any
from urllib.parse import urlsplit

import pytest
from pydantic import ValidationError

from recsys.cli.main import build_parser
from recsys.serving.server import GRACEFUL_SHUTDOWN_SECONDS
from recsys.settings import Settings
from tests.support.manifests import (
    REPO,
    Obj,
    Rendered,
    containers,
    label_selector_matches,
    markdown_section,
    markdown_tables,
    pod_template,
    quantity_bytes,
    resolve_port,
    split_image,
)

API = "recsys-api"
PVC = "recsys-data"
DATASET_CONFIG = "recsys-dataset"
DATA_MOUNT = "/data"
# Variables for the runtime rather than for recsys, each with its reason (in deployment.yaml).
RUNTIME_ENV = {"MALLOC_ARENA_MAX"}
# The namespace allowed to scrape /metrics: the knob of networkpolicy.yaml.
MONITORING_NAMESPACE = {"kubernetes.io/metadata.name": "monitoring"}
KUBE_DNS = {
    "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}},
    "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}},
}


def api_container(rendered: Rendered) -> Obj:
    (container,) = pod_template(rendered.one("Deployment", API))["spec"]["containers"]
    return container


def trainer_workloads(rendered: Rendered) -> list[Obj]:
    return [rendered.one("Job", "recsys-train"), rendered.one("CronJob", "recsys-refresh")]


def env_of(rendered: Rendered, container: Obj) -> dict[str, str]:
    """Every variable a container gets: env, then the ConfigMaps of envFrom."""
    variables: dict[str, str] = {}
    for source in container.get("envFrom", []):
        config = rendered.one("ConfigMap", source["configMapRef"]["name"])
        variables.update(config.get("data", {}))
    for item in container.get("env", []):
        assert "value" in item, f"{item['name']}: only literal values are expected"
        variables[item["name"]] = item["value"]
    return variables


def sync_wave(obj: Obj) -> int:
    """The ArgoCD sync wave an object is applied in (0 unless annotated)."""
    annotations = obj["metadata"].get("annotations", {})
    return int(annotations.get("argocd.argoproj.io/sync-wave", "0"))


def mount(container: Obj, path: str) -> Obj:
    (found,) = [item for item in container.get("volumeMounts", []) if item["mountPath"] == path]
    return found


def volume(workload: Obj, name: str) -> Obj:
    (found,) = [item for item in pod_template(workload)["spec"]["volumes"] if item["name"] == name]
    return found


# --- API: ports, probes, Service ------------------------------------------------------------


def test_api_listens_where_its_port_is_declared(rendered: Rendered) -> None:
    container = api_container(rendered)
    env = env_of(rendered, container)
    assert env["RECSYS_HOST"] == "0.0.0.0"
    assert resolve_port(container, "http") == int(env["RECSYS_PORT"])


@pytest.mark.parametrize(
    ("probe", "path", "port_setting"),
    [
        ("startupProbe", "/healthz", "RECSYS_METRICS_PORT"),
        ("livenessProbe", "/healthz", "RECSYS_METRICS_PORT"),
        ("readinessProbe", "/readyz", "RECSYS_PORT"),
    ],
)
def test_probes_reach_the_health_routes_on_their_ports(
    rendered: Rendered, probe: str, path: str, port_setting: str
) -> None:
    """The kubelet restarts a container whose liveness probe fails (Kubernetes, "Configure
    Liveness, Readiness and Startup Probes"). On the API's port a probe waits for one of
    RECSYS_MAX_CONNECTIONS slots that any client can hold, so liveness and startup ask the
    metrics port, which has slots of its own and answers /healthz (serving.guard,
    serving.metrics). Readiness stays on the API's port: it says whether that port serves.
    The kubelet's probes come from the pod's node, which a NetworkPolicy always admits
    (Kubernetes, "Network Policies"), so the metrics port's policy does not stop them."""
    container = api_container(rendered)
    http_get = container[probe]["httpGet"]
    assert http_get["path"] == path
    assert resolve_port(container, http_get["port"]) == int(
        env_of(rendered, container)[port_setting]
    )


def test_the_service_targets_the_container_port(rendered: Rendered) -> None:
    container = api_container(rendered)
    (port,) = rendered.one("Service", API)["spec"]["ports"]
    assert resolve_port(container, port["targetPort"]) == container["ports"][0]["containerPort"]


def test_selectors_match_the_pods_they_are_meant_for(rendered: Rendered) -> None:
    deployment = rendered.one("Deployment", API)
    api_labels = pod_template(deployment)["metadata"]["labels"]
    assert label_selector_matches(deployment["spec"]["selector"], api_labels)
    service_selector = {"matchLabels": rendered.one("Service", API)["spec"]["selector"]}
    assert label_selector_matches(service_selector, api_labels)
    assert label_selector_matches(
        rendered.one("PodDisruptionBudget", API)["spec"]["selector"], api_labels
    )
    # Neither the Service nor the PDB may take in trainer pods.
    for workload in trainer_workloads(rendered):
        labels = pod_template(workload)["metadata"]["labels"]
        assert not label_selector_matches(service_selector, labels)
        assert not label_selector_matches(deployment["spec"]["selector"], labels)


def test_every_pod_is_covered_by_a_network_policy(rendered: Rendered) -> None:
    policies = rendered.all("NetworkPolicy")
    for workload in rendered.workloads():
        labels = pod_template(workload)["metadata"]["labels"]
        assert any(label_selector_matches(p["spec"]["podSelector"], labels) for p in policies), (
            workload["metadata"]["name"]
        )


def test_the_api_serves_metrics_on_its_own_named_port(rendered: Rendered) -> None:
    """/metrics has its own listener (RECSYS_METRICS_PORT), declared as the port `metrics`."""
    container = api_container(rendered)
    env = env_of(rendered, container)
    metrics = resolve_port(container, "metrics")
    assert metrics == int(env["RECSYS_METRICS_PORT"])
    assert metrics != resolve_port(container, "http")
    (declared,) = [port for port in container["ports"] if port["name"] == "metrics"]
    assert declared.get("protocol", "TCP") == "TCP"


def test_no_service_exposes_the_metrics_port(rendered: Rendered) -> None:
    """The Service (a NodePort in prod) is public: /metrics must not be behind it."""
    container = api_container(rendered)
    metrics = resolve_port(container, "metrics")
    labels = pod_template(rendered.one("Deployment", API))["metadata"]["labels"]
    for service in rendered.all("Service"):
        if not label_selector_matches({"matchLabels": service["spec"]["selector"]}, labels):
            continue
        for port in service["spec"]["ports"]:
            target = resolve_port(container, port.get("targetPort", port["port"]))
            assert target != metrics, f"Service {service['metadata']['name']} exposes /metrics"


def api_ingress_by_port(rendered: Rendered) -> dict[int, list[Obj]]:
    """The API policy's ingress rules: container port -> the rules that admit it."""
    container = api_container(rendered)
    policy = rendered.one("NetworkPolicy", API)
    admitted: dict[int, list[Obj]] = {}
    for rule in policy["spec"]["ingress"]:
        assert rule.get("ports"), "an ingress rule without ports admits every port"
        for port in rule["ports"]:
            assert port.get("protocol", "TCP") == "TCP"
            admitted.setdefault(resolve_port(container, port["port"]), []).append(rule)
    return admitted


def test_the_api_network_policy_admits_http_from_anywhere(rendered: Rendered) -> None:
    listening = int(env_of(rendered, api_container(rendered))["RECSYS_PORT"])
    rules = api_ingress_by_port(rendered)[listening]
    assert any("from" not in rule for rule in rules)
    assert rendered.one("NetworkPolicy", API)["spec"]["egress"] == []


def test_the_api_network_policy_admits_metrics_from_the_monitoring_namespace_only(
    rendered: Rendered,
) -> None:
    container = api_container(rendered)
    admitted = api_ingress_by_port(rendered)
    assert sorted(admitted) == sorted(
        {resolve_port(container, "http"), resolve_port(container, "metrics")}
    )
    for rule in admitted[resolve_port(container, "metrics")]:
        assert rule["from"] == [{"namespaceSelector": {"matchLabels": MONITORING_NAMESPACE}}]


def test_prometheus_annotations_point_at_the_metrics_port(rendered: Rendered) -> None:
    """A Prometheus that discovers pods by annotation scrapes the metrics listener."""
    container = api_container(rendered)
    deployment = rendered.one("Deployment", API)
    annotations = pod_template(deployment)["metadata"].get("annotations", {})
    assert annotations["prometheus.io/scrape"] == "true"
    # Anything that carries scrape annotations for the API pods names the metrics listener.
    for obj in [pod_template(deployment), *rendered.all("Service")]:
        found = obj["metadata"].get("annotations", {})
        if "prometheus.io/port" in found or "prometheus.io/scrape" in found:
            assert int(found["prometheus.io/port"]) == resolve_port(container, "metrics")
            assert found.get("prometheus.io/path", "/metrics") == "/metrics"


def test_rollouts_never_take_a_serving_pod_away_first(rendered: Rendered) -> None:
    deployment = rendered.one("Deployment", API)
    strategy = deployment["spec"]["strategy"]
    assert strategy["type"] == "RollingUpdate"
    assert strategy["rollingUpdate"]["maxUnavailable"] == 0
    assert strategy["rollingUpdate"]["maxSurge"] >= 1
    pre_stop = api_container(rendered)["lifecycle"]["preStop"]["exec"]["command"]
    assert pre_stop[0] == "sleep"
    assert 0 < int(pre_stop[1]) < pod_template(deployment)["spec"]["terminationGracePeriodSeconds"]


def test_a_stopping_api_pod_is_not_killed_before_it_has_finished(rendered: Rendered) -> None:
    """The grace period runs from the start of the preStop sleep; SIGTERM comes after it, and
    the graceful shutdown after that. Past the grace period the kubelet sends SIGKILL."""
    deployment = rendered.one("Deployment", API)
    pre_stop = api_container(rendered)["lifecycle"]["preStop"]["exec"]["command"]
    assert pre_stop[0] == "sleep"
    grace = pod_template(deployment)["spec"]["terminationGracePeriodSeconds"]
    # GRACEFUL_SHUTDOWN_SECONDS: the longest `recsys serve` (uvicorn) takes after SIGTERM.
    assert int(pre_stop[1]) + GRACEFUL_SHUTDOWN_SECONDS < grace


# --- environment ------------------------------------------------------------------------


def test_every_env_var_is_a_settings_field_with_a_valid_value(rendered: Rendered) -> None:
    """A misspelt RECSYS_ name would be ignored silently; a bad value would crash the pod."""
    fields = {f"RECSYS_{name.upper()}": name for name in Settings.model_fields}
    for workload in rendered.workloads():
        for container in containers(workload):
            env = {k: v for k, v in env_of(rendered, container).items() if k not in RUNTIME_ENV}
            unknown = sorted(set(env) - set(fields))
            assert unknown == [], f"{workload['metadata']['name']}: not Settings fields"
            try:
                Settings(**{fields[name]: value for name, value in env.items()})
            except ValidationError as error:
                pytest.fail(f"{workload['metadata']['name']}: {error}")


def test_service_links_cannot_inject_recsys_variables(rendered: Rendered) -> None:
    """A Service named recsys would inject RECSYS_PORT=tcp://... and crash every pod."""
    for workload in rendered.workloads():
        assert pod_template(workload)["spec"]["enableServiceLinks"] is False


def test_the_trainers_read_the_dataset_from_the_overlay_config(rendered: Rendered) -> None:
    config = rendered.one("ConfigMap", DATASET_CONFIG)
    assert "RECSYS_DATASET_URL" in config["data"]
    for workload in trainer_workloads(rendered):
        (container,) = containers(workload)
        assert {"configMapRef": {"name": DATASET_CONFIG}} in container["envFrom"]


def test_the_dataset_config_says_only_what_differs_from_the_defaults(rendered: Rendered) -> None:
    """The mining parameters take the program's defaults unless an overlay wants others."""
    fields = {f"RECSYS_{name.upper()}": name for name in Settings.model_fields}
    for variable, value in rendered.one("ConfigMap", DATASET_CONFIG)["data"].items():
        name = fields[variable]
        parsed = getattr(Settings(**{name: value}), name)
        assert parsed != Settings.model_fields[name].default, f"{variable}={value} is the default"


def test_the_api_does_not_depend_on_the_dataset_config(rendered: Rendered) -> None:
    """Changing the dataset must retrain, not restart the API."""
    assert "envFrom" not in api_container(rendered)


# --- the shared volume ------------------------------------------------------------------


def test_the_data_volume_is_read_write_once_on_one_node_and_many_on_several(
    rendered: Rendered,
) -> None:
    """dev (one node, the cluster's own provisioner) asks for the one mode every provisioner
    gives; prod (replicas spread over nodes, a pre-made NFS volume) for ReadWriteMany.
    tests/deploy/test_cluster_rules.py holds the rule for every rendering."""
    modes = rendered.one("PersistentVolumeClaim", PVC)["spec"]["accessModes"]
    assert modes == {"dev": ["ReadWriteOnce"], "prod": ["ReadWriteMany"]}[rendered.overlay]


def test_the_api_mounts_the_data_read_only(rendered: Rendered) -> None:
    deployment = rendered.one("Deployment", API)
    container = api_container(rendered)
    data = mount(container, DATA_MOUNT)
    assert data["readOnly"] is True
    assert volume(deployment, data["name"])["persistentVolumeClaim"] == {
        "claimName": PVC,
        "readOnly": True,
    }
    assert env_of(rendered, container)["RECSYS_DATA_DIR"] == DATA_MOUNT


def test_the_trainers_mount_the_data_read_write(rendered: Rendered) -> None:
    for workload in trainer_workloads(rendered):
        (container,) = containers(workload)
        data = mount(container, DATA_MOUNT)
        assert not data.get("readOnly", False)
        claim = volume(workload, data["name"])["persistentVolumeClaim"]
        assert claim["claimName"] == PVC
        assert not claim.get("readOnly", False)
        assert env_of(rendered, container)["RECSYS_DATA_DIR"] == DATA_MOUNT


def test_every_container_has_a_writable_tmp_on_a_read_only_root(rendered: Rendered) -> None:
    for workload in rendered.workloads():
        for container in containers(workload):
            tmp = mount(container, "/tmp")
            assert "emptyDir" in volume(workload, tmp["name"])
            assert volume(workload, tmp["name"])["emptyDir"].get("sizeLimit")


# --- trainer Job and refresh CronJob ----------------------------------------------------


def test_the_trainer_job_is_an_argocd_sync_hook(rendered: Rendered) -> None:
    job = rendered.one("Job", "recsys-train")
    annotations = job["metadata"]["annotations"]
    assert annotations["argocd.argoproj.io/hook"] == "Sync"
    assert annotations["argocd.argoproj.io/hook-delete-policy"] == "BeforeHookCreation"
    assert next(containers(job))["args"] == ["train"]
    spec = job["spec"]
    assert spec["backoffLimit"] >= 1
    assert spec["activeDeadlineSeconds"] > 0
    assert spec["ttlSecondsAfterFinished"] > 0


def test_the_trainer_runs_beside_the_api_after_what_it_needs(rendered: Rendered) -> None:
    """ArgoCD applies one sync wave at a time and waits for it to be healthy.

    The trainer needs the dataset ConfigMap from an earlier wave; the API must share the
    trainer's wave, since its pods are ready only once the trainer has published; the PVC
    shares it too, since their pods are what binds it (tests/deploy/test_cluster_rules.py).
    """

    trainer = sync_wave(rendered.one("Job", "recsys-train"))
    assert sync_wave(rendered.one("Deployment", API)) == trainer
    assert sync_wave(rendered.one("ConfigMap", DATASET_CONFIG)) < trainer
    assert sync_wave(rendered.one("PersistentVolumeClaim", PVC)) == trainer


def test_the_refresh_cronjob_never_overlaps(rendered: Rendered) -> None:
    cron = rendered.one("CronJob", "recsys-refresh")
    spec = cron["spec"]
    assert spec["schedule"] == "*/5 * * * *"
    assert spec["concurrencyPolicy"] == "Forbid"
    assert spec["successfulJobsHistoryLimit"] >= 1
    assert spec["failedJobsHistoryLimit"] >= 1
    assert next(containers(cron))["args"] == ["refresh"]


def test_every_container_runs_a_real_recsys_command(rendered: Rendered) -> None:
    """The images' entrypoint is `recsys`; the manifests give the command as args."""
    parser = build_parser()
    for workload in rendered.workloads():
        for container in containers(workload):
            assert "command" not in container
            parser.parse_args(container["args"])  # SystemExit on an unknown command or flag


def test_the_refresh_pod_is_the_trainer_pod_with_its_own_command(rendered: Rendered) -> None:
    """Image, dataset config, volumes, security and resources: one pod spec for both."""
    job, cron = (copy.deepcopy(pod_template(w)["spec"]) for w in trainer_workloads(rendered))
    for spec in (job, cron):
        for container in spec["containers"]:
            del container["name"], container["args"]
    assert job == cron


def test_trainer_and_refresh_run_the_same_image(rendered: Rendered) -> None:
    images = {next(containers(workload))["image"] for workload in trainer_workloads(rendered)}
    assert len(images) == 1
    assert images != {api_container(rendered)["image"]}


def dataset_port(url: str) -> int | None:
    """The port a download of `url` connects to; None for a file in the image (file://)."""
    parts = urlsplit(url)
    if parts.scheme == "file":
        return None
    return parts.port or {"https": 443, "http": 80}[parts.scheme]


def test_the_trainers_connect_out_only_to_dns_and_the_dataset_ports(rendered: Rendered) -> None:
    policy = rendered.one("NetworkPolicy", "recsys-trainer")
    for workload in trainer_workloads(rendered):
        labels = pod_template(workload)["metadata"]["labels"]
        assert label_selector_matches(policy["spec"]["podSelector"], labels)
    assert set(policy["spec"]["policyTypes"]) == {"Ingress", "Egress"}
    assert policy["spec"]["ingress"] == []
    dns, dataset = [], []
    for rule in policy["spec"]["egress"]:
        assert rule.get("ports"), f"an egress rule without ports admits every port: {rule}"
        ports = {(port["port"], port.get("protocol", "TCP")) for port in rule["ports"]}
        if any(port == 53 for port, _ in ports):
            assert ports == {(53, "UDP"), (53, "TCP")}
            assert rule["to"] == [KUBE_DNS]
            dns.append(rule)
        else:
            assert all(protocol == "TCP" for _, protocol in ports)
            dataset.extend(port for port, _ in ports)
    assert len(dns) == 1
    # The default knob is the web's two ports; the overlay's dataset URL must be among them
    # (dev's is a file in the trainer image: nothing to connect to).
    url = rendered.one("ConfigMap", DATASET_CONFIG)["data"]["RECSYS_DATASET_URL"]
    port = dataset_port(url)
    assert port is None or port in dataset, f"{url}: its port is not in the trainer's egress"
    assert set(dataset) <= {443, 80}, "a port beyond the defaults: say why in the overlay"


# --- security, resources, images --------------------------------------------------------


def test_pods_run_as_the_images_non_root_user_with_nothing_extra(rendered: Rendered) -> None:
    for workload in rendered.workloads():
        spec = pod_template(workload)["spec"]
        assert spec["automountServiceAccountToken"] is False
        pod_security = spec["securityContext"]
        assert pod_security["runAsNonRoot"] is True
        assert pod_security["runAsUser"] == pod_security["runAsGroup"] == 10001
        assert pod_security["fsGroup"] == 10001
        assert pod_security["seccompProfile"] == {"type": "RuntimeDefault"}
        for container in containers(workload):
            security = container["securityContext"]
            assert security["allowPrivilegeEscalation"] is False
            assert security["readOnlyRootFilesystem"] is True
            assert security["capabilities"] == {"drop": ["ALL"]}
            assert security.get("privileged", False) is False


def test_every_container_has_requests_and_limits(rendered: Rendered) -> None:
    for workload in rendered.workloads():
        for container in containers(workload):
            resources: dict[str, Any] = container["resources"]
            for bound in ("requests", "limits"):
                assert set(resources[bound]) >= {"cpu", "memory"}, (container["name"], bound)


def test_every_image_has_a_pinned_tag(rendered: Rendered) -> None:
    for workload in rendered.workloads():
        for container in containers(workload):
            image = container["image"]
            _, tag, _ = split_image(image)
            assert tag, f"{image}: no tag"
            assert tag != "latest", image


def test_every_object_lives_in_the_overlay_namespace(rendered: Rendered) -> None:
    namespaces = {
        obj["metadata"].get("namespace") for obj in rendered.objects if obj["kind"] != "Namespace"
    }
    assert len(namespaces) == 1
    assert namespaces.isdisjoint({None, "default"})


# --- prod: the course's shared cluster -----------------------------------------------------


def test_prod_is_shaped_for_the_shared_cluster(prod: Rendered) -> None:
    assert prod.one("Service", API)["spec"]["type"] == "NodePort"
    claim = prod.one("PersistentVolumeClaim", PVC)["spec"]
    assert claim["selector"]["matchLabels"]
    assert claim["storageClassName"] == ""
    assert prod.one("PodDisruptionBudget", API)["spec"]["maxUnavailable"] == 1
    assert env_of(prod, api_container(prod))["RECSYS_WATCH"] == "poll"
    # The namespace is given by the cluster: prod must not try to create one.
    assert prod.all("Namespace") == []


def test_prod_images_are_pinned_by_digest_in_a_registry(prod: Rendered) -> None:
    """The digest is what runs; the release tag beside it says which release that is."""
    for workload in prod.workloads():
        for container in containers(workload):
            image = container["image"]
            match = re.fullmatch(r"([^@]+):(\d+\.\d+\.\d+)@sha256:[0-9a-f]{64}", image)
            assert match, f"{image}: not NAME:X.Y.Z@sha256:DIGEST"
            assert "." in match.group(1).split("/")[0], f"{image}: not in a registry"
            assert container["imagePullPolicy"] == "Always"


def test_prod_spreads_the_api_replicas_over_nodes(prod: Rendered) -> None:
    """Soft (ScheduleAnyway): on the shared cluster a replica that cannot be placed apart
    must still run; DoNotSchedule would leave it Pending and stall rollouts and drains."""
    deployment = prod.one("Deployment", API)
    labels = pod_template(deployment)["metadata"]["labels"]
    constraints = pod_template(deployment)["spec"]["topologySpreadConstraints"]
    (by_node,) = [c for c in constraints if c["topologyKey"] == "kubernetes.io/hostname"]
    assert label_selector_matches(by_node["labelSelector"], labels)
    assert by_node["maxSkew"] == 1
    assert by_node["whenUnsatisfiable"] == "ScheduleAnyway"


# --- replica counts, and prod's autoscaler -------------------------------------------------


def autoscaled(rendered: Rendered) -> dict[str, Obj]:
    """Deployment name -> the HorizontalPodAutoscaler that scales it."""
    found: dict[str, Obj] = {}
    for hpa in rendered.all("HorizontalPodAutoscaler"):
        target = hpa["spec"]["scaleTargetRef"]
        if target["kind"] == "Deployment":
            assert target["name"] not in found, f"two HPAs scale Deployment {target['name']}"
            found[target["name"]] = hpa
    return found


def test_a_replica_count_is_set_in_one_place_only(rendered: Rendered) -> None:
    """A Deployment an HPA scales carries no spec.replicas: ArgoCD would set it back on every
    sync (and selfHeal) and undo the HPA's scaling. One no HPA scales states its count."""
    hpas = autoscaled(rendered)
    for deployment in rendered.all("Deployment"):
        name = deployment["metadata"]["name"]
        if name in hpas:
            assert "replicas" not in deployment["spec"], f"{name}: the HPA owns its count"
        else:
            assert deployment["spec"]["replicas"] >= 1, name


def prod_autoscaler(prod: Rendered) -> Obj:
    (hpa,) = prod.all("HorizontalPodAutoscaler")
    return hpa


def test_prod_autoscales_the_api_deployment_on_cpu(prod: Rendered) -> None:
    hpa = prod_autoscaler(prod)
    assert hpa["apiVersion"] == "autoscaling/v2"
    assert hpa["metadata"]["name"] == API
    target = hpa["spec"]["scaleTargetRef"]
    # The Deployment by its rendered name, in the same render (and so the same namespace).
    deployment = prod.one(target["kind"], target["name"])
    assert target == {"apiVersion": deployment["apiVersion"], "kind": "Deployment", "name": API}
    (metric,) = hpa["spec"]["metrics"]
    assert metric["type"] == "Resource"
    assert metric["resource"]["name"] == "cpu"
    assert metric["resource"]["target"]["type"] == "Utilization"
    assert 0 < metric["resource"]["target"]["averageUtilization"] <= 100


def cpu_cores(quantity: str | int | float) -> float:
    """A CPU quantity (`100m`, `1`, `0.5`) in cores."""
    text = str(quantity)
    return float(text[:-1]) / 1000 if text.endswith("m") else float(text)


def test_the_autoscaled_api_requests_cpu(prod: Rendered) -> None:
    """Utilization is a percentage of the request: the HPA computes nothing for a pod with a
    container that requests no CPU."""
    target = prod_autoscaler(prod)["spec"]["scaleTargetRef"]
    for container in containers(prod.one("Deployment", target["name"])):
        assert cpu_cores(container["resources"]["requests"]["cpu"]) > 0, container["name"]


def pods_a_drain_may_evict(pdb: Obj, replicas: int) -> int:
    """How many of REPLICAS healthy pods the PodDisruptionBudget lets a drain evict at once.
    Percentages are rounded up, as the disruption controller does."""
    spec = pdb["spec"]
    (field,) = {"minAvailable", "maxUnavailable"} & set(spec)
    value = spec[field]
    if isinstance(value, str):
        assert value.endswith("%"), f"{field}: {value}"
        value = math.ceil(int(value[:-1]) * replicas / 100)
    return replicas - value if field == "minAvailable" else value


def test_the_autoscalers_floor_keeps_the_api_answering_through_drains(prod: Rendered) -> None:
    """At minReplicas a drain may still evict a pod (it is not blocked forever), and leaves
    at least one answering (it does not take them all)."""
    spec = prod_autoscaler(prod)["spec"]
    deployment = prod.one("Deployment", spec["scaleTargetRef"]["name"])
    labels = pod_template(deployment)["metadata"]["labels"]
    (pdb,) = [
        pdb
        for pdb in prod.all("PodDisruptionBudget")
        if label_selector_matches(pdb["spec"]["selector"], labels)
    ]
    floor = spec["minReplicas"]
    assert floor >= 2
    assert 1 <= pods_a_drain_may_evict(pdb, floor) <= floor - 1
    assert spec["maxReplicas"] > floor


def test_the_autoscaler_scales_down_no_faster_than_the_default(prod: Rendered) -> None:
    """Scale-down waits for 5 minutes of lower recommendations at least (the Kubernetes
    default, written out): a lull between two bursts does not flap replicas."""
    behavior = prod_autoscaler(prod)["spec"]["behavior"]
    assert behavior["scaleDown"]["stabilizationWindowSeconds"] >= 300


def test_the_autoscaler_comes_after_the_deployment_it_scales(prod: Rendered) -> None:
    """A later ArgoCD sync wave: the HPA is created once its Deployment exists and its pods
    are ready (after the trainer's first model). Before that it has no CPU figures to read,
    and ArgoCD could mark it Degraded (FailedGetResourceMetric) in the middle of the sync."""
    hpa = prod_autoscaler(prod)
    deployment = prod.one("Deployment", hpa["spec"]["scaleTargetRef"]["name"])
    assert sync_wave(hpa) > sync_wave(deployment)


# --- API memory: docs/operations.md, "Sizing memory" -------------------------------------

OPERATIONS = REPO / "docs" / "operations.md"
RESULTS = REPO / "bench" / "RESULTS.md"


def sizing_rule() -> int:
    """The N of the documented rule `API memory limit >= R + N x F`."""
    section = markdown_section(OPERATIONS.read_text(), "Sizing memory")
    (factor,) = re.findall(r"^API memory limit >= R \+ (\d+) x F$", section, re.M)
    return int(factor)


def default_model_figures() -> tuple[dict[str, str], dict[str, str]]:
    """The bench/RESULTS.md rows the rule takes R and F from, for the default settings:
    the server's RSS with the default ds1 model loaded, and the file size of the model
    `recsys train` publishes from ds1 with every setting at its default."""
    results = RESULTS.read_text()
    (resident,) = [
        row
        for table in markdown_tables(markdown_section(results, "API throughput"))
        for row in table
        if row.get("model") == "ds1 default"
    ]
    (model,) = [
        row
        for table in markdown_tables(markdown_section(results, "Default training"))
        for row in table
        if row.get("dataset") == "ds1"
    ]
    return resident, model


def test_the_api_memory_limit_follows_the_sizing_rule(rendered: Rendered) -> None:
    """limit >= R + N x F for the default model, reading MB and KB as MiB and KiB (the
    larger reading). Requested as much as the limit: the node guarantees it."""
    resident, model = default_model_figures()
    needed = float(resident["RSS MB"]) * 2**20 + sizing_rule() * float(model["model KB"]) * 2**10
    resources = api_container(rendered)["resources"]
    limit = quantity_bytes(resources["limits"]["memory"])
    assert limit >= needed, f"{resources['limits']['memory']} < R + {sizing_rule()} x F"
    assert quantity_bytes(resources["requests"]["memory"]) == limit


def test_the_sizing_docs_quote_the_figures_the_limit_is_sized_from() -> None:
    section = markdown_section(OPERATIONS.read_text(), "Sizing memory")
    quoted = {line[1:].strip() for line in section.splitlines() if line.startswith(">")}
    for row in default_model_figures():
        line = "| " + " | ".join(row.values()) + " |"
        assert line in quoted, f"docs/operations.md, Sizing memory, does not quote: {line}"


def test_the_api_caps_malloc_arenas(rendered: Rendered) -> None:
    """Freed model memory stays in glibc's per-thread arenas: RSS would ratchet after swaps."""
    env = env_of(rendered, api_container(rendered))
    assert env["MALLOC_ARENA_MAX"] == "2"
