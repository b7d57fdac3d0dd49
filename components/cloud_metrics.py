"""Prometheus exporters for the AWS managed services the cluster cannot scrape directly.

- YACE (yet-another-cloudwatch-exporter) turns CloudWatch metrics of Aurora, ElastiCache, the
  API load balancers and CloudFront into Prometheus metrics. It discovers resources by type in
  the stack's account (one account per stack), so it needs no ids from other tiers. Its IAM role,
  bound to its ServiceAccount with EKS Pod Identity, may only read metrics and resource tags.
- postgres_exporter against Aurora's reader endpoint, for what CloudWatch lacks (per-database
  sizes, locks, vacuum, replication slots), over TLS with ``verify-full`` against the regional RDS
  CA bundle (fetched by an init container, as PgBouncer does). It logs in as a monitoring role that holds
  `pg_monitor` and nothing else (created by the roles tier; see `MONITORING_LOGIN`).

Both are Helm releases in `platform-monitoring`; each hands the observability tier a ScrapeTarget.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

import pulumi
import yaml

from components import charts
from components.endpoints import Credentials, ScrapeTarget
from components.kube import apply

NAMESPACE = "platform-monitoring"
YACE = "yace"
POSTGRES_EXPORTER = "postgres-exporter"
MONITORING_LOGIN = "platform_monitor"
"""The database login postgres_exporter uses: `CREATE ROLE platform_monitor LOGIN; GRANT pg_monitor TO it`."""
PASSWORD_KEY = "password"
POSTGRES_EXPORTER_LABELS = {"platform/exporter": "postgres"}
"""Put on the exporters' Services through the chart's `service.labels`, for a stable scrape selector."""
DATABASE_ENDPOINT_LABEL = "database-endpoint"
"""Service label naming the Aurora endpoint an exporter watches (`writer`, `reader`); Prometheus
copies it onto the exporter's series as `database_endpoint`."""

_STATS = ["Average", "Maximum"]
# CloudWatch namespace → (metric, statistics) YACE exports, and the region its metrics live in
# (None: the stack's region; CloudFront publishes in us-east-1).
CLOUDWATCH_METRICS: dict[str, tuple[str | None, list[tuple[str, list[str]]]]] = {
    "AWS/RDS": (
        None,
        [
            ("CPUUtilization", _STATS),
            ("DatabaseConnections", _STATS),
            ("FreeableMemory", ["Minimum"]),
            ("FreeLocalStorage", ["Minimum"]),
            ("AuroraReplicaLag", ["Maximum"]),
            ("Deadlocks", ["Sum"]),
        ],
    ),
    "AWS/ElastiCache": (
        None,
        [
            ("EngineCPUUtilization", _STATS),
            ("DatabaseMemoryUsagePercentage", ["Maximum"]),
            ("CurrConnections", ["Maximum"]),
            ("Evictions", ["Sum"]),
        ],
    ),
    "AWS/ApplicationELB": (
        None,
        [
            ("RequestCount", ["Sum"]),
            ("HTTPCode_ELB_5XX_Count", ["Sum"]),
            ("HTTPCode_Target_5XX_Count", ["Sum"]),
            ("TargetResponseTime", ["Average", "p99"]),
        ],
    ),
    "AWS/CloudFront": (
        "us-east-1",
        [("Requests", ["Sum"]), ("5xxErrorRate", ["Average"]), ("4xxErrorRate", ["Average"])],
    ),
}


def render_yace_config(region: str) -> str:
    """YACE's discovery config (apiVersion v1alpha1): every managed-service namespace, 1-minute periods."""
    jobs = []
    for namespace, (metrics_region, metrics) in CLOUDWATCH_METRICS.items():
        jobs.append(
            {
                "type": namespace,
                "regions": [metrics_region or region],
                "period": 60,
                "length": 300,
                "metrics": [{"name": name, "statistics": stats} for name, stats in metrics],
            }
        )
    return yaml.safe_dump({"apiVersion": "v1alpha1", "discovery": {"jobs": jobs}}, sort_keys=False)


_HARDENED_POD = {"runAsNonRoot": True, "runAsUser": 65534, "seccompProfile": {"type": "RuntimeDefault"}}
_HARDENED_CONTAINER = {
    "allowPrivilegeEscalation": False,
    "readOnlyRootFilesystem": True,
    "capabilities": {"drop": ["ALL"]},
}


def yace_values(region: str) -> dict[str, Any]:
    """Helm values of the YACE chart (keys as in the pinned chart's values.yaml)."""
    return {
        "nameOverride": YACE,
        "fullnameOverride": YACE,
        "serviceAccount": {"create": True, "name": YACE},
        "useStatefulSet": False,
        "portName": "http",
        # Both default to off in recent chart versions: the Deployment mounts the ConfigMap and
        # Prometheus scrapes the Service.
        "service": {"enabled": True},
        "configMap": {"enabled": True},
        "config": render_yace_config(region),
        "podSecurityContext": _HARDENED_POD,
        "securityContext": _HARDENED_CONTAINER,
        "resources": {"requests": {"cpu": "50m", "memory": "64Mi"}, "limits": {"memory": "256Mi"}},
        "serviceMonitor": {"enabled": False},
        "testConnection": False,
    }


def yace_policy() -> str:
    """Least privilege for YACE: read metrics and find resources by tag, nothing else."""
    from components.iam import allow, document

    return document(allow(["cloudwatch:GetMetricData", "cloudwatch:ListMetrics", "tag:GetResources"]))


RDS_CA_DIR = "/var/run/rds-ca"
RDS_CA_FILE = f"{RDS_CA_DIR}/ca.crt"
"""Where the exporter reads the regional RDS CA bundle (``sslrootcert``)."""
_RDS_CA_VOLUME = "rds-ca"


def _rds_ca_fetch_container(region: str) -> dict[str, Any]:
    """Init container: fetch the region's RDS CA bundle over HTTPS into the shared memory volume.

    The same fetch as PgBouncer's (``components.pgbouncer``): the bundle is public and rotates on AWS's
    schedule, so each pod start takes the current one; a failed fetch keeps the pod from starting.
    """
    from components.pgbouncer import CA_FETCH_IMAGE, rds_ca_bundle_url

    return {
        "name": "fetch-rds-ca",
        "image": CA_FETCH_IMAGE,
        "imagePullPolicy": "IfNotPresent",
        "command": ["curl"],
        "args": [
            "--fail",
            "--silent",
            "--show-error",
            "--location",
            "--proto",
            "=https",
            "--tlsv1.2",
            "--retry",
            "5",
            "--max-time",
            "30",
            "--output",
            RDS_CA_FILE,
            rds_ca_bundle_url(region),
        ],
        "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}, "limits": {"memory": "64Mi"}},
        "securityContext": {**_HARDENED_CONTAINER, "runAsNonRoot": True, "runAsUser": 65534},
        "volumeMounts": [{"name": _RDS_CA_VOLUME, "mountPath": RDS_CA_DIR}],
    }


def postgres_exporter_values(
    host: str, port: int, database: str, username: str, secret: str, *, region: str, endpoint: str = "reader"
) -> dict[str, Any]:
    """Helm values of the postgres_exporter chart: verify-full TLS to one Aurora endpoint.

    The server certificate is checked against the regional RDS CA bundle, which an init container
    fetches into a memory volume the exporter mounts read-only (the chart's ``initContainers``,
    ``extraVolumes``, ``extraVolumeMounts``); ``sslrootcert`` reaches libpq through the chart's
    ``config.datasource.extraParams`` (appended to ``DATA_SOURCE_URI``). The password comes from a Secret.
    """
    return {
        "fullnameOverride": f"{POSTGRES_EXPORTER}-{endpoint}",
        "config": {
            "datasource": {
                "host": host,
                "port": str(port),
                "database": database,
                "user": username,
                "passwordSecret": {"name": secret, "key": PASSWORD_KEY},
                "sslmode": "verify-full",
                "extraParams": f"sslrootcert={RDS_CA_FILE}",
            },
        },
        "initContainers": [_rds_ca_fetch_container(region)],
        "extraVolumes": [{"name": _RDS_CA_VOLUME, "emptyDir": {"medium": "Memory", "sizeLimit": "1Mi"}}],
        "extraVolumeMounts": [{"name": _RDS_CA_VOLUME, "mountPath": RDS_CA_DIR, "readOnly": True}],
        "service": {
            "name": "http",
            "labels": {**POSTGRES_EXPORTER_LABELS, DATABASE_ENDPOINT_LABEL: endpoint},
        },
        "serviceMonitor": {"enabled": False},
        "resources": {"requests": {"cpu": "50m", "memory": "64Mi"}, "limits": {"memory": "128Mi"}},
    }


@dataclass(frozen=True)
class PostgresTarget:
    """The database postgres_exporter reads: Aurora's endpoints and the monitoring login. One
    exporter watches each endpoint, so the writer's connections are measured as well as a reader's."""

    writer_host: pulumi.Input[str]
    reader_host: pulumi.Input[str]
    port: int
    database: str
    login: Credentials


@dataclass(frozen=True)
class CloudMetricsArgs:
    region: str
    cluster_name: pulumi.Input[str]
    postgres: PostgresTarget | None = None
    """None until the roles tier provides a `pg_monitor` login (`MONITORING_LOGIN`)."""


class CloudMetrics(pulumi.ComponentResource):
    """CloudWatch metrics (YACE) and, with a monitoring login, PostgreSQL metrics of Aurora."""

    scrape_targets: list[ScrapeTarget]
    """What the observability tier scrapes."""

    def __init__(self, name: str, args: CloudMetricsArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("platform:observability:CloudMetrics", name, None, opts)
        import pulumi_aws as aws

        from components.iam import pod_identity_trust_policy

        child = pulumi.ResourceOptions(parent=self)
        role = aws.iam.Role(f"{name}-yace", assume_role_policy=pod_identity_trust_policy(), opts=child)
        aws.iam.RolePolicy(f"{name}-yace", role=role.id, policy=yace_policy(), opts=child)
        association = aws.eks.PodIdentityAssociation(
            f"{name}-yace",
            cluster_name=args.cluster_name,
            namespace=NAMESPACE,
            service_account=YACE,
            role_arn=role.arn,
            opts=child,
        )
        self._release(
            name, YACE, charts.YET_ANOTHER_CLOUDWATCH_EXPORTER, yace_values(args.region), [association]
        )
        self.scrape_targets = [
            ScrapeTarget(YACE, NAMESPACE, {"app.kubernetes.io/name": YACE}, "http", interval="60s")
        ]
        if args.postgres is not None:
            pg = args.postgres
            secret_name = f"{POSTGRES_EXPORTER}-login"
            secret = apply(
                f"{name}-postgres-login",
                {
                    "apiVersion": "v1",
                    "kind": "Secret",
                    "metadata": {"name": secret_name, "namespace": NAMESPACE},
                    "type": "Opaque",
                    "stringData": {PASSWORD_KEY: pg.login.password},
                },
                child,
            )
            for endpoint, host in (("writer", pg.writer_host), ("reader", pg.reader_host)):
                values = pulumi.Output.from_input(host).apply(
                    functools.partial(
                        postgres_exporter_values,
                        port=pg.port,
                        database=pg.database,
                        username=pg.login.username,
                        secret=secret_name,
                        region=args.region,
                        endpoint=endpoint,
                    )
                )
                self._release(
                    name, f"{POSTGRES_EXPORTER}-{endpoint}", charts.POSTGRES_EXPORTER, values, [secret]
                )
            # One monitor for both: the endpoint label tells their series apart.
            self.scrape_targets.append(
                ScrapeTarget(
                    POSTGRES_EXPORTER,
                    NAMESPACE,
                    POSTGRES_EXPORTER_LABELS,
                    "http",
                    interval="60s",
                    target_labels=(DATABASE_ENDPOINT_LABEL,),
                )
            )
        self.register_outputs({"scrape_targets": [t.name for t in self.scrape_targets]})

    def _release(
        self, name: str, role: str, chart: charts.Chart, values: Any, depends_on: list[pulumi.Resource]
    ) -> None:
        import pulumi_kubernetes as k8s

        k8s.helm.v3.Release(
            f"{name}-{role}",
            name=role,
            chart=chart.name,
            version=chart.version,
            repository_opts=k8s.helm.v3.RepositoryOptsArgs(repo=chart.repository),
            namespace=NAMESPACE,
            atomic=True,
            values=values,
            opts=pulumi.ResourceOptions(parent=self, depends_on=depends_on),
        )
