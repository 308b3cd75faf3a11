"""The monitoring component (deploy/kustomize/components/monitoring), added to each overlay as
an operator adds it: a PodMonitor that scrapes the API pods' metrics port, a PrometheusRule
whose alerts pass `promtool check rules` and their unit tests (`promtool test rules`), a
Grafana dashboard whose queries are PromQL, and kinds the ArgoCD project admits.

kubernetes-validate has no schema for the Prometheus Operator's CRDs: the PodMonitor and the
PrometheusRule are checked against the fields of their CRDs (monitoring.coreos.com/v1) here.
promtool is a requirement (`make test` installs the prometheus package, .ci/test-deps):
without it these tests fail, they do not skip.
"""

from __future__ import annotations

import copy
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.support.manifests import (
    ARGOCD,
    MONITORING,
    OVERLAYS,
    VERSIONS,
    Obj,
    containers,
    label_selector_matches,
    load_yaml_documents,
    metric_names,
    monitoring_expressions,
    overlay_with,
    pod_template,
    render,
    render_overlay,
    validation_errors,
)

UNIT_TESTS = MONITORING / "tests" / "alerts-test.yaml"
RULES_FILE = "recsys-rules.yaml"  # the name alerts-test.yaml loads
EXAMPLE_PATCH = MONITORING / "examples" / "thresholds.yaml"
ADDED = {
    ("PodMonitor", "recsys-api"),
    ("PrometheusRule", "recsys"),
    ("ConfigMap", "recsys-dashboard"),
}
CRD_KINDS = {"PodMonitor", "PrometheusRule"}
RUNBOOK = "https://github.com/{owner}/recsys/blob/main/docs/operations.md#{anchor}"
SEVERITIES = {"critical", "warning"}
# Where each metric the alerts and the dashboard read comes from: the API's /metrics
# (tests/serving/test_monitoring_metrics.py scrapes a real server for every one of them),
# kube-state-metrics, or Prometheus itself.
SOURCES = ("recsys_", "process_", "kube_")
PROMETHEUS_OWN = {"up"}

# The fields of the CRDs' specs (prometheus-operator, monitoring.coreos.com/v1): a misspelt
# one would be pruned by the API server, unnoticed.
PODMONITOR_SPEC = {
    "attachMetadata", "bodySizeLimit", "fallbackScrapeProtocol", "jobLabel",
    "keepDroppedTargets", "labelLimit", "labelNameLengthLimit", "labelValueLengthLimit",
    "namespaceSelector", "nativeHistogramBucketLimit", "nativeHistogramMinBucketFactor",
    "podMetricsEndpoints", "podTargetLabels", "sampleLimit", "scrapeClass",
    "scrapeClassicHistograms", "scrapeProtocols", "selector", "selectorMechanism",
    "targetLimit",
}  # fmt: skip
POD_METRICS_ENDPOINT = {
    "authorization", "basicAuth", "bearerTokenSecret", "enableHttp2", "filterRunning",
    "followRedirects", "honorLabels", "honorTimestamps", "interval", "metricRelabelings",
    "noProxy", "oauth2", "params", "path", "port", "portNumber", "proxyConnectHeader",
    "proxyFromEnvironment", "proxyUrl", "relabelings", "scheme", "scrapeTimeout", "targetPort",
    "tlsConfig", "trackTimestampsStaleness",
}  # fmt: skip
RELABEL_CONFIG = {
    "action",
    "modulus",
    "regex",
    "replacement",
    "separator",
    "sourceLabels",
    "targetLabel",
}
RELABEL_ACTIONS = {
    "replace", "keep", "drop", "hashmod", "labelmap", "labeldrop", "labelkeep", "lowercase",
    "uppercase", "keepequal", "dropequal",
}  # fmt: skip
RULE_GROUP = {
    "name",
    "interval",
    "rules",
    "partial_response_strategy",
    "limit",
    "query_offset",
    "labels",
}
RULE = {"record", "alert", "expr", "for", "keep_firing_for", "labels", "annotations"}
# The Operator's Duration type.
DURATION = re.compile(
    r"^(0|(([0-9]+)y)?(([0-9]+)w)?(([0-9]+)d)?(([0-9]+)h)?(([0-9]+)m)?(([0-9]+)s)?(([0-9]+)ms)?)$"
)


def promtool(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    assert shutil.which("promtool"), "promtool is missing: apt-get install prometheus"
    return subprocess.run(
        ["promtool", *args], cwd=cwd, capture_output=True, text=True, timeout=120, check=False
    )


@pytest.fixture(scope="module")
def monitored(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[Obj]]:
    """Each overlay with `components: [../../components/monitoring]` added, rendered."""
    folder = tmp_path_factory.mktemp("monitored")
    return {
        overlay: load_yaml_documents(render(overlay_with(overlay, folder, ["monitoring"])))
        for overlay in OVERLAYS
    }


@pytest.fixture(scope="module")
def monitored_prod(monitored: dict[str, list[Obj]]) -> list[Obj]:
    return monitored["prod"]


def one(objects: list[Obj], kind: str, name: str) -> Obj:
    (found,) = [o for o in objects if o["kind"] == kind and o["metadata"]["name"] == name]
    return found


def rule_groups(objects: list[Obj]) -> list[Obj]:
    return one(objects, "PrometheusRule", "recsys")["spec"]["groups"]


def alerts(objects: list[Obj]) -> list[Obj]:
    return [rule for group in rule_groups(objects) for rule in group["rules"]]


def write_rules(objects: list[Obj], folder: Path) -> Path:
    """The PrometheusRule's groups as a Prometheus rule file, next to the unit tests."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / RULES_FILE).write_text(yaml.safe_dump({"groups": rule_groups(objects)}))
    shutil.copy(UNIT_TESTS, folder / UNIT_TESTS.name)
    return folder / RULES_FILE


def repository_owner() -> str:
    """The owner of the repository the ArgoCD Applications follow (`your-org` until edited)."""
    (url,) = {
        app["spec"]["source"]["repoURL"]
        for path in ARGOCD.glob("recsys-*.yaml")
        for app in load_yaml_documents(path.read_text())
    }
    (owner,) = re.findall(r"^https://github\.com/([^/]+)/recsys\.git$", url)
    return owner


# --- what the component adds --------------------------------------------------------------


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_component_adds_its_objects_and_changes_nothing_else(
    monitored: dict[str, list[Obj]], overlay: str
) -> None:
    objects = monitored[overlay]
    added = [o for o in objects if (o["kind"], o["metadata"]["name"]) in ADDED]
    assert sorted((o["kind"], o["metadata"]["name"]) for o in added) == sorted(ADDED)
    rest = [o for o in objects if o not in added]
    assert rest == render_overlay(overlay).objects
    # In the overlay's namespace, with the API's.
    (api,) = [o for o in objects if o["kind"] == "Deployment"]
    assert {o["metadata"]["namespace"] for o in added} == {api["metadata"]["namespace"]}


@pytest.mark.parametrize("overlay", OVERLAYS)
@pytest.mark.parametrize("version", VERSIONS)
def test_the_rendered_objects_are_valid(
    monitored: dict[str, list[Obj]], overlay: str, version: str
) -> None:
    """Everything but the CRDs' objects against the Kubernetes schemas; those by the tests
    below, against their CRDs' fields."""
    objects = [o for o in monitored[overlay] if o["kind"] not in CRD_KINDS]
    assert [error for o in objects for error in validation_errors(o, version)] == []
    for crd in (o for o in monitored[overlay] if o["kind"] in CRD_KINDS):
        assert crd["apiVersion"] == "monitoring.coreos.com/v1"
        (error,) = validation_errors(crd, version)
        assert "Couldn't find schema" in error  # why they are checked here instead


def test_the_project_admits_every_kind_the_component_renders(
    monitored: dict[str, list[Obj]],
) -> None:
    """And only those: the namespaced kinds of the overlays, with the component or without
    (test_argocd.py checks the cluster-scoped ones and the namespaces)."""
    (project,) = load_yaml_documents((ARGOCD / "project.yaml").read_text())
    admitted = {(e["group"], e["kind"]) for e in project["spec"]["namespaceResourceWhitelist"]}
    rendered = {
        (o["apiVersion"].rpartition("/")[0], o["kind"])
        for objects in monitored.values()
        for o in objects
        if o["metadata"].get("namespace")
    }
    assert {
        ("monitoring.coreos.com", "PodMonitor"),
        ("monitoring.coreos.com", "PrometheusRule"),
    } <= rendered
    assert admitted == rendered


# --- the PodMonitor -----------------------------------------------------------------------


def test_the_pod_monitor_scrapes_the_api_pods_metrics_port(monitored_prod: list[Obj]) -> None:
    monitor = one(monitored_prod, "PodMonitor", "recsys-api")
    spec = monitor["spec"]
    assert "namespaceSelector" not in spec  # its own namespace, the API's
    api = one(monitored_prod, "Deployment", "recsys-api")
    assert label_selector_matches(spec["selector"], pod_template(api)["metadata"]["labels"])
    for workload in monitored_prod:
        if workload["kind"] in ("Job", "CronJob"):
            labels = pod_template(workload)["metadata"]["labels"]
            assert not label_selector_matches(spec["selector"], labels), workload["metadata"]
    (endpoint,) = spec["podMetricsEndpoints"]
    assert endpoint["path"] == "/metrics"
    (container,) = containers(api)
    ports = {port["name"]: port["containerPort"] for port in container["ports"]}
    env = {item["name"]: item.get("value") for item in container["env"]}
    assert endpoint["port"] == "metrics"  # by name: the Operator matches the container port's
    assert ports["metrics"] == int(env["RECSYS_METRICS_PORT"])
    # The API's NetworkPolicy admits that port from the namespace Prometheus must run in.
    policy = one(monitored_prod, "NetworkPolicy", "recsys-api")
    (rule,) = [
        r
        for r in policy["spec"]["ingress"]
        if {"port": ports["metrics"], "protocol": "TCP"} in r["ports"]
    ]
    (peer,) = rule["from"]
    assert peer["namespaceSelector"]["matchLabels"] == {"kubernetes.io/metadata.name": "monitoring"}
    # job="recsys-api", which every alert and panel selects by.
    (relabel,) = endpoint["relabelings"]
    assert relabel == {"action": "replace", "targetLabel": "job", "replacement": "recsys-api"}


def test_the_pod_monitor_has_only_fields_of_its_crd(monitored_prod: list[Obj]) -> None:
    spec = one(monitored_prod, "PodMonitor", "recsys-api")["spec"]
    assert set(spec) <= PODMONITOR_SPEC
    assert {"selector", "podMetricsEndpoints"} <= set(spec)
    for endpoint in spec["podMetricsEndpoints"]:
        assert set(endpoint) <= POD_METRICS_ENDPOINT
        assert isinstance(endpoint["port"], str)
        for key in ("interval", "scrapeTimeout"):
            assert DURATION.match(endpoint[key]), endpoint[key]
        for relabel in endpoint["relabelings"]:
            assert set(relabel) <= RELABEL_CONFIG
            assert relabel["action"].lower() in RELABEL_ACTIONS


def test_the_operators_select_the_objects_by_the_documented_release_label(
    monitored_prod: list[Obj],
) -> None:
    """kube-prometheus-stack's default podMonitorSelector and ruleSelector."""
    for kind in CRD_KINDS:
        (found,) = [o for o in monitored_prod if o["kind"] == kind]
        assert found["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    assert "release: kube-prometheus-stack" in (MONITORING / "kustomization.yaml").read_text()


# --- the PrometheusRule -------------------------------------------------------------------


def test_the_rule_has_only_fields_of_its_crd(monitored_prod: list[Obj]) -> None:
    spec = one(monitored_prod, "PrometheusRule", "recsys")["spec"]
    assert set(spec) == {"groups"}
    names = [group["name"] for group in spec["groups"]]
    assert len(names) == len(set(names))
    for group in spec["groups"]:
        assert set(group) <= RULE_GROUP
        for rule in group["rules"]:
            assert set(rule) <= RULE
            assert "alert" in rule  # alerts only: no recording rule
            assert isinstance(rule["expr"], str)
            assert DURATION.match(rule.get("for", "0")), rule.get("for")


def test_the_rules_pass_promtool_check(monitored_prod: list[Obj], tmp_path: Path) -> None:
    rules = write_rules(monitored_prod, tmp_path)
    done = promtool("check", "rules", rules.name, cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"SUCCESS: {len(alerts(monitored_prod))} rules found" in done.stdout


def test_every_alert_says_what_it_is_and_where_its_runbook_is(monitored_prod: list[Obj]) -> None:
    names = [rule["alert"] for rule in alerts(monitored_prod)]
    assert len(names) == len(set(names))
    for rule in alerts(monitored_prod):
        assert rule["labels"]["severity"] in SEVERITIES, rule["alert"]
        annotations = rule["annotations"]
        assert set(annotations) == {"summary", "description", "runbook_url"}, rule["alert"]
        assert annotations["summary"].strip()
        assert annotations["description"].strip()
        expected = RUNBOOK.format(owner=repository_owner(), anchor=rule["alert"].lower())
        assert annotations["runbook_url"] == expected


def github_anchors(markdown: str) -> set[str]:
    """The anchors GitHub gives a page's headings: lower case, spaces as hyphens, other
    punctuation dropped."""
    return {
        re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")
        for heading in re.findall(r"^#+ (.+)$", markdown, re.M)
    }


def test_every_runbook_url_points_at_a_section_of_the_runbook(monitored_prod: list[Obj]) -> None:
    """docs/operations.md has a heading for each alert, under "Alerts and dashboard"."""
    operations = (MONITORING.parents[3] / "docs" / "operations.md").read_text()
    anchors = github_anchors(operations)
    assert "alerts-and-dashboard" in anchors
    missing = [
        rule["alert"] for rule in alerts(monitored_prod) if rule["alert"].lower() not in anchors
    ]
    assert missing == []


# --- the unit tests of the alerts ---------------------------------------------------------


def test_the_alerts_pass_their_unit_tests(monitored_prod: list[Obj], tmp_path: Path) -> None:
    write_rules(monitored_prod, tmp_path)
    done = promtool("test", "rules", UNIT_TESTS.name, cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS" in done.stdout


def test_every_alert_is_unit_tested_firing_and_not_firing(monitored_prod: list[Obj]) -> None:
    firing: set[str] = set()
    silent: set[str] = set()
    for case in yaml.safe_load(UNIT_TESTS.read_text())["tests"]:
        for check in case["alert_rule_test"]:
            (firing if check["exp_alerts"] else silent).add(check["alertname"])
    names = {rule["alert"] for rule in alerts(monitored_prod)}
    assert firing == names
    assert silent == names


def test_the_unit_tests_fail_when_a_threshold_moves(
    monitored_prod: list[Obj], tmp_path: Path
) -> None:
    """The unit tests are sharp: 7 days made 14 breaks the case of a model over 7 days old
    (every threshold has a case just past it)."""
    changed = copy.deepcopy(monitored_prod)
    for rule in alerts(changed):
        if rule["alert"] == "RecsysModelTooOld":
            assert "> 604800" in rule["expr"]
            rule["expr"] = rule["expr"].replace("> 604800", "> 1209600")
    write_rules(changed, tmp_path)
    done = promtool("test", "rules", UNIT_TESTS.name, cwd=tmp_path)
    assert done.returncode != 0
    assert "alertname: RecsysModelTooOld" in done.stdout + done.stderr


# --- changing a threshold and the release label, as kustomization.yaml documents ----------


def example_patch() -> list[Obj]:
    return yaml.safe_load(EXAMPLE_PATCH.read_text())


def test_the_example_threshold_patch_changes_only_its_alert(
    monitored_prod: list[Obj], tmp_path: Path
) -> None:
    patched_overlay = overlay_with(
        "prod",
        tmp_path,
        ["monitoring"],
        [{"target": {"kind": "PrometheusRule", "name": "recsys"}, "path": "thresholds.yaml"}],
    )
    shutil.copy(EXAMPLE_PATCH, patched_overlay / "thresholds.yaml")
    patched = load_yaml_documents(render(patched_overlay))
    before = {rule["alert"]: rule for rule in alerts(monitored_prod)}
    after = {rule["alert"]: rule for rule in alerts(patched)}
    changed = {name for name in before if before[name] != after[name]}
    assert changed == {"RecsysModelTooOld"}
    assert after["RecsysModelTooOld"]["expr"].strip().endswith("> 1209600")
    assert after["RecsysModelTooOld"]["for"] == "1h"
    rules = write_rules(patched, tmp_path / "rules")
    done = promtool("check", "rules", rules.name, cwd=rules.parent)
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_threshold_patch_fails_the_render_when_its_alert_moved(tmp_path: Path) -> None:
    """Its `test` op: a patch made for another order of the rules patches nothing."""
    patch = example_patch()
    assert patch[0]["op"] == "test"
    patch[0]["path"] = patch[0]["path"].replace("/rules/3/", "/rules/4/")
    broken = overlay_with(
        "prod",
        tmp_path,
        ["monitoring"],
        [{"target": {"kind": "PrometheusRule", "name": "recsys"}, "patch": yaml.safe_dump(patch)}],
    )
    done = subprocess.run(
        ["kubectl", "kustomize", str(broken)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode != 0
    assert "testing value /spec/groups/0/rules/4/alert failed" in done.stderr


def test_the_documented_release_patch_relabels_both_operator_objects(tmp_path: Path) -> None:
    documented = (MONITORING / "kustomization.yaml").read_text()
    assert "group: monitoring.coreos.com" in documented
    assert "path: /metadata/labels/release" in documented
    patch = [{"op": "replace", "path": "/metadata/labels/release", "value": "my-release"}]
    relabelled = overlay_with(
        "prod",
        tmp_path,
        ["monitoring"],
        [{"target": {"group": "monitoring.coreos.com"}, "patch": yaml.safe_dump(patch)}],
    )
    objects = load_yaml_documents(render(relabelled))
    releases = {o["kind"]: o["metadata"].get("labels", {}).get("release") for o in objects}
    assert releases["PodMonitor"] == releases["PrometheusRule"] == "my-release"
    assert releases["Deployment"] is None


# --- the dashboard ------------------------------------------------------------------------


def dashboard(objects: list[Obj]) -> Obj:
    config_map = one(objects, "ConfigMap", "recsys-dashboard")
    (text,) = config_map["data"].values()
    return json.loads(text)


def test_the_dashboard_is_a_config_map_grafana_picks_up(monitored_prod: list[Obj]) -> None:
    config_map = one(monitored_prod, "ConfigMap", "recsys-dashboard")
    assert config_map["metadata"]["labels"]["grafana_dashboard"] == "1"
    (name,) = config_map["data"]
    assert name.endswith(".json")
    board = dashboard(monitored_prod)
    assert board["uid"] == "recsys"
    assert board["title"]
    variables = {item["name"]: item for item in board["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"


def test_every_dashboard_panel_queries_the_chosen_data_source(monitored_prod: list[Obj]) -> None:
    panels = [panel for panel in dashboard(monitored_prod)["panels"] if panel["type"] != "row"]
    assert panels
    ids = [panel["id"] for panel in dashboard(monitored_prod)["panels"]]
    assert len(ids) == len(set(ids))
    for panel in panels:
        assert panel["title"]
        assert panel["targets"], panel["title"]
        assert panel["datasource"]["uid"] == "${datasource}"
        for target in panel["targets"]:
            assert target["expr"].strip()
            assert target["datasource"]["uid"] == "${datasource}"


def test_no_dashboard_panels_overlap(monitored_prod: list[Obj]) -> None:
    """On Grafana's grid of 24 columns."""
    taken: dict[tuple[int, int], str] = {}
    for panel in dashboard(monitored_prod)["panels"]:
        box = panel["gridPos"]
        assert box["x"] + box["w"] <= 24, panel["title"]
        for x in range(box["x"], box["x"] + box["w"]):
            for y in range(box["y"], box["y"] + box["h"]):
                assert (x, y) not in taken, (panel["title"], taken.get((x, y)))
                taken[(x, y)] = panel["title"]


def test_the_dashboard_shows_what_the_issue_asks_for(monitored_prod: list[Obj]) -> None:
    """Requests and latency, model id and age, swaps and reload failures, fill share,
    unknown-song share, memory."""
    expressions = " ".join(
        target["expr"]
        for panel in dashboard(monitored_prod)["panels"]
        for target in panel.get("targets", [])
    )
    for metric in (
        "recsys_http_requests_total",
        "recsys_http_request_duration_seconds_bucket",
        "recsys_model_info",
        "recsys_model_age_seconds",
        "recsys_model_reloads_total",
        'source="popularity"',
        'known="false"',
        "process_resident_memory_bytes",
    ):
        assert metric in expressions


def test_every_dashboard_query_is_promql(tmp_path: Path) -> None:
    """promtool has no check for a bare expression: each query becomes a recording rule of
    a synthetic rule file, which `promtool check rules` parses."""
    queries = monitoring_expressions()["dashboard"]
    assert queries
    rules = [{"record": f"recsys:dashboard_query_{i}", "expr": q} for i, q in enumerate(queries)]
    path = tmp_path / "dashboard-queries.yaml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    done = promtool("check", "rules", path.name, cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"SUCCESS: {len(queries)} rules found" in done.stdout
    # And a broken one is refused: the check parses the expressions.
    path.write_text(
        yaml.safe_dump({"groups": [{"name": "d", "rules": [{"record": "r", "expr": "sum(("}]}]})
    )
    assert promtool("check", "rules", path.name, cwd=tmp_path).returncode != 0


def test_the_file_expressions_are_the_rendered_ones(monitored_prod: list[Obj]) -> None:
    """What test_monitoring_metrics.py reads from the component's files is what renders."""
    assert monitoring_expressions()["alerts"] == [rule["expr"] for rule in alerts(monitored_prod)]
    rendered_queries = [
        target["expr"]
        for panel in dashboard(monitored_prod)["panels"]
        for target in panel.get("targets", [])
    ]
    assert len(monitoring_expressions()["dashboard"]) == len(rendered_queries)


def test_every_metric_read_has_a_known_source() -> None:
    """recsys_* and process_* from the API (each checked on a live server by
    tests/serving/test_monitoring_metrics.py), kube_* from kube-state-metrics, `up` from
    Prometheus: nothing from an exporter kube-prometheus-stack may not run."""
    names = {
        name
        for expressions in monitoring_expressions().values()
        for expression in expressions
        for name in metric_names(expression)
    }
    assert {"up", "recsys_model_info", "kube_job_failed"} <= names
    unknown = {
        name for name in names if not name.startswith(SOURCES) and name not in PROMETHEUS_OWN
    }
    assert unknown == set()


def test_metric_names_reads_expressions_as_promql() -> None:
    """The extraction the live-scrape test relies on."""
    expression = (
        "histogram_quantile(0.99, sum by (namespace, le) "
        '(rate(a_bucket{route="/x", b=~"c|d"}[5m]))) > 0.25'
        " and on (namespace) b_total offset 1h unless ignoring (pod) c * 1e3"
    )
    assert metric_names(expression) == {"a_bucket", "b_total", "c"}
