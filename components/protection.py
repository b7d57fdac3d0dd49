"""Protection levels: what a stack must meet, as data (code never branches on the stack's name)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

ProtectionLevel = Literal["none", "light", "standard", "production"]


@dataclass(frozen=True)
class ProtectionRules:
    """What a protection level switches on, and the floors it sets for the rest of the config."""

    protect: bool
    """Pulumi ``protect`` on stateful resources: `pulumi destroy` and replacements stop."""
    deletion_protection: bool
    """Cloud-side deletion protection (RDS, EKS, load balancers)."""
    final_snapshot: bool
    """A final database snapshot when a cluster is deleted."""
    min_availability_zones: int
    nat_per_az: bool
    """A NAT gateway in every AZ, so losing one AZ does not cut the others' egress."""
    min_database_readers: int
    min_backup_retention_days: int
    min_nodes: int
    requires_paging: bool
    """An alert receiver that pages a human must exist."""
    requires_rollout_analysis: bool
    """Automatic promotion of a new API version only after metric analysis."""


PROTECTION: Mapping[str, ProtectionRules] = {
    "none": ProtectionRules(
        protect=False,
        deletion_protection=False,
        final_snapshot=False,
        min_availability_zones=1,
        nat_per_az=False,
        min_database_readers=0,
        min_backup_retention_days=1,
        min_nodes=1,
        requires_paging=False,
        requires_rollout_analysis=False,
    ),
    "light": ProtectionRules(
        protect=False,
        deletion_protection=False,
        final_snapshot=True,
        min_availability_zones=2,
        nat_per_az=False,
        min_database_readers=1,
        min_backup_retention_days=1,
        min_nodes=2,
        requires_paging=False,
        requires_rollout_analysis=False,
    ),
    "standard": ProtectionRules(
        protect=False,
        deletion_protection=True,
        final_snapshot=True,
        min_availability_zones=2,
        nat_per_az=False,
        min_database_readers=1,
        min_backup_retention_days=7,
        min_nodes=2,
        requires_paging=False,
        requires_rollout_analysis=True,
    ),
    "production": ProtectionRules(
        protect=True,
        deletion_protection=True,
        final_snapshot=True,
        min_availability_zones=3,
        nat_per_az=True,
        min_database_readers=2,
        min_backup_retention_days=14,
        min_nodes=3,
        requires_paging=True,
        requires_rollout_analysis=True,
    ),
}
