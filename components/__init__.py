"""The platform's components, one per module.

Imported lazily: `from components import EksCluster` loads pulumi-aws only when an AWS
component is actually used, so the dev stack never pays for it.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

_MODULES = {
    "Platform": "components.platform",
    "PlatformArgs": "components.platform",
    "Network": "components.network",
    "NetworkArgs": "components.network",
    "EksCluster": "components.eks_cluster",
    "EksClusterArgs": "components.eks_cluster",
    "LocalCluster": "components.local_cluster",
    "Namespaces": "components.namespaces",
    "StackConfig": "components.config",
    "ConfigError": "components.config",
}

__all__ = [  # noqa: RUF022 - grouped as in _MODULES
    "Platform",
    "PlatformArgs",
    "Network",
    "NetworkArgs",
    "EksCluster",
    "EksClusterArgs",
    "LocalCluster",
    "Namespaces",
    "StackConfig",
    "ConfigError",
]


def __getattr__(name: str) -> Any:
    if name not in _MODULES:
        raise AttributeError(f"module 'components' has no attribute {name!r}")
    return getattr(import_module(_MODULES[name]), name)
