"""The PostgreSQL cluster: Aurora PostgreSQL on AWS, CloudNativePG in any Kubernetes cluster.

Aurora: a writer and readers spread round-robin over the isolated subnets' zones, storage,
Performance Insights and the master secret encrypted with one customer-managed rotating key; the
master password is generated and rotated by RDS in Secrets Manager (none passes through this
program); TLS is forced and IAM database authentication is on; only the EKS cluster's security
group reaches the port. Deletion protection, final snapshots and Pulumi ``protect`` follow the
stack's protection rules.

CloudNativePG: the operator's pinned Helm chart and a ``Cluster`` (a primary and streaming
replicas) with a PodDisruptionBudget, pod anti-affinity, TLS-only client access and the same
deliberate server settings as Aurora.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pulumi

from components import charts
from components.database_settings import (
    AuroraRestore,
    AuroraSettings,
    CloudNativePgSettings,
    ServerTuning,
    instance_zones,
)
from components.protection import ProtectionRules

CNPG_NAMESPACE = "cnpg-system"
CNPG_IMAGE = "ghcr.io/cloudnative-pg/postgresql"
MONITORING_POLICY = "service-role/AmazonRDSEnhancedMonitoringRole"
# Aurora instances can be failover targets at tiers 0-15; the writer is 0, readers follow.
MAX_PROMOTION_TIER = 15


def server_parameters(settings: ServerTuning) -> dict[str, str]:
    """PostgreSQL settings both engines set on purpose (values in the server's default units)."""
    parameters = {
        "log_min_duration_statement": str(settings.slow_query_ms),
        "idle_in_transaction_session_timeout": str(settings.idle_in_transaction_timeout_ms),
        "log_connections": "1",
        "log_disconnections": "1",
        "pg_stat_statements.track": "all",
    }
    if settings.max_connections is not None:
        parameters["max_connections"] = str(settings.max_connections)
    return parameters


# Parameters that only take effect after a restart; RDS refuses `immediate` for them.
STATIC_PARAMETERS = frozenset({"shared_preload_libraries", "max_connections"})


def aurora_cluster_parameters(settings: AuroraSettings) -> list[tuple[str, str, str]]:
    """The cluster parameter group's ``(name, value, apply_method)`` rows, sorted by name."""
    parameters = {
        **server_parameters(settings),
        "rds.force_ssl": "1",
        "shared_preload_libraries": "pg_stat_statements",
    }
    return [
        (name, value, "pending-reboot" if name in STATIC_PARAMETERS else "immediate")
        for name, value in sorted(parameters.items())
    ]


def snapshot_consumer_statements(accounts: Sequence[str]) -> list[dict[str, Any]]:
    """Key-policy statements letting other accounts restore a snapshot encrypted with this key.

    Restoring a shared encrypted snapshot decrypts it with the source key and re-encrypts it with the
    target's own key, so the target account needs these on the source key; sharing the snapshot
    itself (`aws rds modify-db-cluster-snapshot-attribute`) is a step of the refresh runbook.
    """
    if not accounts:
        return []
    return [
        {
            "Sid": "SnapshotConsumersRestore",
            "Effect": "Allow",
            "Principal": {"AWS": [f"arn:aws:iam::{account}:root" for account in sorted(accounts)]},
            "Action": [
                "kms:Decrypt",
                "kms:DescribeKey",
                "kms:CreateGrant",
                "kms:ReEncrypt*",
                "kms:GenerateDataKey*",
            ],
            "Resource": "*",
        }
    ]


def aurora_family(settings: AuroraSettings) -> str:
    """The parameter group family of the pinned major version, e.g. `aurora-postgresql16`."""
    return f"aurora-postgresql{settings.major_version}"


def final_snapshot_name(cluster: str, restore: AuroraRestore | None) -> str:
    """`<cluster>-final`, or with a suffix naming the restore the cluster was made from."""
    if restore is None:
        return f"{cluster}-final"
    source = restore.snapshot_identifier or (
        f"{restore.source_cluster_identifier}@"
        f"{restore.restore_time.isoformat() if restore.restore_time else 'latest'}"
    )
    return f"{cluster}-final-{hashlib.sha256(source.encode()).hexdigest()[:8]}"


def _rfc3339(value: Any) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


def render_cnpg_cluster(
    settings: CloudNativePgSettings, *, name: str, namespace: str, storage_class: str | None
) -> dict[str, Any]:
    """The CloudNativePG ``Cluster`` manifest (``postgresql.cnpg.io/v1``).

    CloudNativePG adds ``pg_stat_statements`` to ``shared_preload_libraries`` itself as soon as a
    ``pg_stat_statements.*`` parameter is set, and owns ``ssl``/``listen_addresses``; TLS is forced
    through ``pg_hba`` instead (user rules come before the operator's catch-all password rule).
    """
    bootstrap: dict[str, Any]
    if settings.restore is None:
        bootstrap = {"initdb": {"database": settings.database_name, "owner": settings.owner}}
    else:
        recovery: dict[str, Any] = {
            "backup": {"name": settings.restore.backup_name},
            "database": settings.database_name,
            "owner": settings.owner,
        }
        if settings.restore.target_time is not None:
            recovery["recoveryTarget"] = {"targetTime": _rfc3339(settings.restore.target_time)}
        bootstrap = {"recovery": recovery}
    storage: dict[str, Any] = {"size": settings.storage_size}
    chosen_class = settings.storage_class or storage_class
    if chosen_class:
        storage["storageClass"] = chosen_class
    return {
        "apiVersion": "postgresql.cnpg.io/v1",
        "kind": "Cluster",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "instances": settings.instances,
            "imageName": f"{CNPG_IMAGE}:{settings.postgres_version}",
            "storage": storage,
            "postgresql": {
                "parameters": server_parameters(settings),
                "pg_hba": ["hostnossl all all all reject"],
            },
            # Keep the primary from being evicted during node drains.
            "enablePDB": True,
            # The roles Job (platform:roles.mode `job`) applies the role script as the superuser, whose
            # credentials the operator keeps in the `<cluster>-superuser` Secret only when this is on.
            "enableSuperuserAccess": True,
            # Instances on different nodes where possible, so losing a node loses one instance.
            "affinity": {
                "enablePodAntiAffinity": True,
                "topologyKey": "kubernetes.io/hostname",
                "podAntiAffinityType": "preferred",
            },
            "monitoring": {"enablePodMonitor": settings.monitoring},
            "bootstrap": bootstrap,
        },
    }


def cnpg_operator_values(settings: CloudNativePgSettings) -> dict[str, Any]:
    """Helm values of the CloudNativePG operator chart."""
    return {
        "crds": {"create": True},
        "monitoring": {
            "podMonitorEnabled": settings.operator_pod_monitor,
            "grafanaDashboard": {"create": False},
        },
    }


@dataclass(frozen=True)
class PostgresClusterArgs:
    """What the database needs. AWS fields are required for Aurora, Kubernetes ones for CloudNativePG."""

    name: str
    """Physical name prefix, e.g. `platform-prod`."""
    settings: AuroraSettings | CloudNativePgSettings
    rules: ProtectionRules
    vpc_id: pulumi.Input[str] | None = None
    isolated_subnet_ids: Sequence[pulumi.Input[str]] = field(default_factory=tuple)
    availability_zones: Sequence[str] = field(default_factory=tuple)
    """The zones of ``isolated_subnet_ids``, same order."""
    allowed_security_group_ids: Sequence[pulumi.Input[str]] = field(default_factory=tuple)
    """Security groups that may connect (the EKS cluster security group)."""
    account_id: str | None = None
    region: str | None = None
    namespace: str = "platform-data"
    storage_class: str | None = None
    """Default StorageClass of the local cluster, when the settings name none."""


class PostgresCluster(pulumi.ComponentResource):
    """A highly available PostgreSQL cluster: Aurora or CloudNativePG, per the settings' engine."""

    writer_host: pulumi.Output[str]
    """Host name of the read-write endpoint."""
    reader_host: pulumi.Output[str]
    """Host name of the read-only endpoint (load-balanced over the readers)."""
    port: pulumi.Output[int]
    """The port both endpoints listen on."""
    database: str
    """The application database's name."""
    master_secret_arn: pulumi.Output[str] | None
    """ARN of the RDS-managed master user secret in Secrets Manager (Aurora only)."""
    security_group_id: pulumi.Output[str] | None
    """The database's security group (Aurora only)."""
    engine: str
    """`aurora` or `cloudnativepg`."""

    def __init__(
        self, name: str, args: PostgresClusterArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("platform:data:PostgresCluster", name, None, opts)
        settings = args.settings
        self.engine = settings.engine
        self.database = settings.database_name
        self.master_secret_arn = None
        self.security_group_id = None
        if isinstance(settings, AuroraSettings):
            self._aurora(name, args, settings)
        else:
            self._cloudnativepg(name, args, settings)
        self.register_outputs(
            {
                "writer_host": self.writer_host,
                "reader_host": self.reader_host,
                "port": self.port,
                "database": self.database,
                "master_secret_arn": self.master_secret_arn,
                "security_group_id": self.security_group_id,
                "engine": self.engine,
            }
        )

    # -- Aurora ------------------------------------------------------------------------------

    def _aurora(self, name: str, args: PostgresClusterArgs, settings: AuroraSettings) -> None:
        import pulumi_aws as aws

        from components.iam import customer_key, key_policy, role, service_trust_policy

        if args.account_id is None or args.vpc_id is None:
            raise ValueError("Aurora needs account_id and vpc_id")
        zones = list(args.availability_zones)
        if len(zones) != len(args.isolated_subnet_ids) or not zones:
            raise ValueError("Aurora needs one isolated subnet per availability zone")
        rules = args.rules
        child = pulumi.ResourceOptions(parent=self)
        stateful = pulumi.ResourceOptions(parent=self, protect=rules.protect)

        key = customer_key(
            f"{name}-key",
            f"{args.name} Aurora storage, Performance Insights and master secret",
            key_policy(args.account_id, *snapshot_consumer_statements(settings.snapshot_consumer_accounts)),
            stateful,
        )
        subnets = aws.rds.SubnetGroup(
            f"{name}-subnets",
            name=f"{args.name}-db",
            description=f"{args.name} isolated subnets",
            subnet_ids=list(args.isolated_subnet_ids),
            opts=child,
        )
        group = aws.ec2.SecurityGroup(
            f"{name}-sg",
            name=f"{args.name}-db",
            description=f"{args.name} PostgreSQL: only from EKS cluster pods",
            vpc_id=args.vpc_id,
            ingress=[
                aws.ec2.SecurityGroupIngressArgs(
                    protocol="tcp",
                    from_port=settings.port,
                    to_port=settings.port,
                    security_groups=list(args.allowed_security_group_ids),
                    description="PostgreSQL from the EKS cluster",
                )
            ],
            # A database opens no connections: no egress at all.
            egress=[],
            opts=child,
        )
        family = aurora_family(settings)
        # Keyed by family, so a major upgrade creates the new group beside the one in use.
        cluster_params = aws.rds.ClusterParameterGroup(
            f"{name}-{family}",
            family=family,
            description=f"{args.name} Aurora PostgreSQL {settings.major_version} cluster parameters",
            parameters=[
                aws.rds.ClusterParameterGroupParameterArgs(name=n, value=v, apply_method=m)
                for n, v, m in aurora_cluster_parameters(settings)
            ],
            opts=child,
        )
        # A custom (empty) instance group: instance-level tuning later is a change, not a swap.
        instance_params = aws.rds.ParameterGroup(
            f"{name}-{family}-instance",
            family=family,
            description=f"{args.name} Aurora PostgreSQL {settings.major_version} instance parameters",
            opts=child,
        )

        restore = settings.restore
        point_in_time = None
        if restore is not None and restore.source_cluster_identifier is not None:
            point_in_time = aws.rds.ClusterRestoreToPointInTimeArgs(
                source_cluster_identifier=restore.source_cluster_identifier,
                restore_to_time=_rfc3339(restore.restore_time) if restore.restore_time else None,
                use_latest_restorable_time=restore.use_latest_restorable_time or None,
            )
        cluster = aws.rds.Cluster(
            f"{name}-cluster",
            cluster_identifier=args.name,
            engine="aurora-postgresql",
            engine_version=settings.engine_version,
            # A restored cluster keeps the source's database and master user.
            database_name=settings.database_name if restore is None else None,
            master_username=settings.master_username if restore is None else None,
            manage_master_user_password=True,
            master_user_secret_kms_key_id=key.arn,
            iam_database_authentication_enabled=True,
            storage_encrypted=True,
            kms_key_id=key.arn,
            port=settings.port,
            db_subnet_group_name=subnets.name,
            vpc_security_group_ids=[group.id],
            db_cluster_parameter_group_name=cluster_params.name,
            db_instance_parameter_group_name=instance_params.name,
            # The version is pinned in config; this only lets a reviewed change of the major version
            # (and of the family's parameter groups) apply, which AWS otherwise refuses.
            allow_major_version_upgrade=True,
            backup_retention_period=settings.backup_retention_days,
            preferred_backup_window=settings.preferred_backup_window,
            preferred_maintenance_window=settings.preferred_maintenance_window,
            copy_tags_to_snapshot=True,
            enabled_cloudwatch_logs_exports=["postgresql"],
            deletion_protection=rules.deletion_protection,
            skip_final_snapshot=not rules.final_snapshot,
            # Unique per restore: a cluster replaced by a new restore (uat's refresh from a newer prod
            # snapshot) must not collide with the previous generation's final snapshot.
            final_snapshot_identifier=final_snapshot_name(args.name, restore),
            # Keep automated backups after deletion whenever a final snapshot is wanted.
            delete_automated_backups=not rules.final_snapshot,
            restore_to_point_in_time=point_in_time,
            snapshot_identifier=restore.snapshot_identifier if restore is not None else None,
            # The identifier is fixed, so a replacement (a new restore) must delete the old cluster
            # first (taking its final snapshot); creating the new one first would collide on the name.
            opts=pulumi.ResourceOptions.merge(stateful, pulumi.ResourceOptions(delete_before_replace=True)),
        )

        monitoring_role = None
        if settings.monitoring_interval_seconds:
            monitoring_role = role(
                f"{name}-monitoring",
                service_trust_policy("monitoring.rds.amazonaws.com"),
                managed=[MONITORING_POLICY],
                opts=child,
            )
        writer = None
        for tier, (instance_role, zone) in enumerate(instance_zones(settings.readers, zones).items()):
            instance = aws.rds.ClusterInstance(
                f"{name}-{instance_role}",
                identifier=f"{args.name}-{instance_role}",
                cluster_identifier=cluster.id,
                engine=aws.rds.EngineType.AURORA_POSTGRESQL,
                engine_version=cluster.engine_version,
                instance_class=settings.instance_class,
                availability_zone=zone,
                promotion_tier=min(tier, MAX_PROMOTION_TIER),
                db_subnet_group_name=subnets.name,
                db_parameter_group_name=instance_params.name,
                performance_insights_enabled=True,
                performance_insights_kms_key_id=key.arn,
                performance_insights_retention_period=settings.performance_insights_retention_days,
                monitoring_interval=settings.monitoring_interval_seconds,
                monitoring_role_arn=monitoring_role.arn if monitoring_role is not None else None,
                publicly_accessible=False,
                # `engineVersion` is pinned in config: upgrades are reviewed changes, not surprises
                # (an automatic minor upgrade would also make the next `pulumi up` attempt a downgrade).
                auto_minor_version_upgrade=False,
                copy_tags_to_snapshot=True,
                # The first instance created becomes the writer: readers wait for it.
                opts=pulumi.ResourceOptions(
                    parent=self, protect=rules.protect, depends_on=[writer] if writer is not None else None
                ),
            )
            writer = writer or instance

        self.writer_host = cluster.endpoint
        self.reader_host = cluster.reader_endpoint
        self.port = cluster.port
        self.security_group_id = group.id
        self.master_secret_arn = cluster.master_user_secrets.apply(_first_secret_arn)

    # -- CloudNativePG -----------------------------------------------------------------------

    def _cloudnativepg(self, name: str, args: PostgresClusterArgs, settings: CloudNativePgSettings) -> None:
        import pulumi_kubernetes as k8s

        chart = charts.CLOUDNATIVE_PG
        operator = k8s.helm.v3.Release(
            f"{name}-operator",
            name="cnpg",
            chart=chart.name,
            version=chart.version,
            repository_opts=k8s.helm.v3.RepositoryOptsArgs(repo=chart.repository),
            namespace=CNPG_NAMESPACE,
            values=cnpg_operator_values(settings),
            atomic=True,
            opts=pulumi.ResourceOptions(parent=self),
        )
        manifest = render_cnpg_cluster(
            settings, name=args.name, namespace=args.namespace, storage_class=args.storage_class
        )
        k8s.apiextensions.CustomResource(
            f"{name}-cluster",
            api_version=manifest["apiVersion"],
            kind=manifest["kind"],
            metadata=manifest["metadata"],
            spec=manifest["spec"],
            opts=pulumi.ResourceOptions(parent=self, protect=args.rules.protect, depends_on=[operator]),
        )
        service = f"{args.name}-{{}}.{args.namespace}.svc.cluster.local"
        self.writer_host = pulumi.Output.from_input(service.format("rw"))
        self.reader_host = pulumi.Output.from_input(service.format("ro"))
        self.port = pulumi.Output.from_input(5432)


def _first_secret_arn(secrets: Sequence[Any] | None) -> str:
    if not secrets:
        raise ValueError("RDS returned no managed master user secret")
    first = secrets[0]
    if isinstance(first, dict):
        return first.get("secret_arn") or first["secretArn"]
    return first.secret_arn
