"""The Grafana dashboards: valid JSON, unique uids, a query on every panel, only exported metrics."""

from __future__ import annotations

import copy
import json
import re
from typing import Any

import pytest

from components.alert_rules import metric_names
from components.dashboards import EXPORTED_METRICS, SCHEMA_VERSION, promql_queries, render_dashboards

DASHBOARDS = render_dashboards()
# Variables Grafana defines itself.
BUILTIN_VARIABLES = {"__rate_interval", "__interval", "__range", "__all"}
_VARIABLE = re.compile(r"\$\{?(\w+)")


def unknown_metrics(dashboard: dict[str, Any]) -> set[str]:
    """Metrics a dashboard queries that the platform does not export."""
    return {m for q in promql_queries(dashboard) for m in metric_names(q)} - EXPORTED_METRICS


def panels_without_query(dashboard: dict[str, Any]) -> list[str]:
    """Titles of panels with no target, or a target with an empty query."""
    bad = []
    for panel in dashboard["panels"]:
        targets = panel.get("targets") or [{}]
        for t in targets:
            if t.get("datasource", {}).get("type") == "cloudwatch":
                ok = bool(t.get("namespace")) and bool(t.get("metricName"))
            else:
                ok = bool(str(t.get("expr", "")).strip())
            if not ok:
                bad.append(panel["title"])
    return bad


def undefined_variables(dashboard: dict[str, Any]) -> set[str]:
    """``$variables`` used by the dashboard that its templating does not define."""
    defined = {v["name"] for v in dashboard["templating"]["list"]} | BUILTIN_VARIABLES
    text = json.dumps(dashboard["panels"])
    return {name for name in _VARIABLE.findall(text)} - defined


def test_dashboards_cover_the_platform() -> None:
    assert set(DASHBOARDS) == {
        "platform-api.json",
        "platform-postgres.json",
        "platform-redis.json",
        "platform-deployments.json",
        "platform-edge.json",
    }


@pytest.mark.parametrize("name", sorted(DASHBOARDS))
def test_dashboard_is_valid_grafana_json(name: str) -> None:
    dashboard = DASHBOARDS[name]
    assert json.loads(json.dumps(dashboard, allow_nan=False)) == dashboard
    assert dashboard["schemaVersion"] == SCHEMA_VERSION
    assert re.fullmatch(r"[a-z0-9-]{1,40}", dashboard["uid"])
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids)) and dashboard["panels"]
    for panel in dashboard["panels"]:
        assert panel["gridPos"]["x"] + panel["gridPos"]["w"] <= 24


def test_uids_are_unique() -> None:
    uids = [d["uid"] for d in DASHBOARDS.values()]
    assert len(uids) == len(set(uids))


@pytest.mark.parametrize("name", sorted(DASHBOARDS))
def test_every_panel_has_a_query(name: str) -> None:
    assert panels_without_query(DASHBOARDS[name]) == []


@pytest.mark.parametrize("name", sorted(DASHBOARDS))
def test_dashboard_queries_only_exported_metrics(name: str) -> None:
    assert unknown_metrics(DASHBOARDS[name]) == set()


@pytest.mark.parametrize("name", sorted(DASHBOARDS))
def test_every_variable_used_is_defined(name: str) -> None:
    assert undefined_variables(DASHBOARDS[name]) == set()


def test_namespace_filter_on_prometheus_dashboards() -> None:
    for name, dashboard in DASHBOARDS.items():
        if name != "platform-edge.json":
            assert "namespace" in {v["name"] for v in dashboard["templating"]["list"]}, name


def test_edge_dashboard_reads_cloudfront_waf_and_real_users_from_cloudwatch() -> None:
    targets = [t for p in DASHBOARDS["platform-edge.json"]["panels"] for t in p["targets"]]
    assert {t["datasource"]["type"] for t in targets} == {"cloudwatch"}
    pairs = {(t["namespace"], t["metricName"]) for t in targets}
    assert {
        ("AWS/CloudFront", "Requests"),
        ("AWS/CloudFront", "5xxErrorRate"),
        ("AWS/WAFV2", "BlockedRequests"),
        ("AWS/RUM", "JsErrorCount"),
        ("AWS/RUM", "PerformanceNavigationDuration"),
    } <= pairs


def test_alert_recording_rules_count_as_exported() -> None:
    assert "job:http_request_errors:ratio_rate1h" in EXPORTED_METRICS
    used = {m for q in promql_queries(DASHBOARDS["platform-api.json"]) for m in metric_names(q)}
    assert "job:http_request_errors:ratio_rate1h" in used


# ---------------------------------------------------------------------------------------------
# The checks above fail on broken dashboards
# ---------------------------------------------------------------------------------------------


def _with_panel(panel_patch: dict[str, Any]) -> dict[str, Any]:
    dashboard = copy.deepcopy(DASHBOARDS["platform-redis.json"])
    dashboard["panels"].append({**copy.deepcopy(dashboard["panels"][0]), **panel_patch, "title": "broken"})
    return dashboard


def test_unknown_metric_check_flags_a_panel_with_an_unknown_metric() -> None:
    target = {
        "refId": "A",
        "datasource": {"type": "prometheus", "uid": "${datasource}"},
        "expr": 'sum(rate(redis_commands_processed_total{namespace=~"$namespace"}[5m]))',
    }
    assert unknown_metrics(_with_panel({"targets": [target]})) == {"redis_commands_processed_total"}


def test_unknown_metric_check_reads_variable_queries() -> None:
    dashboard = copy.deepcopy(DASHBOARDS["platform-redis.json"])
    dashboard["templating"]["list"][1]["query"]["query"] = "label_values(redis_instance_info, namespace)"
    assert unknown_metrics(dashboard) == {"redis_instance_info"}


@pytest.mark.parametrize(
    "targets",
    [
        [],
        [{"refId": "A", "datasource": {"type": "prometheus", "uid": "x"}, "expr": "  "}],
        [
            {
                "refId": "A",
                "datasource": {"type": "cloudwatch", "uid": "x"},
                "namespace": "AWS/WAFV2",
                "metricName": "",
            }
        ],
    ],
)
def test_empty_query_check_flags_a_panel_without_a_query(targets: list[dict[str, Any]]) -> None:
    assert panels_without_query(_with_panel({"targets": targets})) == ["broken"]


def test_undefined_variable_check_flags_an_unknown_variable() -> None:
    target = {
        "refId": "A",
        "datasource": {"type": "prometheus", "uid": "${datasource}"},
        "expr": 'redis_up{cluster="$cluster"}',
    }
    assert undefined_variables(_with_panel({"targets": [target]})) == {"cluster"}
