"""The API tier's Kubernetes objects, rendered as plain dicts by pure functions.

``ApiSettings`` is the ``platform:api`` config block; ``ApiContext`` carries what other tiers
decide (namespace, secrets, ingress class, TLS, network peers). ``render_api_manifests`` turns
both into every object the API needs: the workload (a ``Deployment`` for rolling updates or an
Argo ``Rollout`` for blue-green and canary releases with Prometheus-driven analysis), its
Services, autoscaling, disruption budget, NetworkPolicies, Ingress and the schema-migration Jobs.

Keeping this free of Pulumi lets tests validate every object against the Kubernetes and CRD
schemas directly; the Pulumi component only wraps the dicts in resources and orders them
(migration Job before the workload).

Rules that depend on the stack rather than on the block itself (a protected stack must gate
automatic promotion on analysis) are checked by ``validate_for_environment``, or during
validation with ``ApiSettings.model_validate(data, context={"require_analysis": True})``.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from itertools import pairwise
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BeforeValidator,
    Field,
    NonNegativeInt,
    PositiveFloat,
    PositiveInt,
    ValidationInfo,
    field_validator,
    model_validator,
)

from components.alert_rules import promql_handler_regex
from components.endpoints import Backend, Peer
from components.model import Model

__all__ = [
    "ALB_SSL_POLICY",
    "API_SECRET_KEYS",
    "ARGO_ROLLOUTS_NAMESPACE",
    "CONTAINER_PORT_NAME",
    "INGRESS_NGINX_NAMESPACE",
    "SERVICE_PORT",
    "WAIT_FOR_ANNOTATION",
    "AnalysisSettings",
    "ApiContext",
    "ApiImage",
    "ApiPaths",
    "ApiResources",
    "ApiSettings",
    "Backend",
    "BlueGreenStrategy",
    "CanaryStep",
    "CanaryStrategy",
    "ExtraVersion",
    "MigrationSettings",
    "Peer",
    "RateLimit",
    "RegistrySettings",
    "ResourceQuantities",
    "RollingStrategy",
    "argo_rollouts_values",
    "canary_weights",
    "environment_problem",
    "image_hash",
    "ingress_nginx_values",
    "parse_quantity",
    "render_api_manifests",
    "render_down_migration_job",
    "render_migration_job",
    "render_secret",
    "rollout_timeout_seconds",
    "validate_for_environment",
]

# TLS 1.3 with TLS 1.2 fallback, forward-secret ciphers only.
ALB_SSL_POLICY = "ELBSecurityPolicy-TLS13-1-2-2021-06"
# Keys of the Secret (created by the data tier) the API reads its connection strings from.
API_SECRET_KEYS = (
    "DATABASE_URL",
    "DATABASE_READ_URL",
    "REDIS_URL",
    "JWT_SIGNING_KEY",
    "REFRESH_TOKEN_SECRET",
)
# The container port's name: Services, probes and the Prometheus PodMonitor/ServiceMonitor refer to it.
CONTAINER_PORT_NAME = "http"
SERVICE_PORT = 80
# A fixed non-root identity, so runAsNonRoot holds even when the image's USER is a name.
RUN_AS_UID = 10001
ARGO_API_VERSION = "argoproj.io/v1alpha1"
ANALYSIS_HASH_ARG = "pod-template-hash"
# pulumi-kubernetes does not await custom resources; this annotation makes `pulumi up` wait for
# (and fail on) the Rollout's first release, with the JSONPath condition the provider understands.
WAIT_FOR_ANNOTATION = "pulumi.com/waitFor"
TIMEOUT_ANNOTATION = "pulumi.com/timeoutSeconds"
SECRETS_ROTATION_ANNOTATION = "platform/secrets-rotation"
SECRET_CHECKSUM_ANNOTATION = "platform/secret-checksum"
DOWN_MIGRATION_MARK = "-migrate-down-"
# The held down migration's CronJob never runs on its own (suspended, and 30 February never comes):
# it only holds the Job template that `.github/scripts/down-migration.sh` instantiates.
NEVER_SCHEDULE = "0 0 30 2 *"
ARGO_ROLLOUTS_NAMESPACE = "argo-rollouts"
INGRESS_NGINX_NAMESPACE = "ingress-nginx"
# Time a release may take beyond its pauses and analysis (pods starting, load balancers registering).
ROLLOUT_BASE_TIMEOUT_SECONDS = 600

# ----------------------------------------------------------------------------------------------
# Values


_QUANTITY = re.compile(
    r"^(?P<number>([0-9]+(\.[0-9]*)?)|(\.[0-9]+))"
    r"(?P<suffix>[KMGTPE]i|[numkMGTPE]|[eE][+-]?[0-9]+)?$"
)
_SUFFIX = {
    "": Decimal(1),
    "n": Decimal("1e-9"),
    "u": Decimal("1e-6"),
    "m": Decimal("1e-3"),
    "k": Decimal(10) ** 3,
    "M": Decimal(10) ** 6,
    "G": Decimal(10) ** 9,
    "T": Decimal(10) ** 12,
    "P": Decimal(10) ** 15,
    "E": Decimal(10) ** 18,
    **{f"{p}i": Decimal(2) ** (10 * (i + 1)) for i, p in enumerate("KMGTPE")},
}


def parse_quantity(value: str) -> Decimal:
    """A non-negative Kubernetes resource quantity (``250m``, ``512Mi``, ``1.5``, ``1e3``) as a number."""
    match = _QUANTITY.match(value)
    if not match:
        raise ValueError(
            f"{value!r} is not a Kubernetes quantity (examples: '250m' or '1' CPU, '512Mi' or '1Gi' memory)"
        )
    suffix = match["suffix"] or ""
    if suffix[:1] in ("e", "E"):
        return Decimal(match["number"]) * Decimal(10) ** int(suffix[1:])
    return Decimal(match["number"]) * _SUFFIX[suffix]


def _quantity_str(value: object) -> object:
    # YAML reads `cpu: 1` as an integer; Kubernetes quantities are strings.
    return str(value) if isinstance(value, int | float) and not isinstance(value, bool) else value


def _check_quantity(value: str) -> str:
    if parse_quantity(value) <= 0:
        raise ValueError(f"quantity {value!r} must be greater than zero")
    return value


Quantity = Annotated[str, BeforeValidator(_quantity_str), AfterValidator(_check_quantity)]

_DURATION = r"^[1-9][0-9]*(s|m|h)$"
_PATH = r"^/[A-Za-z0-9._~!$&'()*+,;=:@%/-]*$"

_DOMAIN_COMPONENT = r"[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?"
_REPOSITORY = re.compile(
    rf"^(?:{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*(?::[0-9]+)?/)?"
    r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$"
)
_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
_DIGEST = re.compile(r"^sha256:[a-f0-9]{64}$")


# ----------------------------------------------------------------------------------------------
# Settings (the `platform:api` config block)


class ApiImage(Model):
    """A container image pinned by tag and/or digest; mutable tags are refused."""

    repository: str = Field(
        description="Image repository without tag, e.g. `123456789012.dkr.ecr.eu-west-1.amazonaws.com/api`."
    )
    tag: str | None = Field(default=None, description="Immutable version tag, e.g. `1.4.2`; never `latest`.")
    digest: str | None = Field(
        default=None, description="Content digest `sha256:<64 hex>`; wins over the tag."
    )

    @field_validator("repository")
    @classmethod
    def _repository(cls, value: str) -> str:
        if ":" in value.rsplit("/", 1)[-1] or "@" in value:
            raise ValueError(f"repository {value!r} must not contain a tag or digest: use `tag`/`digest`")
        if not _REPOSITORY.match(value):
            raise ValueError(
                f"repository {value!r} is not a valid image reference "
                "(lowercase path components, optional registry host[:port]/ prefix)"
            )
        return value

    @field_validator("tag")
    @classmethod
    def _tag(cls, value: str | None) -> str | None:
        if value is None:
            return value
        if value == "":
            raise ValueError("tag is empty: set a version tag or a digest")
        if value.lower() == "latest":
            raise ValueError("tag 'latest' is mutable, so a rollout could not be reproduced or rolled back")
        if not _TAG.match(value):
            raise ValueError(f"tag {value!r} is malformed (letters, digits, '_', '.', '-'; at most 128)")
        return value

    @field_validator("digest")
    @classmethod
    def _digest(cls, value: str | None) -> str | None:
        if value is not None and not _DIGEST.match(value):
            raise ValueError(f"digest {value!r} is malformed: expected 'sha256:' and 64 lowercase hex digits")
        return value

    @model_validator(mode="after")
    def _pinned(self) -> ApiImage:
        if self.tag is None and self.digest is None:
            raise ValueError(f"image {self.repository!r} needs a `tag` or a `digest`")
        return self

    @property
    def reference(self) -> str:
        """``repository:tag@digest``, ``repository@digest`` or ``repository:tag``."""
        tag = f":{self.tag}" if self.tag else ""
        digest = f"@{self.digest}" if self.digest else ""
        return f"{self.repository}{tag}{digest}"


DEFAULT_LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.4, 0.5, 0.75, 1.0, 2.5, 5.0, 10.0)
"""prometheus-fastapi-instrumentator's default latency buckets are 0.1, 0.5 and 1: a p99 between
them is a linear guess, and one above 1 reads as exactly 1, so a threshold of 1 s never trips."""


def latency_threshold_problem(threshold: float, buckets: Sequence[float]) -> str | None:
    """Why ``threshold`` cannot be judged from a histogram with ``buckets``, or None."""
    if threshold not in buckets:
        return f"{threshold:g} s is not a bucket bound of api.latencyBuckets {list(buckets)}"
    if threshold >= max(buckets):
        return f"{threshold:g} s is the largest bucket bound: a p99 above it is reported as {threshold:g}"
    return None


class ApiPaths(Model):
    """HTTP paths the API serves for probes and metrics."""

    liveness: str = Field(default="/healthz", pattern=_PATH, description="Liveness probe path.")
    readiness: str = Field(
        default="/readyz", pattern=_PATH, description="Readiness probe and load-balancer health-check path."
    )
    startup: str = Field(default="/healthz", pattern=_PATH, description="Startup probe path.")
    metrics: str = Field(default="/metrics", pattern=_PATH, description="Prometheus metrics path.")


class ResourceQuantities(Model):
    """CPU and memory as Kubernetes quantities."""

    cpu: Quantity = Field(description="CPU, e.g. `250m` or `1`.")
    memory: Quantity = Field(description="Memory, e.g. `256Mi` or `1Gi`.")


class ApiResources(Model):
    """Container requests and limits."""

    requests: ResourceQuantities = Field(
        default=ResourceQuantities(cpu="250m", memory="256Mi"), description="Scheduling requests."
    )
    limits: ResourceQuantities = Field(
        default=ResourceQuantities(cpu="1", memory="512Mi"), description="Hard limits."
    )

    @model_validator(mode="after")
    def _requests_within_limits(self) -> ApiResources:
        for name in ("cpu", "memory"):
            request, limit = getattr(self.requests, name), getattr(self.limits, name)
            if parse_quantity(request) > parse_quantity(limit):
                raise ValueError(f"requests.{name} {request!r} exceeds limits.{name} {limit!r}")
        return self


class RateLimit(Model):
    """Per-client rate limit the API enforces through Redis."""

    requests_per_minute: PositiveInt = Field(default=600, description="Sustained requests per minute.")
    burst: PositiveInt = Field(default=100, description="Requests allowed above the sustained rate at once.")


MaxSurge = Annotated[
    PositiveInt | Annotated[str, Field(pattern=r"^([1-9][0-9]?|100)%$")],
    Field(description="Extra pods during an update: a count or a percentage such as `25%`."),
]


class RollingStrategy(Model):
    """A plain Deployment rolling update that never takes a ready pod away first."""

    type: Literal["rolling"] = Field(description="Strategy discriminator.")
    max_surge: MaxSurge = "25%"


class BlueGreenStrategy(Model):
    """Argo Rollouts blue-green: the new version runs beside the old behind a preview Service."""

    type: Literal["blueGreen"] = Field(description="Strategy discriminator.")
    auto_promotion: bool = Field(
        default=True, description="Promote without a human once the preview is healthy (and analysis passes)."
    )
    auto_promotion_seconds: PositiveInt | None = Field(
        default=None, description="Wait this long in preview before promoting automatically."
    )
    scale_down_delay_seconds: NonNegativeInt = Field(
        default=30,
        description="Keep the old version this long after promotion (lets load balancers drain it).",
    )
    pre_promotion_analysis: bool = Field(
        default=True, description="Run the Prometheus analysis on the preview before promotion."
    )

    @model_validator(mode="after")
    def _seconds_need_auto_promotion(self) -> BlueGreenStrategy:
        if self.auto_promotion_seconds is not None and not self.auto_promotion:
            raise ValueError(
                f"autoPromotionSeconds={self.auto_promotion_seconds} has no effect with autoPromotion=false"
            )
        return self


class CanaryStep(Model):
    """Shift this share of traffic to the new version, then optionally pause."""

    set_weight: int = Field(ge=1, le=100, description="Percentage of traffic (or pods) on the new version.")
    pause_seconds: PositiveInt | None = Field(default=None, description="Pause this long after the step.")
    pause_until_promoted: bool = Field(default=False, description="Pause until promoted by hand.")

    @model_validator(mode="after")
    def _one_pause(self) -> CanaryStep:
        if self.pause_seconds is not None and self.pause_until_promoted:
            raise ValueError(
                f"step setWeight={self.set_weight}: pauseSeconds and pauseUntilPromoted exclude each other"
            )
        return self


class CanaryStrategy(Model):
    """Argo Rollouts canary: traffic moves to the new version in steps while analysis watches it."""

    type: Literal["canary"] = Field(description="Strategy discriminator.")
    steps: list[CanaryStep] = Field(
        min_length=1, description="Steps with strictly increasing weights; full promotion follows the last."
    )
    background_analysis: bool = Field(
        default=True, description="Run the Prometheus analysis during the whole canary; abort on failure."
    )

    @model_validator(mode="after")
    def _increasing(self) -> CanaryStrategy:
        weights = [step.set_weight for step in self.steps]
        for index, (before, after) in enumerate(pairwise(weights), start=1):
            if after <= before:
                raise ValueError(
                    f"steps[{index}].setWeight={after} must be greater than the previous step's {before} "
                    f"(weights must strictly increase: {weights})"
                )
        return self


Strategy = Annotated[
    RollingStrategy | BlueGreenStrategy | CanaryStrategy,
    Field(discriminator="type", description="Release strategy: `rolling`, `blueGreen` or `canary`."),
]


class AnalysisSettings(Model):
    """Thresholds of the Prometheus analysis that promotes or aborts a release."""

    success_rate: float = Field(
        default=0.99, gt=0, le=1, description="Minimum share of non-5xx responses (0 < x <= 1)."
    )
    latency_p99_seconds: float = Field(default=0.5, gt=0, description="Maximum 99th percentile latency.")
    interval: str = Field(default="1m", pattern=_DURATION, description="Time between measurements (`30s`).")
    count: PositiveInt = Field(default=5, description="Measurements before a pre-promotion analysis ends.")
    failure_limit: NonNegativeInt = Field(default=1, description="Failed measurements tolerated.")
    query_window: str = Field(default="2m", pattern=_DURATION, description="PromQL rate() window.")

    @model_validator(mode="after")
    def _limit_below_count(self) -> AnalysisSettings:
        if self.failure_limit >= self.count:
            raise ValueError(
                f"failureLimit={self.failure_limit} must be below count={self.count}, or analysis never fails"
            )
        return self


class ExtraVersion(Model):
    """An older (or newer) API version served beside the main one under its own path prefix."""

    path_prefix: str = Field(pattern=r"^/v[0-9]+[a-z0-9]*$", description="Path prefix such as `/v1`.")
    image: ApiImage = Field(description="Image serving that version.")
    replicas: PositiveInt = Field(default=2, description="Pods of that version (no autoscaling).")


class MigrationSettings(Model):
    """The schema-migration commands, run from the API image before each release."""

    command: list[str] = Field(
        default=["alembic", "upgrade", "head"], min_length=1, description="Forward migration command."
    )
    down_command: list[str] | None = Field(
        default=["alembic", "downgrade", "-1"],
        description="Command that reverts the last migration, run from `downImage`.",
    )
    timeout_seconds: PositiveInt = Field(default=600, description="activeDeadlineSeconds of the Job.")
    down_image: ApiImage | None = Field(
        default=None,
        description=(
            "Run `downCommand` from this image (the release whose migration is reverted) once the "
            "release in `image` is stable again; unset renders no down migration."
        ),
    )

    @model_validator(mode="after")
    def _down_needs_command(self) -> MigrationSettings:
        if self.down_image is not None and self.down_command is None:
            raise ValueError(
                f"downImage {self.down_image.reference!r} is set but downCommand is null: "
                "nothing would revert the migration"
            )
        return self


class RegistrySettings(Model):
    """The stack's container registry (an ECR repository on AWS) holding the API images."""

    keep_images: int = Field(
        default=50,
        ge=5,
        le=1000,
        description="Newest tagged images kept; older ones expire (the rollback depth).",
    )
    untagged_expiry_days: int = Field(
        default=7,
        ge=1,
        le=365,
        description="Days before an untagged image (a failed or replaced push) expires.",
    )


class ApiSettings(Model):
    """The `platform:api` config block."""

    image: ApiImage = Field(description="The API image.")
    container_port: int = Field(default=8000, ge=1024, le=65535, description="Port the app listens on.")
    paths: ApiPaths = Field(default=ApiPaths(), description="Probe and metrics paths.")
    latency_buckets: list[PositiveFloat] = Field(
        default=list(DEFAULT_LATENCY_BUCKETS),
        min_length=2,
        description="Upper bounds (seconds) of the `http_request_duration_seconds` histogram the API must "
        "export, passed to it as METRICS_LATENCY_BUCKETS. A p99 is only exact at a bound: every latency "
        "threshold (api.analysis, observability.alerts) must be one, below the largest.",
    )
    replicas: PositiveInt = Field(default=2, description="Minimum pods (the autoscaler's floor).")
    max_replicas: PositiveInt = Field(default=6, description="The autoscaler's ceiling.")
    target_cpu_utilization: int = Field(
        default=70, ge=1, le=100, description="Average CPU (% of requests) the autoscaler aims for."
    )
    resources: ApiResources = Field(default=ApiResources(), description="Requests and limits.")
    pdb_min_available: NonNegativeInt = Field(
        default=1, description="Pods a voluntary disruption (drain) must leave running."
    )
    termination_grace_period_seconds: PositiveInt = Field(
        default=30, description="Time a pod gets to finish in-flight requests after SIGTERM."
    )
    pre_stop_delay_seconds: NonNegativeInt = Field(
        default=5,
        description="Sleep before SIGTERM so load balancers stop sending traffic first (< grace period).",
    )
    rate_limit: RateLimit = Field(default=RateLimit(), description="Rate limiting.")
    strategy: Strategy = Field(default=RollingStrategy(type="rolling"))
    analysis: AnalysisSettings = Field(default=AnalysisSettings(), description="Release analysis thresholds.")
    extra_versions: list[ExtraVersion] = Field(
        default=[], description="Other API versions served side by side under their path prefix."
    )
    migrations: MigrationSettings = Field(default=MigrationSettings(), description="Schema migrations.")
    secrets_rotation: NonNegativeInt = Field(
        default=0,
        description="Bump to generate a new JWT signing key and refresh-token secret (signs every user out).",
    )
    registry: RegistrySettings = Field(
        default=RegistrySettings(), description="Image registry retention (the ECR repository on AWS)."
    )

    @model_validator(mode="after")
    def _cross_field(self, info: ValidationInfo) -> ApiSettings:
        if self.replicas < self.pdb_min_available + 1:
            raise ValueError(
                f"replicas={self.replicas} must be at least pdbMinAvailable+1={self.pdb_min_available + 1}, "
                "or no node could ever be drained"
            )
        if self.max_replicas < self.replicas:
            raise ValueError(f"maxReplicas={self.max_replicas} is below replicas={self.replicas}")
        if self.pre_stop_delay_seconds >= self.termination_grace_period_seconds:
            raise ValueError(
                f"preStopDelaySeconds={self.pre_stop_delay_seconds} must be below "
                f"terminationGracePeriodSeconds={self.termination_grace_period_seconds}"
            )
        if sorted(set(self.latency_buckets)) != self.latency_buckets:
            raise ValueError(f"latencyBuckets must be strictly increasing, got {self.latency_buckets}")
        problem = latency_threshold_problem(self.analysis.latency_p99_seconds, self.latency_buckets)
        if problem is not None:
            raise ValueError(f"analysis.latencyP99Seconds: {problem}")
        prefixes = [extra.path_prefix for extra in self.extra_versions]
        duplicates = sorted({p for p in prefixes if prefixes.count(p) > 1})
        if duplicates:
            raise ValueError(f"extraVersions path prefixes repeat: {duplicates}")
        context = info.context or {}
        if context.get("require_analysis"):
            validate_for_environment(self, protected=True)
        return self


def environment_problem(settings: ApiSettings, *, protected: bool) -> tuple[str, str] | None:
    """The first rule a stack that requires analysis breaks: (config path below ``api``, message).

    ``protected`` stacks (the ones whose config asks for analysis) must gate every automatic step:
    a blue-green auto-promotion needs pre-promotion analysis, a canary needs background analysis,
    and a rolling update, having no analysis at all, is refused. Manual promotion is a human gate
    and allowed.
    """
    if not protected:
        return None
    strategy = settings.strategy
    if isinstance(strategy, RollingStrategy):
        return (
            "strategy.type",
            "'rolling' has no analysis, but this stack requires analysis: use 'blueGreen' or 'canary'",
        )
    if (
        isinstance(strategy, BlueGreenStrategy)
        and strategy.auto_promotion
        and not strategy.pre_promotion_analysis
    ):
        return (
            "strategy.prePromotionAnalysis",
            "autoPromotion=true with prePromotionAnalysis=false: this stack requires analysis before an "
            "automatic promotion (set prePromotionAnalysis: true or autoPromotion: false)",
        )
    if isinstance(strategy, CanaryStrategy) and not strategy.background_analysis:
        return (
            "strategy.backgroundAnalysis",
            "backgroundAnalysis=false: this stack requires analysis during a canary",
        )
    return None


def validate_for_environment(settings: ApiSettings, *, protected: bool) -> None:
    """Raise ``ValueError`` naming the key when :func:`environment_problem` finds one."""
    problem = environment_problem(settings, protected=protected)
    if problem is not None:
        raise ValueError(f"platform:api.{problem[0]}: {problem[1]}")


def canary_weights(steps: Sequence[CanaryStep]) -> list[int]:
    """The traffic weights a canary goes through, ending with full promotion at 100."""
    weights = [step.set_weight for step in steps]
    return weights if weights and weights[-1] == 100 else [*weights, 100]


# ----------------------------------------------------------------------------------------------
# Context (what other tiers decide)


KUBE_DNS = Peer(
    pod_labels={"k8s-app": "kube-dns"},
    namespace_labels={"kubernetes.io/metadata.name": "kube-system"},
)


@dataclass(frozen=True)
class ApiContext:
    """Inputs to the API manifests that come from other tiers, not from `platform:api`.

    ``ingress_from`` is where load-balanced traffic enters pods: the ingress controller's
    namespace for nginx; for an ALB with ``target-type: ip`` the load balancer itself, i.e. the
    VPC's CIDR, because ALB traffic does not come from any pod.
    """

    namespace: str
    name: str
    environment: str
    labels: Mapping[str, str]
    service_account_name: str
    secret_name: str
    migration_secret_name: str
    ingress_class: Literal["alb", "nginx"]
    hostname: str
    pgbouncer: Backend
    redis: Backend
    ingress_from: Peer | Sequence[Peer]
    prometheus_from: Peer
    prometheus_address: str
    certificate_arn: str | None = None
    tls_secret_name: str | None = None
    alb_traffic_routing: bool = False
    service_account_annotations: Mapping[str, str] = field(default_factory=dict)
    # Direct database access for migrations (DDL through a transaction pooler is unsafe), if any.
    migration_database: Backend | None = None
    cluster_issuer: str | None = None
    """cert-manager ClusterIssuer that fills ``tls_secret_name`` (nginx ingress only)."""
    deletion_protection: bool = False
    """Deletion protection on the load balancer (ALB only)."""
    secret_checksum: Any = None
    """A digest of the API Secret's values (a plain string, or a Pulumi output of one): on the pod
    template, so a changed password, token or key replaces the pods, which read them only at start."""

    def __post_init__(self) -> None:
        if self.ingress_class == "alb" and not self.certificate_arn:
            raise ValueError("an ALB ingress needs certificate_arn (ACM)")
        if self.ingress_class == "nginx" and not self.tls_secret_name:
            raise ValueError("an nginx ingress needs tls_secret_name (cert-manager)")
        if self.alb_traffic_routing and self.ingress_class != "alb":
            raise ValueError("alb_traffic_routing needs ingress_class 'alb'")


# ----------------------------------------------------------------------------------------------
# Rendering helpers


def image_hash(image: ApiImage) -> str:
    """A short, stable hash of the image reference (names the migration Job of that release)."""
    return hashlib.sha256(image.reference.encode()).hexdigest()[:10]


def _labels(ctx: ApiContext, component: str) -> dict[str, str]:
    return {**ctx.labels, "app.kubernetes.io/name": ctx.name, "app.kubernetes.io/component": component}


def _metadata(
    ctx: ApiContext, name: str, component: str = "api", annotations: Mapping[str, str] | None = None
) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "namespace": ctx.namespace, "labels": _labels(ctx, component)}
    if annotations:
        meta["annotations"] = dict(annotations)
    return meta


def _selector(ctx: ApiContext, instance: str) -> dict[str, str]:
    # `instance` separates the main workload from extra versions, so Services never mix them.
    return {
        "app.kubernetes.io/name": ctx.name,
        "app.kubernetes.io/component": "api",
        "app.kubernetes.io/instance": instance,
    }


def _security_context() -> dict[str, Any]:
    return {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "runAsNonRoot": True,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def _pod_security_context() -> dict[str, Any]:
    return {
        "runAsNonRoot": True,
        "runAsUser": RUN_AS_UID,
        "runAsGroup": RUN_AS_UID,
        "fsGroup": RUN_AS_UID,
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def _resources(settings: ApiSettings) -> dict[str, Any]:
    return {
        "requests": settings.resources.requests.model_dump(),
        "limits": settings.resources.limits.model_dump(),
    }


def _probe(path: str, period: int, failures: int) -> dict[str, Any]:
    return {
        "httpGet": {"path": path, "port": CONTAINER_PORT_NAME},
        "periodSeconds": period,
        "failureThreshold": failures,
        "timeoutSeconds": 2,
    }


def _tmp_volume() -> tuple[dict[str, Any], dict[str, Any]]:
    # readOnlyRootFilesystem: Python and uvicorn still need a writable /tmp.
    return {"name": "tmp", "emptyDir": {"sizeLimit": "64Mi"}}, {"name": "tmp", "mountPath": "/tmp"}


def _api_env(settings: ApiSettings, ctx: ApiContext) -> list[dict[str, Any]]:
    env: list[dict[str, Any]] = [
        {"name": key, "valueFrom": {"secretKeyRef": {"name": ctx.secret_name, "key": key}}}
        for key in API_SECRET_KEYS
    ]
    env += [
        {"name": "ENVIRONMENT", "value": ctx.environment},
        {"name": "PORT", "value": str(settings.container_port)},
        {"name": "RATE_LIMIT_REQUESTS_PER_MINUTE", "value": str(settings.rate_limit.requests_per_minute)},
        {"name": "RATE_LIMIT_BURST", "value": str(settings.rate_limit.burst)},
        {"name": "METRICS_LATENCY_BUCKETS", "value": ",".join(f"{b:g}" for b in settings.latency_buckets)},
    ]
    return env


def _pod_template(
    settings: ApiSettings, ctx: ApiContext, image: ApiImage, instance: str, hash_label: str
) -> dict[str, Any]:
    volume, mount = _tmp_volume()
    selector = _selector(ctx, instance)
    container = {
        "name": "api",
        "image": image.reference,
        "imagePullPolicy": "IfNotPresent",
        "ports": [{"name": CONTAINER_PORT_NAME, "containerPort": settings.container_port, "protocol": "TCP"}],
        "env": _api_env(settings, ctx),
        "resources": _resources(settings),
        "startupProbe": _probe(settings.paths.startup, period=2, failures=30),
        "readinessProbe": _probe(settings.paths.readiness, period=5, failures=2),
        "livenessProbe": _probe(settings.paths.liveness, period=10, failures=3),
        # Kubernetes >= 1.30 sleeps natively (the image may have no `sleep` binary); the
        # pinned schema version's LifecycleHandler has `sleep`, which the tests check.
        "lifecycle": {"preStop": {"sleep": {"seconds": settings.pre_stop_delay_seconds}}},
        "securityContext": _security_context(),
        "volumeMounts": [mount],
    }
    if settings.pre_stop_delay_seconds == 0:
        del container["lifecycle"]
    spread = [
        {
            "maxSkew": 1,
            "topologyKey": key,
            # Kind/minikube nodes lack zone labels; never leave pods pending over spreading.
            "whenUnsatisfiable": "ScheduleAnyway",
            "labelSelector": {"matchLabels": selector},
            # Spread each revision on its own, so a rollout does not pile new pods together.
            "matchLabelKeys": [hash_label],
        }
        for key in ("topology.kubernetes.io/zone", "kubernetes.io/hostname")
    ]
    # The pods read the JWT secrets at start: a rotation must replace them all (a rollout), or
    # restarted pods and old ones would each reject the other's tokens.
    annotations: dict[str, Any] = {SECRETS_ROTATION_ANNOTATION: str(settings.secrets_rotation)}
    if ctx.secret_checksum is not None:
        annotations[SECRET_CHECKSUM_ANNOTATION] = ctx.secret_checksum
    return {
        "metadata": {"labels": {**_labels(ctx, "api"), **selector}, "annotations": annotations},
        "spec": {
            "serviceAccountName": ctx.service_account_name,
            "securityContext": _pod_security_context(),
            "terminationGracePeriodSeconds": settings.termination_grace_period_seconds,
            "topologySpreadConstraints": spread,
            "containers": [container],
            "volumes": [volume],
        },
    }


def _peers(peers: Peer | Sequence[Peer]) -> list[Peer]:
    return [peers] if isinstance(peers, Peer) else list(peers)


def _service(ctx: ApiContext, name: str, instance: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _metadata(ctx, name),
        "spec": {
            "type": "ClusterIP",
            "selector": _selector(ctx, instance),
            "ports": [
                {"name": "http", "port": SERVICE_PORT, "targetPort": CONTAINER_PORT_NAME, "protocol": "TCP"}
            ],
        },
    }


def _pdb(ctx: ApiContext, name: str, instance: str, min_available: int) -> dict[str, Any]:
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": _metadata(ctx, name),
        "spec": {"minAvailable": min_available, "selector": {"matchLabels": _selector(ctx, instance)}},
    }


def _deployment(
    settings: ApiSettings,
    ctx: ApiContext,
    name: str,
    image: ApiImage,
    max_surge: int | str,
    *,
    replicas: int | None = None,
) -> dict[str, Any]:
    spec: dict[str, Any] = {} if replicas is None else {"replicas": replicas}
    instance = name
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": _metadata(ctx, name),
        "spec": {
            **spec,
            "revisionHistoryLimit": 5,
            "selector": {"matchLabels": _selector(ctx, instance)},
            "strategy": {
                "type": "RollingUpdate",
                "rollingUpdate": {"maxSurge": max_surge, "maxUnavailable": 0},
            },
            "template": _pod_template(settings, ctx, image, instance, "pod-template-hash"),
        },
    }


def _analysis_template(settings: ApiSettings, ctx: ApiContext, name: str, bounded: bool) -> dict[str, Any]:
    """Success rate and p99 latency of the new revision's pods, from Prometheus.

    The metric names are prometheus-fastapi-instrumentator's defaults (``http_requests_total``
    with a ``status`` label such as ``5xx``, ``http_request_duration_seconds``). The pods are
    matched by name (``<rollout>-<pod-template-hash>-…``), a label every pod scrape carries, so
    no relabelling is needed.

    No traffic (a blue-green preview nobody calls, a canary before its first weight) yields no
    data or NaN. A canary's background analysis lets that pass: traffic reaches the canary as its
    weight grows. A pre-promotion analysis (``bounded``) has nothing else to go on, so an empty
    measurement is inconclusive (neither condition holds); once all ``count`` measurements are
    (``inconclusiveLimit`` = count - 1), the run is Inconclusive and the Rollout pauses instead of
    promoting a revision nobody has called. Something must call the preview Service during the
    analysis (the deploy pipeline's smoke test).
    """
    analysis = settings.analysis
    # Probes, load-balancer health checks and scrapes are fast 200s every pod always gets: counted,
    # they would make an idle preview look healthy and dilute a canary's errors and latency.
    probes = promql_handler_regex(list(settings.paths.model_dump().values()))
    pods = (
        f'namespace="{ctx.namespace}", pod=~"{ctx.name}-{{{{args.{ANALYSIS_HASH_ARG}}}}}-.*", '
        f'handler!~"{probes}"'
    )
    window = analysis.query_window
    success_query = (
        f'sum(rate(http_requests_total{{{pods}, status!~"5.*"}}[{window}]))'
        f" / sum(rate(http_requests_total{{{pods}}}[{window}]))"
    )
    latency_query = (
        "histogram_quantile(0.99, sum by (le) "
        f"(rate(http_request_duration_seconds_bucket{{{pods}}}[{window}])))"
    )

    def metric(metric_name: str, query: str, condition: str) -> dict[str, Any]:
        spec: dict[str, Any] = {
            "name": metric_name,
            "interval": analysis.interval,
            "failureLimit": analysis.failure_limit,
            "successCondition": f"len(result) == 0 || isNaN(result[0]) || {condition}",
            "provider": {"prometheus": {"address": ctx.prometheus_address, "query": query}},
        }
        if bounded:
            measured = "len(result) > 0 && !isNaN(result[0])"
            spec["count"] = analysis.count
            spec["successCondition"] = f"{measured} && {condition}"
            spec["failureCondition"] = f"{measured} && !({condition})"
            spec["inconclusiveLimit"] = analysis.count - 1
        return spec

    return {
        "apiVersion": ARGO_API_VERSION,
        "kind": "AnalysisTemplate",
        "metadata": _metadata(ctx, name, "analysis"),
        "spec": {
            "args": [{"name": ANALYSIS_HASH_ARG}],
            "metrics": [
                metric("success-rate", success_query, f"result[0] >= {analysis.success_rate}"),
                metric("latency-p99", latency_query, f"result[0] <= {analysis.latency_p99_seconds}"),
            ],
        },
    }


def _analysis_ref(template: str) -> dict[str, Any]:
    return {
        "templates": [{"templateName": template}],
        "args": [{"name": ANALYSIS_HASH_ARG, "valueFrom": {"podTemplateHashValue": "Latest"}}],
    }


def _rollout_strategy(
    settings: ApiSettings, ctx: ApiContext, template: str, ingress_name: str
) -> tuple[dict[str, Any], list[str]]:
    """The Rollout's `strategy` and the extra Services it needs."""
    strategy = settings.strategy
    if isinstance(strategy, BlueGreenStrategy):
        preview = f"{ctx.name}-preview"
        blue_green: dict[str, Any] = {
            "activeService": ctx.name,
            "previewService": preview,
            "autoPromotionEnabled": strategy.auto_promotion,
            "scaleDownDelaySeconds": strategy.scale_down_delay_seconds,
        }
        if strategy.auto_promotion_seconds is not None:
            blue_green["autoPromotionSeconds"] = strategy.auto_promotion_seconds
        if strategy.pre_promotion_analysis:
            blue_green["prePromotionAnalysis"] = _analysis_ref(template)
        return {"blueGreen": blue_green}, [preview]
    assert isinstance(strategy, CanaryStrategy)
    stable, canary_service = f"{ctx.name}-stable", f"{ctx.name}-canary"
    steps: list[dict[str, Any]] = []
    for step in strategy.steps:
        steps.append({"setWeight": step.set_weight})
        if step.pause_until_promoted:
            steps.append({"pause": {}})
        elif step.pause_seconds is not None:
            steps.append({"pause": {"duration": step.pause_seconds}})
    if canary_weights(strategy.steps)[-1] != strategy.steps[-1].set_weight:
        steps.append({"setWeight": 100})
    canary: dict[str, Any] = {
        "stableService": stable,
        "canaryService": canary_service,
        "maxUnavailable": 0,
        "steps": steps,
    }
    if ctx.alb_traffic_routing:
        canary["trafficRouting"] = {
            "alb": {"ingress": ingress_name, "rootService": ctx.name, "servicePort": SERVICE_PORT}
        }
    if strategy.background_analysis:
        # From the start: before the canary gets traffic its queries yield no data, which passes.
        canary["analysis"] = _analysis_ref(template)
    return {"canary": canary}, [stable, canary_service]


def promotes_automatically(settings: ApiSettings) -> bool:
    """Whether a release reaches full promotion with no human step (no manual gate anywhere)."""
    strategy = settings.strategy
    if isinstance(strategy, BlueGreenStrategy):
        return strategy.auto_promotion
    if isinstance(strategy, CanaryStrategy):
        return not any(step.pause_until_promoted for step in strategy.steps)
    return True


def _duration_seconds(duration: str) -> int:
    return int(duration[:-1]) * {"s": 1, "m": 60, "h": 3600}[duration[-1]]


def rollout_timeout_seconds(settings: ApiSettings) -> int:
    """How long `pulumi up` waits for a release: its pauses and analysis, plus time for pods to start."""
    strategy = settings.strategy
    analysis = settings.analysis.count * _duration_seconds(settings.analysis.interval)
    waited = 0
    if isinstance(strategy, BlueGreenStrategy):
        waited = (strategy.auto_promotion_seconds or 0) + (analysis if strategy.pre_promotion_analysis else 0)
        waited += strategy.scale_down_delay_seconds
    elif isinstance(strategy, CanaryStrategy):
        waited = sum(step.pause_seconds or 0 for step in strategy.steps)
    return ROLLOUT_BASE_TIMEOUT_SECONDS + waited


def _rollout_annotations(settings: ApiSettings) -> dict[str, str]:
    """Make `pulumi up` wait for a self-promoting release to become Healthy, and fail when it aborts.

    An aborted Rollout (failed analysis) goes `Degraded` and never `Healthy`, so the wait ends in
    an error after the timeout. A release that waits for a human (manual promotion) would hold
    `pulumi up` hostage; it is promoted and watched with `kubectl argo rollouts` instead.

    The condition is reliable for the first release only: the provider checks it from the object
    the update returns, whose status may still be the previous revision's `Healthy`. Updates are
    awaited by `.github/scripts/wait-rollout.sh` (generation observed, stable == current).
    """
    if not promotes_automatically(settings):
        return {}
    return {
        WAIT_FOR_ANNOTATION: "jsonpath={.status.phase}=Healthy",
        TIMEOUT_ANNOTATION: str(rollout_timeout_seconds(settings)),
    }


def _rollout(settings: ApiSettings, ctx: ApiContext, strategy: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": ARGO_API_VERSION,
        "kind": "Rollout",
        "metadata": _metadata(ctx, ctx.name, annotations=_rollout_annotations(settings)),
        "spec": {
            "revisionHistoryLimit": 5,
            "selector": {"matchLabels": _selector(ctx, ctx.name)},
            "strategy": strategy,
            "template": _pod_template(settings, ctx, settings.image, ctx.name, "rollouts-pod-template-hash"),
        },
    }


def _hpa(settings: ApiSettings, ctx: ApiContext, target: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": _metadata(ctx, ctx.name),
        "spec": {
            "scaleTargetRef": {"apiVersion": target["apiVersion"], "kind": target["kind"], "name": ctx.name},
            "minReplicas": settings.replicas,
            "maxReplicas": settings.max_replicas,
            "metrics": [
                {
                    "type": "Resource",
                    "resource": {
                        "name": "cpu",
                        "target": {
                            "type": "Utilization",
                            "averageUtilization": settings.target_cpu_utilization,
                        },
                    },
                }
            ],
        },
    }


def _egress_rule(backend: Backend, protocol: str = "TCP") -> dict[str, Any]:
    return {"to": [backend.peer.render()], "ports": [{"protocol": protocol, "port": backend.port}]}


def _dns_egress() -> dict[str, Any]:
    return {
        "to": [KUBE_DNS.render()],
        "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}],
    }


def _network_policies(settings: ApiSettings, ctx: ApiContext) -> list[dict[str, Any]]:
    api_pods = {"app.kubernetes.io/name": ctx.name, "app.kubernetes.io/component": "api"}
    migration_pods = {"app.kubernetes.io/name": ctx.name, "app.kubernetes.io/component": "migration"}
    port = [{"protocol": "TCP", "port": settings.container_port}]

    def policy(name: str, spec: dict[str, Any]) -> dict[str, Any]:
        return {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "NetworkPolicy",
            "metadata": _metadata(ctx, name, "network-policy"),
            "spec": spec,
        }

    migration_egress = [_dns_egress(), _egress_rule(ctx.pgbouncer)]
    if ctx.migration_database is not None:
        migration_egress.append(_egress_rule(ctx.migration_database))
    return [
        policy("default-deny-all", {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}),
        policy(
            f"{ctx.name}-api",
            {
                "podSelector": {"matchLabels": api_pods},
                "policyTypes": ["Ingress", "Egress"],
                "ingress": [
                    {"from": [p.render() for p in _peers(ctx.ingress_from)], "ports": port},
                    {"from": [ctx.prometheus_from.render()], "ports": port},
                ],
                "egress": [_dns_egress(), _egress_rule(ctx.pgbouncer), _egress_rule(ctx.redis)],
            },
        ),
        policy(
            f"{ctx.name}-migration",
            {
                "podSelector": {"matchLabels": migration_pods},
                "policyTypes": ["Ingress", "Egress"],
                "egress": migration_egress,
            },
        ),
    ]


def _ingress(settings: ApiSettings, ctx: ApiContext, name: str) -> dict[str, Any]:
    def backend(service: str) -> dict[str, Any]:
        if ctx.ingress_class == "alb" and ctx.alb_traffic_routing and service == ctx.name:
            # Argo Rollouts writes the weighted forward action into the annotation of this name.
            return {"service": {"name": service, "port": {"name": "use-annotation"}}}
        return {"service": {"name": service, "port": {"number": SERVICE_PORT}}}

    paths: list[dict[str, Any]] = []
    annotations: dict[str, str] = {}
    if ctx.ingress_class == "alb":
        # Metrics share the app's port; answer them 404 at the edge instead of publishing them.
        annotations = {
            "alb.ingress.kubernetes.io/scheme": "internet-facing",
            "alb.ingress.kubernetes.io/target-type": "ip",
            "alb.ingress.kubernetes.io/listen-ports": '[{"HTTP": 80}, {"HTTPS": 443}]',
            "alb.ingress.kubernetes.io/ssl-redirect": "443",
            "alb.ingress.kubernetes.io/certificate-arn": str(ctx.certificate_arn),
            "alb.ingress.kubernetes.io/ssl-policy": ALB_SSL_POLICY,
            "alb.ingress.kubernetes.io/backend-protocol": "HTTP",
            "alb.ingress.kubernetes.io/healthcheck-path": settings.paths.readiness,
            "alb.ingress.kubernetes.io/load-balancer-attributes": (
                f"deletion_protection.enabled={str(ctx.deletion_protection).lower()}"
            ),
            "alb.ingress.kubernetes.io/actions.block-metrics": (
                '{"type":"fixed-response","fixedResponseConfig":'
                '{"contentType":"text/plain","statusCode":"404","messageBody":"not found"}}'
            ),
        }
        paths.append(
            {
                "path": settings.paths.metrics,
                "pathType": "Exact",
                "backend": {"service": {"name": "block-metrics", "port": {"name": "use-annotation"}}},
            }
        )
    for extra in settings.extra_versions:
        paths.append(
            {
                "path": extra.path_prefix,
                "pathType": "Prefix",
                "backend": backend(_extra_name(ctx, extra)),
            }
        )
    paths.append({"path": "/", "pathType": "Prefix", "backend": backend(ctx.name)})
    spec: dict[str, Any] = {
        "ingressClassName": ctx.ingress_class,
        "rules": [{"host": ctx.hostname, "http": {"paths": paths}}],
    }
    if ctx.ingress_class == "nginx":
        spec["tls"] = [{"hosts": [ctx.hostname], "secretName": str(ctx.tls_secret_name)}]
        annotations = {"nginx.ingress.kubernetes.io/force-ssl-redirect": "true"}
        if ctx.cluster_issuer:
            # cert-manager's ingress-shim issues the certificate into `tls_secret_name`.
            annotations["cert-manager.io/cluster-issuer"] = ctx.cluster_issuer
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": _metadata(ctx, name, annotations=annotations),
        "spec": spec,
    }


def _extra_name(ctx: ApiContext, extra: ExtraVersion) -> str:
    return f"{ctx.name}-{extra.path_prefix.strip('/')}"


def _service_account(ctx: ApiContext) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": _metadata(ctx, ctx.service_account_name, annotations=ctx.service_account_annotations),
        # Only pods that need the API server mount a token; the API does not.
        "automountServiceAccountToken": False,
    }


def _migration_job_spec(
    settings: ApiSettings, ctx: ApiContext, image: ApiImage, command: Sequence[str]
) -> dict[str, Any]:
    volume, mount = _tmp_volume()
    return {
        # Postgres DDL is transactional, so a retried migration starts from a clean state.
        "backoffLimit": 2,
        "activeDeadlineSeconds": settings.migrations.timeout_seconds,
        "template": {
            "metadata": {"labels": _labels(ctx, "migration")},
            "spec": {
                "restartPolicy": "Never",
                "serviceAccountName": ctx.service_account_name,
                "securityContext": _pod_security_context(),
                "containers": [
                    {
                        "name": "migrate",
                        "image": image.reference,
                        "command": list(command),
                        "envFrom": [{"secretRef": {"name": ctx.migration_secret_name}}],
                        "resources": _resources(settings),
                        "securityContext": _security_context(),
                        "volumeMounts": [mount],
                    }
                ],
                "volumes": [volume],
            },
        },
    }


def _migration_job(
    settings: ApiSettings, ctx: ApiContext, image: ApiImage, name: str, command: Sequence[str]
) -> dict[str, Any]:
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": _metadata(ctx, name, "migration"),
        "spec": _migration_job_spec(settings, ctx, image, command),
    }


# ----------------------------------------------------------------------------------------------
# Public render functions


def render_migration_job(settings: ApiSettings, ctx: ApiContext) -> dict[str, Any]:
    """The forward migration Job of this image; its name changes with the image, so each release runs it."""
    name = f"{ctx.name}-migrate-{image_hash(settings.image)}"
    return _migration_job(settings, ctx, settings.image, name, settings.migrations.command)


def render_down_migration_job(settings: ApiSettings, ctx: ApiContext, image: ApiImage) -> dict[str, Any]:
    """The schema rollback: ``downCommand`` from ``image`` (the release that knows how to undo it).

    It must run only once the older release in ``image`` serves alone. Under a rolling Deployment it
    is a Job applied after the Deployment, whose rollout pulumi-kubernetes awaits. An Argo Rollout
    gives `pulumi up` no such signal (right after an update it still reports the previous
    revision's `Healthy`, and uat's promotion waits for a person), so there it is a suspended
    CronJob that only holds the Job: `.github/scripts/down-migration.sh` creates the Job from it
    (`kubectl create job --from=cronjob/…`, once per name) after `wait-rollout.sh` has seen the
    older release stable.
    """
    if settings.migrations.down_command is None:
        raise ValueError(
            "platform:api.migrations.downCommand is not set: there is no down migration to render"
        )
    name = f"{ctx.name}{DOWN_MIGRATION_MARK}{image_hash(image)}"
    job = _migration_job(settings, ctx, image, name, settings.migrations.down_command)
    if isinstance(settings.strategy, RollingStrategy):
        return job
    return {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": job["metadata"],
        "spec": {
            "schedule": NEVER_SCHEDULE,
            "suspend": True,
            "concurrencyPolicy": "Forbid",
            "jobTemplate": {"metadata": {"labels": _labels(ctx, "migration")}, "spec": job["spec"]},
        },
    }


def render_api_manifests(settings: ApiSettings, ctx: ApiContext) -> list[dict[str, Any]]:
    """Every Kubernetes object of the API tier, in apply order: the migration Job before the
    workload, or with ``downImage`` set the workload first and the down migration last.

    The main workload leaves ``spec.replicas`` to its HorizontalPodAutoscaler (``minReplicas`` is
    ``replicas``): a replica count in the manifest would reset the autoscaler on every update.
    """
    ingress_name = ctx.name
    analysis_name = f"{ctx.name}-analysis"
    manifests: list[dict[str, Any]] = [_service_account(ctx), *_network_policies(settings, ctx)]
    down_image = settings.migrations.down_image
    # A schema rollback (downImage set) runs no forward migration: the older image's `upgrade head`
    # would not know the newer revision. The down migration comes last and runs once the workload is
    # back on the older image, which (expand/contract) runs on the newer schema; the reverse order
    # would leave the newer pods on a schema they do not know until the rollback is through.
    if down_image is None:
        manifests.append(render_migration_job(settings, ctx))
    manifests.append(_service(ctx, ctx.name, ctx.name))
    strategy = settings.strategy
    workload: dict[str, Any]
    if isinstance(strategy, RollingStrategy):
        workload = _deployment(settings, ctx, ctx.name, settings.image, strategy.max_surge)
    else:
        # A canary's analysis runs for the whole rollout; a pre-promotion analysis has to end.
        bounded = isinstance(strategy, BlueGreenStrategy)
        rollout_strategy, services = _rollout_strategy(settings, ctx, analysis_name, ingress_name)
        manifests += [_service(ctx, service, ctx.name) for service in services]
        manifests.append(_analysis_template(settings, ctx, analysis_name, bounded))
        workload = _rollout(settings, ctx, rollout_strategy)
    manifests += [
        workload,
        _hpa(settings, ctx, workload),
        _pdb(ctx, ctx.name, ctx.name, settings.pdb_min_available),
    ]
    for extra in settings.extra_versions:
        name = _extra_name(ctx, extra)
        manifests += [
            _service(ctx, name, name),
            _deployment(settings, ctx, name, extra.image, 1, replicas=extra.replicas),
            _pdb(ctx, name, name, min(settings.pdb_min_available, extra.replicas - 1)),
        ]
    manifests.append(_ingress(settings, ctx, ingress_name))
    if down_image is not None:
        manifests.append(render_down_migration_job(settings, ctx, down_image))
    return manifests


def render_secret(ctx: ApiContext, name: str, string_data: Mapping[str, Any]) -> dict[str, Any]:
    """An Opaque Secret of the API's namespace; the values may be Pulumi secrets (the caller's)."""
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": _metadata(ctx, name, "secrets"),
        "type": "Opaque",
        "stringData": dict(string_data),
    }


# ----------------------------------------------------------------------------------------------
# Controllers the API tier installs (Helm values)


def argo_rollouts_values() -> dict[str, Any]:
    """Values of the argo-rollouts chart: two controllers, metrics Service, restricted pods."""
    return {
        "installCRDs": True,
        "keepCRDs": True,
        "controller": {
            "replicas": 2,
            "metrics": {"enabled": True},
            "pdb": {"enabled": True, "minAvailable": 1},
            "resources": {
                "requests": {"cpu": "50m", "memory": "128Mi"},
                "limits": {"memory": "512Mi"},
            },
        },
        "dashboard": {"enabled": False},
        "podSecurityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
    }


def ingress_nginx_values(ingress_class: str) -> dict[str, Any]:
    """Values of the ingress-nginx chart for a local cluster: one controller owning ``ingress_class``."""
    return {
        "controller": {
            "replicaCount": 1,
            "ingressClassResource": {"name": ingress_class, "enabled": True, "default": False},
            "ingressClass": ingress_class,
            "metrics": {"enabled": True},
            # Snippet annotations let any Ingress author inject nginx configuration.
            "allowSnippetAnnotations": False,
            # A local cluster has no cloud load balancer: a `LoadBalancer` Service stays pending, so the
            # atomic release and the Ingress wait never finish. The controller binds the node's ports
            # 80/443 (kind maps them to the host with `extraPortMappings`) and reports the node's IP.
            "service": {"type": "NodePort"},
            "hostPort": {"enabled": True},
            "publishService": {"enabled": False},
            "extraArgs": {"report-node-internal-ip-address": "true"},
        },
    }
