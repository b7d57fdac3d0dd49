"""Prometheus alerting and recording rules for the platform, rendered from the ``platform:alerts`` block.

The rules cover what the platform itself runs and kube-prometheus-stack's default rules do not: the
API's availability SLO (multi-window, multi-burn-rate, after the Google SRE workbook), latency and
5xx ratio; PgBouncer, PostgreSQL (CloudNativePG in dev, Aurora through postgres_exporter
elsewhere: one expression covers both, whichever metrics exist), Redis, cert-manager certificates,
Argo Rollouts; and one Kubernetes alert the chart lacks (a container in a platform namespace killed
for running out of memory). Crash-looping pods, PVCs filling up, targets down, Watchdog and
InfoInhibitor already come with the chart's default rules and are not repeated here.

API metrics follow prometheus-fastapi-instrumentator's defaults: ``http_requests_total{handler,
method, status}`` with status grouped into classes ("2xx", "5xx"); the ``5..`` regex used below
matches both grouped classes and raw codes ("503"). Probe and scrape endpoints are left out of the
SLO so kubelet and Prometheus traffic does not dilute it.

``render_rule_groups`` gives a Prometheus rule file (``promtool check rules`` / ``test rules``);
``render_prometheus_rule`` wraps the same groups in the Prometheus Operator's PrometheusRule.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import Field, StringConstraints, model_validator

from components.model import Model

Severity = Literal["critical", "warning"]

DnsLabel = Annotated[str, StringConstraints(pattern=r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")]

# YACE names a CloudWatch metric aws_<namespace>_<metric in snake case>_<statistic>, with the
# metric's dimensions as `dimension_<name>` labels (components/cloud_metrics.py exports this one).
AURORA_REPLICA_LAG = "aws_rds_aurora_replica_lag_maximum"

EXPORTED_METRICS: frozenset[str] = frozenset(
    {
        # API (prometheus-fastapi-instrumentator) and Prometheus' own scrape health.
        "http_requests_total",
        "http_request_duration_seconds_bucket",
        "up",
        # prometheus-community/pgbouncer_exporter.
        "pgbouncer_up",
        "pgbouncer_pools_client_waiting_connections",
        "pgbouncer_pools_client_active_connections",
        "pgbouncer_pools_server_active_connections",
        "pgbouncer_pools_server_idle_connections",
        "pgbouncer_pools_client_maxwait_seconds",
        "pgbouncer_config_max_client_connections",
        "pgbouncer_databases_pool_size",
        "pgbouncer_databases_current_connections",
        # CloudNativePG's built-in exporter (dev).
        "cnpg_collector_up",
        "cnpg_pg_replication_lag",
        "cnpg_backends_total",
        "cnpg_pg_settings_setting",
        # prometheus-community/postgres_exporter in front of Aurora.
        "pg_up",
        "pg_stat_database_numbackends",
        "pg_settings_max_connections",
        # YACE (CloudWatch): Aurora's replica lag, in milliseconds, per DB instance. postgres_exporter's
        # pg_replication_lag_seconds needs pg_last_xact_replay_timestamp(), which Aurora does not support.
        AURORA_REPLICA_LAG,
        # oliver006/redis_exporter.
        "redis_up",
        "redis_memory_used_bytes",
        "redis_memory_max_bytes",
        "redis_evicted_keys_total",
        "redis_connected_clients",
        # cert-manager controller.
        "certmanager_certificate_expiration_timestamp_seconds",
        "certmanager_certificate_ready_status",
        # Argo Rollouts controller. rollout_info's phase is one of Completed, Progressing, Paused,
        # Timeout, Error, Abort, InvalidSpec (rollout_phase is its deprecated one-hot twin).
        "rollout_info",
        "rollout_phase",
        "analysis_run_info",
        "analysis_run_metric_phase",
        # kube-state-metrics and cAdvisor (shipped with kube-prometheus-stack).
        "kube_pod_container_status_restarts_total",
        "kube_pod_container_status_last_terminated_reason",
        "container_cpu_usage_seconds_total",
        "container_memory_working_set_bytes",
    }
)
"""Every metric name the platform's rules and dashboards may query (recording rules aside)."""


def promql_handler_regex(paths: tuple[str, ...] | list[str]) -> str:
    """A regex matching exactly ``paths``, escaped to sit inside a PromQL double-quoted string."""
    pattern = "|".join(re.escape(p) for p in sorted(set(paths)))
    return pattern.replace("\\", "\\\\")


@dataclass(frozen=True)
class ApiScrape:
    """How Prometheus sees the API: its scrape job, and the handlers that are not user traffic
    (kubelet probes, load-balancer health checks and scrapes, excluded from the SLO)."""

    job: str = "api"
    excluded_handlers: tuple[str, ...] = ("/healthz", "/metrics", "/readyz")
    """The API's probe and metrics paths (`platform:api.paths`; these are their defaults)."""

    @property
    def user_requests(self) -> str:
        """Label matchers of the API's user requests."""
        return f'job="{self.job}",handler!~"{promql_handler_regex(self.excluded_handlers)}"'


DEFAULT_API_SCRAPE = ApiScrape()

# The SLO windows, shortest first; each gets a recording rule of the API's error ratio.
SLO_WINDOWS: tuple[str, ...] = ("5m", "30m", "1h", "2h", "6h", "1d", "3d")

_PROMQL_KEYWORDS = frozenset(
    {
        "by",
        "without",
        "on",
        "ignoring",
        "group_left",
        "group_right",
        "bool",
        "and",
        "or",
        "unless",
        "offset",
        "inf",
        "nan",
        "atan2",
    }
)


class AlertThresholds(Model):
    """The ``platform:alerts`` block: when the platform's alerts fire and where their runbooks live."""

    slo_availability_target: float = Field(
        default=0.999,
        ge=0.9,
        le=0.9999,
        description="Share of API requests (non-5xx) that must succeed over 30 days; 1 - target is "
        "the error budget the burn-rate alerts measure.",
    )
    latency_p99_seconds: float = Field(
        default=1.0, gt=0, le=60, description="API p99 request latency above which ApiHighLatency fires."
    )
    server_error_ratio: float = Field(
        default=0.05,
        gt=0,
        lt=1,
        description="Share of 5xx API responses (over 5 minutes) above which ApiHighErrorRate fires.",
    )
    pgbouncer_waiting_clients: int = Field(
        default=10, ge=1, le=100_000, description="Clients queued for a server connection, per database."
    )
    pgbouncer_max_wait_seconds: float = Field(
        default=5.0, gt=0, le=3600, description="Age of the oldest client waiting for a server connection."
    )
    pool_saturation_ratio: float = Field(
        default=0.9,
        gt=0,
        le=1,
        description="Share of a PgBouncer pool's server connections (or of max_client_conn) in use.",
    )
    replication_lag_seconds: float = Field(
        default=30.0, gt=0, le=86_400, description="Replica replay lag behind the primary."
    )
    db_connection_ratio: float = Field(
        default=0.8, gt=0, lt=1, description="Share of PostgreSQL max_connections in use."
    )
    redis_memory_ratio: float = Field(default=0.9, gt=0, lt=1, description="Share of Redis maxmemory in use.")
    cert_expiry_days: int = Field(
        default=14, ge=2, le=90, description="Days before a certificate's expiry when a warning fires."
    )
    cert_expiry_critical_days: int = Field(
        default=3, ge=1, le=60, description="Days before a certificate's expiry when a page fires."
    )
    no_traffic_alert: bool = Field(
        default=False,
        description="Warn when the API serves no requests for 15 minutes (for stacks with steady traffic).",
    )
    namespaces: tuple[DnsLabel, ...] = Field(
        default=("platform",),
        min_length=1,
        description="Kubernetes namespaces of the platform's workloads, watched for OOM-killed containers.",
    )
    runbook_base_url: Annotated[str, StringConstraints(pattern=r"^https://[^\s\"'{}#]+$")] = Field(
        default="https://github.com/example-org/platform/blob/main/docs/runbooks/alerts.md",
        description="Where docs/runbooks/alerts.md is published; each alert links to its section, "
        "<base>#<alertname in lower case>. Set it to your repository's copy.",
    )

    @model_validator(mode="after")
    def _critical_expiry_before_warning(self) -> AlertThresholds:
        if self.cert_expiry_critical_days >= self.cert_expiry_days:
            raise ValueError(
                f"certExpiryCriticalDays ({self.cert_expiry_critical_days}) must be less than "
                f"certExpiryDays ({self.cert_expiry_days})"
            )
        return self


@dataclass(frozen=True)
class _Alert:
    name: str
    severity: Severity
    expr: str
    for_: str
    summary: str
    description: str


def _num(value: float) -> str:
    """A threshold as PromQL prints it: no float noise such as 0.014400000000000001."""
    return f"{value:.6g}"


def error_ratio_record(window: str) -> str:
    """Name of the recording rule holding the API's 5xx ratio over ``window``."""
    return f"job:http_request_errors:ratio_rate{window}"


def _recording_rules(api: ApiScrape) -> list[dict[str, Any]]:
    requests = f"http_requests_total{{{api.user_requests}}}"
    errors = f'http_requests_total{{{api.user_requests},status=~"5.."}}'
    return [
        {
            "record": error_ratio_record(w),
            "expr": f"sum by (job) (rate({errors}[{w}]))\n/\nsum by (job) (rate({requests}[{w}]))",
        }
        for w in SLO_WINDOWS
    ]


def _api_alerts(t: AlertThresholds, api: ApiScrape) -> list[_Alert]:
    budget = 1 - t.slo_availability_target
    job = f'{{job="{api.job}"}}'

    def burn(long: str, short: str, factor: float) -> str:
        bound = _num(factor * budget)
        return f"({error_ratio_record(long)}{job} > {bound} and {error_ratio_record(short)}{job} > {bound})"

    alerts = [
        # Page: 2 % of the 30-day budget gone in 1 h, or 5 % in 6 h (SRE workbook, table 5-8).
        _Alert(
            "ApiErrorBudgetBurn",
            "critical",
            f"{burn('1h', '5m', 14.4)}\nor\n{burn('6h', '30m', 6)}",
            "2m",
            "The API is burning its error budget fast",
            f"Job {{{{ $labels.job }}}} has {{{{ $value | humanizePercentage }}}} of requests failing; at "
            f"this rate the {_num(t.slo_availability_target * 100)}% availability SLO's 30-day error "
            "budget is gone within days.",
        ),
        # Ticket: 10 % of the budget in 1 day or 3 days.
        _Alert(
            "ApiErrorBudgetBurn",
            "warning",
            f"{burn('1d', '2h', 3)}\nor\n{burn('3d', '6h', 1)}",
            "15m",
            "The API is burning its error budget",
            f"Job {{{{ $labels.job }}}} has {{{{ $value | humanizePercentage }}}} of requests failing over "
            f"the last day(s), above what the {_num(t.slo_availability_target * 100)}% availability SLO "
            "allows.",
        ),
        _Alert(
            "ApiHighErrorRate",
            "warning",
            f"{error_ratio_record('5m')}{job} > {_num(t.server_error_ratio)}",
            "10m",
            "Many API responses are server errors",
            f"{{{{ $value | humanizePercentage }}}} of the responses of job {{{{ $labels.job }}}} are 5xx "
            f"(threshold {_num(t.server_error_ratio * 100)}%).",
        ),
        _Alert(
            "ApiHighLatency",
            "warning",
            "histogram_quantile(0.99, sum by (job, le) (rate("
            f"http_request_duration_seconds_bucket{{{api.user_requests}}}[5m])))"
            f" > {_num(t.latency_p99_seconds)}",
            "10m",
            "API p99 latency is high",
            "The 99th percentile latency of job {{ $labels.job }} is {{ $value | humanizeDuration }} "
            f"(threshold {_num(t.latency_p99_seconds)}s).",
        ),
        _Alert(
            "ApiDown",
            "critical",
            f"max by (job) (up{job}) == 0\nor\nabsent(up{job})",
            "3m",
            "The API is down",
            "No target of job {{ $labels.job }} has been scraped successfully for 3 minutes.",
        ),
    ]
    if t.no_traffic_alert:
        alerts.append(
            _Alert(
                "ApiNoTraffic",
                "warning",
                f"sum by (job) (rate(http_requests_total{{{api.user_requests}}}[15m])) == 0",
                "15m",
                "The API serves no requests",
                "Job {{ $labels.job }} has served no user request for 30 minutes: check the load "
                "balancer, DNS and the CDN in front of it.",
            )
        )
    return alerts


def _pgbouncer_alerts(t: AlertThresholds) -> list[_Alert]:
    return [
        _Alert(
            "PgBouncerDown",
            "critical",
            "pgbouncer_up == 0",
            "2m",
            "PgBouncer is down",
            "The exporter of {{ $labels.namespace }}/{{ $labels.pod }} cannot reach its PgBouncer.",
        ),
        _Alert(
            "PgBouncerClientsWaiting",
            "warning",
            "sum by (namespace, database) (pgbouncer_pools_client_waiting_connections) > "
            f"{t.pgbouncer_waiting_clients}",
            "2m",
            "Clients are queueing in PgBouncer",
            "{{ $value }} clients of database {{ $labels.database }} in {{ $labels.namespace }} wait "
            "for a server connection.",
        ),
        _Alert(
            "PgBouncerMaxWaitHigh",
            "warning",
            "max by (namespace, database) (pgbouncer_pools_client_maxwait_seconds) > "
            f"{_num(t.pgbouncer_max_wait_seconds)}",
            "2m",
            "PgBouncer clients wait long for a server connection",
            "The oldest waiting client of database {{ $labels.database }} in {{ $labels.namespace }} "
            "has waited {{ $value | humanizeDuration }}.",
        ),
        # current_connections and pool_size come from SHOW DATABASES, so their labels match 1:1.
        _Alert(
            "PgBouncerPoolSaturated",
            "warning",
            "max by (namespace, name) (pgbouncer_databases_current_connections / "
            f"(pgbouncer_databases_pool_size > 0)) > {_num(t.pool_saturation_ratio)}",
            "5m",
            "A PgBouncer pool is nearly full",
            "The pool of database {{ $labels.name }} in {{ $labels.namespace }} uses "
            "{{ $value | humanizePercentage }} of its server connections.",
        ),
        # cl_active counts linked and idle clients, so active + waiting is every client connection.
        _Alert(
            "PgBouncerClientConnectionsNearLimit",
            "warning",
            "sum by (namespace, pod) (pgbouncer_pools_client_active_connections + "
            "pgbouncer_pools_client_waiting_connections)\n/\n"
            "max by (namespace, pod) (pgbouncer_config_max_client_connections > 0)\n"
            f"> {_num(t.pool_saturation_ratio)}",
            "5m",
            "PgBouncer is close to max_client_conn",
            "PgBouncer {{ $labels.namespace }}/{{ $labels.pod }} holds {{ $value | humanizePercentage }} "
            "of max_client_conn; beyond it new clients are refused.",
        ),
    ]


# CloudNativePG series are grouped by pod; Aurora's postgres_exporter series by the endpoint their
# exporter watches (`database_endpoint`: writer or reader, from the exporter's Service): an alert
# carries one of the two, never both.
_INSTANCE = "{{ $labels.namespace }}/{{ $labels.pod }}{{ $labels.database_endpoint }}"


def _database_alerts(t: AlertThresholds) -> list[_Alert]:
    # Each expression joins the CloudNativePG form and the postgres_exporter (Aurora) form with
    # `or`: a stack exports only one of them, so the same rules serve every stack.
    return [
        _Alert(
            "PostgresDown",
            "critical",
            "max by (namespace, pod) (cnpg_collector_up) == 0\nor\nmax by (database_endpoint) (pg_up) == 0",
            "2m",
            "PostgreSQL is unreachable",
            f"The exporter of {_INSTANCE} cannot query PostgreSQL.",
        ),
        _Alert(
            "PostgresReplicationLagHigh",
            "warning",
            f"max by (namespace, pod) (cnpg_pg_replication_lag) > {_num(t.replication_lag_seconds)}\nor\n"
            f"max by (dimension_DBInstanceIdentifier) ({AURORA_REPLICA_LAG}) / 1000"
            f" > {_num(t.replication_lag_seconds)}",
            "5m",
            "A PostgreSQL replica lags behind",
            f"Replica {_INSTANCE}{{{{ $labels.dimension_DBInstanceIdentifier }}}} is "
            "{{ $value | humanizeDuration }} behind the primary; reads from it are stale.",
        ),
        _Alert(
            "PostgresConnectionsNearLimit",
            "warning",
            "sum by (namespace, pod) (cnpg_backends_total)\n/\n"
            'max by (namespace, pod) (cnpg_pg_settings_setting{name="max_connections"})\n'
            f"> {_num(t.db_connection_ratio)}\nor\n"
            "sum by (database_endpoint) (pg_stat_database_numbackends)\n/\n"
            "max by (database_endpoint) (pg_settings_max_connections)\n"
            f"> {_num(t.db_connection_ratio)}",
            "5m",
            "PostgreSQL is close to max_connections",
            f"PostgreSQL {_INSTANCE} uses {{{{ $value | humanizePercentage }}}} of max_connections.",
        ),
    ]


def _redis_alerts(t: AlertThresholds) -> list[_Alert]:
    return [
        _Alert(
            "RedisDown",
            "critical",
            "redis_up == 0",
            "2m",
            "Redis is down",
            "The exporter {{ $labels.namespace }}/{{ $labels.instance }} cannot reach Redis; API rate "
            "limiting depends on it.",
        ),
        # maxmemory 0 means unlimited: no ratio then.
        _Alert(
            "RedisMemoryNearMax",
            "warning",
            f"redis_memory_used_bytes / (redis_memory_max_bytes > 0) > {_num(t.redis_memory_ratio)}",
            "5m",
            "Redis is close to maxmemory",
            "Redis {{ $labels.namespace }}/{{ $labels.instance }} uses {{ $value | humanizePercentage }} "
            "of maxmemory; it will start evicting keys.",
        ),
        _Alert(
            "RedisEvictingKeys",
            "warning",
            "rate(redis_evicted_keys_total[5m]) > 0",
            "10m",
            "Redis is evicting keys",
            "Redis {{ $labels.namespace }}/{{ $labels.instance }} evicts {{ $value | humanize }} keys/s; "
            "rate-limit counters are being lost.",
        ),
    ]


def _certificate_alerts(t: AlertThresholds) -> list[_Alert]:
    # cert-manager exports 0 for a certificate never issued (CertificateNotReady covers those).
    remaining = "(certmanager_certificate_expiration_timestamp_seconds > 0) - time()"
    warn, crit = t.cert_expiry_days * 86_400, t.cert_expiry_critical_days * 86_400
    description = (
        "Certificate {{ $labels.namespace }}/{{ $labels.name }} expires in "
        "{{ $value | humanizeDuration }}: cert-manager has not renewed it."
    )
    # The two severities cover disjoint ranges, so a certificate is paged on or warned about, not both.
    return [
        _Alert(
            "CertificateExpiringSoon",
            "warning",
            f"{remaining} < {warn}\nand\n{remaining} >= {crit}",
            "1h",
            "A certificate expires soon",
            description,
        ),
        _Alert(
            "CertificateExpiringSoon",
            "critical",
            f"{remaining} < {crit}",
            "10m",
            "A certificate is about to expire",
            description,
        ),
        _Alert(
            "CertificateNotReady",
            "warning",
            'max by (namespace, name) (certmanager_certificate_ready_status{condition!="True"}) == 1',
            "15m",
            "A certificate is not ready",
            "Certificate {{ $labels.namespace }}/{{ $labels.name }} has not been Ready for 15 minutes; "
            "check its CertificateRequest and the issuer.",
        ),
    ]


def _rollout_alerts(t: AlertThresholds) -> list[_Alert]:
    failed = 'analysis_run_metric_phase{phase=~"Failed|Error",dry_run!="true"} == 1'
    earlier = failed.replace(" == 1", " offset 1h == 1")
    keep = "namespace, name, metric, phase"
    return [
        _Alert(
            "RolloutAborted",
            "warning",
            'max by (namespace, name, phase) (rollout_info{phase=~"Abort|Error|Timeout|InvalidSpec"}) == 1',
            "1m",
            "A rollout was aborted or is failing",
            "Rollout {{ $labels.namespace }}/{{ $labels.name }} is in phase {{ $labels.phase }}: the new "
            "version did not become stable and the previous one keeps serving.",
        ),
        # A failed AnalysisRun stays in the cluster until the history limit prunes it; alert only
        # on failures that appeared within the last hour.
        _Alert(
            "AnalysisRunFailed",
            "warning",
            f"max by ({keep}) ({failed})\nunless\nmax by ({keep}) ({earlier})",
            "1m",
            "A rollout analysis failed",
            "Metric {{ $labels.metric }} of AnalysisRun {{ $labels.namespace }}/{{ $labels.name }} ended "
            "{{ $labels.phase }}.",
        ),
    ]


def _kubernetes_alerts(t: AlertThresholds) -> list[_Alert]:
    ns = "|".join(t.namespaces)
    keep = "namespace, pod, container"
    return [
        _Alert(
            "PlatformContainerOOMKilled",
            "warning",
            f"max by ({keep}) "
            f'(increase(kube_pod_container_status_restarts_total{{namespace=~"{ns}"}}[15m])) > 0'
            f"\nand on ({keep})\n"
            f"max by ({keep}) (kube_pod_container_status_last_terminated_reason"
            f'{{namespace=~"{ns}",reason="OOMKilled"}}) == 1',
            "0m",
            "A platform container was OOM-killed",
            "Container {{ $labels.container }} of {{ $labels.namespace }}/{{ $labels.pod }} restarted "
            "after running out of memory; raise its memory limit or find the leak.",
        ),
    ]


# Every group after the API's, which also needs to know how the API is scraped.
_GROUPS = (
    ("platform-pgbouncer", _pgbouncer_alerts),
    ("platform-database", _database_alerts),
    ("platform-redis", _redis_alerts),
    ("platform-certificates", _certificate_alerts),
    ("platform-rollouts", _rollout_alerts),
    ("platform-kubernetes", _kubernetes_alerts),
)


def _alert_rule(alert: _Alert, runbook_base: str) -> dict[str, Any]:
    return {
        "alert": alert.name,
        "expr": alert.expr,
        "for": alert.for_,
        "labels": {"severity": alert.severity},
        "annotations": {
            "summary": alert.summary,
            "description": alert.description,
            "runbook_url": f"{runbook_base}#{alert.name.lower()}",
        },
    }


def render_rule_groups(thresholds: AlertThresholds, api: ApiScrape = DEFAULT_API_SCRAPE) -> dict[str, Any]:
    """The platform's Prometheus rule file: ``{"groups": [...]}``, recording rules first."""
    runbooks = thresholds.runbook_base_url
    groups: list[dict[str, Any]] = [
        {"name": "platform-slo-recording", "rules": _recording_rules(api)},
        {"name": "platform-api", "rules": [_alert_rule(a, runbooks) for a in _api_alerts(thresholds, api)]},
    ]
    for name, build in _GROUPS:
        rules = [_alert_rule(a, thresholds.runbook_base_url) for a in build(thresholds)]
        groups.append({"name": name, "rules": rules})
    return {"groups": groups}


def render_prometheus_rule(
    thresholds: AlertThresholds,
    name: str,
    namespace: str,
    labels: dict[str, str],
    api: ApiScrape = DEFAULT_API_SCRAPE,
) -> dict[str, Any]:
    """The same groups as a ``monitoring.coreos.com/v1`` PrometheusRule.

    ``labels`` must include what the Prometheus' ``ruleSelector`` matches (kube-prometheus-stack
    selects ``release: <helm release name>`` by default), or the rules are silently not loaded.
    """
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        "metadata": {"name": name, "namespace": namespace, "labels": dict(sorted(labels.items()))},
        "spec": render_rule_groups(thresholds, api),
    }


def alert_keys(rule_file: dict[str, Any]) -> set[tuple[str, str]]:
    """Every (alert name, severity) pair of a rendered rule file."""
    return {
        (rule["alert"], rule["labels"]["severity"])
        for group in rule_file["groups"]
        for rule in group["rules"]
        if "alert" in rule
    }


def recorded_metrics(rule_file: dict[str, Any]) -> set[str]:
    """Names of the series a rendered rule file's recording rules produce."""
    return {rule["record"] for group in rule_file["groups"] for rule in group["rules"] if "record" in rule}


_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
_BRACED = re.compile(r"\{[^{}]*\}|\[[^\[\]]*\]")
_GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)")
_IDENT = re.compile(r"(?<![\w.$:])([a-zA-Z_:][a-zA-Z0-9_:]*)(?![\w:])(?!\s*\()")


def metric_names(expr: str) -> set[str]:
    """Metric names a PromQL expression selects (functions, keywords and label names left out).

    A lexical approximation, exact for the expressions this project writes: strings, label
    matchers, range/subquery brackets and grouping clauses are removed before identifiers are read.
    """
    text = _STRING.sub('""', expr)
    text = _BRACED.sub(" ", text)
    text = _GROUPING.sub(" ", text)
    return {m for m in _IDENT.findall(text) if m.lower() not in _PROMQL_KEYWORDS}
