"""The ``platform:observability`` block: metrics, alerting, dashboards and logs, sized per stack.

One key holds everything the observability tier reads: Prometheus, Alertmanager, Grafana and log
stack sizing, the alert thresholds (:class:`AlertThresholds`), the Alertmanager routing
(:class:`AlertingSettings`) and the receivers' secrets. The secrets are ``secure:`` values in the
stack file (``pulumi config set --secret --path 'platform:observability.alertingSecrets.pager'``);
they are held as :class:`~pydantic.SecretStr`, so they never show in a repr, an error or a log, and
they reach the cluster only inside a Kubernetes Secret that Alertmanager mounts as files.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, SecretStr, StringConstraints, model_validator

from components.alert_rules import AlertThresholds
from components.alertmanager_config import (
    AlertingSettings,
    Duration,
    EmailReceiver,
    PagerDutyReceiver,
    ReceiverName,
    SlackReceiver,
)
from components.model import Model

Hostname = Annotated[
    str,
    StringConstraints(
        max_length=253, pattern=r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)+$"
    ),
]


class PrometheusSettings(Model):
    """The Prometheus server(s) of kube-prometheus-stack."""

    replicas: int = Field(
        default=1, ge=1, le=4, description="Prometheus replicas, each scraping everything (HA pair: 2)."
    )
    retention_days: int = Field(default=7, ge=1, le=400, description="Days of metrics kept on disk.")
    storage_gib: int = Field(default=20, ge=5, le=4000, description="Persistent volume per replica, GiB.")
    scrape_interval: Duration = Field(default="30s", description="Default scrape interval.")

    @model_validator(mode="after")
    def _disk_fits_retention(self) -> PrometheusSettings:
        # Roughly 1-2 bytes per sample: below ~0.5 GiB per retained day the size limit, not the
        # retention, decides what is kept, which surprises whoever reads the config.
        if self.storage_gib < self.retention_days // 2:
            raise ValueError(
                f"storageGib {self.storage_gib} is too small for retentionDays {self.retention_days}: "
                f"allow at least {max(5, self.retention_days // 2)} GiB (about half a GiB per day)"
            )
        return self


class AlertmanagerSettings(Model):
    """The Alertmanager cluster."""

    replicas: int = Field(
        default=1, ge=1, le=5, description="Alertmanager replicas; they gossip so each alert is sent once."
    )
    storage_gib: int = Field(
        default=1, ge=1, le=50, description="Volume for silences and the notification log."
    )


class GrafanaSettings(Model):
    """Grafana: dashboards, with Prometheus, Alertmanager and Loki as datasources."""

    host: Hostname | None = Field(
        default=None,
        description="Host name of Grafana's TLS ingress. Local clusters: no ingress when unset. AWS stacks "
        "with domain.dns: an internal ALB (VPC only) at this host, `grafana.<domain.name>` when unset.",
    )
    storage_gib: int = Field(default=5, ge=1, le=100, description="Volume for Grafana's own database, GiB.")


def grafana_host(grafana: GrafanaSettings, domain_name: str) -> str:
    """Grafana's host on an AWS stack: ``grafana.host``, or ``grafana.<domain.name>`` when unset."""
    return grafana.host or f"grafana.{domain_name}"


class LoggingSettings(Model):
    """The log stack: Loki, and a collector (Grafana Alloy) on every node."""

    enabled: bool = Field(default=True, description="Install Loki and the node log collector.")
    retention_days: int = Field(
        default=7, ge=1, le=3650, description="Days logs are kept (Loki compactor and, on AWS, the bucket)."
    )
    replicas: int = Field(
        default=1, ge=1, le=3, description="Loki replicas (more than 1 needs object storage: AWS stacks)."
    )
    storage_gib: int = Field(
        default=10, ge=1, le=1000, description="Loki volume per replica: WAL and cache (all logs, on local)."
    )


class ObservabilitySettings(Model):
    """The ``platform:observability`` block."""

    prometheus: PrometheusSettings = Field(default_factory=PrometheusSettings, description="Prometheus.")
    alertmanager: AlertmanagerSettings = Field(
        default_factory=AlertmanagerSettings, description="Alertmanager."
    )
    grafana: GrafanaSettings = Field(default_factory=GrafanaSettings, description="Grafana.")
    logging: LoggingSettings = Field(default_factory=LoggingSettings, description="Loki and log collection.")
    alerts: AlertThresholds = Field(
        default_factory=AlertThresholds, description="When the platform's alerts fire, and their runbooks."
    )
    alerting: AlertingSettings = Field(
        default_factory=AlertingSettings, description="Receivers, severity routes, grouping and paging."
    )
    alerting_secrets: dict[ReceiverName, SecretStr] = Field(
        default_factory=dict,
        description="Per receiver name, its Slack webhook URL, PagerDuty routing key or SMTP password "
        "(`secure:` values only).",
    )


def needs_secret(alerting: AlertingSettings) -> list[str]:
    """Receivers that carry a secret: Slack and PagerDuty always, e-mail when it authenticates."""
    return [
        r.name
        for r in alerting.receivers
        if isinstance(r, SlackReceiver | PagerDutyReceiver)
        or (isinstance(r, EmailReceiver) and r.auth_username is not None)
    ]


def check_alerting_secrets(settings: ObservabilitySettings) -> None:
    """Every receiver that needs a secret has one, and every secret belongs to such a receiver.

    Raises ValueError naming receivers only: the caller reports it at a path whose value holds no
    secret (``observability.alerting.receivers``), so no secret is ever echoed in an error.
    """
    needed = needs_secret(settings.alerting)
    missing = [name for name in needed if name not in settings.alerting_secrets]
    if missing:
        raise ValueError(
            f"receiver(s) {', '.join(missing)} need their secret in alertingSecrets (set it with "
            f"`pulumi config set --secret --path 'platform:observability.alertingSecrets.{missing[0]}'`)"
        )
    stray = sorted(set(settings.alerting_secrets) - set(needed))
    if stray:
        raise ValueError(
            f"alertingSecrets has {', '.join(stray)}, which is not a receiver that takes a secret "
            f"(receivers with secrets: {', '.join(needed) or 'none'})"
        )
    empty = sorted(n for n, s in settings.alerting_secrets.items() if not s.get_secret_value().strip())
    if empty:
        raise ValueError(f"alertingSecrets: the secret of {', '.join(empty)} is empty")
