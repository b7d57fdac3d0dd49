"""The observability settings, kube-prometheus-stack values, Alertmanager wiring, monitors and the
Monitoring component (under mocks), with amtool and the Prometheus Operator's CRD schemas."""

from __future__ import annotations

import copy
import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pulumi
import pytest
import yaml

from components import charts
from components.config import ConfigError, StackConfig, validate
from components.dashboards import render_dashboards
from components.endpoints import ScrapeTarget
from components.monitoring import (
    ALB_SSL_POLICY,
    CLOUDWATCH_DATASOURCE_UID,
    DASHBOARD_LABEL,
    RECEIVERS_SECRET,
    RELEASE,
    SECRET_DIR,
    GrafanaIngress,
    Monitoring,
    MonitoringArgs,
    alertmanager_config,
    cloudwatch_datasource,
    grafana_cloudwatch_policy,
    kube_prometheus_values,
    render_dashboards_configmap,
    render_grafana_alb_ingress,
    render_monitor,
    render_monitors,
)
from components.observability_settings import ObservabilitySettings, needs_secret
from synth.engine import SECRET, Registration, Synthesis, synthesize
from synth.output import manifest
from tests.conftest import STACKS, stack_values, synthesized
from tests.invariants import plaintext_secrets
from tests.k8s_validation import assert_valid, validate_manifests
from tests.tools import require_tool

RELEASE_TYPE = "kubernetes:helm.sh/v3:Release"
NAMESPACE = "platform-monitoring"


def config_of(stack: str) -> StackConfig:
    return validate(stack_values(stack))


def settings_of(stack: str) -> ObservabilitySettings:
    return config_of(stack).observability


def values_of(stack: str) -> dict[str, Any]:
    config = config_of(stack)
    storage = "gp3" if config.is_aws else "standard"
    return kube_prometheus_values(config.observability, storage_class=storage)


# --------------------------------------------------------------------------------------------
# Sizing per stack, and the HA check that holds prod to it
# --------------------------------------------------------------------------------------------


def ha_problems(values: dict[str, Any], *, prometheus: int, alertmanager: int) -> list[str]:
    """What keeps these chart values from surviving a node loss with persistent data."""
    problems = []
    spec = values["prometheus"]["prometheusSpec"]
    if spec["replicas"] < prometheus:
        problems.append(f"{spec['replicas']} Prometheus replicas, need {prometheus}")
    if "volumeClaimTemplate" not in spec.get("storageSpec", {}):
        problems.append("Prometheus has no persistent volume")
    if prometheus > 1 and spec.get("podAntiAffinity") != "hard":
        problems.append("Prometheus replicas may share a node")
    pdb = values["prometheus"].get("podDisruptionBudget") or {}
    if prometheus > 1 and not (pdb.get("enabled") and pdb.get("minAvailable") == 1):
        problems.append("a drain may evict every Prometheus replica")
    am = values["alertmanager"]["alertmanagerSpec"]
    if am["replicas"] < alertmanager:
        problems.append(f"{am['replicas']} Alertmanager replicas, need {alertmanager}")
    if "volumeClaimTemplate" not in am.get("storage", {}):
        problems.append("Alertmanager has no persistent volume")
    if alertmanager > 1 and am.get("podAntiAffinity") != "hard":
        problems.append("Alertmanager replicas may share a node")
    return problems


@pytest.mark.parametrize(
    ("stack", "prometheus", "alertmanager", "retention"),
    [("dev", 1, 1, "3d"), ("staging", 1, 2, "7d"), ("uat", 1, 2, "14d"), ("prod", 2, 3, "30d")],
)
def test_each_stack_is_sized_from_its_config(
    stack: str, prometheus: int, alertmanager: int, retention: str
) -> None:
    values = values_of(stack)
    assert ha_problems(values, prometheus=prometheus, alertmanager=alertmanager) == []
    assert values["prometheus"]["prometheusSpec"]["retention"] == retention


@pytest.mark.parametrize("stack", ["dev", "staging", "uat", "prod"])
def test_no_stack_scrapes_control_plane_parts_it_cannot_reach_and_grafana_recreates(stack: str) -> None:
    values = values_of(stack)
    # Enabled, each of these adds a `<Part>Down: absent(up{job=...} == 1)` alert that never clears
    # on EKS or kind, and pages in prod.
    for part in ("kubeScheduler", "kubeControllerManager", "kubeEtcd", "kubeProxy"):
        assert values[part] == {"enabled": False}, part
    assert values["grafana"]["deploymentStrategy"] == {"type": "Recreate"}  # one RWO volume


def test_prod_prometheus_is_an_ha_pair_with_volumes_and_retention() -> None:
    spec = values_of("prod")["prometheus"]["prometheusSpec"]
    claim = spec["storageSpec"]["volumeClaimTemplate"]["spec"]
    assert claim == {
        "storageClassName": "gp3",
        "accessModes": ["ReadWriteOnce"],
        "resources": {"requests": {"storage": "200Gi"}},
    }
    assert (spec["replicas"], spec["retention"], spec["retentionSize"]) == (2, "30d", "170GB")


def test_ha_check_catches_a_single_prometheus_and_a_missing_volume() -> None:
    broken = copy.deepcopy(values_of("prod"))
    broken["prometheus"]["prometheusSpec"]["replicas"] = 1
    del broken["alertmanager"]["alertmanagerSpec"]["storage"]
    assert ha_problems(broken, prometheus=2, alertmanager=3) == [
        "1 Prometheus replicas, need 2",
        "Alertmanager has no persistent volume",
    ]


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (
            ("alertmanager", "alertmanagerSpec", "podAntiAffinity", ""),
            "Alertmanager replicas may share a node",
        ),
        (
            ("alertmanager", "alertmanagerSpec", "podAntiAffinity", "soft"),
            "Alertmanager replicas may share a node",
        ),
        (
            ("prometheus", "podDisruptionBudget", "enabled", False),
            "a drain may evict every Prometheus replica",
        ),
        (
            ("prometheus", "podDisruptionBudget", "minAvailable", 0),
            "a drain may evict every Prometheus replica",
        ),
    ],
)
def test_ha_check_catches_colocated_alertmanagers_and_an_unguarded_prometheus(
    change: tuple[str, str, str, Any], problem: str
) -> None:
    broken = copy.deepcopy(values_of("prod"))
    top, section, key, value = change
    broken[top][section][key] = value
    assert ha_problems(broken, prometheus=2, alertmanager=3) == [problem]


def test_single_replicas_get_no_anti_affinity_and_no_disruption_budget() -> None:
    values = values_of("dev")
    assert values["alertmanager"]["alertmanagerSpec"]["podAntiAffinity"] == ""
    assert values["prometheus"]["podDisruptionBudget"]["enabled"] is False
    assert values["alertmanager"]["podDisruptionBudget"]["enabled"] is False


def test_prometheus_selects_monitors_and_rules_of_every_namespace() -> None:
    spec = values_of("dev")["prometheus"]["prometheusSpec"]
    for kind in ("rule", "serviceMonitor", "podMonitor", "probe", "scrapeConfig"):
        assert spec[f"{kind}SelectorNilUsesHelmValues"] is False


def test_alertmanager_gets_the_platform_config_and_mounts_the_receivers_secret() -> None:
    alertmanager = values_of("prod")["alertmanager"]
    assert alertmanager["config"] == alertmanager_config(settings_of("prod"))
    assert alertmanager["config"]["templates"] == []  # nothing left of the chart's default config
    assert alertmanager["tplConfig"] is False  # Alertmanager's own {{ }} templates reach it untouched
    assert alertmanager["alertmanagerSpec"]["secrets"] == [RECEIVERS_SECRET]
    assert SECRET_DIR.endswith(f"/{RECEIVERS_SECRET}")


def test_grafana_reads_its_admin_login_from_a_secret_and_loads_labelled_dashboards() -> None:
    grafana = values_of("staging")["grafana"]
    assert grafana["admin"]["existingSecret"] == "grafana-admin"
    assert "adminPassword" not in grafana
    assert grafana["sidecar"]["dashboards"]["label"] == DASHBOARD_LABEL
    assert dashboard_folder_problems(values_of("staging"), render_dashboards_configmap(NAMESPACE)) == []
    assert grafana["ingress"] == {"enabled": False}
    assert grafana["service"] == {"type": "ClusterIP"}


def dashboard_folder_problems(values: dict[str, Any], configmap: dict[str, Any]) -> list[str]:
    """Why the Grafana sidecar would not file the ConfigMap's dashboards under its annotated folder."""
    sidecar = values["grafana"]["sidecar"]["dashboards"]
    annotation = sidecar.get("folderAnnotation")
    problems = []
    if not annotation:
        problems.append("the sidecar reads no folder annotation")
    elif not configmap["metadata"].get("annotations", {}).get(annotation):
        problems.append(f"the ConfigMap has no {annotation} annotation")
    if (sidecar.get("provider") or {}).get("foldersFromFilesStructure") is not True:
        problems.append("Grafana's provider ignores the sidecar's folders")
    return problems


@pytest.mark.parametrize(
    ("path", "problem"),
    [
        (("folderAnnotation",), "the sidecar reads no folder annotation"),
        (("provider", "foldersFromFilesStructure"), "Grafana's provider ignores the sidecar's folders"),
    ],
)
def test_folder_check_catches_an_ignored_grafana_folder_annotation(
    path: tuple[str, ...], problem: str
) -> None:
    broken = copy.deepcopy(values_of("prod"))
    node = broken["grafana"]["sidecar"]["dashboards"]
    for key in path[:-1]:
        node = node[key]
    del node[path[-1]]
    assert dashboard_folder_problems(broken, render_dashboards_configmap(NAMESPACE)) == [problem]


def test_folder_check_catches_a_configmap_without_the_annotation() -> None:
    configmap = render_dashboards_configmap(NAMESPACE)
    del configmap["metadata"]["annotations"]
    assert dashboard_folder_problems(values_of("prod"), configmap) == [
        "the ConfigMap has no grafana_folder annotation"
    ]


def test_grafana_ingress_has_tls_from_the_cluster_issuer_and_loki_is_a_datasource() -> None:
    ingress = GrafanaIngress("grafana.platform.localtest.me", "nginx", "platform-selfsigned")
    grafana = kube_prometheus_values(
        settings_of("dev"), storage_class="standard", ingress=ingress, loki_url="http://loki"
    )["grafana"]
    assert grafana["ingress"]["tls"] == [{"secretName": "grafana-tls", "hosts": [ingress.host]}]
    assert grafana["ingress"]["annotations"] == {"cert-manager.io/cluster-issuer": "platform-selfsigned"}
    assert grafana["ingress"]["ingressClassName"] == "nginx"
    assert grafana["additionalDataSources"][0]["url"] == "http://loki"


def test_chart_versions_are_pinned() -> None:
    for chart in (charts.KUBE_PROMETHEUS_STACK, charts.LOKI, charts.ALLOY):
        assert chart.version[0].isdigit() and chart.version.count(".") == 2


# --------------------------------------------------------------------------------------------
# Alertmanager: the deployed config passes amtool and holds no secret
# --------------------------------------------------------------------------------------------


def _amtool(tmp_path: Path, config: str) -> subprocess.CompletedProcess[str]:
    amtool = require_tool("amtool")
    path = tmp_path / "alertmanager.yaml"
    path.write_text(config)
    return subprocess.run(
        [amtool, "check-config", str(path)], check=False, capture_output=True, text=True, timeout=30
    )


@pytest.mark.parametrize("stack", STACKS)
def test_each_stacks_alertmanager_secret_passes_amtool(stack: str, tmp_path: Path) -> None:
    deployed = values_of(stack)["alertmanager"]["config"]
    result = _amtool(tmp_path, yaml.safe_dump(deployed))
    assert result.returncode == 0, result.stdout + result.stderr


def test_amtool_rejects_a_misspelled_receiver_field(tmp_path: Path) -> None:
    config = yaml.safe_dump(values_of("prod")["alertmanager"]["config"])
    result = _amtool(tmp_path, config.replace("routing_key_file", "routing_keyfile"))
    assert result.returncode != 0


def test_receivers_read_their_secrets_from_mounted_files() -> None:
    settings = settings_of("prod")
    config = alertmanager_config(settings)
    files = {
        r["name"]: value
        for r in config["receivers"]
        for kind, entries in r.items()
        if kind.endswith("_configs")
        for entry in entries
        for key, value in entry.items()
        if key.endswith("_file")
    }
    assert files == {name: f"{SECRET_DIR}/{name}" for name in needs_secret(settings.alerting)}
    assert set(files) == set(settings.alerting_secrets)


@pytest.mark.parametrize(
    ("stack", "labels", "receivers"),
    [
        ("prod", ["severity=critical", "alertname=ApiDown"], "pagerduty-oncall,slack-prod,ops-mail"),
        ("prod", ["severity=warning", "alertname=ApiHighLatency"], "slack-prod"),
        ("staging", ["severity=critical", "alertname=ApiDown"], "slack-staging"),
        ("uat", ["severity=critical", "alertname=ApiDown"], "slack-uat"),
        ("dev", ["severity=critical", "alertname=ApiDown"], "null"),
    ],
)
def test_each_stacks_alerts_reach_the_receivers_amtool_resolves(
    stack: str, labels: list[str], receivers: str, tmp_path: Path
) -> None:
    amtool = require_tool("amtool")
    path = tmp_path / "alertmanager.yaml"
    path.write_text(yaml.safe_dump(values_of(stack)["alertmanager"]["config"]))
    result = subprocess.run(
        [
            amtool,
            "config",
            "routes",
            "test",
            f"--config.file={path}",
            f"--verify.receivers={receivers}",
            *labels,
        ],
        check=False,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(("stack", "pages"), [("staging", False), ("uat", False), ("prod", True)])
def test_prod_pages_on_critical_and_the_other_aws_stacks_do_not(stack: str, pages: bool) -> None:
    config = alertmanager_config(settings_of(stack))
    pagers = {r["name"] for r in config["receivers"] if "pagerduty_configs" in r}
    critical = [
        r["receiver"] for r in config["route"]["routes"] if r.get("matchers") == ['severity="critical"']
    ]
    assert bool(pagers & set(critical)) is pages


# --------------------------------------------------------------------------------------------
# Monitors and dashboards
# --------------------------------------------------------------------------------------------

TARGETS = (
    ScrapeTarget("api", "platform-api", {"app.kubernetes.io/name": "api"}, "http"),
    ScrapeTarget(
        "pgbouncer", "platform-data", {"app.kubernetes.io/name": "pgbouncer"}, "metrics", kind="pod"
    ),
    ScrapeTarget("rollouts", "argo-rollouts", {"app": "rollouts"}, "metrics", kind="pod", honor_labels=True),
)


def test_every_scrape_target_becomes_a_valid_monitor_with_its_job_name() -> None:
    monitors = render_monitors(TARGETS)
    assert [(m["kind"], m["metadata"]["name"]) for m in monitors] == [
        ("ServiceMonitor", "api"),
        ("PodMonitor", "pgbouncer"),
        ("PodMonitor", "rollouts"),
    ]
    endpoints = [m["spec"].get("endpoints", m["spec"].get("podMetricsEndpoints"))[0] for m in monitors]
    assert [e["relabelings"][0]["replacement"] for e in endpoints] == ["api", "pgbouncer", "rollouts"]
    assert [e["honorLabels"] for e in endpoints] == [False, False, True]
    assert_valid(monitors)


def test_schema_check_catches_a_misspelled_monitor_field() -> None:
    monitor = render_monitor(TARGETS[0])
    monitor["spec"]["endpoints"][0]["honourLabels"] = True
    assert_valid([render_monitor(TARGETS[1])])
    assert validate_manifests([monitor]) != []


def test_a_target_handed_over_twice_is_refused() -> None:
    with pytest.raises(ValueError, match="platform-api/api is handed over twice"):
        render_monitors([TARGETS[0], TARGETS[0]])


def test_dashboards_ship_in_one_labelled_configmap_under_the_size_limit() -> None:
    configmap = render_dashboards_configmap(NAMESPACE)
    assert configmap["metadata"]["labels"] == {DASHBOARD_LABEL: "1"}
    assert "platform-api.json" in configmap["data"]
    assert sum(len(v) for v in configmap["data"].values()) < 900_000  # ConfigMaps stop at 1 MiB
    assert_valid([configmap])


# --------------------------------------------------------------------------------------------
# Bad configuration
# --------------------------------------------------------------------------------------------


def _set(values: dict[str, Any], path: str, value: Any) -> None:
    *parents, last = path.split(".")
    node = values
    for part in parents:
        node = node.setdefault(part, {})
    node[last] = value


@pytest.mark.parametrize(
    ("stack", "path", "value", "message"),
    [
        ("prod", "observability.prometheus.retentionDays", 0, "greater than or equal to 1"),
        ("prod", "observability.prometheus.replicas", 9, "less than or equal to 4"),
        ("prod", "observability.logging.retentionDays", 5000, "less than or equal to 3650"),
        ("staging", "observability.alertmanager.replicas", 0, "greater than or equal to 1"),
        ("prod", "observability.prometheus.replicas", 1, "needs at least 2 replicas, got 1"),
        ("prod", "observability.alerting.requirePaging", False, "must page a human"),
        ("dev", "observability.logging.replicas", 2, "it runs 1 replica, got 2"),
        ("prod", "observability.grafana.host", "grafana.example.com", "is not inside 'platform.example.com'"),
        ("prod", "observability.grafana.host", "api.platform.example.com", "is already the API's host name"),
        (
            "staging",
            "observability.grafana.host",
            "grafana.example.org",
            "is not inside 'staging.platform.example.com'",
        ),
        (
            "prod",
            "observability.prometheus.storageGib",
            10,
            "storageGib 10 is too small for retentionDays 30",
        ),
    ],
)
def test_out_of_range_or_unsafe_observability_settings_are_refused(
    stack: str, path: str, value: Any, message: str
) -> None:
    values = copy.deepcopy(stack_values(stack))
    _set(values, path, value)
    with pytest.raises(ConfigError) as error:
        validate(values)
    where, _, field = path.rpartition(".")
    # Range errors name the field; rules across fields name the block that holds them.
    assert str(error.value).startswith((f"platform:{path}: ", f"platform:{where}: {field}"))
    assert message in str(error.value)
    assert "(value: " in str(error.value)


def test_prod_without_a_paging_receiver_is_refused() -> None:
    values = copy.deepcopy(stack_values("prod"))
    alerting = values["observability"]["alerting"]
    alerting["receivers"] = [r for r in alerting["receivers"] if r["type"] != "pagerduty"]
    del values["observability"]["alertingSecrets"]["pagerduty-oncall"]
    with pytest.raises(
        ConfigError, match=r"^platform:observability\.alerting: pageOnCritical is true but no"
    ):
        validate(values)
    alerting["pageOnCritical"] = False
    with pytest.raises(ConfigError, match=r"^platform:observability\.alerting: requirePaging is true"):
        validate(values)


def test_a_route_to_an_undefined_receiver_is_refused() -> None:
    values = copy.deepcopy(stack_values("staging"))
    values["observability"]["alerting"]["routes"].append({"severity": "warning", "receiver": "slack-typo"})
    with pytest.raises(ConfigError, match=r"routes\[2\] \(severity warning\) sends to receiver 'slack-typo'"):
        validate(values)


def test_a_receiver_without_its_secret_is_refused_with_the_command_that_sets_it() -> None:
    values = copy.deepcopy(stack_values("prod"))
    del values["observability"]["alertingSecrets"]["ops-mail"]
    with pytest.raises(ConfigError) as error:
        validate(values)
    message = str(error.value)
    assert message.startswith(
        "platform:observability.alerting.receivers: receiver(s) ops-mail need their secret in alertingSecrets"
    )
    assert "--path 'platform:observability.alertingSecrets.ops-mail'" in message


def test_a_secret_for_no_receiver_is_refused_and_secret_values_never_show() -> None:
    values = copy.deepcopy(stack_values("staging"))
    values["observability"]["alertingSecrets"]["slack-old"] = "https://hooks.slack.com/services/LEAKED"
    with pytest.raises(
        ConfigError, match="has slack-old, which is not a receiver that takes a secret"
    ) as error:
        validate(values)
    assert "LEAKED" not in str(error.value)


# --------------------------------------------------------------------------------------------
# The component under mocks
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def prod_monitoring() -> Synthesis:
    settings = settings_of("prod")

    def program() -> None:
        import pulumi_kubernetes as k8s

        provider = k8s.Provider("k8s")
        Monitoring(
            "monitoring",
            MonitoringArgs(
                settings=settings,
                namespace=NAMESPACE,
                storage_class="gp3",
                scrape_targets=TARGETS,
                loki_url="http://loki-gateway.platform-monitoring.svc.cluster.local",
            ),
            opts=pulumi.ResourceOptions(provider=provider),
        )

    return synthesize("test", program=program, config={}, secret_keys=[], project="platform")


def _one(synthesis: Synthesis, type_: str, name: str) -> Registration:
    (found,) = [r for r in synthesis.by_type(type_) if r.name == name]
    return found


def _masked(string_data: Any, key: str) -> bool:
    """Whether ``key`` of a Secret's stringData reached the engine as a Pulumi secret."""
    return bool(string_data == SECRET or string_data[key] == SECRET)


def test_grafana_password_and_receiver_secrets_are_pulumi_secrets(prod_monitoring: Synthesis) -> None:
    admin = _one(prod_monitoring, "kubernetes:core/v1:Secret", "monitoring-grafana-admin")
    assert _masked(admin.export_inputs()["stringData"], "admin-password")
    receivers = _one(prod_monitoring, "kubernetes:core/v1:Secret", "monitoring-alertmanager-receivers")
    for receiver in settings_of("prod").alerting_secrets:
        assert _masked(receivers.export_inputs()["stringData"], receiver)
    assert plaintext_secrets(prod_monitoring.resources) == []


def test_the_release_is_pinned_and_waits_for_its_secrets(prod_monitoring: Synthesis) -> None:
    (release,) = prod_monitoring.by_type(RELEASE_TYPE)
    assert (release.inputs["name"], release.inputs["version"]) == (
        RELEASE,
        charts.KUBE_PROMETHEUS_STACK.version,
    )
    assert release.inputs["values"]["prometheus"]["prometheusSpec"]["replicas"] == 2


def test_component_registers_rules_dashboards_and_a_monitor_per_target(prod_monitoring: Synthesis) -> None:
    objects = [m for r in prod_monitoring.resources if (m := manifest(r)) is not None]
    kinds = sorted(m["kind"] for m in objects)
    assert kinds.count("ServiceMonitor") + kinds.count("PodMonitor") == len(TARGETS)
    (rule,) = [m for m in objects if m["kind"] == "PrometheusRule"]
    assert rule["metadata"]["labels"]["release"] == RELEASE
    assert any(
        m["kind"] == "ConfigMap" and m["metadata"]["labels"].get(DASHBOARD_LABEL) == "1" for m in objects
    )
    # Secrets' payloads are masked here; the rest goes through the Kubernetes and CRD schemas.
    assert_valid([m for m in objects if m["kind"] != "Secret"])


# --------------------------------------------------------------------------------------------
# Every stack (each synthesized once per session)
# --------------------------------------------------------------------------------------------


def _monitors(synthesis: Synthesis) -> dict[tuple[str, str], dict[str, Any]]:
    return {
        (m["metadata"]["namespace"], m["metadata"]["name"]): m
        for r in synthesis.resources
        if (m := manifest(r)) is not None and m["kind"] in ("ServiceMonitor", "PodMonitor")
    }


def test_every_stack_runs_the_pinned_stack_with_a_secret_grafana_password(any_stack: Synthesis) -> None:
    (release,) = [r for r in any_stack.by_type(RELEASE_TYPE) if r.inputs.get("name") == RELEASE]
    assert release.inputs["version"] == charts.KUBE_PROMETHEUS_STACK.version
    assert release.inputs["namespace"] == NAMESPACE
    assert any_stack.outputs["grafanaAdminPassword"] == SECRET


def test_cloudnativepg_is_scraped_where_it_runs_and_rollouts_keep_their_labels() -> None:
    dev, prod = _monitors(synthesized("dev")), _monitors(synthesized("prod"))
    cnpg = dev[("platform-data", "cloudnativepg")]
    assert cnpg["kind"] == "PodMonitor"
    assert cnpg["spec"]["selector"]["matchLabels"] == {"cnpg.io/cluster": "platform-dev"}
    assert ("platform-data", "cloudnativepg") not in prod
    rollouts = prod[("argo-rollouts", "argo-rollouts")]
    assert rollouts["spec"]["podMetricsEndpoints"][0]["honorLabels"] is True


# --------------------------------------------------------------------------------------------
# Grafana's CloudWatch datasource (the edge dashboard) and its read-only Pod Identity role
# --------------------------------------------------------------------------------------------


def _grafana_values_of(synthesis: Synthesis) -> dict[str, Any]:
    (release,) = [r for r in synthesis.by_type(RELEASE_TYPE) if r.inputs.get("name") == RELEASE]
    grafana: dict[str, Any] = release.inputs["values"]["grafana"]
    return grafana


def unresolved_datasource_references(
    dashboards: dict[str, dict[str, Any]], datasources: list[dict[str, Any]]
) -> list[str]:
    """Panel datasources no provisioned datasource answers: a literal uid that is not provisioned, or
    a `${var}` whose datasource variable selects a type nothing provisions (Prometheus, the chart's
    own, always exists)."""
    uids = {d["uid"]: d["type"] for d in datasources} | {"prometheus": "prometheus"}
    types = set(uids.values())
    problems = []
    for file, dashboard in dashboards.items():
        variables = {v["name"]: v for v in dashboard["templating"]["list"] if v["type"] == "datasource"}
        for panel in dashboard["panels"]:
            for target in panel["targets"]:
                ref = target["datasource"]
                uid = ref["uid"]
                if uid.startswith("${"):
                    var = variables.get(uid[2:-1])
                    if var is None or var["query"] != ref["type"] or ref["type"] not in types:
                        problems.append(
                            f"{file}: {panel['title']}: {uid} selects no {ref['type']} datasource"
                        )
                elif uids.get(uid) != ref["type"]:
                    problems.append(f"{file}: {panel['title']}: no {ref['type']} datasource with uid {uid}")
    return problems


@pytest.mark.parametrize("stack", STACKS)
def test_cloudwatch_datasource_is_provisioned_on_aws_stacks_only(stack: str) -> None:
    config = config_of(stack)
    datasources = _grafana_values_of(synthesized(stack)).get("additionalDataSources", [])
    cloudwatch = [d for d in datasources if d["type"] == "cloudwatch"]
    if config.is_aws:
        assert cloudwatch == [
            {
                "name": "CloudWatch",
                "type": "cloudwatch",
                "uid": CLOUDWATCH_DATASOURCE_UID,
                "access": "proxy",
                "editable": False,
                "jsonData": {"authType": "default", "defaultRegion": config.cloud.region},  # type: ignore[union-attr]
            }
        ]
    else:
        assert cloudwatch == []
    assert len({d["uid"] for d in datasources}) == len(datasources)


@pytest.mark.parametrize("stack", STACKS)
def test_every_dashboard_panel_resolves_to_a_provisioned_datasource(stack: str) -> None:
    datasources = _grafana_values_of(synthesized(stack)).get("additionalDataSources", [])
    problems = unresolved_datasource_references(render_dashboards(), datasources)
    if config_of(stack).is_aws:
        assert problems == []
    else:
        # Local stacks have no CloudWatch: only the edge dashboard's CloudWatch panels stay empty.
        assert problems and all(p.startswith("platform-edge.json") for p in problems)


def test_the_edge_dashboard_selects_the_cloudwatch_datasource_by_its_type_and_uid() -> None:
    edge = render_dashboards()["platform-edge.json"]
    refs = {t["datasource"]["uid"] for p in edge["panels"] for t in p["targets"]}
    assert refs == {"${" + CLOUDWATCH_DATASOURCE_UID + "}"}
    (variable,) = [v for v in edge["templating"]["list"] if v["type"] == "datasource"]
    assert (variable["name"], variable["query"]) == (CLOUDWATCH_DATASOURCE_UID, "cloudwatch")


@pytest.mark.parametrize(
    "broken",
    [
        lambda d: d.clear(),  # no CloudWatch datasource at all
        lambda d: d[0].update(type="prometheus"),  # the uid is there, of the wrong type
    ],
)
def test_datasource_check_catches_a_dashboard_without_its_datasource(broken: Any) -> None:
    datasources = copy.deepcopy(_grafana_values_of(synthesized("prod"))["additionalDataSources"])
    datasources = [d for d in datasources if d["type"] == "cloudwatch"]
    dashboards = render_dashboards()
    edge = dashboards["platform-edge.json"]
    assert unresolved_datasource_references(dashboards, datasources) == []
    broken(datasources)
    assert unresolved_datasource_references(dashboards, datasources) != []
    literal = copy.deepcopy(edge)
    literal["panels"][0]["targets"][0]["datasource"]["uid"] = "cloudwatch-eu"
    assert unresolved_datasource_references({"edge": literal}, [cloudwatch_datasource("eu-west-1")]) != []


def write_actions(policy: str) -> list[str]:
    """Actions of a policy that are not reads (Get, List, Describe), or that are wildcards."""
    actions = []
    for statement in json.loads(policy)["Statement"]:
        listed = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        if statement["Effect"] == "Allow":
            actions += [a for a in listed if not re.fullmatch(r"[a-z0-9]+:(Get|List|Describe)[A-Za-z]+", a)]
    return actions


@pytest.mark.parametrize("stack", ["staging", "uat", "prod"])
def test_grafana_reads_cloudwatch_through_a_read_only_pod_identity_role(stack: str) -> None:
    synthesis = synthesized(stack)
    (policy,) = [
        r
        for r in synthesis.by_type("aws:iam/rolePolicy:RolePolicy")
        if r.name == "monitoring-grafana-cloudwatch"
    ]
    assert write_actions(policy.inputs["policy"]) == []
    actions = {a for s in json.loads(policy.inputs["policy"])["Statement"] for a in s["Action"]}
    assert {
        "cloudwatch:GetMetricData",
        "cloudwatch:ListMetrics",
        "tag:GetResources",
        "ec2:DescribeRegions",
    } <= actions
    (association,) = [
        r
        for r in synthesis.by_type("aws:eks/podIdentityAssociation:PodIdentityAssociation")
        if r.name == "monitoring-grafana-cloudwatch"
    ]
    service_account = _grafana_values_of(synthesis)["serviceAccount"]
    assert (association.inputs["namespace"], association.inputs["serviceAccount"]) == (
        NAMESPACE,
        service_account["name"],
    )
    assert service_account["create"] is True
    (role,) = [r for r in synthesis.by_type("aws:iam/role:Role") if r.name == "monitoring-grafana-cloudwatch"]
    assert "pods.eks.amazonaws.com" in role.inputs["assumeRolePolicy"]
    (release,) = [r for r in synthesis.by_type(RELEASE_TYPE) if r.inputs.get("name") == RELEASE]
    assert association.urn in release.dependencies  # Grafana starts with its credentials


def test_dev_gives_grafana_no_aws_role() -> None:
    dev = synthesized("dev")
    assert not [r for r in dev.resources if r.name == "monitoring-grafana-cloudwatch"]


@pytest.mark.parametrize(
    "extra", [["cloudwatch:PutMetricAlarm"], ["cloudwatch:*"], ["iam:PassRole"], ["logs:DeleteLogGroup"]]
)
def test_read_only_check_catches_a_write_or_wildcard_action(extra: list[str]) -> None:
    policy = json.loads(grafana_cloudwatch_policy())
    assert write_actions(json.dumps(policy)) == []
    policy["Statement"][0]["Action"] = [*policy["Statement"][0]["Action"], *extra]
    assert write_actions(json.dumps(policy)) == extra


# --------------------------------------------------------------------------------------------
# Grafana behind an internal ALB with TLS (AWS stacks), nginx + cert-manager (dev)
# --------------------------------------------------------------------------------------------

ALB = "alb.ingress.kubernetes.io"
AWS_STACKS = ("staging", "uat", "prod")


def grafana_alb_problems(ingress: dict[str, Any], host: str) -> list[str]:
    """What keeps Grafana's Ingress from being private, HTTPS-only, modern-TLS and certified for ``host``."""
    annotations = ingress["metadata"].get("annotations") or {}
    problems: list[str] = []
    if ingress["spec"].get("ingressClassName") != "alb":
        problems.append(f"ingressClassName {ingress['spec'].get('ingressClassName')!r} is not alb")
    if annotations.get(f"{ALB}/scheme") != "internal":
        problems.append(f"scheme {annotations.get(f'{ALB}/scheme')!r} is not internal")
    if annotations.get(f"{ALB}/target-type") != "ip":
        problems.append("target-type is not ip")
    ports = json.loads(annotations.get(f"{ALB}/listen-ports", '[{"HTTP": 80}]'))
    plain = [p for p in ports if "HTTP" in p]
    if {"HTTPS": 443} not in ports:
        problems.append(f"no HTTPS 443 listener: {ports}")
    if plain and annotations.get(f"{ALB}/ssl-redirect") != "443":
        problems.append(f"plain HTTP listener {plain} without a redirect to 443")
    if annotations.get(f"{ALB}/ssl-policy") != "ELBSecurityPolicy-TLS13-1-2-2021-06":
        problems.append(f"ssl-policy {annotations.get(f'{ALB}/ssl-policy')!r} is not the TLS 1.3/1.2 one")
    if not str(annotations.get(f"{ALB}/certificate-arn", "")).startswith("arn:aws:acm:"):
        problems.append("no ACM certificate")
    if annotations.get(f"{ALB}/healthcheck-path") != "/api/health":
        problems.append("health check is not Grafana's /api/health")
    hosts = [rule.get("host") for rule in ingress["spec"].get("rules", [])]
    if hosts != [host]:
        problems.append(f"hosts {hosts} are not [{host!r}]")
    return problems


def _grafana_alb_ingress(stack: str) -> dict[str, Any]:
    found = [
        m
        for r in synthesized(stack).resources
        if (m := manifest(r)) is not None
        and m["kind"] == "Ingress"
        and m["metadata"].get("namespace") == NAMESPACE
    ]
    assert len(found) == 1, f"{stack}: {len(found)} Grafana Ingresses"
    return found[0]


@pytest.mark.parametrize("stack", AWS_STACKS)
def test_aws_stacks_serve_grafana_on_an_internal_https_only_alb_with_a_certificate(stack: str) -> None:
    host = f"grafana.{config_of(stack).domain.name}"  # type: ignore[union-attr]
    ingress = _grafana_alb_ingress(stack)
    assert grafana_alb_problems(ingress, host) == []
    backend = ingress["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]
    assert backend["name"] == f"{RELEASE}-grafana"
    assert synthesized(stack).outputs["grafanaUrl"] == f"https://{host}"
    assert _grafana_values_of(synthesized(stack))["ingress"] == {"enabled": False}


BROKEN_ALB = {
    "internet-facing": {f"{ALB}/scheme": "internet-facing"},
    "no scheme (the controller's default is internal, but it must be said)": {f"{ALB}/scheme": None},
    "plain HTTP listener": {f"{ALB}/listen-ports": '[{"HTTP": 80}, {"HTTPS": 443}]'},
    "old TLS policy": {f"{ALB}/ssl-policy": "ELBSecurityPolicy-2016-08"},
    "no certificate": {f"{ALB}/certificate-arn": None},
    "instance targets": {f"{ALB}/target-type": "instance"},
    "health check on /": {f"{ALB}/healthcheck-path": "/"},
}


@pytest.mark.parametrize("change", BROKEN_ALB.values(), ids=BROKEN_ALB.keys())
def test_alb_check_catches_a_public_plaintext_or_uncertified_grafana(change: dict[str, str | None]) -> None:
    host = "grafana.platform.example.com"
    ingress = render_grafana_alb_ingress(
        NAMESPACE, host, "arn:aws:acm:eu-west-1:1:certificate/x", deletion_protection=True
    )
    assert grafana_alb_problems(ingress, host) == []
    annotations = ingress["metadata"]["annotations"]
    for key, value in change.items():
        if value is None:
            del annotations[key]
        else:
            annotations[key] = value
    assert grafana_alb_problems(ingress, host) != []
    assert grafana_alb_problems(ingress, "grafana.other.example.com") != []


def test_an_http_listener_that_redirects_to_https_passes_the_alb_check() -> None:
    ingress = render_grafana_alb_ingress(
        NAMESPACE, "g.example.com", "arn:aws:acm:x", deletion_protection=False
    )
    ingress["metadata"]["annotations"].update(
        {f"{ALB}/listen-ports": '[{"HTTP": 80}, {"HTTPS": 443}]', f"{ALB}/ssl-redirect": "443"}
    )
    assert grafana_alb_problems(ingress, "g.example.com") == []
    assert ALB_SSL_POLICY == "ELBSecurityPolicy-TLS13-1-2-2021-06"


def _by_name(stack: str, name: str) -> Registration:
    (found,) = [r for r in synthesized(stack).resources if r.name == name]
    return found


@pytest.mark.parametrize("stack", AWS_STACKS)
def test_grafana_certificate_is_dns_validated_and_its_record_points_at_the_internal_alb(stack: str) -> None:
    host = f"grafana.{config_of(stack).domain.name}"  # type: ignore[union-attr]
    certificate = _by_name(stack, "monitoring-grafana-certificate")
    assert (certificate.type, certificate.inputs["domainName"]) == ("aws:acm/certificate:Certificate", host)
    assert certificate.inputs["validationMethod"] == "DNS"
    ready = _by_name(stack, "monitoring-grafana-certificate-ready")
    annotations = _grafana_alb_ingress(stack)["metadata"]["annotations"]
    assert annotations[f"{ALB}/certificate-arn"] == ready.outputs["certificateArn"]
    record = _by_name(stack, "monitoring-grafana-record")
    value = record.inputs.get("records", [record.inputs.get("content")])[0]
    assert (record.inputs["name"], record.inputs["type"]) == (host, "CNAME")
    assert value.startswith("internal-") and value.endswith(".elb.amazonaws.com")
    assert record.inputs.get("proxied", False) is False


@pytest.mark.parametrize("stack", ("dev", *AWS_STACKS))
def test_grafana_root_url_is_the_https_url_users_reach_it_at(stack: str) -> None:
    grafana = _grafana_values_of(synthesized(stack))
    url = synthesized(stack).outputs["grafanaUrl"]
    assert url.startswith("https://grafana.")
    assert grafana["grafana.ini"]["server"]["root_url"] == url


def test_dev_keeps_its_nginx_ingress_with_cert_manager_and_no_alb_or_acm() -> None:
    dev = synthesized("dev")
    ingress = _grafana_values_of(dev)["ingress"]
    assert ingress["enabled"] is True and ingress["ingressClassName"] == "nginx"
    assert "cert-manager.io/cluster-issuer" in ingress["annotations"]
    assert not dev.by_type("aws:acm/certificate:Certificate")
    assert not [
        m
        for r in dev.resources
        if (m := manifest(r)) is not None
        and m["kind"] == "Ingress"
        and m["metadata"].get("namespace") == NAMESPACE
    ]


def test_a_grafana_host_override_inside_the_zone_is_used_on_aws() -> None:
    values = copy.deepcopy(stack_values("prod"))
    _set(values, "observability.grafana.host", "metrics.platform.example.com")
    config = validate(values)
    assert config.observability.grafana.host == "metrics.platform.example.com"


def test_a_grafana_host_is_refused_on_an_aws_stack_without_dns() -> None:
    values = copy.deepcopy(stack_values("staging"))
    for key in ("edge", "audit", "api"):
        values.pop(key, None)
    values["domain"].pop("dns")
    values["tls"] = {"publicIssuer": "self-signed"}
    validate(values)  # without a host, Grafana stays on its ClusterIP Service
    _set(values, "observability.grafana.host", "grafana.staging.platform.example.com")
    with pytest.raises(ConfigError, match=r"^platform:observability\.grafana\.host: .*needs domain\.dns"):
        validate(values)


def test_one_grafana_ingress_only_chart_or_alb() -> None:
    ingress = GrafanaIngress("grafana.platform.localtest.me", "nginx", "platform-selfsigned")
    with pytest.raises(ValueError, match="one ingress"):
        kube_prometheus_values(
            settings_of("dev"), storage_class="standard", ingress=ingress, alb_host="grafana.example.com"
        )


def test_the_grafana_alb_ingress_is_schema_valid() -> None:
    assert_valid(
        [
            render_grafana_alb_ingress(
                NAMESPACE, "grafana.example.com", "arn:aws:acm:x", deletion_protection=True
            )
        ]
    )


def test_an_alert_latency_threshold_off_the_apis_buckets_is_refused() -> None:
    values = copy.deepcopy(stack_values("prod"))
    values.setdefault("observability", {}).setdefault("alerts", {})["latencyP99Seconds"] = 1.5
    with pytest.raises(ConfigError, match=r"^platform:observability\.alerts\.latencyP99Seconds: 1\.5 s is"):
        validate(values)
    values["observability"]["alerts"]["latencyP99Seconds"] = 10  # the largest bound: a p99 never exceeds it
    with pytest.raises(ConfigError, match="largest bucket bound"):
        validate(values)


def test_the_apis_configured_paths_and_job_reach_its_rules_and_dashboard() -> None:
    from components.api_service import API_NAME
    from components.platform import Platform

    values = copy.deepcopy(stack_values("prod"))
    values["api"]["paths"] = {"readiness": "/ready-now", "metrics": "/internal/metrics"}
    scrape = Platform._api_scrape(validate(values))
    assert scrape.job == API_NAME
    assert set(scrape.excluded_handlers) == {"/healthz", "/ready-now", "/internal/metrics"}
    # And the shipped stack's rules and dashboard use its (default) paths and the scrape job.
    rule = next(
        m for r in synthesized("prod").resources if (m := manifest(r)) and m["kind"] == "PrometheusRule"
    )
    exprs = json.dumps(rule["spec"])
    assert 'job=\\"api\\",handler!~\\"/healthz|/metrics|/readyz\\"' in exprs
    assert 'handler!~\\"/healthz|/metrics|/readyz\\"' in json.dumps(render_dashboards()["platform-api.json"])
