"""Grafana dashboards for the platform, as JSON the Grafana sidecar of kube-prometheus-stack loads.

One dashboard per concern: the API's golden signals, PostgreSQL and PgBouncer, Redis, deployments
(Argo Rollouts progress, aborts, analysis results and time spent rolling out) and the edge
(CloudFront and WAF, from CloudWatch). Every PromQL query uses only metrics the platform exports
(:data:`EXPORTED_METRICS`, the set the alert rules are held to, plus the SLO recording rules), so
a renamed exporter metric fails a test instead of leaving an empty panel. Dashboards pick their
datasource through a variable and filter by namespace where the metrics carry one.
"""

from __future__ import annotations

import re
from typing import Any

from components.alert_rules import (
    AURORA_REPLICA_LAG,
    DEFAULT_API_SCRAPE,
    AlertThresholds,
    ApiScrape,
    error_ratio_record,
    recorded_metrics,
    render_rule_groups,
)
from components.alert_rules import EXPORTED_METRICS as _RAW_METRICS

SCHEMA_VERSION = 39

EXPORTED_METRICS: frozenset[str] = _RAW_METRICS | frozenset(
    recorded_metrics(render_rule_groups(AlertThresholds()))
)
"""Metrics a dashboard may query: the exporters' metrics and the SLO recording rules."""

_PROM = {"type": "prometheus", "uid": "${datasource}"}
_CLOUDWATCH = {"type": "cloudwatch", "uid": "${cloudwatch}"}
_NS = 'namespace=~"$namespace"'
_LABEL_VALUES = re.compile(r"^label_values\(\s*([a-zA-Z_:][a-zA-Z0-9_:]*)\s*(?:\{[^}]*\})?\s*,\s*\w+\s*\)$")


def _prom_target(expr: str, legend: str, ref: str) -> dict[str, Any]:
    return {"refId": ref, "datasource": _PROM, "expr": expr, "legendFormat": legend, "range": True}


def _cloudwatch_target(
    namespace: str, metric: str, dimensions: dict[str, str], stat: str, ref: str, *, region: str = "us-east-1"
) -> dict[str, Any]:
    return {
        "refId": ref,
        "datasource": _CLOUDWATCH,
        "queryMode": "Metrics",
        "metricQueryType": 0,
        "metricEditorMode": 0,
        # CloudFront and CloudFront-scoped WAF metrics exist only in us-east-1; RUM publishes in the
        # app monitor's region, the datasource's default.
        "region": region,
        "namespace": namespace,
        "metricName": metric,
        "dimensions": dimensions,
        "statistic": stat,
        "period": "",
        "matchExact": True,
        "id": "",
        "expression": "",
        "label": "",
    }


def _panel(
    kind: str, title: str, targets: list[dict[str, Any]], unit: str, description: str = ""
) -> dict[str, Any]:
    panel: dict[str, Any] = {
        "type": kind,
        "title": title,
        "description": description,
        "datasource": targets[0]["datasource"],
        "targets": targets,
        "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
        "options": {},
    }
    if kind == "timeseries":
        panel["options"] = {
            "legend": {"displayMode": "list", "placement": "bottom"},
            "tooltip": {"mode": "multi"},
        }
    return panel


def _timeseries(
    title: str, exprs: list[tuple[str, str]], unit: str = "short", description: str = ""
) -> dict[str, Any]:
    targets = [_prom_target(expr, legend, chr(ord("A") + i)) for i, (expr, legend) in enumerate(exprs)]
    return _panel("timeseries", title, targets, unit, description)


def _stat(title: str, expr: str, unit: str = "short", description: str = "") -> dict[str, Any]:
    return _panel("stat", title, [_prom_target(expr, "", "A")], unit, description)


def _datasource_var(name: str, kind: str) -> dict[str, Any]:
    return {"name": name, "label": name.capitalize(), "type": "datasource", "query": kind, "hide": 0}


def _namespace_var(metric: str) -> dict[str, Any]:
    return {
        "name": "namespace",
        "label": "Namespace",
        "type": "query",
        "datasource": _PROM,
        "query": {"query": f"label_values({metric}, namespace)", "refId": "namespace"},
        "definition": f"label_values({metric}, namespace)",
        "refresh": 2,
        "includeAll": True,
        "multi": True,
        "allValue": ".*",
        "current": {"text": "All", "value": "$__all"},
        "hide": 0,
    }


def _textbox_var(name: str, label: str) -> dict[str, Any]:
    return {"name": name, "label": label, "type": "textbox", "query": "", "hide": 0}


def _dashboard(
    uid: str, title: str, panels: list[dict[str, Any]], variables: list[dict[str, Any]], tags: list[str]
) -> dict[str, Any]:
    laid_out = []
    for i, panel in enumerate(panels):
        # Two panels per row, 12 of Grafana's 24 columns each, 8 units high.
        laid_out.append(
            {"id": i + 1, "gridPos": {"x": (i % 2) * 12, "y": (i // 2) * 8, "w": 12, "h": 8}, **panel}
        )
    return {
        "uid": uid,
        "title": title,
        "tags": ["platform", *tags],
        "timezone": "browser",
        "editable": False,
        "graphTooltip": 1,
        "refresh": "1m",
        "schemaVersion": SCHEMA_VERSION,
        "version": 1,
        "time": {"from": "now-6h", "to": "now"},
        "templating": {"list": variables},
        "annotations": {"list": []},
        "links": [],
        "panels": laid_out,
    }


def _api(api: ApiScrape) -> dict[str, Any]:
    job = f'job="{api.job}"'
    user = f"{api.user_requests},{_NS}"
    requests = f"http_requests_total{{{user}}}"
    errors = f'http_requests_total{{{user},status=~"5.."}}'
    buckets = f"http_request_duration_seconds_bucket{{{user}}}"
    quantile = "histogram_quantile({q}, sum by (le) (rate({b}[$__rate_interval])))"
    panels = [
        _timeseries(
            "Traffic: requests per second by handler",
            [(f"sum by (handler) (rate({requests}[$__rate_interval]))", "{{handler}}")],
            "reqps",
        ),
        _timeseries(
            "Errors: share of 5xx responses",
            [
                (
                    f"sum(rate({errors}[$__rate_interval])) / sum(rate({requests}[$__rate_interval]))",
                    "5xx ratio",
                ),
                (f"{error_ratio_record('1h')}{{{job}}}", "SLO error ratio (1h)"),
            ],
            "percentunit",
        ),
        _timeseries(
            "Latency: p50 / p90 / p99",
            [(quantile.format(q=q, b=buckets), f"p{round(q * 100)}") for q in (0.5, 0.9, 0.99)],
            "s",
        ),
        _timeseries(
            "Saturation: CPU and memory per API pod",
            [
                (
                    "sum by (pod) (rate(container_cpu_usage_seconds_total"
                    f'{{{_NS},container="api"}}[$__rate_interval]))',
                    "{{pod}} CPU cores",
                ),
            ],
            "short",
        ),
        _timeseries(
            "Memory working set per API pod",
            [(f'sum by (pod) (container_memory_working_set_bytes{{{_NS},container="api"}})', "{{pod}}")],
            "bytes",
        ),
        _stat("Availability over 1 day", f"1 - {error_ratio_record('1d')}{{{job}}}", "percentunit"),
        _stat("API targets up", f"sum(up{{{job},{_NS}}})", "short"),
        _timeseries(
            "Responses by status class",
            [(f"sum by (status) (rate({requests}[$__rate_interval]))", "{{status}}")],
            "reqps",
        ),
    ]
    variables = [_datasource_var("datasource", "prometheus"), _namespace_var(f"up{{{job}}}")]
    return _dashboard("platform-api", "Platform / API golden signals", panels, variables, ["api"])


def _postgres() -> dict[str, Any]:
    # The namespace variable lists PgBouncer's and CloudNativePG's namespace; Aurora's exporters
    # (postgres_exporter, YACE) run in the monitoring namespace and speak for the database, so their
    # series are not filtered by it.
    pools = f"{{{_NS}}}"
    panels = [
        _timeseries(
            "PostgreSQL instances up",
            [(f"cnpg_collector_up{pools}", "{{pod}}"), ("pg_up", "Aurora {{database_endpoint}}")],
        ),
        _timeseries(
            "Connections used / max_connections",
            [
                (
                    f"sum by (pod) (cnpg_backends_total{pools}) / max by (pod) "
                    f'(cnpg_pg_settings_setting{{{_NS},name="max_connections"}})',
                    "{{pod}}",
                ),
                (
                    "sum by (database_endpoint) (pg_stat_database_numbackends) / max by (database_endpoint) "
                    "(pg_settings_max_connections)",
                    "Aurora {{database_endpoint}}",
                ),
            ],
            "percentunit",
        ),
        _timeseries(
            "Replication lag",
            [
                (f"cnpg_pg_replication_lag{pools}", "{{pod}}"),
                (
                    f"max by (dimension_DBInstanceIdentifier) ({AURORA_REPLICA_LAG}) / 1000",
                    "{{dimension_DBInstanceIdentifier}}",
                ),
            ],
            "s",
        ),
        _timeseries(
            "PgBouncer up",
            [(f"pgbouncer_up{pools}", "{{pod}}")],
        ),
        _timeseries(
            "PgBouncer clients: active and waiting",
            [
                (
                    f"sum by (database) (pgbouncer_pools_client_active_connections{pools})",
                    "{{database}} active",
                ),
                (
                    f"sum by (database) (pgbouncer_pools_client_waiting_connections{pools})",
                    "{{database}} waiting",
                ),
            ],
        ),
        _timeseries(
            "PgBouncer server connections: active and idle",
            [
                (
                    f"sum by (database) (pgbouncer_pools_server_active_connections{pools})",
                    "{{database}} active",
                ),
                (f"sum by (database) (pgbouncer_pools_server_idle_connections{pools})", "{{database}} idle"),
            ],
        ),
        _timeseries(
            "PgBouncer pool use (current / pool_size)",
            [
                (
                    f"pgbouncer_databases_current_connections{pools}"
                    f" / (pgbouncer_databases_pool_size{pools} > 0)",
                    "{{pod}} {{name}}",
                )
            ],
            "percentunit",
        ),
        _timeseries(
            "PgBouncer oldest waiting client",
            [(f"max by (database) (pgbouncer_pools_client_maxwait_seconds{pools})", "{{database}}")],
            "s",
        ),
        _timeseries(
            "PgBouncer client connections / max_client_conn",
            [
                (
                    f"sum by (pod) (pgbouncer_pools_client_active_connections{pools} + "
                    f"pgbouncer_pools_client_waiting_connections{pools}) / max by (pod) "
                    f"(pgbouncer_config_max_client_connections{pools})",
                    "{{pod}}",
                )
            ],
            "percentunit",
        ),
    ]
    variables = [_datasource_var("datasource", "prometheus"), _namespace_var("pgbouncer_up")]
    return _dashboard(
        "platform-postgres", "Platform / PostgreSQL and PgBouncer", panels, variables, ["database"]
    )


def _redis() -> dict[str, Any]:
    sel = f"{{{_NS}}}"
    panels = [
        _stat("Redis up", f"min(redis_up{sel})"),
        _timeseries(
            "Memory used / maxmemory",
            [(f"redis_memory_used_bytes{sel} / (redis_memory_max_bytes{sel} > 0)", "{{instance}}")],
            "percentunit",
        ),
        _timeseries("Memory used", [(f"redis_memory_used_bytes{sel}", "{{instance}}")], "bytes"),
        _timeseries(
            "Evicted keys per second",
            [(f"rate(redis_evicted_keys_total{sel}[$__rate_interval])", "{{instance}}")],
            "ops",
        ),
        _timeseries("Connected clients", [(f"redis_connected_clients{sel}", "{{instance}}")]),
    ]
    variables = [_datasource_var("datasource", "prometheus"), _namespace_var("redis_up")]
    return _dashboard("platform-redis", "Platform / Redis", panels, variables, ["redis"])


def _deployments() -> dict[str, Any]:
    sel = f"{{{_NS}}}"
    panels = [
        _stat(
            "Rollouts in progress", f'count(rollout_info{{{_NS},phase=~"Progressing|Paused"}}) or vector(0)'
        ),
        _stat(
            "Rollouts aborted or failing",
            f'count(rollout_info{{{_NS},phase=~"Abort|Error|Timeout|InvalidSpec"}}) or vector(0)',
        ),
        _timeseries(
            "Rollout phase",
            [(f"max by (name, phase) (rollout_info{sel})", "{{name}}: {{phase}}")],
            description="1 while the rollout is in the phase: Completed, Progressing, Paused, Abort, Error, "
            "Timeout or InvalidSpec.",
        ),
        _timeseries(
            "Analysis runs by phase",
            [(f"count by (phase) (analysis_run_info{sel})", "{{phase}}")],
        ),
        _timeseries(
            "Analysis metric results",
            [
                (
                    "max by (name, metric, phase) "
                    f'(analysis_run_metric_phase{{{_NS},phase!="Pending"}} == 1)',
                    "{{name}} {{metric}}: {{phase}}",
                )
            ],
        ),
        _timeseries(
            "Time spent rolling out (over the dashboard range)",
            [
                (
                    "sum by (name) (count_over_time("
                    f'rollout_info{{{_NS},phase=~"Progressing|Paused"}}[$__range:1m])) * 60',
                    "{{name}}",
                )
            ],
            "s",
            description="Minutes sampled in Progressing or Paused, per rollout: the duration of the "
            "deployments that ran in the range.",
        ),
    ]
    variables = [_datasource_var("datasource", "prometheus"), _namespace_var("rollout_info")]
    return _dashboard("platform-deployments", "Platform / Deployments", panels, variables, ["deployments"])


def _edge() -> dict[str, Any]:
    cloudfront = {"DistributionId": "$distribution", "Region": "Global"}
    waf = {"WebACL": "$web_acl", "Rule": "ALL"}

    rum = {"application_name": "$rum_app"}

    def cloudwatch(
        title: str,
        namespace: str,
        metric: str,
        *,
        dims: dict[str, str],
        stat: str,
        unit: str = "short",
        region: str = "us-east-1",
    ) -> dict[str, Any]:
        unit = "percent" if metric.endswith("ErrorRate") else unit
        target = _cloudwatch_target(namespace, metric, dims, stat, "A", region=region)
        return _panel("timeseries", title, [target], unit)

    def real_users(title: str, metric: str, stat: str, unit: str = "short") -> dict[str, Any]:
        return cloudwatch(title, "AWS/RUM", metric, dims=rum, stat=stat, unit=unit, region="default")

    panels = [
        cloudwatch("CloudFront requests", "AWS/CloudFront", "Requests", dims=cloudfront, stat="Sum"),
        cloudwatch(
            "CloudFront 5xx error rate", "AWS/CloudFront", "5xxErrorRate", dims=cloudfront, stat="Average"
        ),
        cloudwatch(
            "CloudFront 4xx error rate", "AWS/CloudFront", "4xxErrorRate", dims=cloudfront, stat="Average"
        ),
        cloudwatch("WAF blocked requests", "AWS/WAFV2", "BlockedRequests", dims=waf, stat="Sum"),
        cloudwatch("WAF allowed requests", "AWS/WAFV2", "AllowedRequests", dims=waf, stat="Sum"),
        cloudwatch(
            "WAF counted requests (count-mode rules)", "AWS/WAFV2", "CountedRequests", dims=waf, stat="Sum"
        ),
        # Real users (CloudWatch RUM): what the browsers saw, beside what the edge served.
        real_users("Real-user sessions", "SessionCount", "Sum"),
        real_users("Page views", "PageViewCount", "Sum"),
        real_users("JavaScript errors", "JsErrorCount", "Sum"),
        real_users("HTTP errors seen by browsers", "HttpErrorCount", "Sum"),
        real_users("Page load (navigation) duration", "PerformanceNavigationDuration", "Average", "ms"),
        real_users("Largest contentful paint", "WebVitalsLargestContentfulPaint", "Average", "ms"),
    ]
    variables = [
        _datasource_var("cloudwatch", "cloudwatch"),
        _textbox_var("distribution", "CloudFront distribution id"),
        _textbox_var("web_acl", "WAF web ACL name"),
        _textbox_var("rum_app", "CloudWatch RUM app monitor name"),
    ]
    title = "Platform / Edge (CloudFront, WAF and real users)"
    return _dashboard("platform-edge", title, panels, variables, ["edge"])


def render_dashboards(api: ApiScrape = DEFAULT_API_SCRAPE) -> dict[str, dict[str, Any]]:
    """File name -> Grafana dashboard JSON model, for the Grafana dashboard sidecar."""
    return {
        "platform-api.json": _api(api),
        "platform-postgres.json": _postgres(),
        "platform-redis.json": _redis(),
        "platform-deployments.json": _deployments(),
        "platform-edge.json": _edge(),
    }


def promql_queries(dashboard: dict[str, Any]) -> list[str]:
    """Every PromQL expression of a dashboard: panel targets and query variables.

    A variable's ``label_values(metric, label)`` is returned as its metric selector.
    """
    queries = [
        t["expr"]
        for p in dashboard["panels"]
        for t in p["targets"]
        if t["datasource"]["type"] == "prometheus"
    ]
    for var in dashboard["templating"]["list"]:
        if var["type"] == "query":
            text = var["query"]["query"]
            match = _LABEL_VALUES.match(text)
            queries.append(text[len("label_values(") : text.rindex(",")] if match else text)
    return queries
