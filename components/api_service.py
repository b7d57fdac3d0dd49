"""The API tier: the FastAPI workload, its secrets, identity, routing and release controller.

`ApiService` registers what `components.api_manifests` renders (workload, Services, analysis,
autoscaling, disruption budget, NetworkPolicies, Ingress, migration Jobs) and adds what needs
Pulumi: generated JWT secrets (rotated by bumping `api.secretsRotation`), the connection Secrets
built from the data tier's typed endpoints, an IAM role bound through EKS Pod Identity, the ECR
repository, and the controllers the release strategy needs (Argo Rollouts for blue-green and
canary; ingress-nginx on a local cluster, where no AWS Load Balancer Controller exists).

Ordering: the migration Job waits for its Secret; the workload waits for the Job (pulumi-kubernetes
awaits a Job's completion), so a schema change lands before any pod of the new version serves. A
schema rollback goes the other way: the workload first, then the down migration (see
`render_down_migration_job` for when it runs).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import pulumi

from components.api_manifests import (
    ARGO_ROLLOUTS_NAMESPACE,
    CONTAINER_PORT_NAME,
    DOWN_MIGRATION_MARK,
    INGRESS_NGINX_NAMESPACE,
    ApiContext,
    ApiSettings,
    CanaryStrategy,
    RollingStrategy,
    argo_rollouts_values,
    ingress_nginx_values,
    render_api_manifests,
    render_secret,
)
from components.endpoints import (
    ROLES,
    Credentials,
    DatabaseAccess,
    Peer,
    RedisEndpoint,
    ScrapeTarget,
    namespace_peer,
)

API_NAME = "api"
SERVICE_ACCOUNT = "api"
API_SECRET = "api-env"
MIGRATION_SECRET = "api-migrations"
TLS_SECRET = "api-tls"
PROMETHEUS_NAMESPACE = "platform-monitoring"
PROMETHEUS_ADDRESS = f"http://prometheus-operated.{PROMETHEUS_NAMESPACE}.svc:9090"
_CERTIFICATE_PLACEHOLDER = "arn:aws:acm:pending"
_CERTIFICATE_ANNOTATION = "alb.ingress.kubernetes.io/certificate-arn"
CLOUDFRONT_ORIGIN_PREFIX_LIST = "com.amazonaws.global.cloudfront.origin-facing"


@dataclass(frozen=True)
class AwsLoadBalancing:
    """What the API needs from AWS: the cluster for Pod Identity, the VPC, the ALB's certificate."""

    cluster_name: pulumi.Input[str]
    account_id: str
    vpc_cidr: str
    """Where the API pods are: ALB targets are pod IPs (`target-type: ip`), so the ALB's group sends there."""
    public_subnet_cidrs: Sequence[str]
    """Where the internet-facing load balancer's interfaces are: the only source of API traffic."""
    certificate_arn: pulumi.Input[str]
    """Regional ACM certificate of the API host name."""
    node_role_arn_patterns: Sequence[str]
    """IAM role ARNs (wildcards allowed) of the nodes: the only principals that may pull images."""
    deletion_protection: bool = False
    vpc_id: pulumi.Input[str] | None = None
    cdn: Literal["cloudfront", "cloudflare"] | None = None
    """The CDN in front of the API: the ALB then admits only it, so nothing bypasses the CDN's WAF."""


@dataclass(frozen=True)
class LocalIngress:
    """A local cluster: ingress-nginx is installed here, TLS comes from cert-manager if it is there."""

    ingress_class: str
    cluster_issuer: str | None = None


@dataclass(frozen=True)
class ApiServiceArgs:
    """The API's settings (`platform:api`) and what other tiers hand it."""

    prefix: str
    """`<project>-<environment>`: prefixes AWS names and the CloudWatch metrics namespace."""
    settings: ApiSettings
    environment: str
    namespace: str
    hostname: str
    database: DatabaseAccess
    database_name: str
    """The real database name, for the migration Job's direct connection."""
    credentials: Mapping[str, Credentials]
    """Logins by role name: `ROLES.read_write`, `ROLES.read_only` and `ROLES.migrations` are used."""
    redis: RedisEndpoint
    load_balancing: AwsLoadBalancing | LocalIngress
    protect: bool = False
    database_ready: Sequence[pulumi.Resource] = ()
    """What the migration Job waits for: the database's instances and the roles it logs in as."""
    prometheus_address: str = PROMETHEUS_ADDRESS
    prometheus_from: Peer = field(default_factory=lambda: namespace_peer(PROMETHEUS_NAMESPACE))


def pooled_url(credentials: Credentials, host: str, port: int, database: str) -> pulumi.Output[str]:
    """`postgresql://user:password@host:port/database` as a secret Output (passwords are URL-safe)."""
    return pulumi.Output.secret(
        credentials.password.apply(
            lambda pw: f"postgresql://{credentials.username}:{pw}@{host}:{port}/{database}"
        )
    )


def direct_url(
    credentials: Credentials, host: pulumi.Input[str], port: int, database: str
) -> pulumi.Output[str]:
    """A TLS connection URL to the database itself (DDL must not go through a transaction pooler)."""
    return pulumi.Output.secret(
        pulumi.Output.all(credentials.password, host).apply(
            lambda v: f"postgresql://{credentials.username}:{v[0]}@{v[1]}:{port}/{database}?sslmode=require"
        )
    )


def api_role_policy(metrics_namespace: str) -> str:
    """The API's own AWS permissions: custom CloudWatch metrics in its namespace, nothing else."""
    from components.iam import allow, document

    return document(
        allow(["cloudwatch:PutMetricData"], "*", StringEquals={"cloudwatch:namespace": metrics_namespace})
    )


class ApiService(pulumi.ComponentResource):
    """The FastAPI service with its release strategy, secrets, identity, registry and ingress."""

    api_origin_hostname: pulumi.Output[str]
    """The load balancer's DNS name (the ALB on AWS), from the Ingress status: the CDN's API origin."""
    url: str
    """The public URL of the API."""
    repository_url: pulumi.Output[str] | None
    """The ECR repository CI pushes images to (AWS only)."""
    scrape_targets: list[ScrapeTarget]
    """The API pods, plus ingress-nginx where it is installed here, for Prometheus."""

    def __init__(self, name: str, args: ApiServiceArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("platform:api:ApiService", name, None, opts)
        settings = args.settings
        lb = args.load_balancing
        self.url = f"https://{args.hostname}"
        self.repository_url = None
        self.scrape_targets = [
            ScrapeTarget(
                name=API_NAME,
                namespace=args.namespace,
                # Pods, not Services: blue-green and canary put several Services on the same pods.
                selector={"app.kubernetes.io/name": API_NAME, "app.kubernetes.io/component": "api"},
                port=CONTAINER_PORT_NAME,
                path=settings.paths.metrics,
                kind="pod",
            )
        ]
        controllers = self._controllers(name, settings, lb)
        ctx = self._context(args)
        secrets, checksum = self._secrets(name, args, ctx)
        ctx = replace(ctx, secret_checksum=checksum)
        if isinstance(lb, AwsLoadBalancing):
            self._aws_identity(name, args, lb)
        ingress = self._workload(name, args, ctx, secrets, controllers)
        self.api_origin_hostname = ingress.status.apply(_load_balancer_hostname)
        outputs: dict[str, Any] = {"api_origin_hostname": self.api_origin_hostname, "url": self.url}
        if self.repository_url is not None:
            outputs["repository_url"] = self.repository_url
        self.register_outputs(outputs)

    # -- pieces ----------------------------------------------------------------------------------

    def _context(self, args: ApiServiceArgs) -> ApiContext:
        lb = args.load_balancing
        common: dict[str, Any] = {
            "namespace": args.namespace,
            "name": API_NAME,
            "environment": args.environment,
            "labels": {"app.kubernetes.io/part-of": "platform"},
            "service_account_name": SERVICE_ACCOUNT,
            "secret_name": API_SECRET,
            "migration_secret_name": MIGRATION_SECRET,
            "hostname": args.hostname,
            "pgbouncer": args.database.pooler,
            "redis": args.redis.backend,
            "migration_database": args.database.writer,
            "prometheus_from": args.prometheus_from,
            "prometheus_address": args.prometheus_address,
        }
        if isinstance(lb, AwsLoadBalancing):
            return ApiContext(
                **common,
                ingress_class="alb",
                # The internet-facing ALB's interfaces live in the public subnets; pods and nodes
                # (private subnets) must not reach the API pods around it.
                ingress_from=[Peer(cidr=cidr) for cidr in lb.public_subnet_cidrs],
                certificate_arn=_CERTIFICATE_PLACEHOLDER,
                # Only a canary splits traffic through the ALB (Argo writes `actions.<service>`);
                # blue-green swaps the active Service's selector, so the Ingress routes to it by port.
                alb_traffic_routing=isinstance(args.settings.strategy, CanaryStrategy),
                deletion_protection=lb.deletion_protection,
            )
        return ApiContext(
            **common,
            ingress_class="nginx",
            ingress_from=namespace_peer(INGRESS_NGINX_NAMESPACE),
            tls_secret_name=TLS_SECRET,
            cluster_issuer=lb.cluster_issuer,
        )

    def _controllers(
        self, name: str, settings: ApiSettings, lb: AwsLoadBalancing | LocalIngress
    ) -> list[pulumi.Resource]:
        """Argo Rollouts when the strategy needs it; ingress-nginx on a local cluster."""
        import pulumi_kubernetes as k8s

        from components import charts

        installed: list[pulumi.Resource] = []
        if not isinstance(settings.strategy, RollingStrategy):
            chart = charts.ARGO_ROLLOUTS
            installed.append(
                k8s.helm.v3.Release(
                    f"{name}-argo-rollouts",
                    name=chart.name,
                    chart=chart.name,
                    version=chart.version,
                    repository_opts=k8s.helm.v3.RepositoryOptsArgs(repo=chart.repository),
                    namespace=ARGO_ROLLOUTS_NAMESPACE,
                    values=argo_rollouts_values(),
                    atomic=True,
                    opts=pulumi.ResourceOptions(parent=self),
                )
            )
            # The observability tier scrapes the Rollouts controller (it reports every Rollout).
        if isinstance(lb, LocalIngress):
            from components.namespaces import Namespaces, NamespaceSpec

            namespace = Namespaces(
                f"{name}-ingress-namespace",
                # The controller binds the node's ports 80/443 (hostPort), which `baseline` refuses.
                specs=(NamespaceSpec(INGRESS_NGINX_NAMESPACE, "ingress", "privileged"),),
                opts=pulumi.ResourceOptions(parent=self),
            )
            chart = charts.INGRESS_NGINX
            installed.append(
                k8s.helm.v3.Release(
                    f"{name}-ingress-nginx",
                    name=chart.name,
                    chart=chart.name,
                    version=chart.version,
                    repository_opts=k8s.helm.v3.RepositoryOptsArgs(repo=chart.repository),
                    namespace=INGRESS_NGINX_NAMESPACE,
                    values=ingress_nginx_values(lb.ingress_class),
                    atomic=True,
                    opts=pulumi.ResourceOptions(parent=self, depends_on=list(namespace.resources.values())),
                )
            )
            self.scrape_targets.append(
                ScrapeTarget(
                    name="ingress-nginx",
                    namespace=INGRESS_NGINX_NAMESPACE,
                    selector={
                        "app.kubernetes.io/name": "ingress-nginx",
                        "app.kubernetes.io/component": "controller",
                    },
                    port="metrics",
                    kind="pod",
                )
            )
        return installed

    def _secrets(
        self, name: str, args: ApiServiceArgs, ctx: ApiContext
    ) -> tuple[list[pulumi.Resource], pulumi.Output[str]]:
        """The API's Secret (pooled URLs, Redis, JWT keys) and the migration Job's (direct writer URL),
        and the checksum of the API's: the pods read it once, at start."""
        import pulumi_random as random

        from components import kube

        # Changing a keeper replaces the password: bumping `secretsRotation` rotates both secrets.
        keepers = {"rotation": str(args.settings.secrets_rotation)}
        generated = {
            key: random.RandomPassword(
                f"{name}-{key.lower().replace('_', '-')}",
                length=64,
                special=False,
                keepers=keepers,
                opts=pulumi.ResourceOptions(parent=self),
            )
            for key in ("JWT_SIGNING_KEY", "REFRESH_TOKEN_SECRET")
        }
        db = args.database
        api_values: dict[str, pulumi.Output[str]] = {
            "DATABASE_URL": pooled_url(
                args.credentials[ROLES.read_write], db.pooler_host, db.pooler_port, db.read_write_database
            ),
            "DATABASE_READ_URL": pooled_url(
                args.credentials[ROLES.read_only], db.pooler_host, db.pooler_port, db.read_only_database
            ),
            "REDIS_URL": pulumi.Output.secret(args.redis.url()),
            **{key: pulumi.Output.secret(password.result) for key, password in generated.items()},
        }
        migration_values = {
            "DATABASE_URL": direct_url(
                args.credentials[ROLES.migrations], db.writer_host, db.writer_port, args.database_name
            )
        }
        child = pulumi.ResourceOptions(parent=self)
        resources: list[pulumi.Resource] = [
            kube.apply(f"{name}-secret-{API_SECRET}", render_secret(ctx, API_SECRET, api_values), child),
            kube.apply(
                f"{name}-secret-{MIGRATION_SECRET}",
                render_secret(ctx, MIGRATION_SECRET, migration_values),
                child,
            ),
        ]
        return resources, secret_checksum(api_values)

    def _origin_restriction(self, name: str, lb: AwsLoadBalancing) -> dict[str, pulumi.Input[str]]:
        """Ingress annotations that let only the CDN reach the ALB (none without a CDN).

        CloudFront: a security group admitting HTTPS from AWS's managed prefix list of CloudFront's
        origin-facing addresses; the controller attaches it and opens the targets to the ALB.
        Cloudflare: the ALB's inbound CIDRs are Cloudflare's published IPv4 ranges.
        """
        if lb.cdn == "cloudflare":
            from components.edge_render import CLOUDFLARE_IPV4

            return {"alb.ingress.kubernetes.io/inbound-cidrs": ",".join(CLOUDFLARE_IPV4)}
        if lb.cdn != "cloudfront":
            return {}
        import pulumi_aws as aws

        child = pulumi.ResourceOptions(parent=self)
        cloudfront = aws.ec2.get_managed_prefix_list_output(
            name=CLOUDFRONT_ORIGIN_PREFIX_LIST, opts=pulumi.InvokeOutputOptions(parent=self)
        )
        group = aws.ec2.SecurityGroup(
            f"{name}-alb-from-cloudfront",
            vpc_id=lb.vpc_id,
            description="API load balancer: HTTPS from CloudFront only",
            ingress=[
                aws.ec2.SecurityGroupIngressArgs(
                    description="CloudFront origin-facing addresses",
                    protocol="tcp",
                    from_port=443,
                    to_port=443,
                    prefix_list_ids=[cloudfront.id],
                )
            ],
            egress=[
                aws.ec2.SecurityGroupEgressArgs(
                    description="To the API pods (target-type ip)",
                    protocol="tcp",
                    from_port=0,
                    to_port=65535,
                    cidr_blocks=[lb.vpc_cidr],
                )
            ],
            opts=child,
        )
        return {
            "alb.ingress.kubernetes.io/security-groups": group.id,
            "alb.ingress.kubernetes.io/manage-backend-security-group-rules": "true",
        }

    def _aws_identity(self, name: str, args: ApiServiceArgs, lb: AwsLoadBalancing) -> None:
        """The API's IAM role through EKS Pod Identity, and the ECR repository of its images."""
        import pulumi_aws as aws

        from components.iam import pod_identity_trust_policy

        child = pulumi.ResourceOptions(parent=self)
        role = aws.iam.Role(f"{name}-role", assume_role_policy=pod_identity_trust_policy(), opts=child)
        aws.iam.RolePolicy(
            f"{name}-role", role=role.id, policy=api_role_policy(f"{args.prefix}/api"), opts=child
        )
        aws.eks.PodIdentityAssociation(
            f"{name}-pod-identity",
            cluster_name=lb.cluster_name,
            namespace=args.namespace,
            service_account=SERVICE_ACCOUNT,
            role_arn=role.arn,
            opts=child,
        )
        repository = ecr_repository_name(args.settings, lb.account_id)
        if repository is not None:
            from components.image_registry import ImageRegistry, ImageRegistryArgs

            registry = ImageRegistry(
                f"{name}-registry",
                ImageRegistryArgs(
                    repository_name=repository,
                    settings=args.settings.registry,
                    account_id=lb.account_id,
                    puller_arn_patterns=lb.node_role_arn_patterns,
                    protect=args.protect,
                ),
                opts=child,
            )
            self.repository_url = registry.repository_url

    def _workload(
        self,
        name: str,
        args: ApiServiceArgs,
        ctx: ApiContext,
        secrets: list[pulumi.Resource],
        controllers: list[pulumi.Resource],
    ) -> Any:
        """Every rendered object, in order: migrations, then the workload; returns the Ingress."""
        from components import kube

        lb = args.load_balancing
        before_workload: list[pulumi.Resource] = [*secrets, *controllers]
        migrations: list[pulumi.Resource] = []
        workloads: list[pulumi.Resource] = []
        ingress: Any = None
        for rendered in render_api_manifests(args.settings, ctx):
            manifest = rendered
            kind, object_name = manifest["kind"], manifest["metadata"]["name"]
            # Logical names do not carry the image hash: a new release replaces the Job resource.
            logical = f"{name}-{kind.lower()}-{_stable(object_name)}"
            depends: list[pulumi.Resource] = []
            if DOWN_MIGRATION_MARK in object_name:
                # A schema rollback (a Job, or a held CronJob under Argo Rollouts): after the workload.
                depends = [*secrets, *args.database_ready, *workloads]
            elif kind == "Job":
                depends = [*secrets, *args.database_ready, *migrations]
            elif kind in ("Rollout", "Deployment"):
                depends = [*before_workload, *migrations]
            elif kind in {"AnalysisTemplate", "Ingress"}:
                depends = list(controllers)
            if kind == "Ingress" and isinstance(lb, AwsLoadBalancing):
                annotations = {
                    **manifest["metadata"]["annotations"],
                    _CERTIFICATE_ANNOTATION: lb.certificate_arn,
                    **self._origin_restriction(name, lb),
                }
                manifest = {**manifest, "metadata": {**manifest["metadata"], "annotations": annotations}}
            resource = kube.apply(logical, manifest, pulumi.ResourceOptions(parent=self, depends_on=depends))
            if kind == "Job":
                migrations.append(resource)
            elif kind in ("Rollout", "Deployment") and object_name == ctx.name:
                workloads.append(resource)
            elif kind == "AnalysisTemplate":
                before_workload.append(resource)
            elif kind == "Ingress":
                ingress = resource
        return ingress


def secret_checksum(values: Mapping[str, pulumi.Input[str]]) -> pulumi.Output[str]:
    """SHA-256 of the Secret's values, as a plain (not secret) string.

    Revealing it is harmless: every value hashed together includes the 64-character random JWT
    keys, so the digest cannot be searched for a password. Left secret, it would mark the whole
    workload secret and hide its every change from the diff.
    """
    keys = sorted(values)
    digest = pulumi.Output.all(*[values[key] for key in keys]).apply(
        lambda resolved: hashlib.sha256(
            json.dumps(dict(zip(keys, resolved, strict=True)), sort_keys=True).encode()
        ).hexdigest()
    )
    return pulumi.Output.unsecret(digest)


def ecr_repository_name(settings: ApiSettings, account_id: str) -> str | None:
    """The repository path of the API image when it lives in this account's ECR, else None."""
    host, _, path = settings.image.repository.partition("/")
    if host.startswith(f"{account_id}.dkr.ecr.") and host.endswith(".amazonaws.com"):
        return path
    return None


def _stable(object_name: str) -> str:
    """The object's name without a release's image hash (`api-migrate-<hash>` → `api-migrate`)."""
    head, _, tail = object_name.rpartition("-")
    if head and len(tail) == 10 and all(c in "0123456789abcdef" for c in tail):
        return head
    return object_name


def _load_balancer_hostname(status: Any) -> str:
    ingress = ((status or {}).get("loadBalancer") or {}).get("ingress") or [{}]
    return ingress[0].get("hostname") or ingress[0].get("ip") or ""
