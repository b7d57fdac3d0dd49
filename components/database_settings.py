"""The ``platform:database`` block: Aurora PostgreSQL on AWS or CloudNativePG in Kubernetes.

One discriminated union on ``engine``, so a stack file names its engine once and every key of
the other engine is refused as unknown. Field bounds are the ones AWS and CloudNativePG accept;
rules that depend on the stack (its protection level, its availability zones, the current time
for point-in-time restores) live in :func:`check_database`, which raises
``ValueError("<field path>: <message>")`` with camelCase paths such as ``restore.restoreTime``.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Annotated, Literal

from pydantic import AwareDatetime, Field, StringConstraints, TypeAdapter, field_validator, model_validator

from components.model import Model
from components.protection import ProtectionRules

AuroraVersion = Annotated[str, StringConstraints(pattern=r"^1[4-7]\.\d{1,2}$")]
"""A full Aurora PostgreSQL version, major 14 to 17 (`16.6`): pinned, so upgrades are reviewed."""
DbInstanceClass = Annotated[str, StringConstraints(pattern=r"^db\.[a-z0-9]+\.[a-z0-9]+$")]
DatabaseName = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,62}$")]
Identifier = Annotated[str, StringConstraints(pattern=r"^[a-zA-Z][a-zA-Z0-9-]{0,254}$")]
SnapshotIdentifier = Annotated[
    str,
    StringConstraints(
        pattern=r"^(arn:aws[a-z-]*:rds:[a-z0-9-]+:\d{12}:cluster-snapshot:)?[a-zA-Z][a-zA-Z0-9:-]{0,254}$"
    ),
]
KubeQuantity = Annotated[str, StringConstraints(pattern=r"^[1-9]\d{0,5}(Mi|Gi|Ti)$")]
KubeName = Annotated[str, StringConstraints(pattern=r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")]

BACKUP_WINDOW = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-3]):([0-5]\d)$")
MAINTENANCE_WINDOW = re.compile(
    r"^(mon|tue|wed|thu|fri|sat|sun):([01]\d|2[0-3]):([0-5]\d)-"
    r"(mon|tue|wed|thu|fri|sat|sun):([01]\d|2[0-3]):([0-5]\d)$"
)
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
# AWS refuses windows shorter than 30 minutes (backup, maintenance alike).
MIN_WINDOW_MINUTES = 30


def _utc(value: datetime) -> datetime:
    if value.utcoffset() != timedelta(0):
        raise ValueError(f"must be in UTC (ending in `Z`), got offset {value.utcoffset()}")
    return value.astimezone(UTC)


class ServerTuning(Model):
    """Server settings both engines set deliberately rather than leaving at PostgreSQL's defaults."""

    database_name: DatabaseName = Field(
        default="app", description="The application database created with the cluster."
    )
    max_connections: int | None = Field(
        default=None,
        ge=20,
        le=10000,
        description="`max_connections`; unset keeps the engine's default (Aurora sizes it from memory). "
        "PgBouncer in front keeps the real number low.",
    )
    slow_query_ms: int = Field(
        default=500,
        ge=0,
        le=3_600_000,
        description="`log_min_duration_statement`: statements slower than this are logged (0 logs all).",
    )
    idle_in_transaction_timeout_ms: int = Field(
        default=60_000,
        ge=0,
        le=86_400_000,
        description="`idle_in_transaction_session_timeout`: sessions idle inside a transaction longer "
        "than this are ended, so they cannot hold locks and block vacuum (0 disables).",
    )


class AuroraRestore(Model):
    """Create the cluster from a snapshot or as a point-in-time copy of another cluster."""

    source_cluster_identifier: Identifier | None = Field(
        default=None,
        description="Point-in-time restore from this cluster (with restoreTime or useLatestRestorableTime).",
    )
    snapshot_identifier: SnapshotIdentifier | None = Field(
        default=None,
        description="Restore from this cluster snapshot (name or ARN, e.g. a shared prod snapshot).",
    )
    restore_time: AwareDatetime | None = Field(
        default=None, description="Point in time to restore to, ISO 8601 in UTC (`2026-11-20T08:00:00Z`)."
    )
    use_latest_restorable_time: bool = Field(
        default=False, description="Restore to the latest restorable time of the source cluster."
    )
    applied: bool = Field(
        default=False,
        description="Set once `pulumi up` has created the cluster from this restore. The restore stays the "
        "cluster's definition (removing or changing it replaces the cluster), but restoreTime is no longer "
        "checked against the backup window, which moves on every day.",
    )

    @field_validator("restore_time")
    @classmethod
    def _in_utc(cls, v: datetime | None) -> datetime | None:
        return None if v is None else _utc(v)

    @model_validator(mode="after")
    def _one_source(self) -> AuroraRestore:
        if (self.source_cluster_identifier is None) == (self.snapshot_identifier is None):
            raise ValueError("set exactly one of sourceClusterIdentifier and snapshotIdentifier")
        point = self.restore_time is not None or self.use_latest_restorable_time
        if self.snapshot_identifier is not None and point:
            raise ValueError("a snapshot restore takes no restoreTime or useLatestRestorableTime")
        if self.source_cluster_identifier is not None and (self.restore_time is not None) == (
            self.use_latest_restorable_time
        ):
            raise ValueError(
                "a point-in-time restore needs exactly one of restoreTime and useLatestRestorableTime"
            )
        return self


class AuroraSettings(ServerTuning):
    """Aurora PostgreSQL: a writer and readers spread over the stack's availability zones."""

    engine: Literal["aurora"] = Field(description="`aurora`: Aurora PostgreSQL (AWS stacks).")
    engine_version: AuroraVersion = Field(
        description="Full Aurora PostgreSQL version, pinned (e.g. `16.6`); major 14 to 17."
    )
    instance_class: DbInstanceClass = Field(
        default="db.r7g.large", description="Instance class of the writer and the readers (`db.` prefix)."
    )
    readers: int = Field(
        default=1, ge=0, le=15, description="Number of reader instances (failover targets), 0 to 15."
    )
    master_username: Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,15}$")] = Field(
        default="dbadmin",
        description="Master user name; its password is generated and rotated by RDS in Secrets Manager.",
    )
    port: int = Field(default=5432, ge=1150, le=65535, description="Port the cluster listens on.")
    snapshot_consumer_accounts: list[Annotated[str, StringConstraints(pattern=r"^\d{12}$")]] = Field(
        default_factory=list,
        description="AWS accounts allowed to restore this cluster's snapshots once shared with them (the "
        "storage key lets them decrypt), e.g. uat's account on prod.",
    )
    backup_retention_days: int = Field(
        default=7,
        ge=1,
        le=35,
        description="Days of automated backups, i.e. the point-in-time recovery window.",
    )
    preferred_backup_window: str = Field(
        default="02:00-03:00",
        description="Daily backup window, `hh24:mi-hh24:mi` in UTC, at least 30 minutes.",
    )
    preferred_maintenance_window: str = Field(
        default="sun:04:00-sun:05:00",
        description="Weekly maintenance window, `ddd:hh24:mi-ddd:hh24:mi` in UTC, at least 30 minutes.",
    )
    performance_insights_retention_days: int = Field(
        default=7,
        ge=7,
        le=731,
        description="Performance Insights retention: 7, a multiple of 31 (months), or 731 days.",
    )
    monitoring_interval_seconds: Literal[0, 1, 5, 10, 15, 30, 60] = Field(
        default=60, description="Enhanced Monitoring interval in seconds; 0 turns it off."
    )
    restore: AuroraRestore | None = Field(
        default=None, description="Create the cluster from a snapshot or a point in time of another cluster."
    )

    @field_validator("preferred_backup_window")
    @classmethod
    def _backup_window(cls, v: str) -> str:
        match = BACKUP_WINDOW.match(v)
        if not match:
            raise ValueError(f"expected `hh24:mi-hh24:mi` in UTC, got {v!r}")
        h1, m1, h2, m2 = map(int, match.groups())
        _check_length((h2 * 60 + m2) - (h1 * 60 + m1), 24 * 60)
        return v

    @field_validator("preferred_maintenance_window")
    @classmethod
    def _maintenance_window(cls, v: str) -> str:
        match = MAINTENANCE_WINDOW.match(v)
        if not match:
            raise ValueError(f"expected `ddd:hh24:mi-ddd:hh24:mi` in UTC (ddd: mon..sun), got {v!r}")
        d1, h1, m1, d2, h2, m2 = match.groups()
        start = DAYS.index(d1) * 1440 + int(h1) * 60 + int(m1)
        end = DAYS.index(d2) * 1440 + int(h2) * 60 + int(m2)
        _check_length(end - start, 7 * 1440)
        return v

    @field_validator("performance_insights_retention_days")
    @classmethod
    def _pi_retention(cls, v: int) -> int:
        if v not in (7, 731) and v % 31:
            raise ValueError(f"must be 7, a multiple of 31 up to 713, or 731; got {v}")
        return v

    @property
    def major_version(self) -> int:
        return int(self.engine_version.split(".")[0])


def _check_length(minutes: int, period: int) -> None:
    length = minutes % period  # windows may wrap around midnight (or the week)
    if length < MIN_WINDOW_MINUTES:
        raise ValueError(f"the window must last at least {MIN_WINDOW_MINUTES} minutes, got {length}")


class CloudNativePgRestore(Model):
    """Bootstrap the cluster by recovering a CloudNativePG Backup."""

    backup_name: KubeName = Field(description="Name of the `Backup` object to recover from.")
    target_time: AwareDatetime | None = Field(
        default=None,
        description="Point in time to recover to, ISO 8601 in UTC; unset replays all archived WAL.",
    )

    @field_validator("target_time")
    @classmethod
    def _in_utc(cls, v: datetime | None) -> datetime | None:
        return None if v is None else _utc(v)


class CloudNativePgSettings(ServerTuning):
    """CloudNativePG in the stack's Kubernetes cluster: a primary and streaming replicas."""

    engine: Literal["cloudnativepg"] = Field(description="`cloudnativepg`: CloudNativePG operator.")
    postgres_version: int = Field(
        default=16, ge=14, le=17, description="PostgreSQL major version (image `postgresql:<major>`)."
    )
    instances: int = Field(
        default=2, ge=2, le=9, description="Instances: one primary and at least one replica."
    )
    storage_size: KubeQuantity = Field(
        default="10Gi", description="Persistent volume size per instance (Kubernetes quantity, e.g. `20Gi`)."
    )
    storage_class: KubeName | None = Field(
        default=None, description="StorageClass of the volumes; unset uses the cloud's `storageClass`."
    )
    owner: DatabaseName = Field(default="app", description="Role owning the application database.")
    monitoring: bool = Field(
        default=False,
        description="Let the operator create its own PodMonitor for the instances. Off by default: the "
        "observability tier already scrapes them, and both would double every series.",
    )
    operator_pod_monitor: bool = Field(
        default=False, description="Create a PodMonitor for the operator itself."
    )
    restore: CloudNativePgRestore | None = Field(
        default=None, description="Bootstrap by recovering a backup instead of an empty `initdb`."
    )


DatabaseSettings = Annotated[AuroraSettings | CloudNativePgSettings, Field(discriminator="engine")]
"""The ``platform:database`` block."""

DATABASE_SETTINGS: TypeAdapter[AuroraSettings | CloudNativePgSettings] = TypeAdapter(DatabaseSettings)
"""Validates a decoded ``platform:database`` value: ``DATABASE_SETTINGS.validate_python(raw)``."""


def instance_zones(readers: int, zones: list[str] | tuple[str, ...]) -> dict[str, str]:
    """Where each Aurora instance goes: the writer first, then readers round-robin over the zones.

    Keyed by the instance's role (`writer`, `reader-1`, …), so adding a reader renames none.
    """
    if not zones:
        return {}
    roles = ["writer", *(f"reader-{i}" for i in range(1, readers + 1))]
    return {role: zones[i % len(zones)] for i, role in enumerate(roles)}


def check_spread(plan: dict[str, str], instances: int, availability_zones: int) -> None:
    """Instances must cover as many zones as they can: min(instances, zones)."""
    wanted = min(instances, availability_zones)
    covered = len(set(plan.values()))
    if len(plan) != instances or covered < wanted:
        raise ValueError(
            f"readers: {instances} instances must be spread over {wanted} availability zones, "
            f"the plan covers {covered}"
        )


def check_database(
    settings: AuroraSettings | CloudNativePgSettings,
    *,
    rules: ProtectionRules,
    availability_zones: int,
    now: datetime,
) -> None:
    """The rules that depend on the stack: protection floors, AZ spread, restore time window."""
    if isinstance(settings, CloudNativePgSettings):
        target = settings.restore.target_time if settings.restore is not None else None
        if target is not None and target > now:
            raise ValueError(f"restore.targetTime: {target.isoformat()} is in the future")
        return
    if settings.readers < rules.min_database_readers:
        raise ValueError(
            f"readers: the protection level needs at least {rules.min_database_readers} readers, "
            f"got {settings.readers}"
        )
    if availability_zones < 1:
        raise ValueError("readers: no availability zone to place the instances in")
    zones = [f"zone-{i}" for i in range(availability_zones)]
    check_spread(instance_zones(settings.readers, zones), settings.readers + 1, availability_zones)
    if settings.backup_retention_days < rules.min_backup_retention_days:
        raise ValueError(
            f"backupRetentionDays: the protection level needs at least {rules.min_backup_retention_days} "
            f"days, got {settings.backup_retention_days}"
        )
    restore = settings.restore
    if restore is not None and restore.restore_time is not None:
        when = restore.restore_time
        if when > now:
            raise ValueError(f"restore.restoreTime: {when.isoformat()} is in the future")
        oldest = now - timedelta(days=settings.backup_retention_days)
        if when < oldest and not restore.applied:
            raise ValueError(
                f"restore.restoreTime: {when.isoformat()} is older than the "
                f"{settings.backup_retention_days}-day retention window (earliest {oldest.isoformat()})"
            )
