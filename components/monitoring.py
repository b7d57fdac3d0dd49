"""In-cluster metrics and alerting: kube-prometheus-stack, the platform's rules, monitors and dashboards.

Creates, in the monitoring namespace:

- the kube-prometheus-stack Helm release (Prometheus Operator, Prometheus, Alertmanager, Grafana,
  kube-state-metrics, node-exporter), sized from ``platform:observability``. Prometheus selects
  every ServiceMonitor, PodMonitor, Probe, ScrapeConfig and PrometheusRule in every namespace (the
  chart's ``...SelectorNilUsesHelmValues: false``), so another tier's monitor is picked up without
  carrying this release's label;
- Alertmanager's configuration (:func:`render_alertmanager_config`), passed to the chart as
  ``alertmanager.config``. It holds no secret: each receiver reads its webhook URL, routing key or
  SMTP password from a file of a Secret (keyed by receiver name) that Alertmanager mounts under
  ``/etc/alertmanager/secrets/`` (``alertmanagerSpec.secrets``), so no secret reaches Helm;
- Grafana's admin login: a generated password in a Secret the chart reads (``admin.existingSecret``);
- Grafana's ingress with TLS: on a local cluster the chart's own (``grafana.ingress``, a cert-manager
  issuer); on AWS stacks an Ingress of its own (:func:`render_grafana_alb_ingress`) for an *internal*
  ALB, HTTPS only, with an ACM certificate for its host validated through the stack's DNS zone and a
  DNS record for the host pointing at the ALB. It is rendered apart from the chart because the
  record needs the Ingress' status (the ALB's DNS name), which a Helm release does not expose;
- the platform's PrometheusRule (:func:`render_prometheus_rule`), its dashboards in one ConfigMap
  the Grafana sidecar loads (label ``grafana_dashboard: "1"``), and a ServiceMonitor or PodMonitor
  per :class:`ScrapeTarget` the other tiers handed over;
- on AWS stacks, Grafana's CloudWatch datasource (the edge dashboard's CloudFront and WAF panels)
  and the IAM role it reads CloudWatch with, bound to Grafana's ServiceAccount by EKS Pod Identity
  (:func:`grafana_cloudwatch_policy`: read-only, no access key anywhere).

Everything Kubernetes receives comes from the pure functions below, so it is tested without Pulumi.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import yaml

from components import charts
from components.alert_rules import DEFAULT_API_SCRAPE, ApiScrape, render_prometheus_rule
from components.alertmanager_config import render_alertmanager_config
from components.dashboards import render_dashboards
from components.dns import DnsZone
from components.endpoints import ScrapeTarget
from components.kube import apply
from components.observability_settings import ObservabilitySettings

RELEASE = "kube-prometheus-stack"
"""Helm release name; the chart prefixes its objects with it."""
RECEIVERS_SECRET = "alertmanager-receivers"
SECRET_DIR = f"/etc/alertmanager/secrets/{RECEIVERS_SECRET}"
"""Where the Prometheus Operator mounts ``alertmanagerSpec.secrets`` entries."""
GRAFANA_ADMIN_SECRET = "grafana-admin"
UNSCRAPABLE_CONTROL_PLANE = ("kubeScheduler", "kubeControllerManager", "kubeEtcd", "kubeProxy")
GRAFANA_ADMIN_USER = "admin"
DASHBOARDS_CONFIGMAP = "platform-dashboards"
GRAFANA_SERVICE_ACCOUNT = f"{RELEASE}-grafana"
"""Grafana's ServiceAccount (the chart's default name, set explicitly: Pod Identity binds to it)."""
CLOUDWATCH_DATASOURCE_UID = "cloudwatch"
"""The CloudWatch datasource; dashboards pick it through their `cloudwatch` datasource variable."""
CLOUDWATCH_READ_ACTIONS = (
    "cloudwatch:DescribeAlarmHistory",
    "cloudwatch:DescribeAlarms",
    "cloudwatch:DescribeAlarmsForMetric",
    "cloudwatch:GetMetricData",
    "cloudwatch:GetMetricStatistics",
    "cloudwatch:ListMetrics",
    "ec2:DescribeRegions",
    "tag:GetResources",
)
"""What Grafana's CloudWatch datasource needs for metric queries, alarm annotations, the region list
and dimension values by tag (Grafana's metrics-only policy; no Logs Insights, no EC2 variables)."""
DASHBOARD_LABEL = "grafana_dashboard"
FOLDER_ANNOTATION = "grafana_folder"
"""Annotation naming the Grafana folder of a ConfigMap's dashboards (the sidecar's ``folderAnnotation``)."""
DASHBOARD_FOLDER = "Platform"
RULE_NAME = "platform-alerts"
GRAFANA_SERVICE = f"{RELEASE}-grafana"
GRAFANA_SERVICE_PORT = 80
"""The chart's Grafana Service and port (it forwards to the pod's 3000)."""
GRAFANA_HEALTH_PATH = "/api/health"
"""Grafana's unauthenticated health endpoint: 200 once its database answers."""
GRAFANA_ALB_INGRESS = "grafana"
ALB_SSL_POLICY = "ELBSecurityPolicy-TLS13-1-2-2021-06"
"""TLS 1.3 and 1.2 only, the same policy as the API's load balancer."""


@dataclass(frozen=True)
class GrafanaIngress:
    """How Grafana is published: a host name behind an ingress class, with a cert-manager issuer."""

    host: str
    ingress_class: str
    cluster_issuer: str


@dataclass(frozen=True)
class GrafanaAlb:
    """AWS stacks: Grafana at ``host`` behind an internal ALB, its certificate validated in ``zone``."""

    host: str
    zone: DnsZone
    deletion_protection: bool
    """The ALB's deletion protection (``config.rules``)."""


# --------------------------------------------------------------------------------------------
# Pure renders
# --------------------------------------------------------------------------------------------


def _volume(storage_class: str, gib: int) -> dict[str, Any]:
    return {
        "storageClassName": storage_class,
        "accessModes": ["ReadWriteOnce"],
        "resources": {"requests": {"storage": f"{gib}Gi"}},
    }


def cloudwatch_datasource(region: str) -> dict[str, Any]:
    """Grafana's CloudWatch datasource: credentials from the SDK's default chain (EKS Pod Identity)."""
    return {
        "name": "CloudWatch",
        "type": "cloudwatch",
        "uid": CLOUDWATCH_DATASOURCE_UID,
        "access": "proxy",
        "editable": False,
        "jsonData": {"authType": "default", "defaultRegion": region},
    }


def grafana_cloudwatch_policy() -> str:
    """Grafana's IAM policy: read CloudWatch metrics and alarms, list regions, resolve tags."""
    from components.iam import allow, document

    return document(allow(CLOUDWATCH_READ_ACTIONS))


def _grafana_values(
    settings: ObservabilitySettings,
    storage_class: str,
    ingress: GrafanaIngress | None,
    loki_url: str | None,
    *,
    cloudwatch_region: str | None = None,
    alb_host: str | None = None,
) -> dict[str, Any]:
    grafana: dict[str, Any] = {
        "serviceAccount": {"create": True, "name": GRAFANA_SERVICE_ACCOUNT},
        # The generated admin login, read from its Secret: no password passes through Helm.
        "admin": {
            "existingSecret": GRAFANA_ADMIN_SECRET,
            "userKey": "admin-user",
            "passwordKey": "admin-password",
        },
        "persistence": {
            "enabled": True,
            "storageClassName": storage_class,
            "accessModes": ["ReadWriteOnce"],
            "size": f"{settings.grafana.storage_gib}Gi",
        },
        "service": {"type": "ClusterIP"},
        # One ReadWriteOnce volume: a rolling update's new pod on another node could never attach it.
        "deploymentStrategy": {"type": "Recreate"},
        "sidecar": {
            "dashboards": {
                "enabled": True,
                "label": DASHBOARD_LABEL,
                "labelValue": "1",
                "searchNamespace": "ALL",
                # The sidecar files each ConfigMap's dashboards under the folder its annotation names;
                # without both settings the annotation is ignored and everything lands in "General".
                "folderAnnotation": FOLDER_ANNOTATION,
                "provider": {"foldersFromFilesStructure": True},
            }
        },
        "ingress": {"enabled": False},
    }
    datasources: list[dict[str, Any]] = []
    if loki_url is not None:
        datasources.append(
            {"name": "Loki", "type": "loki", "uid": "loki", "access": "proxy", "url": loki_url}
        )
    if cloudwatch_region is not None:
        datasources.append(cloudwatch_datasource(cloudwatch_region))
    if datasources:
        grafana["additionalDataSources"] = datasources
    if ingress is not None:
        grafana["ingress"] = {
            "enabled": True,
            "ingressClassName": ingress.ingress_class,
            "annotations": {"cert-manager.io/cluster-issuer": ingress.cluster_issuer},
            "hosts": [ingress.host],
            "path": "/",
            "tls": [{"secretName": "grafana-tls", "hosts": [ingress.host]}],
        }
    host = ingress.host if ingress is not None else alb_host
    if host is not None:
        # Links in alerts and OAuth redirects use the URL users reach Grafana at.
        grafana["grafana.ini"] = {"server": {"root_url": f"https://{host}"}}
    return grafana


def kube_prometheus_values(
    settings: ObservabilitySettings,
    *,
    storage_class: str,
    ingress: GrafanaIngress | None = None,
    loki_url: str | None = None,
    cloudwatch_region: str | None = None,
    alb_host: str | None = None,
) -> dict[str, Any]:
    """Values of the kube-prometheus-stack chart.

    ``cloudwatch_region`` adds the CloudWatch datasource; ``alb_host`` is Grafana's host behind the
    ALB Ingress rendered apart (:func:`render_grafana_alb_ingress`), for its ``root_url``.
    """
    if ingress is not None and alb_host is not None:
        raise ValueError("Grafana has one ingress: the chart's (local) or the ALB's (AWS), not both")
    prometheus, alertmanager = settings.prometheus, settings.alertmanager
    # Prometheus stops at the size limit before the volume fills (its WAL and compaction need room).
    retention_size_gb = max(1, int(prometheus.storage_gib * 0.85))
    prometheus_spec: dict[str, Any] = {
        "replicas": prometheus.replicas,
        "retention": f"{prometheus.retention_days}d",
        "retentionSize": f"{retention_size_gb}GB",
        "scrapeInterval": prometheus.scrape_interval,
        "storageSpec": {"volumeClaimTemplate": {"spec": _volume(storage_class, prometheus.storage_gib)}},
        # Select monitors and rules in every namespace, whatever their labels.
        "ruleSelectorNilUsesHelmValues": False,
        "serviceMonitorSelectorNilUsesHelmValues": False,
        "podMonitorSelectorNilUsesHelmValues": False,
        "probeSelectorNilUsesHelmValues": False,
        "scrapeConfigSelectorNilUsesHelmValues": False,
        # Two replicas on one node are one failure away from none.
        "podAntiAffinity": "hard" if prometheus.replicas > 1 else "",
    }
    alertmanager_spec: dict[str, Any] = {
        "replicas": alertmanager.replicas,
        "storage": {"volumeClaimTemplate": {"spec": _volume(storage_class, alertmanager.storage_gib)}},
        "secrets": [RECEIVERS_SECRET],
        # Like Prometheus: replicas on one node are lost together, and the cluster loses its quorum.
        "podAntiAffinity": "hard" if alertmanager.replicas > 1 else "",
    }
    return {
        "crds": {"enabled": True},
        "defaultRules": {"create": True},
        # EKS runs the scheduler, controller manager and etcd out of reach, and kind binds them (and
        # kube-proxy's metrics) to the node's loopback: scraped, they would only feed the chart's
        # `absent(up{...})` alerts, which would then page forever.
        **{component: {"enabled": False} for component in UNSCRAPABLE_CONTROL_PLANE},
        "prometheus": {
            "prometheusSpec": prometheus_spec,
            # A node drain evicts one replica at a time, never the whole HA set.
            "podDisruptionBudget": {"enabled": prometheus.replicas > 1, "minAvailable": 1},
        },
        "alertmanager": {
            "config": alertmanager_config(settings),
            "tplConfig": False,
            "alertmanagerSpec": alertmanager_spec,
            "podDisruptionBudget": {"enabled": alertmanager.replicas > 1, "minAvailable": 1},
        },
        "grafana": _grafana_values(
            settings,
            storage_class,
            ingress,
            loki_url,
            cloudwatch_region=cloudwatch_region,
            alb_host=alb_host,
        ),
    }


def alertmanager_config(settings: ObservabilitySettings) -> dict[str, Any]:
    """``alertmanager.yaml`` as the chart's ``alertmanager.config``: no secret, receivers read files.

    Every top-level key the chart's default config has is set (``templates`` to none), so Helm's
    merge with those defaults leaves exactly this configuration.
    """
    config: dict[str, Any] = yaml.safe_load(
        render_alertmanager_config(settings.alerting, {}, secret_dir=SECRET_DIR)
    )
    return {**config, "templates": []}


def render_receivers_secret(namespace: str, secrets: Mapping[str, pulumi.Input[str]]) -> dict[str, Any]:
    """The Secret Alertmanager mounts: one key per receiver, its webhook URL, routing key or password."""
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": RECEIVERS_SECRET, "namespace": namespace},
        "type": "Opaque",
        "stringData": dict(sorted(secrets.items())),
    }


def render_grafana_admin_secret(namespace: str, password: pulumi.Input[str]) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": GRAFANA_ADMIN_SECRET, "namespace": namespace},
        "type": "Opaque",
        "stringData": {"admin-user": GRAFANA_ADMIN_USER, "admin-password": password},
    }


def render_grafana_alb_ingress(
    namespace: str, host: str, certificate_arn: pulumi.Input[str], *, deletion_protection: bool
) -> dict[str, Any]:
    """Grafana's Ingress for the AWS Load Balancer Controller: an internal ALB, HTTPS on 443 only.

    ``internal`` puts the ALB in the private subnets with private addresses only: Grafana answers
    inside the VPC and over whatever reaches it (VPN, peering), never from the internet. With no
    port 80 listener there is no plaintext path to redirect. Targets are Grafana's pod IPs, checked
    on ``/api/health``.
    """
    prefix = "alb.ingress.kubernetes.io"
    annotations: dict[str, Any] = {
        f"{prefix}/scheme": "internal",
        f"{prefix}/target-type": "ip",
        f"{prefix}/listen-ports": '[{"HTTPS": 443}]',
        f"{prefix}/certificate-arn": certificate_arn,
        f"{prefix}/ssl-policy": ALB_SSL_POLICY,
        f"{prefix}/backend-protocol": "HTTP",
        f"{prefix}/healthcheck-path": GRAFANA_HEALTH_PATH,
        f"{prefix}/success-codes": "200",
        f"{prefix}/load-balancer-attributes": (
            f"deletion_protection.enabled={str(deletion_protection).lower()}"
        ),
    }
    backend = {"service": {"name": GRAFANA_SERVICE, "port": {"number": GRAFANA_SERVICE_PORT}}}
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": {
            "name": GRAFANA_ALB_INGRESS,
            "namespace": namespace,
            "labels": {"app.kubernetes.io/name": "grafana"},
            "annotations": annotations,
        },
        "spec": {
            "ingressClassName": "alb",
            "rules": [
                {"host": host, "http": {"paths": [{"path": "/", "pathType": "Prefix", "backend": backend}]}}
            ],
        },
    }


def load_balancer_hostname(status: Any) -> str:
    """The load balancer's DNS name from an Ingress status (empty until the controller sets it)."""
    ingress = ((status or {}).get("loadBalancer") or {}).get("ingress") or [{}]
    return str(ingress[0].get("hostname") or ingress[0].get("ip") or "")


def render_dashboards_configmap(namespace: str, api: ApiScrape = DEFAULT_API_SCRAPE) -> dict[str, Any]:
    """Every platform dashboard in one ConfigMap, labelled for the Grafana sidecar."""
    dashboards = render_dashboards(api)
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": DASHBOARDS_CONFIGMAP,
            "namespace": namespace,
            "labels": {DASHBOARD_LABEL: "1"},
            "annotations": {FOLDER_ANNOTATION: DASHBOARD_FOLDER},
        },
        "data": {name: json.dumps(d, sort_keys=True) for name, d in sorted(dashboards.items())},
    }


def render_monitor(target: ScrapeTarget) -> dict[str, Any]:
    """A ServiceMonitor (``kind="service"``) or PodMonitor (``kind="pod"``) for one scrape target.

    The ``job`` label is the target's name, whatever the Service or pod is called, so the alert
    rules and dashboards can count on it (the API's is ``api``).
    """
    if target.kind not in ("service", "pod"):
        raise ValueError(
            f"scrape target {target.name!r}: kind must be `service` or `pod`, got {target.kind!r}"
        )
    endpoint: dict[str, Any] = {
        "port": target.port,
        "path": target.path,
        "interval": target.interval,
        "honorLabels": target.honor_labels,
        "relabelings": [{"action": "replace", "targetLabel": "job", "replacement": target.name}],
    }
    spec: dict[str, Any] = {
        "selector": {"matchLabels": dict(sorted(target.selector.items()))},
        "namespaceSelector": {"matchNames": [target.namespace]},
    }
    if target.kind == "service":
        kind = "ServiceMonitor"
        spec["endpoints"] = [endpoint]
        if target.target_labels:
            spec["targetLabels"] = list(target.target_labels)
    else:
        kind = "PodMonitor"
        spec["podMetricsEndpoints"] = [endpoint]
        if target.target_labels:
            spec["podTargetLabels"] = list(target.target_labels)
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": kind,
        "metadata": {
            "name": target.name,
            "namespace": target.namespace,
            "labels": {"app.kubernetes.io/name": target.name},
        },
        "spec": spec,
    }


def render_monitors(targets: Sequence[ScrapeTarget]) -> list[dict[str, Any]]:
    """One monitor per target; two targets of one name in one namespace are refused."""
    seen: set[tuple[str, str]] = set()
    for target in targets:
        key = (target.namespace, target.name)
        if key in seen:
            raise ValueError(f"scrape target {target.namespace}/{target.name} is handed over twice")
        seen.add(key)
    return [render_monitor(t) for t in targets]


# --------------------------------------------------------------------------------------------
# The component
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CloudWatchAccess:
    """AWS stacks: Grafana reads CloudWatch in ``region`` through a Pod Identity role on this cluster."""

    region: str
    cluster_name: pulumi.Input[str]


@dataclass(frozen=True)
class MonitoringArgs:
    settings: ObservabilitySettings
    namespace: str
    storage_class: str
    scrape_targets: tuple[ScrapeTarget, ...]
    grafana_ingress: GrafanaIngress | None = None
    """Local clusters: the chart's ingress (nginx, cert-manager)."""
    grafana_alb: GrafanaAlb | None = None
    """AWS stacks: an internal ALB with an ACM certificate and a DNS record for the host."""
    loki_url: str | None = None
    """Loki's query URL, added to Grafana as a datasource."""
    cloudwatch: CloudWatchAccess | None = None
    """Grafana's CloudWatch datasource and its IAM role (AWS stacks)."""
    api: ApiScrape = DEFAULT_API_SCRAPE
    """How the API is scraped (its job and probe paths), for its alerts and dashboard."""


class Monitoring(pulumi.ComponentResource):
    """kube-prometheus-stack with the platform's Alertmanager routing, rules, dashboards and monitors."""

    grafana_admin_password: pulumi.Output[str]
    """Grafana's generated admin password (a Pulumi secret)."""
    grafana_url: str
    """Where Grafana answers: its ingress URL, or its in-cluster Service for `kubectl port-forward`."""
    alertmanager_url: str
    """Alertmanager's in-cluster URL."""
    prometheus_url: str
    """Prometheus' in-cluster URL."""

    def __init__(self, name: str, args: MonitoringArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("platform:observability:Monitoring", name, None, opts)
        import pulumi_kubernetes as k8s
        import pulumi_random as random

        child = pulumi.ResourceOptions(parent=self)
        ns = args.namespace
        password = random.RandomPassword(
            f"{name}-grafana-admin", length=32, special=False, min_numeric=4, min_upper=4, opts=child
        )
        self.grafana_admin_password = pulumi.Output.secret(password.result)
        secrets = [
            apply(
                f"{name}-grafana-admin", render_grafana_admin_secret(ns, self.grafana_admin_password), child
            ),
            apply(
                f"{name}-alertmanager-receivers",
                render_receivers_secret(
                    ns,
                    {
                        receiver: pulumi.Output.secret(value.get_secret_value())
                        for receiver, value in args.settings.alerting_secrets.items()
                    },
                ),
                child,
            ),
        ]
        ready: list[pulumi.Resource] = list(secrets)
        if args.cloudwatch is not None:
            # Grafana starts with its credentials: the association exists before its pod does.
            ready.append(self._cloudwatch_role(name, ns, args.cloudwatch))
        chart = charts.KUBE_PROMETHEUS_STACK
        release = k8s.helm.v3.Release(
            f"{name}-stack",
            name=RELEASE,
            chart=chart.name,
            version=chart.version,
            repository_opts=k8s.helm.v3.RepositoryOptsArgs(repo=chart.repository),
            namespace=ns,
            values=kube_prometheus_values(
                args.settings,
                storage_class=args.storage_class,
                ingress=args.grafana_ingress,
                loki_url=args.loki_url,
                cloudwatch_region=args.cloudwatch.region if args.cloudwatch is not None else None,
                alb_host=args.grafana_alb.host if args.grafana_alb is not None else None,
            ),
            atomic=True,
            opts=pulumi.ResourceOptions(parent=self, depends_on=ready),
        )
        after_crds = pulumi.ResourceOptions(parent=self, depends_on=[release])
        apply(
            f"{name}-rules",
            render_prometheus_rule(args.settings.alerts, RULE_NAME, ns, {"release": RELEASE}, args.api),
            after_crds,
        )
        apply(f"{name}-dashboards", render_dashboards_configmap(ns, args.api), child)
        for monitor in render_monitors(args.scrape_targets):
            meta = monitor["metadata"]
            apply(f"{name}-{monitor['kind'].lower()}-{meta['namespace']}-{meta['name']}", monitor, after_crds)

        if args.grafana_alb is not None:
            self._grafana_alb(name, ns, args.grafana_alb, release)

        service = f"{RELEASE}-{{}}.{ns}.svc.cluster.local"
        self.prometheus_url = f"http://{service.format('prometheus')}:9090"
        self.alertmanager_url = f"http://{service.format('alertmanager')}:9093"
        if args.grafana_ingress is not None:
            self.grafana_url = f"https://{args.grafana_ingress.host}"
        elif args.grafana_alb is not None:
            self.grafana_url = f"https://{args.grafana_alb.host}"
        else:
            self.grafana_url = f"http://{GRAFANA_SERVICE}.{ns}.svc.cluster.local"
        self.register_outputs(
            {
                "grafana_admin_password": self.grafana_admin_password,
                "grafana_url": self.grafana_url,
                "alertmanager_url": self.alertmanager_url,
                "prometheus_url": self.prometheus_url,
            }
        )

    def _grafana_alb(self, name: str, namespace: str, alb: GrafanaAlb, release: pulumi.Resource) -> None:
        """The ACM certificate, the internal ALB's Ingress and the host's record pointing at the ALB."""
        from components.dns import add_record, validated_certificate

        child = pulumi.ResourceOptions(parent=self)
        certificate_arn = validated_certificate(f"{name}-grafana", alb.zone, alb.host, child)
        ingress = apply(
            f"{name}-grafana-ingress",
            render_grafana_alb_ingress(
                namespace, alb.host, certificate_arn, deletion_protection=alb.deletion_protection
            ),
            pulumi.ResourceOptions(parent=self, depends_on=[release]),
        )
        # Not proxied (Cloudflare) or aliased: the name resolves to the ALB's private addresses.
        add_record(
            f"{name}-grafana-record",
            alb.zone,
            alb.host,
            "CNAME",
            ingress.status.apply(load_balancer_hostname),
            opts=child,
        )

    def _cloudwatch_role(self, name: str, namespace: str, access: CloudWatchAccess) -> pulumi.Resource:
        """Grafana's read-only CloudWatch role, bound to its ServiceAccount by EKS Pod Identity."""
        import pulumi_aws as aws

        from components.iam import pod_identity_trust_policy

        child = pulumi.ResourceOptions(parent=self)
        role = aws.iam.Role(
            f"{name}-grafana-cloudwatch", assume_role_policy=pod_identity_trust_policy(), opts=child
        )
        aws.iam.RolePolicy(
            f"{name}-grafana-cloudwatch", role=role.id, policy=grafana_cloudwatch_policy(), opts=child
        )
        return aws.eks.PodIdentityAssociation(
            f"{name}-grafana-cloudwatch",
            cluster_name=access.cluster_name,
            namespace=namespace,
            service_account=GRAFANA_SERVICE_ACCOUNT,
            role_arn=role.arn,
            opts=child,
        )
