"""Alertmanager's configuration, rendered from the ``platform:alerting`` block and the receivers' secrets.

Routing is by the ``severity`` label every platform alert carries (see ``alert_rules``): the
configured routes send each severity to its receivers; ``pageOnCritical`` sends every critical
alert to each PagerDuty receiver first. Alerts are grouped (``groupBy``) so one incident is one
notification; a critical alert inhibits the warning of the same alert, namespace and service (the
burn-rate and certificate alerts come in both severities). Watchdog and InfoInhibitor, the
kube-prometheus-stack heartbeat and helper alerts, go to a built-in ``null`` receiver that
notifies nobody.

The secrets (Slack webhook URLs, PagerDuty routing keys, SMTP passwords) are not in the settings
model: they come from a separate secret config key, keyed by receiver name, and are passed to
:func:`render_alertmanager_config`. Its output therefore holds secrets and belongs in a Kubernetes
Secret, never in a ConfigMap or a log.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Annotated, Any, Literal

import yaml
from pydantic import Field, StringConstraints, model_validator

from components.model import Model

NULL_RECEIVER = "null"
"""The built-in receiver that notifies nobody (Watchdog, InfoInhibitor, or a dev stack's default)."""

ReceiverName = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9-]{0,62}$")]
ReceiverRef = ReceiverName
Duration = Annotated[str, StringConstraints(pattern=r"^([0-9]+(ms|s|m|h|d|w|y))+$")]
LabelName = Annotated[str, StringConstraints(pattern=r"^[a-zA-Z_][a-zA-Z0-9_]*$")]
EmailAddress = Annotated[str, StringConstraints(pattern=r"^[^@\s,<>]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}$")]
HostPort = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9.-]+:[0-9]{1,5}$")]
SlackChannel = Annotated[str, StringConstraints(pattern=r"^#[a-z0-9][a-z0-9._-]{0,79}$")]
Severity = Literal["critical", "warning", "info"]

_SLACK_TITLE = (
    '[{{ .Status | toUpper }}{{ if eq .Status "firing" }}:{{ .Alerts.Firing | len }}{{ end }}] '
    "{{ .CommonLabels.alertname }} ({{ .CommonLabels.severity }})"
)
_SLACK_TEXT = (
    "{{ range .Alerts }}*{{ .Annotations.summary }}*\n{{ .Annotations.description }}\n"
    "Runbook: {{ .Annotations.runbook_url }}\n{{ end }}"
)


class SlackReceiver(Model):
    """Posts to a Slack channel through an incoming webhook (the webhook URL is the secret)."""

    type: Literal["slack"] = Field(description="Receiver kind.")
    name: ReceiverName = Field(description="Receiver name, referenced by routes and by the secrets.")
    channel: SlackChannel = Field(description="Channel to post to, e.g. `#platform-alerts`.")
    send_resolved: bool = Field(default=True, description="Also post when the alert resolves.")


class PagerDutyReceiver(Model):
    """Opens PagerDuty incidents through the Events API v2 (the routing key is the secret)."""

    type: Literal["pagerduty"] = Field(description="Receiver kind.")
    name: ReceiverName = Field(description="Receiver name, referenced by routes and by the secrets.")
    send_resolved: bool = Field(default=True, description="Resolve the incident when the alert resolves.")


class EmailReceiver(Model):
    """Sends mail through an SMTP relay (the SMTP password, when authenticating, is the secret)."""

    type: Literal["email"] = Field(description="Receiver kind.")
    name: ReceiverName = Field(description="Receiver name, referenced by routes and by the secrets.")
    to: tuple[EmailAddress, ...] = Field(min_length=1, description="Recipients.")
    from_: EmailAddress = Field(alias="from", description="Sender address (the From header).")
    smarthost: HostPort = Field(
        description="SMTP relay as host:port, e.g. `email-smtp.eu-west-1.amazonaws.com:587`."
    )
    auth_username: str | None = Field(
        default=None, min_length=1, description="SMTP user; when set, the receiver's secret is its password."
    )
    require_tls: bool = Field(default=True, description="Refuse to send unless the relay offers STARTTLS.")
    send_resolved: bool = Field(default=False, description="Also mail when the alert resolves.")


Receiver = Annotated[SlackReceiver | PagerDutyReceiver | EmailReceiver, Field(discriminator="type")]


class Route(Model):
    """Alerts of one severity to one receiver."""

    severity: Severity = Field(description="Value of the alerts' `severity` label this route matches.")
    receiver: ReceiverRef = Field(description="A receiver's name, or `null` to drop these alerts.")
    continue_: bool = Field(
        default=False, alias="continue", description="Keep matching later routes after this one matched."
    )


class AlertingSettings(Model):
    """The ``platform:alerting`` block: who is notified of which alerts, and how often."""

    receivers: tuple[Receiver, ...] = Field(default=(), description="Notification targets.")
    routes: tuple[Route, ...] = Field(default=(), description="Severity routes, matched in order.")
    default_receiver: ReceiverRef = Field(
        default=NULL_RECEIVER, description="Receiver of alerts no route matches; `null` drops them."
    )
    group_by: tuple[LabelName, ...] = Field(
        default=("alertname", "namespace", "service"),
        min_length=1,
        description="Labels whose values split alerts into separate notifications.",
    )
    group_wait: Duration = Field(
        default="30s", description="Wait before the first notification of a new group."
    )
    group_interval: Duration = Field(
        default="5m", description="Wait before notifying of new alerts in a group."
    )
    repeat_interval: Duration = Field(
        default="4h", description="Wait before repeating an unchanged notification."
    )
    resolve_timeout: Duration = Field(
        default="5m", description="When an alert without end time counts as resolved."
    )
    page_on_critical: bool = Field(
        default=False, description="Send every critical alert to each PagerDuty receiver, before the routes."
    )
    require_paging: bool = Field(
        default=False, description="Critical alerts must reach a PagerDuty receiver (production stacks)."
    )

    @property
    def pagers(self) -> tuple[str, ...]:
        """Names of the PagerDuty receivers."""
        return tuple(r.name for r in self.receivers if isinstance(r, PagerDutyReceiver))

    @model_validator(mode="after")
    def _references_and_paging(self) -> AlertingSettings:
        names = [r.name for r in self.receivers]
        if NULL_RECEIVER in names:
            raise ValueError(
                f"receivers: the name {NULL_RECEIVER!r} is reserved for the built-in silent receiver"
            )
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"receivers: name(s) {', '.join(duplicates)} defined more than once")
        known = {NULL_RECEIVER, *names}
        allowed = ", ".join(sorted(known))
        if self.default_receiver not in known:
            raise ValueError(
                f"defaultReceiver {self.default_receiver!r} is not a defined receiver (defined: {allowed})"
            )
        for i, route in enumerate(self.routes):
            if route.receiver not in known:
                raise ValueError(
                    f"routes[{i}] (severity {route.severity}) sends to receiver {route.receiver!r}, which is "
                    f"not defined (defined: {allowed})"
                )
        if self.page_on_critical and not self.pagers:
            raise ValueError("pageOnCritical is true but no receiver has type pagerduty")
        if self.require_paging:
            routed = any(r.severity == "critical" and r.receiver in self.pagers for r in self.routes)
            if not self.pagers or not (self.page_on_critical or routed):
                raise ValueError(
                    "requirePaging is true (this stack must page a human): define a receiver of type "
                    "pagerduty and set pageOnCritical, or route severity critical to it"
                )
        return self


class AlertingSecretError(ValueError):
    """A receiver's secret is missing, empty, malformed or addressed to no receiver."""


def _secret(secrets: Mapping[str, str], receiver: str, what: str) -> str:
    value = secrets.get(receiver)
    if not value or not value.strip():
        raise AlertingSecretError(
            f"missing_secret: receiver {receiver!r} needs its {what} in the alerting secrets"
        )
    if value != value.strip() or "\n" in value:
        raise AlertingSecretError(
            f"the {what} of receiver {receiver!r} has surrounding whitespace or a newline"
        )
    return value


def _receiver(receiver: Receiver, secrets: Mapping[str, str], secret_dir: str | None) -> dict[str, Any]:
    def secret(key: str, what: str) -> dict[str, str]:
        if secret_dir is not None:
            return {f"{key}_file": f"{secret_dir.rstrip('/')}/{receiver.name}"}
        return {key: _secret(secrets, receiver.name, what)}

    if isinstance(receiver, SlackReceiver):
        url = secret("api_url", "Slack webhook URL")
        if not url.get("api_url", "https://").startswith("https://"):
            raise AlertingSecretError(
                f"the Slack webhook URL of receiver {receiver.name!r} is not an https URL"
            )
        config: dict[str, Any] = {
            **url,
            "channel": receiver.channel,
            "send_resolved": receiver.send_resolved,
            "title": _SLACK_TITLE,
            "text": _SLACK_TEXT,
        }
        return {"name": receiver.name, "slack_configs": [config]}
    if isinstance(receiver, PagerDutyReceiver):
        config = {
            **secret("routing_key", "PagerDuty routing key"),
            "send_resolved": receiver.send_resolved,
            "severity": '{{ if eq .CommonLabels.severity "critical" }}critical{{ else }}warning{{ end }}',
            "description": "{{ .CommonLabels.alertname }}: {{ .CommonAnnotations.summary }}",
        }
        return {"name": receiver.name, "pagerduty_configs": [config]}
    config = {
        "to": ", ".join(receiver.to),
        "from": receiver.from_,
        "smarthost": receiver.smarthost,
        "require_tls": receiver.require_tls,
        "send_resolved": receiver.send_resolved,
    }
    if receiver.auth_username is not None:
        config["auth_username"] = receiver.auth_username
        config.update(secret("auth_password", "SMTP password"))
    return {"name": receiver.name, "email_configs": [config]}


# An inhibition applies only between alerts of the same alert, namespace and service.
_EQUAL = ("alertname", "namespace", "service")


def _severity(value: str) -> list[str]:
    return [f'severity="{value}"']


def render_alertmanager_config(
    settings: AlertingSettings, secrets: Mapping[str, str], *, secret_dir: str | None = None
) -> str:
    """``alertmanager.yaml`` for these settings, with each receiver's secret from ``secrets``.

    ``secrets`` maps a receiver name to its Slack webhook URL, PagerDuty routing key or SMTP
    password. A receiver without its secret, or a secret naming no receiver, raises
    :class:`AlertingSecretError` naming the receiver.

    With ``secret_dir`` (and no ``secrets``), the config holds no secret at all: each receiver
    reads its secret from the file ``<secret_dir>/<receiver name>`` (``api_url_file``,
    ``routing_key_file``, ``auth_password_file``), i.e. a mounted Kubernetes Secret keyed by
    receiver name.
    """
    if secret_dir is not None and secrets:
        raise AlertingSecretError("give the receivers' secrets either inline or as files, not both")
    stray = sorted(set(secrets) - {r.name for r in settings.receivers})
    if stray:
        raise AlertingSecretError(f"alerting secrets given for unknown receiver(s): {', '.join(stray)}")
    receivers = [{"name": NULL_RECEIVER}] + [_receiver(r, secrets, secret_dir) for r in settings.receivers]

    routes: list[dict[str, Any]] = [
        {"receiver": NULL_RECEIVER, "matchers": ['alertname=~"Watchdog|InfoInhibitor"']},
    ]
    if settings.page_on_critical:
        routes += [
            {"receiver": p, "matchers": _severity("critical"), "continue": True} for p in settings.pagers
        ]
    routes += [
        {"receiver": r.receiver, "matchers": _severity(r.severity), "continue": r.continue_}
        for r in settings.routes
    ]
    config = {
        "global": {"resolve_timeout": settings.resolve_timeout},
        "route": {
            "receiver": settings.default_receiver,
            "group_by": list(settings.group_by),
            "group_wait": settings.group_wait,
            "group_interval": settings.group_interval,
            "repeat_interval": settings.repeat_interval,
            "routes": routes,
        },
        "inhibit_rules": [
            {
                "source_matchers": _severity("critical"),
                "target_matchers": ['severity=~"warning|info"'],
                "equal": _EQUAL,
            },
            {"source_matchers": _severity("warning"), "target_matchers": _severity("info"), "equal": _EQUAL},
            # kube-prometheus-stack's InfoInhibitor fires while info alerts fire alone in a namespace.
            {
                "source_matchers": ['alertname="InfoInhibitor"'],
                "target_matchers": _severity("info"),
                "equal": ["namespace"],
            },
        ],
        "receivers": receivers,
    }
    # A JSON round trip makes every list a distinct object, so the YAML has no anchors/aliases.
    return yaml.safe_dump(json.loads(json.dumps(config)), sort_keys=False, width=1000)
