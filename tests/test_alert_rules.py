"""The platform's alert rules through the real promtool: syntax, and every alert firing and silent.

Each alert (name and severity) has at least one synthetic failing scenario in which it must fire
with exactly the expected labels and rendered annotations, and one healthy scenario in which it
must stay silent. The promtool unit-test file is generated from ``CASES`` and the rendered rules;
an alert added without a case fails ``test_every_alert_has_a_firing_and_a_silent_case``.
"""

from __future__ import annotations

import json
import re
import subprocess
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from pydantic import ValidationError

from components.alert_rules import (
    EXPORTED_METRICS,
    AlertThresholds,
    ApiScrape,
    alert_keys,
    error_ratio_record,
    metric_names,
    recorded_metrics,
    render_prometheus_rule,
    render_rule_groups,
)
from components.api_manifests import ApiPaths
from synth.paths import ROOT
from tests.tools import SCHEMAS_DIR, need, require_tool

Series = tuple[tuple[str, str], ...]

NS = 'namespace="platform"'
API = 'job="api",handler="/items",method="GET"'
PG = f'{NS},pod="pgbouncer-0"'
CNPG = f'{NS},pod="app-db-1"'
# As scraped: the exporter pod's address and namespace, and the endpoint its Service names.
AURORA = 'namespace="platform-monitoring",instance="10.40.3.7:9187",database_endpoint="writer"'
YACE_READER = (
    'job="yace",name="arn:aws:rds:eu-west-1:123456789012:db:platform-prod-reader-1",'
    'dimension_DBInstanceIdentifier="platform-prod-reader-1"'
)
REDIS = f'{NS},instance="redis:6379"'
CERT = f'{NS},name="api-tls"'
RUN = f'{NS},name="api-7f9c-2",metric="success-rate",type="Prometheus",dry_run="false"'
OOM = f'{NS},pod="api-7f9c-abcde",container="api"'


def _requests(ok: str, failed: str) -> Series:
    return (
        (f'http_requests_total{{{API},status="2xx"}}', ok),
        (f'http_requests_total{{{API},status="5xx"}}', failed),
        # Probe traffic is outside the SLO: failing health checks must not move it.
        ('http_requests_total{job="api",handler="/healthz",method="GET",status="5xx"}', "0+600x40"),
    )


def _latency(bucket_0_5: str, bucket_1: str, bucket_2_5: str, total: str) -> Series:
    name = f"http_request_duration_seconds_bucket{{{API}"
    return (
        (f'{name},le="0.5"}}', bucket_0_5),
        (f'{name},le="1"}}', bucket_1),
        (f'{name},le="2.5"}}', bucket_2_5),
        (f'{name},le="+Inf"}}', total),
    )


@dataclass(frozen=True)
class Case:
    """One alert: a failing scenario where it fires, and a healthy one where it stays silent."""

    alert: str
    severity: str
    failing: Series
    healthy: Series
    eval_time: str
    labels: dict[str, str]
    """Labels the expression yields (the rule's own labels are added from the rendered rule)."""
    value: str = ""
    """``$value`` as the annotation templates render it."""
    note: str = ""
    extra_silent: tuple[Series, ...] = field(default=())
    """More healthy scenarios (edge cases the expression must not fire on)."""

    @property
    def id(self) -> str:
        return f"{self.alert}/{self.severity}{'/' + self.note if self.note else ''}"


HEALTHY_API = _requests("0+60x40", "0x40")

CASES: tuple[Case, ...] = (
    # 50 % errors: both page windows (1h & 5m) far above 14.4x; the ticket alert is still pending.
    Case(
        "ApiErrorBudgetBurn",
        "critical",
        _requests("0+60x40", "0+60x40"),
        HEALTHY_API,
        "10m",
        {"job": "api"},
        "50%",
    ),
    # 0.5 % errors = 5x the 0.1 % budget: above the 3x ticket threshold, below 6x and 14.4x.
    Case(
        "ApiErrorBudgetBurn",
        "warning",
        _requests("0+199x40", "0+1x40"),
        HEALTHY_API,
        "30m",
        {"job": "api"},
        "0.5%",
    ),
    Case(
        "ApiHighErrorRate",
        "warning",
        _requests("0+60x40", "0+60x40"),
        HEALTHY_API,
        "15m",
        {"job": "api"},
        "50%",
    ),
    Case(
        "ApiHighLatency",
        "warning",
        _latency("0x30", "0x30", "0+10x30", "0+10x30"),
        _latency("0+10x30", "0+10x30", "0+10x30", "0+10x30"),
        "15m",
        {"job": "api"},
        "2.485s",
    ),
    Case(
        "ApiDown",
        "critical",
        (('up{job="api",instance="10.0.0.1:8000"}', "0x10"),),
        (('up{job="api",instance="10.0.0.1:8000"}', "1x10"),),
        "5m",
        {"job": "api"},
    ),
    Case(
        "ApiDown",
        "critical",
        (('up{job="other"}', "1x10"),),
        (('up{job="api",instance="10.0.0.1:8000"}', "1x10"),),
        "5m",
        {"job": "api"},
        note="absent",
    ),
    Case("ApiNoTraffic", "warning", _requests("100x60", "0x60"), HEALTHY_API, "35m", {"job": "api"}),
    Case(
        "PgBouncerDown",
        "critical",
        ((f"pgbouncer_up{{{PG}}}", "0x10"),),
        ((f"pgbouncer_up{{{PG}}}", "1x10"),),
        "5m",
        {"namespace": "platform", "pod": "pgbouncer-0"},
    ),
    Case(
        "PgBouncerClientsWaiting",
        "warning",
        ((f'pgbouncer_pools_client_waiting_connections{{{PG},database="app",user="app"}}', "25x10"),),
        ((f'pgbouncer_pools_client_waiting_connections{{{PG},database="app",user="app"}}', "0x10"),),
        "5m",
        {"namespace": "platform", "database": "app"},
        "25",
    ),
    Case(
        "PgBouncerMaxWaitHigh",
        "warning",
        ((f'pgbouncer_pools_client_maxwait_seconds{{{PG},database="app",user="app"}}', "12x10"),),
        ((f'pgbouncer_pools_client_maxwait_seconds{{{PG},database="app",user="app"}}', "0x10"),),
        "5m",
        {"namespace": "platform", "database": "app"},
        "12s",
    ),
    Case(
        "PgBouncerPoolSaturated",
        "warning",
        (
            (f'pgbouncer_databases_current_connections{{{PG},name="app",database="app"}}', "19x10"),
            (f'pgbouncer_databases_pool_size{{{PG},name="app",database="app"}}', "20x10"),
        ),
        (
            (f'pgbouncer_databases_current_connections{{{PG},name="app",database="app"}}', "5x10"),
            (f'pgbouncer_databases_pool_size{{{PG},name="app",database="app"}}', "20x10"),
        ),
        "10m",
        {"namespace": "platform", "name": "app"},
        "95%",
    ),
    Case(
        "PgBouncerClientConnectionsNearLimit",
        "warning",
        (
            (f'pgbouncer_pools_client_active_connections{{{PG},database="app",user="app"}}', "900x10"),
            (f'pgbouncer_pools_client_waiting_connections{{{PG},database="app",user="app"}}', "50x10"),
            (f"pgbouncer_config_max_client_connections{{{PG}}}", "1000x10"),
        ),
        (
            (f'pgbouncer_pools_client_active_connections{{{PG},database="app",user="app"}}', "100x10"),
            (f'pgbouncer_pools_client_waiting_connections{{{PG},database="app",user="app"}}', "0x10"),
            (f"pgbouncer_config_max_client_connections{{{PG}}}", "1000x10"),
        ),
        "10m",
        {"namespace": "platform", "pod": "pgbouncer-0"},
        "95%",
    ),
    Case(
        "PostgresDown",
        "critical",
        ((f"cnpg_collector_up{{{CNPG}}}", "0x10"),),
        ((f"cnpg_collector_up{{{CNPG}}}", "1x10"),),
        "5m",
        {"namespace": "platform", "pod": "app-db-1"},
        note="cnpg",
    ),
    Case(
        "PostgresDown",
        "critical",
        ((f"pg_up{{{AURORA}}}", "0x10"),),
        ((f"pg_up{{{AURORA}}}", "1x10"),),
        "5m",
        {"database_endpoint": "writer"},
        note="aurora",
    ),
    Case(
        "PostgresReplicationLagHigh",
        "warning",
        ((f"cnpg_pg_replication_lag{{{CNPG}}}", "45x10"),),
        ((f"cnpg_pg_replication_lag{{{CNPG}}}", "1x10"),),
        "10m",
        {"namespace": "platform", "pod": "app-db-1"},
        "45s",
        note="cnpg",
    ),
    Case(
        "PostgresReplicationLagHigh",
        "warning",
        # YACE's series: milliseconds, one per DB instance, plus its own labels.
        ((f"aws_rds_aurora_replica_lag_maximum{{{YACE_READER}}}", "120000x10"),),
        ((f"aws_rds_aurora_replica_lag_maximum{{{YACE_READER}}}", "20x10"),),
        "10m",
        {"dimension_DBInstanceIdentifier": "platform-prod-reader-1"},
        "2m 0s",
        note="aurora",
    ),
    Case(
        "PostgresConnectionsNearLimit",
        "warning",
        (
            (f'cnpg_backends_total{{{CNPG},datname="app",state="active"}}', "60x10"),
            (f'cnpg_backends_total{{{CNPG},datname="app",state="idle"}}', "30x10"),
            (f'cnpg_pg_settings_setting{{{CNPG},name="max_connections"}}', "100x10"),
        ),
        (
            (f'cnpg_backends_total{{{CNPG},datname="app",state="active"}}', "10x10"),
            (f'cnpg_backends_total{{{CNPG},datname="app",state="idle"}}', "10x10"),
            (f'cnpg_pg_settings_setting{{{CNPG},name="max_connections"}}', "100x10"),
        ),
        "10m",
        {"namespace": "platform", "pod": "app-db-1"},
        "90%",
        note="cnpg",
    ),
    Case(
        "PostgresConnectionsNearLimit",
        "warning",
        (
            (f'pg_stat_database_numbackends{{{AURORA},datname="app"}}', "850x10"),
            (f"pg_settings_max_connections{{{AURORA}}}", "1000x10"),
        ),
        (
            (f'pg_stat_database_numbackends{{{AURORA},datname="app"}}', "100x10"),
            (f"pg_settings_max_connections{{{AURORA}}}", "1000x10"),
        ),
        "10m",
        {"database_endpoint": "writer"},
        "85%",
        note="aurora",
    ),
    Case(
        "RedisDown",
        "critical",
        ((f"redis_up{{{REDIS}}}", "0x10"),),
        ((f"redis_up{{{REDIS}}}", "1x10"),),
        "5m",
        {"namespace": "platform", "instance": "redis:6379"},
    ),
    Case(
        "RedisMemoryNearMax",
        "warning",
        (
            (f"redis_memory_used_bytes{{{REDIS}}}", "950x10"),
            (f"redis_memory_max_bytes{{{REDIS}}}", "1000x10"),
        ),
        (
            (f"redis_memory_used_bytes{{{REDIS}}}", "100x10"),
            (f"redis_memory_max_bytes{{{REDIS}}}", "1000x10"),
        ),
        "10m",
        {"namespace": "platform", "instance": "redis:6379"},
        "95%",
        # maxmemory 0 is "no limit", not a full Redis.
        extra_silent=(
            (
                (f"redis_memory_used_bytes{{{REDIS}}}", "950x10"),
                (f"redis_memory_max_bytes{{{REDIS}}}", "0x10"),
            ),
        ),
    ),
    Case(
        "RedisEvictingKeys",
        "warning",
        ((f"redis_evicted_keys_total{{{REDIS}}}", "0+60x30"),),
        ((f"redis_evicted_keys_total{{{REDIS}}}", "5x30"),),
        "20m",
        {"namespace": "platform", "instance": "redis:6379"},
        "1",
    ),
    # 10 days left at t=0, evaluated at 70m: inside the 14-day warning, outside the 3-day page.
    Case(
        "CertificateExpiringSoon",
        "warning",
        ((f"certmanager_certificate_expiration_timestamp_seconds{{{CERT}}}", "864000x80"),),
        ((f"certmanager_certificate_expiration_timestamp_seconds{{{CERT}}}", "7776000x80"),),
        "70m",
        {"namespace": "platform", "name": "api-tls"},
        "9d 22h 50m 0s",
    ),
    # 1 day left: the page fires and the warning (whose range stops at 3 days) does not.
    Case(
        "CertificateExpiringSoon",
        "critical",
        ((f"certmanager_certificate_expiration_timestamp_seconds{{{CERT}}}", "86400x80"),),
        ((f"certmanager_certificate_expiration_timestamp_seconds{{{CERT}}}", "7776000x80"),),
        "70m",
        {"namespace": "platform", "name": "api-tls"},
        "22h 50m 0s",
        # cert-manager exports 0 for a certificate never issued: not "expired 56 years ago".
        extra_silent=(((f"certmanager_certificate_expiration_timestamp_seconds{{{CERT}}}", "0x80"),),),
    ),
    Case(
        "CertificateNotReady",
        "warning",
        (
            (f'certmanager_certificate_ready_status{{{CERT},condition="True"}}', "0x30"),
            (f'certmanager_certificate_ready_status{{{CERT},condition="False"}}', "1x30"),
            (f'certmanager_certificate_ready_status{{{CERT},condition="Unknown"}}', "0x30"),
        ),
        (
            (f'certmanager_certificate_ready_status{{{CERT},condition="True"}}', "1x30"),
            (f'certmanager_certificate_ready_status{{{CERT},condition="False"}}', "0x30"),
            (f'certmanager_certificate_ready_status{{{CERT},condition="Unknown"}}', "0x30"),
        ),
        "20m",
        {"namespace": "platform", "name": "api-tls"},
    ),
    Case(
        "RolloutAborted",
        "warning",
        ((f'rollout_info{{{NS},name="api",strategy="canary",traffic_router="ALB",phase="Abort"}}', "1x10"),),
        (
            (
                f'rollout_info{{{NS},name="api",strategy="canary",traffic_router="ALB",phase="Completed"}}',
                "1x10",
            ),
        ),
        "5m",
        {"namespace": "platform", "name": "api", "phase": "Abort"},
    ),
    Case(
        "AnalysisRunFailed",
        "warning",
        (
            (f'analysis_run_metric_phase{{{RUN},phase="Failed"}}', "0x64 1x10"),
            (f'analysis_run_metric_phase{{{RUN},phase="Successful"}}', "0x75"),
        ),
        (
            (f'analysis_run_metric_phase{{{RUN},phase="Failed"}}', "0x75"),
            (f'analysis_run_metric_phase{{{RUN},phase="Successful"}}', "1x75"),
        ),
        "70m",
        {"namespace": "platform", "name": "api-7f9c-2", "metric": "success-rate", "phase": "Failed"},
        # A run that failed hours ago and is still kept by the history limit is old news; a
        # dry-run metric never fails a rollout.
        extra_silent=(
            ((f'analysis_run_metric_phase{{{RUN},phase="Failed"}}', "1x75"),),
            ((f'analysis_run_metric_phase{{{RUN.replace("false", "true")},phase="Failed"}}', "0x64 1x10"),),
        ),
    ),
    Case(
        "PlatformContainerOOMKilled",
        "warning",
        (
            (f"kube_pod_container_status_restarts_total{{{OOM}}}", "0 0 0 1x10"),
            (f'kube_pod_container_status_last_terminated_reason{{{OOM},reason="OOMKilled"}}', "1x12"),
        ),
        (
            (f"kube_pod_container_status_restarts_total{{{OOM}}}", "1x12"),
            (f'kube_pod_container_status_last_terminated_reason{{{OOM},reason="OOMKilled"}}', "1x12"),
        ),
        "5m",
        {"namespace": "platform", "pod": "api-7f9c-abcde", "container": "api"},
        extra_silent=(
            (
                (f"kube_pod_container_status_restarts_total{{{OOM}}}", "0 0 0 1x10"),
                (f'kube_pod_container_status_last_terminated_reason{{{OOM},reason="Error"}}', "1x12"),
            ),
            (
                (
                    f"kube_pod_container_status_restarts_total{{{OOM.replace('platform', 'other')}}}",
                    "0 0 0 1x10",
                ),
                (
                    f"kube_pod_container_status_last_terminated_reason{{{OOM.replace('platform', 'other')},"
                    'reason="OOMKilled"}',
                    "1x12",
                ),
            ),
        ),
    ),
)

# Every optional alert switched on, so that every rule the model can render is covered.
THRESHOLDS = AlertThresholds(no_traffic_alert=True)
_TEMPLATE = re.compile(r"\{\{\s*\$(labels\.(\w+)|value[^}]*)\s*\}\}")


def missing_cases(rule_file: dict[str, Any], cases: tuple[Case, ...]) -> set[tuple[str, str]]:
    """Alerts (name, severity) of the rendered rules that lack a firing or a silent case."""
    covered = {(c.alert, c.severity) for c in cases if c.failing and (c.healthy or c.extra_silent)}
    return alert_keys(rule_file) - covered


def _render_annotation(template: str, labels: dict[str, str], value: str) -> str:
    """Expand the two template forms the rules use, as Prometheus does (missing label -> "")."""
    rendered = _TEMPLATE.sub(lambda m: labels.get(m.group(2), "") if m.group(2) else value, template)
    assert "{{" not in rendered, f"template form not understood by the test: {template!r}"
    return rendered


def _rule(rule_file: dict[str, Any], alert: str, severity: str) -> dict[str, Any]:
    for group in rule_file["groups"]:
        for rule in group["rules"]:
            if rule.get("alert") == alert and rule["labels"]["severity"] == severity:
                return rule
    raise AssertionError(f"no rule {alert}/{severity}")


def _input(series: Series) -> list[dict[str, str]]:
    return [{"series": name, "values": values} for name, values in series]


def promtool_tests(rule_file: dict[str, Any], cases: tuple[Case, ...]) -> dict[str, Any]:
    """A promtool unit-test file: per case, one group where it fires and one (or more) where not."""
    groups: list[dict[str, Any]] = []
    for case in cases:
        rule = _rule(rule_file, case.alert, case.severity)
        labels = {**case.labels, **rule["labels"]}
        annotations = {k: _render_annotation(v, labels, case.value) for k, v in rule["annotations"].items()}
        expected = [{"exp_labels": labels, "exp_annotations": annotations}]
        groups.append(
            {
                "name": f"{case.id} fires",
                "interval": "1m",
                "input_series": _input(case.failing),
                "alert_rule_test": [
                    {"eval_time": case.eval_time, "alertname": case.alert, "exp_alerts": expected}
                ],
            }
        )
        for i, healthy in enumerate((case.healthy, *case.extra_silent)):
            groups.append(
                {
                    "name": f"{case.id} silent #{i}",
                    "interval": "1m",
                    "input_series": _input(healthy),
                    "alert_rule_test": [
                        {"eval_time": case.eval_time, "alertname": case.alert, "exp_alerts": []}
                    ],
                }
            )
    return {"rule_files": ["rules.yml"], "evaluation_interval": "1m", "tests": groups}


def _promtool(tmp_path: Path, *args: str, rules: dict[str, Any], tests: dict[str, Any] | None = None):
    promtool = require_tool("promtool")
    (tmp_path / "rules.yml").write_text(yaml.safe_dump(rules, sort_keys=False))
    if tests is not None:
        (tmp_path / "tests.yml").write_text(yaml.safe_dump(tests, sort_keys=False))
    return subprocess.run(
        [promtool, *args], cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False
    )


@pytest.fixture(scope="module")
def rules() -> dict[str, Any]:
    return render_rule_groups(THRESHOLDS)


# ---------------------------------------------------------------------------------------------
# The model
# ---------------------------------------------------------------------------------------------


def test_defaults_load_from_camel_case_config() -> None:
    t = AlertThresholds.model_validate(
        {"sloAvailabilityTarget": 0.995, "runbookBaseUrl": "https://rb.example.com"}
    )
    assert t.slo_availability_target == 0.995
    assert t.cert_expiry_days == 14


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"sloAvailabilityTarget": 1.0}, "less than or equal to 0.9999"),
        ({"serverErrorRatio": 0}, "greater than 0"),
        ({"certExpiryDays": 3, "certExpiryCriticalDays": 3}, "certExpiryCriticalDays (3) must be less than"),
        ({"runbookBaseUrl": "http://insecure.example.com"}, "should match pattern"),
        ({"namespaces": ["Not_A_Namespace"]}, "should match pattern"),
        ({"latencyP99Secs": 1}, "Extra inputs are not permitted"),
    ],
)
def test_bad_thresholds_are_refused(config: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=re.escape(message)):
        AlertThresholds.model_validate(config)


# ---------------------------------------------------------------------------------------------
# The rendered rules
# ---------------------------------------------------------------------------------------------


def test_every_alert_has_severity_summary_description_and_runbook(rules: dict[str, Any]) -> None:
    for group in rules["groups"]:
        for rule in group["rules"]:
            if "alert" not in rule:
                continue
            assert rule["labels"]["severity"] in {"critical", "warning"}
            assert rule["annotations"]["summary"] and rule["annotations"]["description"]
            assert rule["annotations"]["runbook_url"] == f"{RUNBOOKS}#{rule['alert'].lower()}"


RUNBOOKS = "https://github.com/example-org/platform/blob/main/docs/runbooks/alerts.md"


def runbook_gaps(rule_groups: dict[str, Any], runbook: str) -> list[str]:
    """Alerts whose runbook link has no section in docs/runbooks/alerts.md (GitHub anchors: headings
    lowercased)."""
    anchors = {line[3:].strip().lower() for line in runbook.splitlines() if line.startswith("## ")}
    links = {
        r["annotations"]["runbook_url"] for g in rule_groups["groups"] for r in g["rules"] if "alert" in r
    }
    return sorted(link for link in links if link.rpartition("#")[2] not in anchors)


def test_every_alert_links_to_a_section_of_the_alert_runbooks(rules: dict[str, Any]) -> None:
    runbook = (ROOT / "docs" / "runbooks" / "alerts.md").read_text()
    assert runbook_gaps(rules, runbook) == []
    without = runbook.replace("## RedisEvictingKeys", "## Redis evicting keys")
    assert runbook_gaps(rules, without) == [f"{RUNBOOKS}#redisevictingkeys"]


def test_no_traffic_alert_is_rendered_only_when_asked() -> None:
    assert ("ApiNoTraffic", "warning") not in alert_keys(render_rule_groups(AlertThresholds()))
    assert ("ApiNoTraffic", "warning") in alert_keys(render_rule_groups(THRESHOLDS))


def test_burn_rate_thresholds_follow_the_slo_target() -> None:
    exprs = " ".join(
        r["expr"]
        for g in render_rule_groups(AlertThresholds(slo_availability_target=0.99))["groups"]
        for r in g["rules"]
    )
    assert 'ratio_rate1h{job="api"} > 0.144' in exprs  # 14.4 x 1 % budget
    assert 'ratio_rate3d{job="api"} > 0.01' in exprs


def unknown_metrics(rule_file: dict[str, Any]) -> set[str]:
    """Metrics the rules query that no exporter of the platform exports."""
    known = EXPORTED_METRICS | recorded_metrics(rule_file)
    return {m for g in rule_file["groups"] for r in g["rules"] for m in metric_names(r["expr"])} - known


def test_rules_query_only_exported_metrics(rules: dict[str, Any]) -> None:
    assert unknown_metrics(rules) == set()


def test_unknown_metric_in_a_rule_is_reported(rules: dict[str, Any]) -> None:
    broken = json.loads(json.dumps(rules))
    broken["groups"][1]["rules"][0]["expr"] += " or pgbouncer_pools_cl_waiting > 0"
    assert unknown_metrics(broken) == {"pgbouncer_pools_cl_waiting"}


@pytest.mark.parametrize(
    ("expr", "names"),
    [
        (
            'sum by (job, le) (rate(http_request_duration_seconds_bucket{job="api",le=~"0.5|1"}[5m]))',
            {"http_request_duration_seconds_bucket"},
        ),
        ("a:b:ratio_rate5m offset 1h > 0.5 unless on (namespace) absent(up)", {"a:b:ratio_rate5m", "up"}),
        (
            'label_replace(x, "dst", "$1", "src", "(.*)") / ignoring (pod) group_left (node) y[5m:1m]',
            {"x", "y"},
        ),
        ("sum(rate(z_total[$__rate_interval])) by (namespace) > 1e3", {"z_total"}),
    ],
)
def test_metric_names_are_read_from_promql(expr: str, names: set[str]) -> None:
    assert metric_names(expr) == names


def test_prometheus_rule_matches_the_operator_schema(rules: dict[str, Any]) -> None:
    schema_file = SCHEMAS_DIR / "crds" / "monitoring.coreos.com" / "prometheusrule_v1.json"
    need(schema_file.is_file(), f"CRD schema {schema_file} is not available")
    # Draft 7, as the schemas are written; not check_schema(): the CRD's Go regexes (``(?i)`` in
    # mid-pattern) are not Python regexes, and only matter for fields this manifest does not set.
    validator = jsonschema.Draft7Validator(json.loads(schema_file.read_text()))
    manifest = render_prometheus_rule(
        THRESHOLDS, "platform-alerts", "monitoring", {"release": "kube-prometheus-stack"}
    )
    validator.validate(manifest)
    assert manifest["metadata"]["labels"] == {"release": "kube-prometheus-stack"}
    assert manifest["spec"] == rules
    broken = json.loads(json.dumps(manifest))
    broken["spec"]["groups"][1]["rules"][0]["for"] = 120  # a number where a duration string belongs
    with pytest.raises(jsonschema.ValidationError):
        validator.validate(broken)


# ---------------------------------------------------------------------------------------------
# promtool
# ---------------------------------------------------------------------------------------------


def test_promtool_accepts_the_rules(tmp_path: Path, rules: dict[str, Any]) -> None:
    result = _promtool(tmp_path, "check", "rules", "rules.yml", rules=rules)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {sum(len(g['rules']) for g in rules['groups'])} rules found" in result.stdout


def test_promtool_rejects_a_broken_rule(tmp_path: Path, rules: dict[str, Any]) -> None:
    broken = json.loads(json.dumps(rules))
    broken["groups"][1]["rules"][0]["expr"] = "sum by (job (rate(http_requests_total[5m]))"
    result = _promtool(tmp_path, "check", "rules", "rules.yml", rules=broken)
    assert result.returncode != 0
    assert "parse error" in result.stdout + result.stderr


def test_every_alert_has_a_firing_and_a_silent_case(rules: dict[str, Any]) -> None:
    assert missing_cases(rules, CASES) == set()


def test_coverage_check_reports_an_alert_without_a_case(rules: dict[str, Any]) -> None:
    without = tuple(c for c in CASES if c.alert != "RedisEvictingKeys")
    assert missing_cases(rules, without) == {("RedisEvictingKeys", "warning")}
    no_silent = tuple(replace(c, healthy=()) if c.alert == "RolloutAborted" else c for c in CASES)
    assert missing_cases(rules, no_silent) == {("RolloutAborted", "warning")}


def test_every_alert_fires_on_failure_and_stays_silent_when_healthy(
    tmp_path: Path, rules: dict[str, Any]
) -> None:
    result = _promtool(
        tmp_path, "test", "rules", "tests.yml", rules=rules, tests=promtool_tests(rules, CASES)
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


@pytest.mark.parametrize(
    "mutation",
    [
        pytest.param(lambda c: replace(c, failing=c.healthy), id="healthy-series-as-failing"),
        pytest.param(lambda c: replace(c, healthy=c.failing), id="failing-series-as-healthy"),
        pytest.param(lambda c: replace(c, value="99%"), id="wrong-annotation-value"),
    ],
)
def test_promtool_unit_tests_catch_a_wrong_expectation(
    tmp_path: Path, rules: dict[str, Any], mutation
) -> None:
    case = next(c for c in CASES if c.alert == "PgBouncerPoolSaturated")
    result = _promtool(
        tmp_path, "test", "rules", "tests.yml", rules=rules, tests=promtool_tests(rules, (mutation(case),))
    )
    assert result.returncode != 0
    assert "FAILED" in result.stdout + result.stderr


# ---------------------------------------------------------------------------------------------
# The API's configured probe paths
# ---------------------------------------------------------------------------------------------


def test_default_excluded_handlers_are_the_apis_default_paths() -> None:
    assert sorted(ApiScrape().excluded_handlers) == sorted(set(ApiPaths().model_dump().values()))


@pytest.mark.parametrize(
    ("api", "ratio"),
    [
        # No error left to count: no ratio at all (the alerts then see nothing to fire on).
        (ApiScrape(excluded_handlers=("/health-check", "/metrics.txt")), None),
        (ApiScrape(), 0.5),  # the default paths do not know this probe: its errors count
    ],
    ids=["configured-probe-excluded", "unknown-probe-counted"],
)
def test_configured_probe_paths_stay_out_of_the_slo(
    tmp_path: Path, api: ApiScrape, ratio: float | None
) -> None:
    """Paths with regex characters (`-`, `.`) are escaped twice over (regex, then PromQL string)."""
    rules = render_rule_groups(THRESHOLDS, api)
    series = [
        {
            "series": 'http_requests_total{job="api",handler="/health-check",status="5xx"}',
            "values": "0+60x20",
        },
        {"series": 'http_requests_total{job="api",handler="/orders",status="2xx"}', "values": "0+60x20"},
    ]
    expected = (
        [] if ratio is None else [{"labels": f'{error_ratio_record("5m")}{{job="api"}}', "value": ratio}]
    )
    tests = {
        "rule_files": ["rules.yml"],
        "evaluation_interval": "1m",
        "tests": [
            {
                "interval": "1m",
                "input_series": series,
                "promql_expr_test": [
                    {
                        "expr": error_ratio_record("5m"),
                        "eval_time": "10m",
                        "exp_samples": expected,
                    }
                ],
            }
        ],
    }
    assert _promtool(tmp_path, "check", "rules", "rules.yml", rules=rules).returncode == 0
    result = _promtool(tmp_path, "test", "rules", "tests.yml", rules=rules, tests=tests)
    assert result.returncode == 0, result.stdout + result.stderr


def test_aurora_replica_lag_is_a_series_yace_is_configured_to_export() -> None:
    """YACE names it aws_<namespace>_<metric in snake case>_<statistic>: AWS/RDS AuroraReplicaLag, Maximum."""
    from components.alert_rules import AURORA_REPLICA_LAG
    from components.cloud_metrics import CLOUDWATCH_METRICS

    assert ("AuroraReplicaLag", ["Maximum"]) in CLOUDWATCH_METRICS["AWS/RDS"][1]
    assert AURORA_REPLICA_LAG == "aws_rds_aurora_replica_lag_maximum"
