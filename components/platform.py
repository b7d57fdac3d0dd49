"""The Platform: the one place where tiers are wired together.

Data flows one way: config → Platform → tiers → resources. A tier receives what it needs from
another as typed args (ids, endpoints, the Kubernetes provider), never by reaching into it.
The tagging transformation set here reaches every descendant resource.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from components.config import AwsCloud, LocalCloud, StackConfig
from components.endpoints import ScrapeTarget
from components.local_cluster import LocalCluster
from components.namespaces import Namespaces
from components.tagging import base_labels, base_tags, tagging_transformation


@dataclass(frozen=True)
class PlatformArgs:
    config: StackConfig
    project: str
    stack: str


class Platform(pulumi.ComponentResource):
    """The whole system for one stack."""

    kubernetes: k8s.Provider
    """The provider of the stack's Kubernetes cluster."""
    outputs: dict[str, pulumi.Input[object]]
    """Stack outputs, by name."""

    def __init__(self, name: str, args: PlatformArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        config = args.config
        self.tags = base_tags(args.project, config.environment, args.stack, config.tags)
        self.labels = base_labels(config.environment)
        own = pulumi.ResourceOptions(transformations=[tagging_transformation(self.tags, self.labels)])
        super().__init__("platform:index:Platform", name, None, pulumi.ResourceOptions.merge(own, opts))
        self.prefix = f"{args.project}-{config.environment}"
        self.outputs = {"environment": config.environment, "protection": config.protection}

        self.providers: dict[str, pulumi.ProviderResource] = {}
        self.database_network: dict[str, object] = {}
        if isinstance(config.cloud, AwsCloud):
            self.kubernetes = self._aws_foundation(config, config.cloud)
        else:
            self.kubernetes = self._local_foundation(config.cloud)
        self.providers["kubernetes"] = self.kubernetes
        self.namespaces = Namespaces("namespaces", opts=self._tier_opts())
        self.scrape_targets: list[ScrapeTarget] = []
        # Tiers in dependency order; each reads only what earlier ones set on `self`.
        self._tls_tier(config)
        self._data_tier(config)
        self._pooler_tier(config)
        self._cache_tier(config)
        self._roles_tier(config)
        self._dns_tier(config)
        self._api_tier(config)
        self._edge_tier(config)
        self._observability_tier(config)
        self._audit_tier(config)
        self.register_outputs(dict(self.outputs))

    def _tier_opts(self, *depends_on: pulumi.Resource) -> pulumi.ResourceOptions:
        """Options for a tier: parented here, with the stack's explicit providers."""
        return pulumi.ResourceOptions(
            parent=self, providers=dict(self.providers), depends_on=list(depends_on)
        )

    def _tls_tier(self, config: StackConfig) -> None:
        """PLACEHOLDER: cert-manager and ClusterIssuers."""

    def _pooler_tier(self, config: StackConfig) -> None:
        """PLACEHOLDER: PgBouncer; sets self.database_access."""

    def _cache_tier(self, config: StackConfig) -> None:
        """PLACEHOLDER: Redis; sets self.redis_endpoint."""

    def _roles_tier(self, config: StackConfig) -> None:
        """PLACEHOLDER: roles, databases and grants."""

    def _dns_tier(self, config: StackConfig) -> None:
        """PLACEHOLDER: DNS zone, host names and the API's regional certificate."""

    def _api_tier(self, config: StackConfig) -> None:
        """PLACEHOLDER: the API service."""

    def _edge_tier(self, config: StackConfig) -> None:
        """PLACEHOLDER: frontend hosting, CDN, WAF."""

    def _observability_tier(self, config: StackConfig) -> None:
        """PLACEHOLDER: metrics, alerts, dashboards, logs."""

    def _audit_tier(self, config: StackConfig) -> None:
        """PLACEHOLDER: CloudTrail, GuardDuty, CloudWatch alarms."""

    def _data_tier(self, config: StackConfig) -> None:
        from components.credentials import DatabaseCredentials
        from components.endpoints import ROLES
        from components.postgres import PostgresCluster, PostgresClusterArgs

        namespace = "platform-data"
        storage_class = config.cloud.storage_class if isinstance(config.cloud, LocalCloud) else "gp3"
        database = PostgresCluster(
            "database",
            PostgresClusterArgs(
                name=self.prefix,
                settings=config.database,
                rules=config.rules,
                namespace=namespace,
                storage_class=storage_class,
                **self.database_network,  # type: ignore[arg-type]
            ),
            opts=self._tier_opts(self.namespaces.resources[namespace]),
        )
        self.database = database
        logins = (ROLES.read_write, ROLES.read_only, ROLES.migrations, ROLES.pgbouncer_auth, ROLES.exporter)
        # Passwords for the database roles, by role name: consumed by the roles, PgBouncer and the API.
        self.database_credentials = DatabaseCredentials(
            "database-credentials", logins, opts=self._tier_opts()
        ).logins
        self.outputs.update(databaseWriterHost=database.writer_host, databaseReaderHost=database.reader_host)

    def _local_foundation(self, cloud: LocalCloud) -> k8s.Provider:
        cluster = LocalCluster("cluster", cloud, opts=pulumi.ResourceOptions(parent=self))
        self.outputs["kubeContext"] = cluster.context
        return cluster.provider

    def _aws_foundation(self, config: StackConfig, cloud: AwsCloud) -> k8s.Provider:
        import pulumi_aws as aws

        from components.eks_cluster import EksCluster, EksClusterArgs
        from components.network import Network, NetworkArgs

        assert config.network is not None and config.cluster is not None  # guaranteed by StackConfig
        provider = aws.Provider(
            "aws",
            region=cloud.region,
            allowed_account_ids=[cloud.account_id],
            default_tags=aws.ProviderDefaultTagsArgs(tags=self.tags),
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.providers["aws"] = provider
        aws_opts = pulumi.ResourceOptions(parent=self, providers={"aws": provider})
        network = Network(
            "network",
            NetworkArgs(
                name_prefix=self.prefix,
                cidr=config.network.cidr,
                availability_zones=config.network.availability_zones,
                nat_per_az=config.rules.nat_per_az,
                flow_log_retention_days=config.network.flow_logs.retention_days,
                flow_log_traffic_type=config.network.flow_logs.traffic_type,
                cluster_name=self.prefix,
                account_id=cloud.account_id,
                region=cloud.region,
                protect=config.rules.protect,
            ),
            opts=aws_opts,
        )
        cluster = EksCluster(
            "cluster",
            EksClusterArgs(
                name=self.prefix,
                settings=config.cluster,
                account_id=cloud.account_id,
                region=cloud.region,
                vpc_id=network.vpc_id,
                private_subnet_ids=network.private_subnet_ids,
                deletion_protection=config.rules.deletion_protection,
                protect=config.rules.protect,
            ),
            opts=aws_opts,
        )
        self.network, self.cluster = network, cluster
        self.database_network = {
            "vpc_id": network.vpc_id,
            "isolated_subnet_ids": network.isolated_subnet_ids,
            "availability_zones": config.network.availability_zones,
            "allowed_security_group_ids": [cluster.node_security_group_id],
            "account_id": cloud.account_id,
            "region": cloud.region,
        }
        self.outputs.update(
            vpcId=network.vpc_id,
            clusterName=cluster.cluster_name,
            clusterEndpoint=cluster.endpoint,
            kubeconfig=cluster.kubeconfig,
        )
        return cluster.provider
