"""The platform's components, one per module.

Imported lazily: `from components import EksCluster` loads pulumi-aws only when an AWS
component is actually used, so the dev stack never pays for it.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

_MODULES = {
    "ApiService": "components.api_service",
    "ApiServiceArgs": "components.api_service",
    "Audit": "components.audit",
    "AuditArgs": "components.audit",
    "CloudflareCdn": "components.cdn_cloudflare",
    "CloudflareCdnArgs": "components.cdn_cloudflare",
    "CloudFrontCdn": "components.cdn_cloudfront",
    "CloudFrontCdnArgs": "components.cdn_cloudfront",
    "CertManager": "components.certificates",
    "CertManagerArgs": "components.certificates",
    "CloudMetrics": "components.cloud_metrics",
    "CloudMetricsArgs": "components.cloud_metrics",
    "DatabaseCredentials": "components.credentials",
    "DatabaseRoles": "components.database_roles",
    "DatabaseRolesArgs": "components.database_roles",
    "Dns": "components.dns",
    "DnsArgs": "components.dns",
    "EksCluster": "components.eks_cluster",
    "EksClusterArgs": "components.eks_cluster",
    "FrontendBucket": "components.frontend",
    "FrontendBucketArgs": "components.frontend",
    "ImageRegistry": "components.image_registry",
    "ImageRegistryArgs": "components.image_registry",
    "LocalCluster": "components.local_cluster",
    "LogStack": "components.log_stack",
    "LogStackArgs": "components.log_stack",
    "Monitoring": "components.monitoring",
    "MonitoringArgs": "components.monitoring",
    "Namespaces": "components.namespaces",
    "Network": "components.network",
    "NetworkArgs": "components.network",
    "PgBouncer": "components.pgbouncer",
    "PgBouncerArgs": "components.pgbouncer",
    "Platform": "components.platform",
    "PlatformArgs": "components.platform",
    "PostgresCluster": "components.postgres",
    "PostgresClusterArgs": "components.postgres",
    "Redis": "components.redis",
    "RedisArgs": "components.redis",
    "RumMonitor": "components.rum",
    "RumMonitorArgs": "components.rum",
    "StackConfig": "components.config",
    "ConfigError": "components.config",
}

__all__ = [  # noqa: RUF022 - grouped as in _MODULES
    "ApiService",
    "ApiServiceArgs",
    "Audit",
    "AuditArgs",
    "CloudflareCdn",
    "CloudflareCdnArgs",
    "CloudFrontCdn",
    "CloudFrontCdnArgs",
    "CertManager",
    "CertManagerArgs",
    "CloudMetrics",
    "CloudMetricsArgs",
    "DatabaseCredentials",
    "DatabaseRoles",
    "DatabaseRolesArgs",
    "Dns",
    "DnsArgs",
    "EksCluster",
    "EksClusterArgs",
    "FrontendBucket",
    "FrontendBucketArgs",
    "ImageRegistry",
    "ImageRegistryArgs",
    "LocalCluster",
    "LogStack",
    "LogStackArgs",
    "Monitoring",
    "MonitoringArgs",
    "Namespaces",
    "Network",
    "NetworkArgs",
    "PgBouncer",
    "PgBouncerArgs",
    "Platform",
    "PlatformArgs",
    "PostgresCluster",
    "PostgresClusterArgs",
    "Redis",
    "RedisArgs",
    "RumMonitor",
    "RumMonitorArgs",
    "StackConfig",
    "ConfigError",
]


def __getattr__(name: str) -> Any:
    if name not in _MODULES:
        raise AttributeError(f"module 'components' has no attribute {name!r}")
    return getattr(import_module(_MODULES[name]), name)
