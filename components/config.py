"""The stack's typed configuration: every ``platform:`` key, validated once, before any resource.

Each top-level key of the ``platform:`` namespace maps to one field of :class:`StackConfig`. The
four ``Pulumi.<stack>.yaml`` files hold the values; ``Pulumi.yaml`` declares the keys. Code
never branches on the stack's name: it branches on these values, chiefly on ``cloud.provider``
and on ``protection`` (whose level carries the rules a production stack must meet).

Bad input raises :class:`ConfigError`, one message naming the key (``platform:cluster.nodeGroups``),
the value and what is allowed. ``__main__`` and ``synth`` print it and stop with no traceback.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pulumi import RunError
from pydantic import Field, StringConstraints, ValidationError, field_validator, model_validator

from components.api_manifests import ApiSettings, environment_problem, latency_threshold_problem
from components.database_settings import AuroraSettings, DatabaseSettings, check_database
from components.edge_settings import AWS_WAF_MIN_RATE_LIMIT, DomainSettings, EdgeSettings
from components.model import Model
from components.observability_settings import ObservabilitySettings, check_alerting_secrets, grafana_host
from components.pgbouncer_config import (
    POSTGRES_DEFAULT_MAX_CONNECTIONS,
    PgBouncerSettings,
    aurora_default_max_connections,
    connection_budgets,
)
from components.protection import PROTECTION, ProtectionLevel, ProtectionRules
from components.redis_settings import RedisSettings, check_redis
from components.roles_settings import RolesSettings
from components.security_settings import AuditSettings, TlsSettings

NAMESPACE = "platform"

Name = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9-]{0,30}[a-z0-9]$")]
"""A lowercase DNS-label-like name: environment names, node group names, receivers."""

AwsRegion = Annotated[str, StringConstraints(pattern=r"^[a-z]{2}(-gov)?-[a-z]+-\d$")]
AvailabilityZone = Annotated[str, StringConstraints(pattern=r"^[a-z]{2}(-gov)?-[a-z]+-\d[a-z]$")]
AccountId = Annotated[str, StringConstraints(pattern=r"^\d{12}$")]
IamArn = Annotated[str, StringConstraints(pattern=r"^arn:aws[a-z-]*:iam::\d{12}:(role|user)/[\w+=,.@/-]+$")]
TagKey = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_ .:/=+@-]{1,128}$")]
TagValue = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_ .:/=+@-]{0,256}$")]
KubeVersion = Annotated[str, StringConstraints(pattern=r"^1\.(2[89]|3\d)$")]
InstanceType = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9-]*\.[a-z0-9]+$")]

REQUIRED_TAG_KEYS = ("Project", "Environment", "Stack", "ManagedBy")
# Application roles that log in through PgBouncer (read-write and read-only); each may use either pool.
POOLED_APP_USERS = 2


# --------------------------------------------------------------------------------------------
# Where the cluster lives
# --------------------------------------------------------------------------------------------


class LocalCloud(Model):
    """An existing local Kubernetes cluster (kind, k3d, minikube, Docker Desktop): no cloud account."""

    provider: Literal["local"] = Field(
        description="`local`: use an existing kube context, create nothing in AWS."
    )
    kube_context: Annotated[str, StringConstraints(min_length=1, max_length=253)] = Field(
        description="Name of the kube context to deploy into (e.g. `kind-platform`)."
    )
    kubeconfig_path: str | None = Field(
        default=None, description="Path of the kubeconfig file; the default search path when unset."
    )
    storage_class: Name = Field(default="standard", description="StorageClass for persistent volumes.")
    ingress_class: Name = Field(default="nginx", description="IngressClass of the local ingress controller.")
    metrics_server: bool = Field(
        default=True,
        description="Install metrics-server (the autoscalers need it); turn off where the cluster has one "
        "already (minikube's addon, k3d, Docker Desktop).",
    )


class AwsCloud(Model):
    """An AWS account and region: VPC, EKS and managed services are created there."""

    provider: Literal["aws"] = Field(
        description="`aws`: create the network, EKS and managed services in AWS."
    )
    region: AwsRegion = Field(description="AWS region of the stack, e.g. `eu-west-1`.")
    account_id: AccountId = Field(
        description="The only AWS account this stack may touch (guards against using the wrong credentials)."
    )


Cloud = Annotated[LocalCloud | AwsCloud, Field(discriminator="provider")]


class FlowLogSettings(Model):
    retention_days: Literal[30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 3653] = Field(
        default=90, description="CloudWatch retention of the VPC flow logs, in days."
    )
    traffic_type: Literal["ALL", "ACCEPT", "REJECT"] = Field(
        default="ALL", description="Which traffic is logged."
    )


class NetworkSettings(Model):
    """The VPC: public, private and isolated subnets in every availability zone."""

    cidr: ipaddress.IPv4Network = Field(description="VPC CIDR block, a /16 to /20.")
    availability_zones: list[AvailabilityZone] = Field(
        min_length=1,
        max_length=6,
        description="Availability zones to spread subnets over, all in the stack's region.",
    )
    flow_logs: FlowLogSettings = Field(default_factory=FlowLogSettings, description="VPC flow logs.")

    @field_validator("cidr")
    @classmethod
    def _cidr_size(cls, v: ipaddress.IPv4Network) -> ipaddress.IPv4Network:
        if not 16 <= v.prefixlen <= 20:
            raise ValueError(
                f"a /16 to /20 block is needed to fit three subnet tiers per AZ, got /{v.prefixlen}"
            )
        if not v.is_private:
            raise ValueError(f"{v} is not a private (RFC 1918) range")
        return v

    @field_validator("availability_zones")
    @classmethod
    def _distinct(cls, v: list[str]) -> list[str]:
        if len(set(v)) != len(v):
            raise ValueError(f"availability zones must be distinct, got {v}")
        return v


class NodeGroupSettings(Model):
    """One EKS managed node group."""

    instance_types: list[InstanceType] = Field(
        min_length=1, description="EC2 instance types, e.g. `[m7i.large]`."
    )
    capacity_type: Literal["ON_DEMAND", "SPOT"] = Field(
        default="ON_DEMAND", description="On-demand or spot capacity."
    )
    min_size: int = Field(ge=0, le=100, description="Smallest number of nodes.")
    desired_size: int = Field(ge=0, le=100, description="Initial number of nodes (the autoscaler moves it).")
    max_size: int = Field(ge=1, le=100, description="Largest number of nodes.")
    disk_size_gib: int = Field(default=50, ge=20, le=1000, description="Encrypted gp3 root volume size, GiB.")
    labels: dict[str, str] = Field(default_factory=dict, description="Kubernetes labels put on the nodes.")

    @model_validator(mode="after")
    def _sizes(self) -> NodeGroupSettings:
        if not self.min_size <= self.desired_size <= self.max_size:
            raise ValueError(
                f"sizes must satisfy minSize <= desiredSize <= maxSize, got "
                f"{self.min_size} <= {self.desired_size} <= {self.max_size}"
            )
        return self


# The widest network cluster.endpointSourceCidrs admits (a /8 is already a whole private range).
ENDPOINT_SOURCE_MIN_PREFIX = 8


class ClusterSettings(Model):
    """The EKS cluster (AWS stacks only: a local stack may not have a ``cluster`` section)."""

    version: KubeVersion = Field(description="Kubernetes minor version, e.g. `1.33`.")
    endpoint_public_access: bool = Field(
        default=False,
        description="Expose the API server endpoint publicly (allow-listed by publicAccessCidrs).",
    )
    public_access_cidrs: list[ipaddress.IPv4Network] = Field(
        default_factory=list, description="CIDRs allowed to reach a public API endpoint; never 0.0.0.0/0."
    )
    endpoint_source_cidrs: list[ipaddress.IPv4Network] | None = Field(
        default=None,
        description="Networks (deploy runners, VPN) allowed to reach the private API endpoint on 443, one "
        "rule each on the cluster security group. The nodes and pods carry that group too, so these networks "
        "also reach port 443 on every node and pod: keep the list narrow. Networks outside the VPC (peered, "
        "VPN) are allowed; none wider than /8. Unset: the whole VPC CIDR. `[]`: none (only the cluster's own "
        "nodes and pods, e.g. a runner pod in the cluster).",
    )
    log_retention_days: Literal[30, 60, 90, 180, 365, 400, 731] = Field(
        default=90, description="CloudWatch retention of control-plane logs (audit included), in days."
    )
    node_groups: dict[Name, NodeGroupSettings] = Field(
        min_length=1, description="Managed node groups by name."
    )
    admin_role_arns: list[IamArn] = Field(
        description="IAM roles granted cluster-admin through EKS access entries: at least one, the role "
        "running `pulumi up` among them (the cluster grants its creator nothing).",
    )
    viewer_role_arns: list[IamArn] = Field(
        default_factory=list,
        description="IAM roles granted read-only cluster access, Secrets included (EKS "
        "AmazonEKSAdminViewPolicy: a refresh reads them), e.g. the pipeline's preview and drift roles.",
    )

    @field_validator("admin_role_arns")
    @classmethod
    def _some_admin(cls, v: list[str]) -> list[str]:
        if not v:
            raise ValueError(
                "list at least one IAM role, the role running `pulumi up` among them: the cluster grants "
                "its creator no access, so with no admin role nobody can administer it"
            )
        return v

    @field_validator("endpoint_source_cidrs")
    @classmethod
    def _endpoint_sources(cls, v: list[ipaddress.IPv4Network] | None) -> list[ipaddress.IPv4Network] | None:
        sources = v or []
        for cidr in sources:
            if cidr.prefixlen < ENDPOINT_SOURCE_MIN_PREFIX:
                raise ValueError(
                    f"may not contain {cidr} (wider than /{ENDPOINT_SOURCE_MIN_PREFIX}): it would open "
                    "port 443 of the API endpoint and of every node and pod to that much of the address "
                    "space; list the networks of the deploy runners and the VPN"
                )
        repeated = sorted({str(c) for c in sources if sources.count(c) > 1})
        if repeated:
            raise ValueError(f"repeats {repeated}: list each network once")
        return v

    @model_validator(mode="after")
    def _endpoint(self) -> ClusterSettings:
        if self.endpoint_public_access and not self.public_access_cidrs:
            raise ValueError(
                "endpointPublicAccess needs publicAccessCidrs: an allow-list of who may reach it"
            )
        for cidr in self.public_access_cidrs:
            if cidr.prefixlen == 0:
                raise ValueError(
                    f"publicAccessCidrs may not contain {cidr}: list the networks that need access"
                )
        if self.public_access_cidrs and not self.endpoint_public_access:
            raise ValueError("publicAccessCidrs is set but endpointPublicAccess is false")
        # One EKS access entry per principal (a second one fails with a 409), and the role name
        # names the Pulumi resources.
        principals = [str(a) for a in (*self.admin_role_arns, *self.viewer_role_arns)]
        repeated = sorted({a for a in principals if principals.count(a) > 1})
        if repeated:
            raise ValueError(f"adminRoleArns and viewerRoleArns repeat {repeated}: one access level per role")
        names = [a.rsplit("/", 1)[-1] for a in principals]
        clashing = sorted({n for n in names if names.count(n) > 1})
        if clashing:
            raise ValueError(f"two access roles share the name {clashing}: give each role a distinct name")
        return self


# --------------------------------------------------------------------------------------------
# The whole stack
# --------------------------------------------------------------------------------------------


class StackConfig(Model):
    """Every ``platform:`` key of a stack."""

    environment: Name = Field(description="Environment name used in tags, labels and resource names.")
    protection: ProtectionLevel = Field(
        description="Protection level: `none`, `light`, `standard` or `production` (see the README's table)."
    )
    tags: dict[TagKey, TagValue] = Field(
        default_factory=dict, max_length=40, description="Extra tags put on every taggable AWS resource."
    )
    cloud: Cloud = Field(description="Where the Kubernetes cluster lives: `local` or `aws`.")
    network: NetworkSettings | None = Field(default=None, description="The VPC (AWS stacks only).")
    cluster: ClusterSettings | None = Field(default=None, description="The EKS cluster (AWS stacks only).")
    database: DatabaseSettings = Field(
        description="PostgreSQL: `aurora` (AWS) or `cloudnativepg` (in the cluster), with replicas, backups."
    )
    pgbouncer: PgBouncerSettings = Field(
        default_factory=PgBouncerSettings,
        description="PgBouncer before PostgreSQL: pool mode, pool sizes, timeouts, replicas, autoscaling.",
    )
    domain: DomainSettings | None = Field(
        default=None,
        description="The stack's DNS name, its app and API host names, and the DNS provider holding them.",
    )
    edge: EdgeSettings | None = Field(
        default=None,
        description="Frontend hosting, CDN (CloudFront or Cloudflare), WAF, releases and RUM (AWS stacks).",
    )
    tls: TlsSettings = Field(
        default_factory=TlsSettings,
        description="cert-manager: the issuer of public host names' certificates and the in-cluster CA.",
    )
    audit: AuditSettings | None = Field(
        default=None,
        description="AWS audit and monitoring: CloudTrail, GuardDuty, alarms to SNS (AWS stacks).",
    )
    observability: ObservabilitySettings = Field(
        default_factory=ObservabilitySettings,
        description="Prometheus, Alertmanager (receivers, routes, secrets), Grafana, alerts and logs.",
    )
    api: ApiSettings | None = Field(
        default=None,
        description="The API service: image, probes, scaling, release strategy and analysis, migrations.",
    )
    redis: RedisSettings | None = Field(
        default=None,
        description="Redis for rate limiting: `elasticache` (AWS) or `in-cluster`, nodes, failover.",
    )
    roles: RolesSettings = Field(
        default_factory=RolesSettings,
        description="Database roles and grants: applied by a `job`, by the `provider` or `none`.",
    )

    @field_validator("tags")
    @classmethod
    def _no_reserved_tags(cls, v: dict[str, str]) -> dict[str, str]:
        reserved = sorted(k for k in v if k.lower().startswith("aws:"))
        if reserved:
            raise ValueError(f"{reserved}: the `aws:` prefix is reserved by AWS")
        clash = sorted(set(v) & set(REQUIRED_TAG_KEYS))
        if clash:
            raise ValueError(f"{clash} are set by the platform itself and cannot be overridden")
        return v

    @model_validator(mode="after")
    def _cross_field(self) -> StackConfig:
        rules = self.rules
        if isinstance(self.cloud, AwsCloud):
            if self.network is None or self.cluster is None:
                raise _at("cloud", "AWS stacks need both platform:network and platform:cluster")
            zones = self.network.availability_zones
            wrong = [z for z in zones if not z.startswith(self.cloud.region)]
            if wrong:
                raise _at("network.availabilityZones", f"{wrong} are not in region {self.cloud.region}")
            if len(zones) < rules.min_availability_zones:
                raise _at(
                    "network.availabilityZones",
                    f"protection level {self.protection!r} needs at least {rules.min_availability_zones} "
                    f"availability zones, got {len(zones)}",
                )
            total_min = sum(g.min_size for g in self.cluster.node_groups.values())
            if total_min < rules.min_nodes:
                raise _at(
                    "cluster.nodeGroups",
                    f"protection level {self.protection!r} needs at least {rules.min_nodes} nodes at minimum "
                    f"size in total, got {total_min}",
                )
        else:
            for key in ("network", "cluster"):
                if getattr(self, key) is not None:
                    raise _at(key, "is only for AWS stacks (cloud.provider is `local`)")
            if self.protection == "production":
                raise _at(
                    "protection", "`production` needs cloud.provider `aws` (several AZs, managed backups)"
                )
            if isinstance(self.database, AuroraSettings):
                raise _at(
                    "database.engine", "`aurora` needs cloud.provider `aws`; use `cloudnativepg` locally"
                )
        zone_count = len(self.network.availability_zones) if self.network else 1
        try:
            check_database(self.database, rules=rules, availability_zones=zone_count, now=datetime.now(UTC))
        except ValueError as exc:
            path, _, message = str(exc).partition(": ")
            raise _at(f"database.{path}", message) from None
        return self

    @model_validator(mode="after")
    def _check_pgbouncer(self) -> StackConfig:
        pgbouncer, database, rules = self.pgbouncer, self.database, self.rules
        if pgbouncer.replicas < rules.min_availability_zones:
            raise _at(
                "pgbouncer.replicas",
                f"protection level {self.protection!r} spreads PgBouncer over at least "
                f"{rules.min_availability_zones} availability zones: it needs at least that many replicas, "
                f"got {pgbouncer.replicas}",
            )
        if database.max_connections is not None:
            limit, source = database.max_connections, "database.maxConnections"
        elif isinstance(database, AuroraSettings):
            default = aurora_default_max_connections(database.instance_class)
            if default is None:
                raise _at(
                    "database.maxConnections",
                    f"Aurora's default connection limit for {database.instance_class} is not known here: "
                    "set maxConnections so that PgBouncer's pools can be checked against it",
                )
            limit, source = default, f"Aurora's default for {database.instance_class}"
        else:
            limit, source = POSTGRES_DEFAULT_MAX_CONNECTIONS, "PostgreSQL's default max_connections"
        reader_is_writer = isinstance(database, AuroraSettings) and database.readers == 0
        for budget in connection_budgets(
            pgbouncer, limit=limit, app_users=POOLED_APP_USERS, reader_is_writer=reader_is_writer
        ):
            if not budget.fits:
                raise _at(
                    "pgbouncer",
                    f"at maxReplicas {pgbouncer.max_replicas} PgBouncer may open {budget.pooled} server "
                    f"connections to the {budget.host}, plus directConnectionsReserve {budget.reserve} = "
                    f"{budget.pooled + budget.reserve}, above its connection limit of {limit} ({source}); "
                    "lower maxReplicas or the pool sizes, cap them with maxDbConnections, or raise "
                    "database.maxConnections",
                )
        return self

    @model_validator(mode="after")
    def _check_domain(self) -> StackConfig:
        if self.domain is not None and self.domain.dns is not None and not self.is_aws:
            raise _at("domain.dns", "records and certificates need cloud.provider `aws`; omit dns locally")
        return self

    @model_validator(mode="after")
    def _check_edge(self) -> StackConfig:
        edge = self.edge
        if edge is None:
            return self
        if not self.is_aws:
            raise _at("edge", "frontend hosting and a CDN need cloud.provider `aws`; omit edge locally")
        dns = self.domain.dns if self.domain is not None else None
        if dns is None:
            raise _at("domain.dns", "the edge needs a DNS provider and zone for its records and certificates")
        if edge.cdn.provider == "cloudflare" and dns.provider != "cloudflare":
            raise _at(
                "edge.cdn.provider",
                f"`cloudflare` needs a Cloudflare zone: set domain.dns.provider `cloudflare` and its zoneId "
                f"(domain.dns.provider is {dns.provider!r})",
            )
        if edge.cdn.provider == "cloudfront":
            if edge.waf.rate_limit < AWS_WAF_MIN_RATE_LIMIT:
                raise _at(
                    "edge.waf.rateLimit",
                    f"AWS WAF's lowest rate limit is {AWS_WAF_MIN_RATE_LIMIT} requests per window",
                )
            if edge.waf.rate_window_seconds == 10:
                raise _at("edge.waf.rateWindowSeconds", "AWS WAF evaluates over 60, 120, 300 or 600 seconds")
        return self

    @model_validator(mode="after")
    def _check_tls(self) -> StackConfig:
        tls = self.tls
        dns = self.domain.dns if self.domain is not None else None
        if tls.acme and dns is None:
            raise _at(
                "tls.publicIssuer",
                f"{tls.public_issuer!r} proves domain ownership through DNS-01: it needs domain.dns "
                "(route53 or cloudflare); use `self-signed` without a DNS provider",
            )
        if self.protection == "production" and tls.public_issuer != "letsencrypt":
            raise _at(
                "tls.publicIssuer",
                f"protection level 'production' serves browsers: it needs `letsencrypt`, "
                f"got {tls.public_issuer!r}",
            )
        return self

    @model_validator(mode="after")
    def _check_audit(self) -> StackConfig:
        audit = self.audit
        if audit is None:
            if self.is_aws and self.rules.requires_paging:
                raise _at(
                    "audit", f"protection level {self.protection!r} needs CloudTrail, GuardDuty and alarms"
                )
            return self
        if not self.is_aws:
            raise _at("audit", "CloudTrail, GuardDuty and CloudWatch alarms need cloud.provider `aws`")
        if self.rules.requires_paging and not audit.alarm_emails:
            raise _at(
                "audit.alarmEmails",
                f"protection level {self.protection!r} needs at least one address for the alarm topic",
            )
        if self.rules.protect and audit.trail.object_lock_days is None:
            raise _at(
                "audit.trail.objectLockDays",
                f"protection level {self.protection!r} needs Object Lock on the audit log bucket",
            )
        return self

    @model_validator(mode="after")
    def _check_observability(self) -> StackConfig:
        obs, rules = self.observability, self.rules
        try:
            check_alerting_secrets(obs)
        except ValueError as exc:
            raise _at("observability.alerting.receivers", str(exc)) from None
        if rules.requires_paging and not obs.alerting.require_paging:
            raise _at(
                "observability.alerting.requirePaging",
                f"protection level {self.protection!r} must page a human: set requirePaging, with a "
                "pagerduty receiver that critical alerts reach",
            )
        if rules.protect:
            for part in ("prometheus", "alertmanager"):
                if getattr(obs, part).replicas < 2:
                    raise _at(
                        f"observability.{part}.replicas",
                        f"protection level {self.protection!r} keeps monitoring up through a node loss: "
                        f"it needs at least 2 replicas, got {getattr(obs, part).replicas}",
                    )
        if not self.is_aws:
            if obs.logging.replicas > 1:
                raise _at(
                    "observability.logging.replicas",
                    f"Loki keeps logs on a volume on a local cluster: it runs 1 replica, got "
                    f"{obs.logging.replicas} (more need S3: cloud.provider `aws`)",
                )
        else:
            self._check_grafana_host()
        return self

    def _check_grafana_host(self) -> None:
        """AWS stacks: Grafana's ALB host needs a zone for its certificate and record, and must lie in it."""
        host = self.observability.grafana.host
        domain = self.domain
        dns = domain.dns if domain is not None else None
        if domain is None or dns is None:
            if host is not None:
                raise _at(
                    "observability.grafana.host",
                    f"{host!r}: Grafana's ingress on AWS needs domain.dns for its ACM certificate and DNS "
                    "record; omit host (Grafana then stays internal, reached with `kubectl port-forward`)",
                )
            return
        effective = grafana_host(self.observability.grafana, domain.name)
        zone = dns.zone_name or domain.name
        if not effective.endswith(f".{zone}"):
            raise _at(
                "observability.grafana.host",
                f"{effective!r} is not inside {zone!r}, where its certificate is validated and its record "
                f"written; use a name under it, e.g. `grafana.{domain.name}`",
            )
        taken = {domain.app_hostname: "the frontend", domain.api_hostname: "the API"}
        if effective in taken:
            raise _at(
                "observability.grafana.host",
                f"{effective!r} is already {taken[effective]}'s host name; pick another, e.g. "
                f"`grafana.{domain.name}`",
            )

    @model_validator(mode="after")
    def _check_api(self) -> StackConfig:
        api = self.api
        if api is None:
            return self
        problem = environment_problem(api, protected=self.rules.requires_rollout_analysis)
        if problem is not None:
            raise _at(f"api.{problem[0]}", f"protection level {self.protection!r}: {problem[1]}")
        alert = latency_threshold_problem(self.observability.alerts.latency_p99_seconds, api.latency_buckets)
        if alert is not None:
            raise _at("observability.alerts.latencyP99Seconds", alert)
        if isinstance(self.cloud, AwsCloud):
            if self.domain is None or self.domain.dns is None:
                raise _at(
                    "domain.dns",
                    "the API's load balancer serves HTTPS only: it needs a DNS provider for its certificate",
                )
            registry = f"{self.cloud.account_id}.dkr.ecr.{self.cloud.region}.amazonaws.com/"
            images = {"api.image": api.image}
            images |= {f"api.extraVersions[{i}].image": e.image for i, e in enumerate(api.extra_versions)}
            if api.migrations.down_image is not None:
                images["api.migrations.downImage"] = api.migrations.down_image
            for path, image in images.items():
                if not image.repository.startswith(registry):
                    raise _at(
                        f"{path}.repository",
                        f"nodes pull only from the stack's own registry: the repository must start with "
                        f"{registry!r}",
                    )
            zones = len(self.network.availability_zones) if self.network else 1
            if self.rules.min_availability_zones > 1 and api.replicas < zones:
                raise _at(
                    "api.replicas",
                    f"protection level {self.protection!r} survives an AZ loss: {api.replicas} replicas "
                    f"cannot cover the {zones} availability zones",
                )
        elif self.cloud.ingress_class != "nginx":
            raise _at(
                "cloud.ingressClass",
                "the API's ingress-nginx controller serves the IngressClass `nginx`; set ingressClass: nginx",
            )
        return self

    @model_validator(mode="after")
    def _check_redis(self) -> StackConfig:
        if self.redis is None:
            return self
        zones = len(self.network.availability_zones) if self.network else 1
        try:
            check_redis(self.redis, rules=self.rules, is_aws=self.is_aws, zones=zones)
        except ValueError as exc:
            path, _, message = str(exc).partition(": ")
            raise _at(f"redis.{path}", message) from None
        return self

    @model_validator(mode="after")
    def _check_roles(self) -> StackConfig:
        if self.roles.mode == "provider" and not isinstance(self.database, AuroraSettings):
            raise _at(
                "roles.mode",
                "`provider` reads Aurora's master secret from Secrets Manager; with `cloudnativepg` the "
                "superuser secret lives in the cluster: use `job`",
            )
        return self

    @property
    def rules(self) -> ProtectionRules:
        """The requirements of this stack's protection level."""
        return PROTECTION[self.protection]

    @property
    def is_aws(self) -> bool:
        return isinstance(self.cloud, AwsCloud)


# --------------------------------------------------------------------------------------------
# Errors and loading
# --------------------------------------------------------------------------------------------


class ConfigError(RunError):
    """Invalid stack configuration: one readable message (the engine prints a RunError without traceback)."""


class _PathError(ValueError):
    """A cross-field error that knows the dotted config path it is about."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(message)
        self.path = path


def _at(path: str, message: str) -> _PathError:
    return _PathError(path, message)


def _field_alias(model: type[Model], name: str) -> str:
    field = model.model_fields.get(name)
    return field.alias if field is not None and field.alias else name


def _format_location(loc: tuple[Any, ...]) -> str:
    """`('cluster', 'node_groups', 'system', 'min_size')` → `cluster.nodeGroups.system.minSize`."""
    parts: list[str] = []
    for item in loc:
        if isinstance(item, int):
            parts[-1:] = [f"{parts[-1]}[{item}]"] if parts else [f"[{item}]"]
        elif item in ("local", "aws", "aurora", "cloudnativepg", "rolling", "blueGreen", "canary") and parts:
            continue  # the discriminator's tag, not a key the user wrote
        else:
            parts.append(re.sub(r"_([a-z0-9])", lambda m: m.group(1).upper(), str(item)))
    return ".".join(parts)


def _lookup(raw: Mapping[str, Any], path: str) -> Any:
    value: Any = raw
    for part in re.findall(r"[^.\[\]]+|\[\d+\]", path):
        if part.startswith("["):
            index = int(part[1:-1])
            value = value[index] if isinstance(value, list) and index < len(value) else None
        elif isinstance(value, Mapping):
            value = value.get(part)
        else:
            return None
    return value


def _show(value: Any) -> str:
    text = json.dumps(value, default=str, sort_keys=True)
    return text if len(text) <= 120 else text[:117] + "..."


def validate(raw: Mapping[str, Any]) -> StackConfig:
    """Validate decoded ``platform:`` values (keys without the namespace) into a StackConfig."""
    known = {f.alias or n for n, f in StackConfig.model_fields.items()}
    unknown = sorted(set(raw) - known)
    if unknown:
        raise ConfigError(
            f"{NAMESPACE}:{unknown[0]}: unknown key; allowed keys are {', '.join(sorted(known))} "
            f"(value: {_show(raw[unknown[0]])})"
        )
    try:
        return StackConfig.model_validate(dict(raw))
    except ValidationError as exc:
        error = exc.errors(include_url=False)[0]
        ctx_error = (error.get("ctx") or {}).get("error")
        if isinstance(ctx_error, _PathError):
            path, message = ctx_error.path, str(ctx_error)
        else:
            path = _format_location(error["loc"])
            message = str(error["msg"]).removeprefix("Value error, ")
            if error["type"] == "extra_forbidden":
                message = "unknown key"
            elif error["type"] == "missing":
                message = "is required"
        value = _lookup(raw, path) if path else dict(raw)
        shown = "missing" if error["type"] == "missing" else _show(value)
        raise ConfigError(f"{NAMESPACE}:{path or '(root)'}: {message} (value: {shown})") from None


def decode(raw: Mapping[str, str]) -> dict[str, Any]:
    """Pulumi hands object-valued config over as JSON text; scalars stay as they are."""
    decoded: dict[str, Any] = {}
    for key, text in raw.items():
        try:
            decoded[key] = json.loads(text)
        except (TypeError, ValueError):
            decoded[key] = text
    return decoded


def load() -> StackConfig:
    """Read every ``platform:`` key of the running stack (engine or mocks) and validate it."""
    from pulumi.runtime import config as runtime_config

    values: dict[str, str] = {**runtime_config.get_config_env(), **runtime_config.CONFIG.get()}
    prefix = f"{NAMESPACE}:"
    raw = {k[len(prefix) :]: v for k, v in values.items() if k.startswith(prefix)}
    return validate(decode(raw))
