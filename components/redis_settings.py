"""The ``platform:redis`` block: the API's rate-limit store.

``elasticache`` (AWS stacks) is an ElastiCache replication group: a primary and replicas spread
over the zones, encrypted at rest and in transit, behind an AUTH token. ``in-cluster`` (local
stacks) is one Redis pod. Cross-field rules and the stack-dependent ones (the protection level's
floor, the cloud) live in :func:`check_redis`, which raises ``ValueError("<field path>: <message>")``.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, StringConstraints

from components.model import Model
from components.protection import ProtectionRules

CacheNodeType = Annotated[str, StringConstraints(pattern=r"^cache\.[a-z0-9]+\.[a-z0-9]+$")]
RedisVersion = Annotated[str, StringConstraints(pattern=r"^7\.[01]$")]
MaxMemoryPolicy = Literal["volatile-ttl", "volatile-lru", "volatile-lfu", "allkeys-lru", "allkeys-lfu"]
MemoryMiB = Annotated[int, Field(ge=64, le=65536)]


class RedisSettings(Model):
    """Redis for rate limiting: ElastiCache on AWS, one pod in a local cluster."""

    engine: Literal["elasticache", "in-cluster"] = Field(
        description="`elasticache` (AWS stacks) or `in-cluster` (one Redis pod, local stacks)."
    )
    engine_version: RedisVersion = Field(
        default="7.1", description="ElastiCache Redis OSS version, pinned (`7.0` or `7.1`)."
    )
    node_type: CacheNodeType = Field(
        default="cache.t4g.small", description="ElastiCache node type (`cache.` prefix)."
    )
    nodes: int = Field(
        default=1,
        ge=1,
        le=6,
        description="Nodes: one primary plus replicas (ElastiCache); `in-cluster` runs exactly 1.",
    )
    automatic_failover: bool = Field(
        default=False, description="Promote a replica when the primary fails (needs at least 2 nodes)."
    )
    multi_az: bool = Field(
        default=False,
        description="Spread the nodes over availability zones (needs automaticFailover).",
    )
    snapshot_retention_days: int = Field(
        default=0,
        ge=0,
        le=35,
        description="Days of daily snapshots kept (0: none; rate-limit counters are disposable).",
    )
    maxmemory_policy: MaxMemoryPolicy = Field(
        default="volatile-ttl",
        description="`maxmemory-policy`: which keys go when memory is full. Rate-limit counters all "
        "carry a TTL; `volatile-ttl` drops those closest to expiring, which loses the least.",
    )
    memory_mib: MemoryMiB = Field(
        default=256,
        description="`in-cluster`: memory limit of the Redis container, MiB (`maxmemory` is 75% of it).",
    )


def check_redis(settings: RedisSettings, *, rules: ProtectionRules, is_aws: bool, zones: int) -> None:
    """The shape of the group, and the rules that depend on the stack (cloud, protection level)."""
    if settings.automatic_failover and settings.nodes < 2:
        raise ValueError(
            f"nodes: automaticFailover needs at least 2 nodes (a replica to promote), got {settings.nodes}"
        )
    if settings.multi_az and not settings.automatic_failover:
        raise ValueError("multiAz: needs automaticFailover: true")
    if settings.engine == "in-cluster" and (
        settings.nodes != 1 or settings.automatic_failover or settings.multi_az
    ):
        raise ValueError(
            f"engine: `in-cluster` runs one Redis pod: nodes must be 1 without failover or multiAz, got "
            f"nodes={settings.nodes}, automaticFailover={settings.automatic_failover}, "
            f"multiAz={settings.multi_az}"
        )
    if settings.engine == "elasticache" and not is_aws:
        raise ValueError("engine: `elasticache` needs cloud.provider `aws`; use `in-cluster` locally")
    if settings.engine == "in-cluster" and is_aws:
        raise ValueError("engine: AWS stacks use `elasticache` (managed failover, encryption, snapshots)")
    # A level that keeps egress through the loss of a zone (NAT per AZ) keeps rate limiting through it.
    survives_zone_loss = rules.nat_per_az
    if survives_zone_loss and not (settings.nodes >= 2 and settings.automatic_failover):
        raise ValueError(
            f"nodes: the protection level needs at least 2 nodes with automaticFailover, got "
            f"nodes={settings.nodes}, automaticFailover={settings.automatic_failover}"
        )
    if survives_zone_loss and not settings.multi_az:
        raise ValueError("multiAz: the protection level needs the nodes spread over availability zones")
    if settings.multi_az and zones < 2:
        raise ValueError(f"multiAz: needs at least 2 availability zones, the network has {zones}")
