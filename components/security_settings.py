"""Typed settings of the `tls` and `audit` keys: cert-manager issuers, cloud audit and alarms.

Pure pydantic (no Pulumi import), so ``components.config`` validates a stack before any
resource exists. Rules that involve other keys (the DNS provider, the cloud, the protection
level) live in ``StackConfig._check_tls`` / ``_check_audit``.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, StringConstraints, model_validator

from components.model import Model

Email = Annotated[
    str, StringConstraints(pattern=r"^[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,63}$")
]
SecretName = Annotated[str, StringConstraints(pattern=r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")]

PublicIssuer = Literal["letsencrypt", "letsencrypt-staging", "self-signed"]


class TlsSettings(Model):
    """cert-manager and its ClusterIssuers (`platform:tls`)."""

    public_issuer: PublicIssuer = Field(
        default="self-signed",
        description=(
            "Issuer of certificates for public host names: `letsencrypt` (production ACME), "
            "`letsencrypt-staging` (untrusted test certificates) or `self-signed` (the platform's own CA)."
        ),
    )
    acme_email: Email | None = Field(
        default=None, description="Contact address of the Let's Encrypt account (expiry notices)."
    )
    cloudflare_token_secret: SecretName = Field(
        default="cloudflare-api-token",
        description=(
            "Cloudflare DNS only: Secret in namespace `cert-manager`, created out of band, whose key "
            "`api-token` holds a token with Zone:DNS:Edit on the zone."
        ),
    )
    replicas: int = Field(
        default=1, ge=1, le=3, description="Replicas of the cert-manager controller and webhook."
    )

    @model_validator(mode="after")
    def _acme_needs_email(self) -> TlsSettings:
        if self.public_issuer != "self-signed" and self.acme_email is None:
            raise ValueError(
                f"publicIssuer {self.public_issuer!r} needs acmeEmail, the ACME account's contact"
            )
        return self

    @property
    def acme(self) -> bool:
        return self.public_issuer != "self-signed"


class TrailSettings(Model):
    """The multi-region CloudTrail and its bucket."""

    retention_days: int = Field(
        default=365, ge=90, le=3653, description="Days log files are kept in the bucket before they expire."
    )
    object_lock_days: int | None = Field(
        default=None,
        ge=1,
        le=3653,
        description=(
            "Object Lock retention in days, in GOVERNANCE mode: for that long a log file version can be "
            "deleted or overwritten only by a principal granted s3:BypassGovernanceRetention; unset (the "
            "default, and every shipped stack but prod) creates the bucket without Object Lock. At most "
            "retentionDays."
        ),
    )

    @model_validator(mode="after")
    def _lock_within_retention(self) -> TrailSettings:
        if self.object_lock_days is not None and self.object_lock_days > self.retention_days:
            raise ValueError(
                f"objectLockDays ({self.object_lock_days}) exceeds retentionDays ({self.retention_days}): "
                "objects would expire while still locked"
            )
        return self


class AlarmThresholds(Model):
    """CloudWatch alarm thresholds for the managed services."""

    aurora_cpu_percent: int = Field(default=80, ge=10, le=100, description="Aurora CPU utilization, %.")
    aurora_replica_lag_seconds: int = Field(
        default=30, ge=1, le=3600, description="Largest Aurora replica lag, seconds."
    )
    aurora_free_local_storage_gib: int = Field(
        default=5, ge=1, le=1000, description="Aurora free local (temporary) storage below this, GiB."
    )
    elasticache_cpu_percent: int = Field(
        default=75, ge=10, le=100, description="ElastiCache engine CPU utilization, %."
    )
    elasticache_memory_percent: int = Field(
        default=80, ge=10, le=100, description="ElastiCache memory used of the node's maximum, %."
    )
    load_balancer_5xx_per_minute: int = Field(
        default=10, ge=1, le=100000, description="5xx responses from the API load balancers per minute."
    )
    cloudfront_5xx_percent: float = Field(
        default=5.0,
        gt=0,
        le=100,
        alias="cloudfront5xxPercent",
        description=(
            "CloudFront 5xx error rate (% of viewer requests) above which the edge alarm fires "
            "(CloudFront stacks; the alarm lives in us-east-1)."
        ),
    )
    evaluation_minutes: int = Field(
        default=5, ge=1, le=60, description="Minutes a threshold must be breached before the alarm fires."
    )


class GuardDutySettings(Model):
    """GuardDuty threat detection."""

    manage_detector: bool = Field(
        default=True,
        description=(
            "Create and own the region's GuardDuty detector. False when one exists already (an account "
            "has one per region; AWS Organizations often enables it): the stack looks it up and manages "
            "only its EKS features, and findingFrequency is left to the detector's owner."
        ),
    )
    eks_runtime_monitoring: bool = Field(
        default=True,
        description="Runtime monitoring of the EKS nodes, its agent managed by GuardDuty as an EKS add-on.",
    )
    finding_frequency: Literal["FIFTEEN_MINUTES", "ONE_HOUR", "SIX_HOURS"] = Field(
        default="FIFTEEN_MINUTES", description="How often updated findings are published."
    )


class AuditSettings(Model):
    """Cloud audit and monitoring on AWS (`platform:audit`): CloudTrail, GuardDuty, alarms to SNS."""

    trail: TrailSettings = Field(default_factory=TrailSettings, description="The multi-region CloudTrail.")
    guard_duty: GuardDutySettings = Field(
        default_factory=GuardDutySettings, description="GuardDuty with EKS audit-log and runtime protection."
    )
    alarms: AlarmThresholds = Field(
        default_factory=AlarmThresholds, description="Thresholds of the managed-service alarms."
    )
    alarm_emails: list[Email] = Field(
        default_factory=list,
        max_length=10,
        description=(
            "E-mail addresses subscribed to the alarm topic (each confirms once). Paging integrations "
            "(a PagerDuty CloudWatch URL holds a key) are subscribed out of band to the "
            "`alarmTopicArn` output."
        ),
    )

    @model_validator(mode="after")
    def _distinct_emails(self) -> AuditSettings:
        if len(set(self.alarm_emails)) != len(self.alarm_emails):
            raise ValueError(f"alarmEmails must be distinct, got {self.alarm_emails}")
        return self
