"""Redis for the API's rate limiting: ElastiCache on AWS, one in-cluster pod on a local cluster.

ElastiCache: a replication group in the isolated subnets (no route out), reachable only from the
EKS cluster's security group, encrypted at rest with a rotating customer-managed key and in
transit (TLS required), behind a generated AUTH token; failover and Multi-AZ as configured; a
parameter group sets the eviction policy. In-cluster: the official image, restricted security
context, the password from a Secret, and a NetworkPolicy admitting only the API namespace (and
Prometheus on the metrics port). Both run oliver006/redis_exporter, so the Redis alerts have their
``redis_*`` series, and hand the API a :class:`components.endpoints.RedisEndpoint`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pulumi

from components.endpoints import Backend, Peer, RedisEndpoint, ScrapeTarget, namespace_peer
from components.redis_settings import RedisSettings

REDIS_IMAGE = "redis:7.2.5-alpine"
"""The official image; its `redis` user is uid 999, group 1000."""
EXPORTER_IMAGE = "oliver006/redis_exporter:v1.63.0"
REDIS_PORT = 6379
METRICS_PORT = 9121
REDIS_UID, REDIS_GID, EXPORTER_UID = 999, 1000, 59000
PARAMETER_FAMILY = "redis7"
API_NAMESPACE = "platform-api"
MONITORING_NAMESPACE = "platform-monitoring"
PROMETHEUS_POD_LABELS = {"app.kubernetes.io/name": "prometheus"}
REDIS_LABELS = {"app.kubernetes.io/name": "redis", "app.kubernetes.io/component": "cache"}
EXPORTER_LABELS = {"app.kubernetes.io/name": "redis-exporter", "app.kubernetes.io/component": "cache"}


def maxmemory_mib(settings: RedisSettings) -> int:
    """`maxmemory` of the in-cluster Redis: 75% of the container limit, headroom for buffers."""
    return settings.memory_mib * 3 // 4


def render_redis_conf(settings: RedisSettings) -> str:
    """redis.conf of the in-cluster Redis, without `requirepass` (appended from the secret)."""
    return (
        f"port {REDIS_PORT}\n"
        "bind 0.0.0.0\n"
        "protected-mode yes\n"
        f"maxmemory {maxmemory_mib(settings)}mb\n"
        f"maxmemory-policy {settings.maxmemory_policy}\n"
        # Counters are disposable: no RDB snapshots, no AOF, nothing written to disk.
        'save ""\n'
        "appendonly no\n"
        "dir /data\n"
    )


def _restricted(uid: int, gid: int) -> dict[str, Any]:
    return {
        "runAsNonRoot": True,
        "runAsUser": uid,
        "runAsGroup": gid,
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def exporter_container(address: str, secret: str, *, managed: bool) -> dict[str, Any]:
    """The redis_exporter container; ElastiCache refuses CONFIG, so config metrics are skipped there."""
    env: list[dict[str, Any]] = [
        {"name": "REDIS_ADDR", "value": address},
        {"name": "REDIS_PASSWORD", "valueFrom": {"secretKeyRef": {"name": secret, "key": "password"}}},
    ]
    if managed:
        env.append({"name": "REDIS_EXPORTER_CONFIG_COMMAND", "value": "-"})
    return {
        "name": "exporter",
        "image": EXPORTER_IMAGE,
        "env": env,
        "ports": [{"name": "metrics", "containerPort": METRICS_PORT}],
        "readinessProbe": {"httpGet": {"path": "/health", "port": "metrics"}, "periodSeconds": 10},
        "livenessProbe": {"httpGet": {"path": "/health", "port": "metrics"}, "periodSeconds": 30},
        "securityContext": _restricted(EXPORTER_UID, EXPORTER_UID),
        "resources": {"requests": {"cpu": "10m", "memory": "32Mi"}, "limits": {"memory": "64Mi"}},
    }


def render_in_cluster_deployment(
    settings: RedisSettings, *, name: str, namespace: str, secret: str
) -> dict[str, Any]:
    """One Redis pod with the exporter beside it; config (with the password) from the Secret."""
    memory = f"{settings.memory_mib}Mi"
    redis = {
        "name": "redis",
        "image": REDIS_IMAGE,
        "command": ["redis-server", "/etc/redis/redis.conf"],
        "ports": [{"name": "redis", "containerPort": REDIS_PORT}],
        "readinessProbe": {"tcpSocket": {"port": "redis"}, "periodSeconds": 5},
        "livenessProbe": {"tcpSocket": {"port": "redis"}, "periodSeconds": 10, "failureThreshold": 6},
        "volumeMounts": [
            {"name": "config", "mountPath": "/etc/redis", "readOnly": True},
            {"name": "data", "mountPath": "/data"},
        ],
        "securityContext": _restricted(REDIS_UID, REDIS_GID),
        "resources": {"requests": {"cpu": "50m", "memory": memory}, "limits": {"memory": memory}},
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": namespace, "labels": dict(REDIS_LABELS)},
        "spec": {
            "replicas": 1,
            # Never two Redis pods at once: clients would split their counters between them.
            "strategy": {"type": "Recreate"},
            "selector": {"matchLabels": dict(REDIS_LABELS)},
            "template": {
                "metadata": {"labels": dict(REDIS_LABELS)},
                "spec": {
                    "automountServiceAccountToken": False,
                    "securityContext": {
                        "runAsNonRoot": True,
                        "fsGroup": REDIS_GID,
                        "seccompProfile": {"type": "RuntimeDefault"},
                    },
                    "containers": [
                        redis,
                        exporter_container(f"redis://localhost:{REDIS_PORT}", secret, managed=False),
                    ],
                    "volumes": [
                        {
                            "name": "config",
                            "secret": {
                                "secretName": secret,
                                "items": [{"key": "redis.conf", "path": "redis.conf"}],
                            },
                        },
                        {"name": "data", "emptyDir": {"sizeLimit": "64Mi"}},
                    ],
                },
            },
        },
    }


def render_exporter_deployment(address: Any, *, name: str, namespace: str, secret: str) -> dict[str, Any]:
    """The exporter alone, for ElastiCache (over TLS: `rediss://`)."""
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": namespace, "labels": dict(EXPORTER_LABELS)},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": dict(EXPORTER_LABELS)},
            "template": {
                "metadata": {"labels": dict(EXPORTER_LABELS)},
                "spec": {
                    "automountServiceAccountToken": False,
                    "securityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
                    "containers": [exporter_container(address, secret, managed=True)],
                },
            },
        },
    }


def render_service(name: str, namespace: str, labels: dict[str, str], *, with_redis: bool) -> dict[str, Any]:
    ports = [{"name": "metrics", "port": METRICS_PORT, "targetPort": "metrics"}]
    if with_redis:
        ports.insert(0, {"name": "redis", "port": REDIS_PORT, "targetPort": "redis"})
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": namespace, "labels": dict(labels)},
        "spec": {"selector": dict(labels), "ports": ports},
    }


def render_network_policy(
    name: str, namespace: str, labels: dict[str, str], *, with_redis: bool
) -> dict[str, Any]:
    """Ingress only from the API namespace (Redis) and Prometheus (metrics); nothing else."""
    prometheus = namespace_peer(MONITORING_NAMESPACE, PROMETHEUS_POD_LABELS).render()
    ingress: list[dict[str, Any]] = [
        {"from": [prometheus], "ports": [{"protocol": "TCP", "port": METRICS_PORT}]},
    ]
    if with_redis:
        ingress.insert(
            0,
            {
                "from": [namespace_peer(API_NAMESPACE).render()],
                "ports": [{"protocol": "TCP", "port": REDIS_PORT}],
            },
        )
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "podSelector": {"matchLabels": dict(labels)},
            "policyTypes": ["Ingress"],
            "ingress": ingress,
        },
    }


def cache_cluster_zones(nodes: int, zones: Sequence[str]) -> list[str]:
    """The zone of each node, round-robin: the primary and its replicas in different zones."""
    return [zones[i % len(zones)] for i in range(nodes)] if zones else []


@dataclass(frozen=True)
class RedisArgs:
    """What Redis needs; the AWS fields are required for ElastiCache."""

    name: str
    """Physical name prefix, e.g. `platform-prod`."""
    settings: RedisSettings
    protect: bool = False
    final_snapshot: bool = False
    namespace: str = "platform-data"
    vpc_id: pulumi.Input[str] | None = None
    vpc_cidr: str | None = None
    isolated_subnet_ids: Sequence[pulumi.Input[str]] = field(default_factory=tuple)
    availability_zones: Sequence[str] = field(default_factory=tuple)
    allowed_security_group_ids: Sequence[pulumi.Input[str]] = field(default_factory=tuple)
    account_id: str | None = None


class Redis(pulumi.ComponentResource):
    """ElastiCache or an in-cluster Redis, with its exporter, per the settings' engine."""

    endpoint: RedisEndpoint
    """Where the API finds Redis (host, port, TLS, peer, AUTH token)."""
    scrape_target: ScrapeTarget
    """The exporter, for Prometheus."""

    def __init__(self, name: str, args: RedisArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("platform:data:Redis", name, None, opts)
        import pulumi_random as random

        token = random.RandomPassword(
            f"{name}-auth-token", length=64, special=False, opts=pulumi.ResourceOptions(parent=self)
        )
        self.auth_token: pulumi.Output[str] = pulumi.Output.secret(token.result)
        self.secret_name = f"{args.name}-redis-auth"
        if args.settings.engine == "elasticache":
            self._elasticache(name, args)
        else:
            self._in_cluster(name, args)
        self.register_outputs(
            {
                "host": self.endpoint.host,
                "port": self.endpoint.port,
                "tls": self.endpoint.tls,
                "authToken": self.auth_token,
            }
        )

    def _secret(self, name: str, args: RedisArgs, data: dict[str, pulumi.Output[str]]) -> pulumi.Resource:
        from components.kube import apply

        return apply(
            f"{name}-auth",
            {
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": {"name": self.secret_name, "namespace": args.namespace},
                "type": "Opaque",
                "stringData": {key: pulumi.Output.secret(value) for key, value in data.items()},
            },
            pulumi.ResourceOptions(parent=self),
        )

    def _in_cluster(self, name: str, args: RedisArgs) -> None:
        from components.kube import apply

        settings, ns = args.settings, args.namespace
        service_name = f"{args.name}-redis"
        conf = render_redis_conf(settings)
        secret = self._secret(
            name,
            args,
            {
                "password": self.auth_token,
                "redis.conf": self.auth_token.apply(lambda t: f"{conf}requirepass {t}\n"),
            },
        )
        child = pulumi.ResourceOptions(parent=self)
        apply(
            f"{name}-network-policy",
            render_network_policy(service_name, ns, REDIS_LABELS, with_redis=True),
            child,
        )
        apply(f"{name}-service", render_service(service_name, ns, REDIS_LABELS, with_redis=True), child)
        apply(
            f"{name}-deployment",
            render_in_cluster_deployment(settings, name=service_name, namespace=ns, secret=self.secret_name),
            pulumi.ResourceOptions(parent=self, depends_on=[secret]),
        )
        self.endpoint = RedisEndpoint(
            host=f"{service_name}.{ns}.svc.cluster.local",
            port=REDIS_PORT,
            tls=False,
            backend=Backend(peer=namespace_peer(ns, dict(REDIS_LABELS)), port=REDIS_PORT),
            auth_token=self.auth_token,
        )
        self.scrape_target = ScrapeTarget(
            name="redis", namespace=ns, selector=dict(REDIS_LABELS), port="metrics"
        )

    def _elasticache(self, name: str, args: RedisArgs) -> None:
        import pulumi_aws as aws

        from components.iam import customer_key, key_policy
        from components.kube import apply

        settings = args.settings
        if args.account_id is None or args.vpc_id is None or args.vpc_cidr is None:
            raise ValueError("ElastiCache needs account_id, vpc_id and vpc_cidr")
        child = pulumi.ResourceOptions(parent=self)
        stateful = pulumi.ResourceOptions(parent=self, protect=args.protect)
        key = customer_key(
            f"{name}-key", f"{args.name} ElastiCache Redis at rest", key_policy(args.account_id), stateful
        )
        subnets = aws.elasticache.SubnetGroup(
            f"{name}-subnets",
            name=f"{args.name}-redis",
            description=f"{args.name} Redis: isolated subnets",
            subnet_ids=list(args.isolated_subnet_ids),
            opts=child,
        )
        group = aws.ec2.SecurityGroup(
            f"{name}-sg",
            name=f"{args.name}-redis",
            description=f"{args.name} Redis: only from EKS cluster pods",
            vpc_id=args.vpc_id,
            ingress=[
                aws.ec2.SecurityGroupIngressArgs(
                    protocol="tcp",
                    from_port=REDIS_PORT,
                    to_port=REDIS_PORT,
                    security_groups=list(args.allowed_security_group_ids),
                    description="Redis from the EKS cluster",
                )
            ],
            egress=[],
            opts=child,
        )
        parameters = aws.elasticache.ParameterGroup(
            f"{name}-{PARAMETER_FAMILY}",
            name=f"{args.name}-redis-{PARAMETER_FAMILY}",
            family=PARAMETER_FAMILY,
            description=f"{args.name} Redis for rate limiting",
            parameters=[
                aws.elasticache.ParameterGroupParameterArgs(
                    name="maxmemory-policy", value=settings.maxmemory_policy
                )
            ],
            opts=child,
        )
        group_id = f"{args.name}-redis"
        replication = aws.elasticache.ReplicationGroup(
            f"{name}-replication-group",
            replication_group_id=group_id,
            description=f"{args.name} rate limiting",
            engine="redis",
            engine_version=settings.engine_version,
            node_type=settings.node_type,
            num_cache_clusters=settings.nodes,
            preferred_cache_cluster_azs=cache_cluster_zones(settings.nodes, args.availability_zones) or None,
            automatic_failover_enabled=settings.automatic_failover,
            multi_az_enabled=settings.multi_az,
            at_rest_encryption_enabled=True,
            kms_key_id=key.arn,
            transit_encryption_enabled=True,
            transit_encryption_mode="required",
            auth_token=self.auth_token,
            port=REDIS_PORT,
            subnet_group_name=subnets.name,
            security_group_ids=[group.id],
            parameter_group_name=parameters.name,
            snapshot_retention_limit=settings.snapshot_retention_days,
            snapshot_window="03:00-04:00" if settings.snapshot_retention_days else None,
            maintenance_window="sun:05:00-sun:06:00",
            final_snapshot_identifier=f"{group_id}-final" if args.final_snapshot else None,
            auto_minor_version_upgrade=True,
            opts=stateful,
        )
        host = replication.primary_endpoint_address
        ns = args.namespace
        exporter_name = f"{args.name}-redis-exporter"
        secret = self._secret(name, args, {"password": self.auth_token})
        apply(
            f"{name}-exporter-network-policy",
            render_network_policy(exporter_name, ns, EXPORTER_LABELS, with_redis=False),
            child,
        )
        apply(
            f"{name}-exporter-service",
            render_service(exporter_name, ns, EXPORTER_LABELS, with_redis=False),
            child,
        )
        apply(
            f"{name}-exporter",
            render_exporter_deployment(
                host.apply(lambda h: f"rediss://{h}:{REDIS_PORT}"),
                name=exporter_name,
                namespace=ns,
                secret=self.secret_name,
            ),
            pulumi.ResourceOptions(parent=self, depends_on=[secret, replication]),
        )
        self.endpoint = RedisEndpoint(
            host=host,
            port=REDIS_PORT,
            tls=True,
            backend=Backend(peer=Peer(cidr=args.vpc_cidr), port=REDIS_PORT),
            auth_token=self.auth_token,
        )
        self.scrape_target = ScrapeTarget(
            name="redis", namespace=ns, selector=dict(EXPORTER_LABELS), port="metrics"
        )
