"""The Platform: the one place where tiers are wired together.

Data flows one way: config → Platform → tiers → resources. A tier receives what it needs from
another as typed args (ids, endpoints, the Kubernetes provider), never by reaching into it.
The tagging transformation set here reaches every descendant resource.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from components.alert_rules import ApiScrape
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
        self.cluster_ready: list[pulumi.Resource] = []
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
        self._cloud_metrics_tier(config)
        self._observability_tier(config)
        self._audit_tier(config)
        self.register_outputs(dict(self.outputs))

    def _tier_opts(self, *depends_on: pulumi.Resource) -> pulumi.ResourceOptions:
        """Options for a tier: parented here, with the stack's explicit providers, after the cluster's
        add-ons (Pod Identity agent, CSI driver, CoreDNS, StorageClass, load balancer controller)."""
        return pulumi.ResourceOptions(
            parent=self,
            providers=dict(self.providers),
            depends_on=[*self.cluster_ready, *depends_on],
        )

    def _tls_tier(self, config: StackConfig) -> None:
        """cert-manager, the internal CA issuer and the public (ACME DNS-01 or internal) issuer."""
        from components.certificates import NAMESPACE, CertManager, CertManagerArgs

        cloud = config.cloud
        cert_manager = CertManager(
            "tls",
            CertManagerArgs(
                settings=config.tls,
                domain=config.domain.name if config.domain is not None else None,
                dns=config.domain.dns if config.domain is not None else None,
                region=cloud.region if isinstance(cloud, AwsCloud) else None,
                cluster_name=self.cluster.cluster_name if isinstance(cloud, AwsCloud) else None,
            ),
            opts=self._tier_opts(self.namespaces.resources[NAMESPACE]),
        )
        # Tiers that request certificates wait for cert-manager and its issuers.
        self.tls = cert_manager
        # ClusterIssuer names: for public host names, and for in-cluster endpoints (PgBouncer's TLS).
        self.cluster_issuer: str = cert_manager.cluster_issuer
        self.internal_issuer: str = cert_manager.internal_issuer
        self.scrape_targets.append(cert_manager.scrape_target)

    def _pooler_tier(self, config: StackConfig) -> None:
        """PgBouncer's read-write and read-only pools; sets self.database_access."""
        from components.database_settings import AuroraSettings
        from components.endpoints import ROLES, Backend, DatabaseAccess, Peer, namespace_peer
        from components.pgbouncer import AuroraCa, AuthLookup, CnpgCa, PgBouncer, PgBouncerArgs, PooledLogins

        namespace = "platform-data"
        settings = config.database
        server_ca: AuroraCa | CnpgCa
        if isinstance(settings, AuroraSettings) and isinstance(config.cloud, AwsCloud):
            assert config.network is not None  # guaranteed by StackConfig
            port, server_ca = settings.port, AuroraCa(config.cloud.region)
            writer_peer = Peer(cidr=str(config.network.cidr))
            pooler_side = writer_peer
        else:
            # CloudNativePG labels every instance pod with its cluster's name.
            port, server_ca = 5432, CnpgCa(self.prefix)
            pooler_side = Peer(pod_labels={"cnpg.io/cluster": self.prefix})
            writer_peer = namespace_peer(namespace, {"cnpg.io/cluster": self.prefix})
        pooler = PgBouncer(
            "pgbouncer",
            PgBouncerArgs(
                settings=config.pgbouncer,
                writer_host=self.database.writer_host,
                reader_host=self.database.reader_host,
                port=port,
                database=self.database.database,
                # Aurora's rds_superuser cannot read pg_shadow: the pooled logins go in the auth_file.
                auth=(
                    PooledLogins([self.database_credentials[r] for r in (ROLES.read_write, ROLES.read_only)])
                    if isinstance(server_ca, AuroraCa)
                    else AuthLookup(self.database_credentials[ROLES.pgbouncer_auth])
                ),
                exporter=self.database_credentials[ROLES.exporter],
                server_ca=server_ca,
                database_peer=pooler_side,
                # Production keeps a pod in every zone rather than two in one.
                zone_spread_required=config.rules.min_availability_zones >= 3,
                client_tls_issuer=self.internal_issuer,
                issuer_ready=[self.tls],
            ),
            opts=self._tier_opts(self.namespaces.resources[namespace], self.database),
        )
        self.database_access = DatabaseAccess(
            pooler_host=pooler.host,
            pooler_port=pooler.port,
            read_write_database=pooler.read_write_database,
            read_only_database=pooler.read_only_database,
            pooler=pooler.backend,
            writer_host=self.database.writer_host,
            writer_port=port,
            writer=Backend(peer=writer_peer, port=port),
        )
        self.scrape_targets.append(pooler.scrape_target)

    def _cache_tier(self, config: StackConfig) -> None:
        """Redis for the API's rate limits and its exporter; sets self.redis_endpoint (with `redis`)."""
        if config.redis is None:
            return
        from components.redis import Redis, RedisArgs

        namespace = "platform-data"
        placement: dict[str, object] = {}
        if isinstance(config.cloud, AwsCloud):
            assert config.network is not None  # guaranteed by StackConfig
            network = self.database_network
            placement = {
                "vpc_id": network["vpc_id"],
                "vpc_cidr": str(config.network.cidr),
                "isolated_subnet_ids": network["isolated_subnet_ids"],
                "availability_zones": network["availability_zones"],
                "allowed_security_group_ids": network["allowed_security_group_ids"],
                "account_id": network["account_id"],
            }
        redis = Redis(
            "redis",
            RedisArgs(
                name=self.prefix,
                settings=config.redis,
                protect=config.rules.protect,
                final_snapshot=config.rules.final_snapshot,
                namespace=namespace,
                **placement,  # type: ignore[arg-type]
            ),
            opts=self._tier_opts(self.namespaces.resources[namespace]),
        )
        self.redis_endpoint = redis.endpoint
        self.scrape_targets.append(redis.scrape_target)
        self.outputs["redisHost"] = redis.endpoint.host

    def _roles_tier(self, config: StackConfig) -> None:
        """Roles, grants, default privileges, pg_stat_statements and PgBouncer's lookup function."""
        # What a workload logging in as one of the roles waits for (None: roles managed elsewhere).
        self.database_roles: pulumi.Resource | None = None
        if config.roles.mode == "none":
            return
        from components.credentials import DatabaseCredentials
        from components.database_roles import MONITOR, DatabaseRoles, DatabaseRolesArgs

        # The metrics exporter's login exists once the roles are managed (the cloud metrics tier uses it).
        self.database_credentials.update(
            DatabaseCredentials("database-monitor-credentials", [MONITOR], opts=self._tier_opts()).logins
        )
        namespace = "platform-data"
        cloud = config.cloud
        on_aws = isinstance(cloud, AwsCloud)
        roles = DatabaseRoles(
            "database-roles",
            DatabaseRolesArgs(
                settings=config.roles,
                engine=config.database.engine,
                database=self.database.database,
                host=self.database.writer_host,
                port=self.database.port,
                credentials=self.database_credentials,
                name=self.prefix,
                namespace=namespace,
                master_secret_arn=self.database.master_secret_arn,
                region=cloud.region if isinstance(cloud, AwsCloud) else None,
                eks_cluster_name=self.cluster.cluster_name if on_aws else None,
                protect=config.rules.protect,
            ),
            opts=self._tier_opts(self.namespaces.resources[namespace], self.database),
        )
        self.outputs["databaseRolesMode"] = roles.mode
        self.database_roles = roles

    def _dns_tier(self, config: StackConfig) -> None:
        """DNS zone, host names and the API's regional certificate (None without AWS and a DNS provider)."""
        from components.dns import Dns, DnsArgs
        from components.edge_settings import DomainSettings

        domain = config.domain or DomainSettings(name=f"{config.environment}.platform.localtest.me")
        if domain.dns is not None and domain.dns.provider == "cloudflare":
            from components.cloudflare import cloudflare_provider

            # The API token comes from CLOUDFLARE_API_TOKEN in the deployer's environment, never config.
            self.providers["cloudflare"] = cloudflare_provider(
                "cloudflare", pulumi.ResourceOptions(parent=self)
            )
        dns_args = DnsArgs(domain=domain, aws=config.is_aws, protect=config.rules.protect)
        dns = Dns("dns", dns_args, self._tier_opts())
        self.dns_zone = dns.zone
        self.app_hostname: str = dns.app_hostname
        self.api_hostname: str = dns.api_hostname
        self.api_certificate_arn: pulumi.Output[str] | None = dns.api_certificate_arn
        self.outputs.update(appHostname=dns.app_hostname, apiHostname=dns.api_hostname)

    def _api_tier(self, config: StackConfig) -> None:
        """The API service; sets self.api_origin_hostname (the CDN's `/api/*` origin)."""
        if config.api is None:
            return
        from components.api_service import ApiService, ApiServiceArgs, AwsLoadBalancing, LocalIngress
        from components.network import plan_subnets

        namespace = "platform-api"
        cloud = config.cloud
        load_balancing: AwsLoadBalancing | LocalIngress
        if isinstance(cloud, AwsCloud):
            from components.eks_cluster import node_role_name

            assert config.network is not None and self.api_certificate_arn is not None  # StackConfig
            load_balancing = AwsLoadBalancing(
                cluster_name=self.cluster.cluster_name,
                account_id=cloud.account_id,
                vpc_cidr=str(config.network.cidr),
                public_subnet_cidrs=[
                    plan.public
                    for plan in plan_subnets(config.network.cidr, config.network.availability_zones).values()
                ],
                certificate_arn=self.api_certificate_arn,
                node_role_arn_patterns=[
                    f"arn:aws:iam::{cloud.account_id}:role/{node_role_name(self.prefix)}"
                ],
                deletion_protection=config.rules.deletion_protection,
                vpc_id=self.network.vpc_id,
                cdn=config.edge.cdn.provider if config.edge is not None else None,
            )
        else:
            load_balancing = LocalIngress(
                ingress_class=cloud.ingress_class, cluster_issuer=getattr(self, "cluster_issuer", None)
            )
        api = ApiService(
            "api",
            ApiServiceArgs(
                prefix=self.prefix,
                settings=config.api,
                environment=config.environment,
                namespace=namespace,
                hostname=self.api_hostname,
                database=self.database_access,
                database_name=self.database.database,
                credentials=self.database_credentials,
                redis=self.redis_endpoint,
                load_balancing=load_balancing,
                protect=config.rules.protect,
                database_ready=[self.database, *([self.database_roles] if self.database_roles else [])],
            ),
            opts=self._tier_opts(
                self.namespaces.resources[namespace], self.namespaces.resources["argo-rollouts"]
            ),
        )
        self.api_origin_hostname: pulumi.Output[str] = api.api_origin_hostname
        self.scrape_targets.extend(api.scrape_targets)
        self.outputs.update(apiUrl=api.url, apiOriginHostname=api.api_origin_hostname)
        if api.repository_url is not None:
            self.outputs["apiRepositoryUrl"] = api.repository_url

    def _edge_tier(self, config: StackConfig) -> None:
        """Frontend bucket, CDN (CloudFront + WAF or Cloudflare), app/API records and RUM (AWS stacks)."""
        edge = config.edge
        # The CloudFront distribution, for the audit tier's 5xx alarm (None on other CDNs).
        self.cdn_distribution_id: pulumi.Output[str] | None = None
        if edge is None or not isinstance(config.cloud, AwsCloud) or self.dns_zone is None:
            return  # a local stack: the ingress serves everything (guaranteed by StackConfig)
        # RUM and Cognito endpoints are regional: the CSP names them with the stack's region.
        edge = edge.model_copy(
            update={"content_security_policy": edge.content_security_policy_for(config.cloud.region)}
        )
        from components.frontend import FrontendBucket, FrontendBucketArgs

        bucket = FrontendBucket(
            "frontend",
            FrontendBucketArgs(
                name=self.prefix,
                account_id=config.cloud.account_id,
                noncurrent_days=edge.releases.noncurrent_days,
                log_retention_days=edge.log_retention_days,
                protect=config.rules.protect,
            ),
            self._tier_opts(),
        )
        api_origin = getattr(self, "api_origin_hostname", None)
        if edge.cdn.provider == "cloudfront":
            from components.cdn_cloudfront import CloudFrontCdn, CloudFrontCdnArgs

            cdn = CloudFrontCdn(
                "cdn",
                CloudFrontCdnArgs(
                    name=self.prefix,
                    settings=edge,
                    app_hostname=self.app_hostname,
                    api_hostname=self.api_hostname,
                    zone=self.dns_zone,
                    bucket_name=bucket.bucket_name,
                    bucket_arn=bucket.bucket_arn,
                    bucket_regional_domain_name=bucket.bucket_regional_domain_name,
                    log_bucket_domain_name=bucket.log_bucket_domain_name,
                    api_origin_hostname=api_origin,
                    log_bucket_ready=[bucket.log_bucket_ownership],
                ),
                self._tier_opts(),
            )
            self.cdn_distribution_id = cdn.distribution_id
            self.outputs.update(
                cdnDistributionId=cdn.distribution_id,
                cdnDomainName=cdn.distribution_domain_name,
                releaseStoreArn=cdn.key_value_store_arn,
            )
        else:
            from components.cdn_cloudflare import CloudflareCdn, CloudflareCdnArgs

            CloudflareCdn(
                "cdn",
                CloudflareCdnArgs(
                    settings=edge,
                    app_hostname=self.app_hostname,
                    api_hostname=self.api_hostname,
                    zone=self.dns_zone,
                    bucket_name=bucket.bucket_name,
                    bucket_arn=bucket.bucket_arn,
                    bucket_regional_domain_name=bucket.bucket_regional_domain_name,
                    api_origin_hostname=api_origin,
                ),
                self._tier_opts(),
            )
        self.outputs.update(frontendBucket=bucket.bucket_name, activeRelease=edge.releases.active)
        if edge.rum.enabled:
            from components.rum import RumMonitor, RumMonitorArgs

            rum = RumMonitor(
                "rum",
                RumMonitorArgs(
                    name=self.prefix,
                    app_hostname=self.app_hostname,
                    region=config.cloud.region,
                    release=edge.releases.active,
                    session_sample_rate=edge.rum.session_sample_rate,
                ),
                self._tier_opts(),
            )
            self.outputs["rum"] = rum.snippet

    def _observability_tier(self, config: StackConfig) -> None:
        """kube-prometheus-stack (metrics, alerts, dashboards) and Loki with a node log collector."""
        from components.database_settings import CloudNativePgSettings
        from components.log_stack import AwsLogStorage, LogStack, LogStackArgs
        from components.monitoring import (
            CloudWatchAccess,
            GrafanaAlb,
            GrafanaIngress,
            Monitoring,
            MonitoringArgs,
        )
        from components.observability_settings import grafana_host

        namespace = "platform-monitoring"
        settings = config.observability
        cloud = config.cloud
        local = isinstance(cloud, LocalCloud)
        storage_class = self.storage_class
        opts = self._tier_opts(self.namespaces.resources[namespace])
        if isinstance(config.database, CloudNativePgSettings):
            # CloudNativePG's instances export on their `metrics` port; the data tier names the cluster.
            self.scrape_targets.append(
                ScrapeTarget(
                    "cloudnativepg", "platform-data", {"cnpg.io/cluster": self.prefix}, "metrics", kind="pod"
                )
            )
        # The Rollouts controller exports every Rollout's state, labelled with the Rollout's namespace.
        self.scrape_targets.append(
            ScrapeTarget(
                "argo-rollouts",
                "argo-rollouts",
                {
                    "app.kubernetes.io/name": "argo-rollouts",
                    "app.kubernetes.io/component": "rollouts-controller",
                },
                "metrics",
                kind="pod",
                honor_labels=True,
            )
        )
        loki_url = None
        if settings.logging.enabled:
            aws_storage = None
            if isinstance(cloud, AwsCloud):
                aws_storage = AwsLogStorage(
                    name_prefix=self.prefix,
                    account_id=cloud.account_id,
                    region=cloud.region,
                    cluster_name=self.cluster.cluster_name,
                    protect=config.rules.protect,
                )
            logs = LogStack(
                "logs",
                LogStackArgs(settings.logging, namespace, storage_class, aws_storage),
                opts=opts,
            )
            loki_url = logs.query_url
        issuer = getattr(self, "cluster_issuer", None)
        ingress = None
        if local and settings.grafana.host is not None and issuer is not None:
            ingress = GrafanaIngress(settings.grafana.host, cloud.ingress_class, issuer)  # type: ignore[union-attr]
        alb = None
        if isinstance(cloud, AwsCloud) and config.domain is not None and self.dns_zone is not None:
            # An internal ALB: Grafana answers inside the VPC (and over VPN), with an ACM certificate.
            alb = GrafanaAlb(
                host=grafana_host(settings.grafana, config.domain.name),
                zone=self.dns_zone,
                deletion_protection=config.rules.deletion_protection,
            )
        monitoring = Monitoring(
            "monitoring",
            MonitoringArgs(
                settings=settings,
                namespace=namespace,
                storage_class=storage_class,
                scrape_targets=tuple(self.scrape_targets),
                grafana_ingress=ingress,
                grafana_alb=alb,
                loki_url=loki_url,
                # The edge dashboard's CloudWatch panels (AWS stacks).
                cloudwatch=CloudWatchAccess(cloud.region, self.cluster.cluster_name)
                if isinstance(cloud, AwsCloud)
                else None,
                api=self._api_scrape(config),
            ),
            opts=opts,
        )
        self.outputs.update(
            grafanaUrl=monitoring.grafana_url, grafanaAdminPassword=monitoring.grafana_admin_password
        )

    @staticmethod
    def _api_scrape(config: StackConfig) -> ApiScrape:
        """The API's scrape job (its scrape target's name) and its probe and metrics paths."""
        from components.api_service import API_NAME

        if config.api is None:
            return ApiScrape(job=API_NAME)
        return ApiScrape(job=API_NAME, excluded_handlers=tuple(config.api.paths.model_dump().values()))

    def _cloud_metrics_tier(self, config: StackConfig) -> None:
        """Exporters for the AWS managed services (CloudWatch, Aurora's PostgreSQL); AWS stacks only."""
        if not isinstance(config.cloud, AwsCloud):
            return
        from components.cloud_metrics import MONITORING_LOGIN, CloudMetrics, CloudMetricsArgs, PostgresTarget
        from components.database_settings import AuroraSettings

        postgres = None
        login = self.database_credentials.get(MONITORING_LOGIN)
        if login is not None and isinstance(config.database, AuroraSettings):
            postgres = PostgresTarget(
                writer_host=self.database.writer_host,
                reader_host=self.database.reader_host,
                port=config.database.port,
                database=config.database.database_name,
                login=login,
            )
        metrics = CloudMetrics(
            "cloud-metrics",
            CloudMetricsArgs(
                region=config.cloud.region, cluster_name=self.cluster.cluster_name, postgres=postgres
            ),
            opts=self._tier_opts(self.namespaces.resources["platform-monitoring"]),
        )
        self.scrape_targets.extend(metrics.scrape_targets)

    def _audit_tier(self, config: StackConfig) -> None:
        """CloudTrail, GuardDuty and managed-service alarms to SNS (AWS stacks with `audit`)."""
        cloud = config.cloud
        if config.audit is None or not isinstance(cloud, AwsCloud):
            return
        from components.audit import Audit, AuditArgs
        from components.database_settings import AuroraSettings

        audit = Audit(
            "audit",
            AuditArgs(
                name=self.prefix,
                settings=config.audit,
                account_id=cloud.account_id,
                region=cloud.region,
                protect=config.rules.protect,
                # The Aurora cluster identifier is the stack prefix (see PostgresCluster).
                aurora_cluster_id=self.prefix if isinstance(config.database, AuroraSettings) else None,
                elasticache=config.redis is not None and config.redis.engine == "elasticache",
                cloudfront_distribution_id=self.cdn_distribution_id,
            ),
            opts=self._tier_opts(),
        )
        self.outputs.update(alarmTopicArn=audit.alarm_topic_arn, auditTrailBucket=audit.trail_bucket)
        if audit.edge_alarm_topic_arn is not None:
            self.outputs["edgeAlarmTopicArn"] = audit.edge_alarm_topic_arn

    def _data_tier(self, config: StackConfig) -> None:
        from components.credentials import DatabaseCredentials
        from components.endpoints import ROLES
        from components.postgres import PostgresCluster, PostgresClusterArgs

        namespace = "platform-data"
        storage_class = self.storage_class
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
            # The operator (CloudNativePG) installs into its own namespace.
            opts=self._tier_opts(
                self.namespaces.resources[namespace], self.namespaces.resources["cnpg-system"]
            ),
        )
        self.database = database
        logins: tuple[str, ...] = (ROLES.read_write, ROLES.read_only, ROLES.migrations, ROLES.exporter)
        if config.database.engine == "cloudnativepg":
            # Only CloudNativePG has PgBouncer's auth_query lookup (Aurora lists the pooled logins).
            logins += (ROLES.pgbouncer_auth,)
        # Passwords for the database roles, by role name: consumed by the roles, PgBouncer and the API.
        self.database_credentials = DatabaseCredentials(
            "database-credentials", logins, opts=self._tier_opts()
        ).logins
        self.outputs.update(databaseWriterHost=database.writer_host, databaseReaderHost=database.reader_host)

    def _local_foundation(self, cloud: LocalCloud) -> k8s.Provider:
        cluster = LocalCluster("cluster", cloud, opts=pulumi.ResourceOptions(parent=self))
        self.storage_class = cloud.storage_class
        self.cluster_ready = cluster.ready
        self.outputs["kubeContext"] = cluster.context
        return cluster.provider

    def _aws_foundation(self, config: StackConfig, cloud: AwsCloud) -> k8s.Provider:
        import pulumi_aws as aws

        from components.eks_cluster import STORAGE_CLASS, EksCluster, EksClusterArgs
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
                vpc_cidr=str(config.network.cidr),
                tags=self.tags,
            ),
            opts=aws_opts,
        )
        self.network, self.cluster = network, cluster
        self.cluster_ready = cluster.ready
        self.storage_class = STORAGE_CLASS
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
