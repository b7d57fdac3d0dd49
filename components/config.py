"""The stack's typed configuration: every ``platform:`` key, validated once, before any resource.

Each top-level key of the ``platform:`` namespace maps to one field of :class:`StackConfig`. The
four ``Pulumi.<stack>.yaml`` files hold the values; ``Pulumi.yaml`` declares the keys. Code
never branches on the stack's name: it branches on these values, chiefly on ``cloud.provider``
and on ``protection`` (whose level carries the rules a production stack must meet).

Bad input raises :class:`ConfigError`, one message naming the key (``platform:cluster.nodeGroups``),
the value and what is allowed. ``__main__`` and ``synth`` print it and stop with no traceback.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pulumi import RunError
from pydantic import Field, StringConstraints, ValidationError, field_validator, model_validator

from components.database_settings import AuroraSettings, DatabaseSettings, check_database
from components.model import Model
from components.protection import PROTECTION, ProtectionLevel, ProtectionRules

NAMESPACE = "platform"

Name = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9-]{0,30}[a-z0-9]$")]
"""A lowercase DNS-label-like name: environment names, node group names, receivers."""

AwsRegion = Annotated[str, StringConstraints(pattern=r"^[a-z]{2}(-gov)?-[a-z]+-\d$")]
AvailabilityZone = Annotated[str, StringConstraints(pattern=r"^[a-z]{2}(-gov)?-[a-z]+-\d[a-z]$")]
AccountId = Annotated[str, StringConstraints(pattern=r"^\d{12}$")]
IamArn = Annotated[str, StringConstraints(pattern=r"^arn:aws[a-z-]*:iam::\d{12}:(role|user)/[\w+=,.@/-]+$")]
TagKey = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_ .:/=+@-]{1,128}$")]
TagValue = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_ .:/=+@-]{0,256}$")]
KubeVersion = Annotated[str, StringConstraints(pattern=r"^1\.(2[89]|3\d)$")]
InstanceType = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9-]*\.[a-z0-9]+$")]

REQUIRED_TAG_KEYS = ("Project", "Environment", "Stack", "ManagedBy")


# --------------------------------------------------------------------------------------------
# Where the cluster lives
# --------------------------------------------------------------------------------------------


class LocalCloud(Model):
    """An existing local Kubernetes cluster (kind, k3d, minikube, Docker Desktop): no cloud account."""

    provider: Literal["local"] = Field(
        description="`local`: use an existing kube context, create nothing in AWS."
    )
    kube_context: Annotated[str, StringConstraints(min_length=1, max_length=253)] = Field(
        description="Name of the kube context to deploy into (e.g. `kind-platform`)."
    )
    kubeconfig_path: str | None = Field(
        default=None, description="Path of the kubeconfig file; the default search path when unset."
    )
    storage_class: Name = Field(default="standard", description="StorageClass for persistent volumes.")
    ingress_class: Name = Field(default="nginx", description="IngressClass of the local ingress controller.")


class AwsCloud(Model):
    """An AWS account and region: VPC, EKS and managed services are created there."""

    provider: Literal["aws"] = Field(
        description="`aws`: create the network, EKS and managed services in AWS."
    )
    region: AwsRegion = Field(description="AWS region of the stack, e.g. `eu-west-1`.")
    account_id: AccountId = Field(
        description="The only AWS account this stack may touch (guards against using the wrong credentials)."
    )


Cloud = Annotated[LocalCloud | AwsCloud, Field(discriminator="provider")]


class FlowLogSettings(Model):
    retention_days: Literal[30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 3653] = Field(
        default=90, description="CloudWatch retention of the VPC flow logs, in days."
    )
    traffic_type: Literal["ALL", "ACCEPT", "REJECT"] = Field(
        default="ALL", description="Which traffic is logged."
    )


class NetworkSettings(Model):
    """The VPC: public, private and isolated subnets in every availability zone."""

    cidr: ipaddress.IPv4Network = Field(description="VPC CIDR block, a /16 to /20.")
    availability_zones: list[AvailabilityZone] = Field(
        min_length=1,
        max_length=6,
        description="Availability zones to spread subnets over, all in the stack's region.",
    )
    flow_logs: FlowLogSettings = Field(default_factory=FlowLogSettings, description="VPC flow logs.")

    @field_validator("cidr")
    @classmethod
    def _cidr_size(cls, v: ipaddress.IPv4Network) -> ipaddress.IPv4Network:
        if not 16 <= v.prefixlen <= 20:
            raise ValueError(
                f"a /16 to /20 block is needed to fit three subnet tiers per AZ, got /{v.prefixlen}"
            )
        if not v.is_private:
            raise ValueError(f"{v} is not a private (RFC 1918) range")
        return v

    @field_validator("availability_zones")
    @classmethod
    def _distinct(cls, v: list[str]) -> list[str]:
        if len(set(v)) != len(v):
            raise ValueError(f"availability zones must be distinct, got {v}")
        return v


class NodeGroupSettings(Model):
    """One EKS managed node group."""

    instance_types: list[InstanceType] = Field(
        min_length=1, description="EC2 instance types, e.g. `[m7i.large]`."
    )
    capacity_type: Literal["ON_DEMAND", "SPOT"] = Field(
        default="ON_DEMAND", description="On-demand or spot capacity."
    )
    min_size: int = Field(ge=0, le=100, description="Smallest number of nodes.")
    desired_size: int = Field(ge=0, le=100, description="Initial number of nodes (the autoscaler moves it).")
    max_size: int = Field(ge=1, le=100, description="Largest number of nodes.")
    disk_size_gib: int = Field(default=50, ge=20, le=1000, description="Encrypted gp3 root volume size, GiB.")
    labels: dict[str, str] = Field(default_factory=dict, description="Kubernetes labels put on the nodes.")

    @model_validator(mode="after")
    def _sizes(self) -> NodeGroupSettings:
        if not self.min_size <= self.desired_size <= self.max_size:
            raise ValueError(
                f"sizes must satisfy minSize <= desiredSize <= maxSize, got "
                f"{self.min_size} <= {self.desired_size} <= {self.max_size}"
            )
        return self


class ClusterSettings(Model):
    """The EKS cluster."""

    version: KubeVersion = Field(description="Kubernetes minor version, e.g. `1.33`.")
    endpoint_public_access: bool = Field(
        default=False,
        description="Expose the API server endpoint publicly (allow-listed by publicAccessCidrs).",
    )
    public_access_cidrs: list[ipaddress.IPv4Network] = Field(
        default_factory=list, description="CIDRs allowed to reach a public API endpoint; never 0.0.0.0/0."
    )
    log_retention_days: Literal[30, 60, 90, 180, 365, 400, 731] = Field(
        default=90, description="CloudWatch retention of control-plane logs (audit included), in days."
    )
    node_groups: dict[Name, NodeGroupSettings] = Field(
        min_length=1, description="Managed node groups by name."
    )
    admin_role_arns: list[IamArn] = Field(
        default_factory=list, description="IAM roles granted cluster-admin through EKS access entries."
    )

    @model_validator(mode="after")
    def _endpoint(self) -> ClusterSettings:
        if self.endpoint_public_access and not self.public_access_cidrs:
            raise ValueError(
                "endpointPublicAccess needs publicAccessCidrs: an allow-list of who may reach it"
            )
        for cidr in self.public_access_cidrs:
            if cidr.prefixlen == 0:
                raise ValueError(
                    f"publicAccessCidrs may not contain {cidr}: list the networks that need access"
                )
        if self.public_access_cidrs and not self.endpoint_public_access:
            raise ValueError("publicAccessCidrs is set but endpointPublicAccess is false")
        return self


# --------------------------------------------------------------------------------------------
# The whole stack
# --------------------------------------------------------------------------------------------


class StackConfig(Model):
    """Every ``platform:`` key of a stack."""

    environment: Name = Field(description="Environment name used in tags, labels and resource names.")
    protection: ProtectionLevel = Field(
        description="Protection level: `none`, `light`, `standard` or `production` (see the README's table)."
    )
    tags: dict[TagKey, TagValue] = Field(
        default_factory=dict, max_length=40, description="Extra tags put on every taggable AWS resource."
    )
    cloud: Cloud = Field(description="Where the Kubernetes cluster lives: `local` or `aws`.")
    network: NetworkSettings | None = Field(default=None, description="The VPC (AWS stacks only).")
    cluster: ClusterSettings | None = Field(default=None, description="The EKS cluster (AWS stacks only).")
    database: DatabaseSettings = Field(
        description="PostgreSQL: `aurora` (AWS) or `cloudnativepg` (in the cluster), with replicas, backups."
    )

    @field_validator("tags")
    @classmethod
    def _no_reserved_tags(cls, v: dict[str, str]) -> dict[str, str]:
        reserved = sorted(k for k in v if k.lower().startswith("aws:"))
        if reserved:
            raise ValueError(f"{reserved}: the `aws:` prefix is reserved by AWS")
        clash = sorted(set(v) & set(REQUIRED_TAG_KEYS))
        if clash:
            raise ValueError(f"{clash} are set by the platform itself and cannot be overridden")
        return v

    @model_validator(mode="after")
    def _cross_field(self) -> StackConfig:
        rules = self.rules
        if isinstance(self.cloud, AwsCloud):
            if self.network is None or self.cluster is None:
                raise _at("cloud", "AWS stacks need both platform:network and platform:cluster")
            zones = self.network.availability_zones
            wrong = [z for z in zones if not z.startswith(self.cloud.region)]
            if wrong:
                raise _at("network.availabilityZones", f"{wrong} are not in region {self.cloud.region}")
            if len(zones) < rules.min_availability_zones:
                raise _at(
                    "network.availabilityZones",
                    f"protection level {self.protection!r} needs at least {rules.min_availability_zones} "
                    f"availability zones, got {len(zones)}",
                )
            total_min = sum(g.min_size for g in self.cluster.node_groups.values())
            if total_min < rules.min_nodes:
                raise _at(
                    "cluster.nodeGroups",
                    f"protection level {self.protection!r} needs at least {rules.min_nodes} nodes at minimum "
                    f"size in total, got {total_min}",
                )
        else:
            for key in ("network", "cluster"):
                if getattr(self, key) is not None:
                    raise _at(key, "is only for AWS stacks (cloud.provider is `local`)")
            if self.protection == "production":
                raise _at(
                    "protection", "`production` needs cloud.provider `aws` (several AZs, managed backups)"
                )
            if isinstance(self.database, AuroraSettings):
                raise _at(
                    "database.engine", "`aurora` needs cloud.provider `aws`; use `cloudnativepg` locally"
                )
        zones = len(self.network.availability_zones) if self.network else 1
        try:
            check_database(self.database, rules=rules, availability_zones=zones, now=datetime.now(UTC))
        except ValueError as exc:
            path, _, message = str(exc).partition(": ")
            raise _at(f"database.{path}", message) from None
        return self

    @property
    def rules(self) -> ProtectionRules:
        """The requirements of this stack's protection level."""
        return PROTECTION[self.protection]

    @property
    def is_aws(self) -> bool:
        return isinstance(self.cloud, AwsCloud)


# --------------------------------------------------------------------------------------------
# Errors and loading
# --------------------------------------------------------------------------------------------


class ConfigError(RunError):
    """Invalid stack configuration: one readable message (the engine prints a RunError without traceback)."""


class _PathError(ValueError):
    """A cross-field error that knows the dotted config path it is about."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(message)
        self.path = path


def _at(path: str, message: str) -> _PathError:
    return _PathError(path, message)


def _field_alias(model: type[Model], name: str) -> str:
    field = model.model_fields.get(name)
    return field.alias if field is not None and field.alias else name


def _format_location(loc: tuple[Any, ...]) -> str:
    """`('cluster', 'node_groups', 'system', 'min_size')` → `cluster.nodeGroups.system.minSize`."""
    parts: list[str] = []
    for item in loc:
        if isinstance(item, int):
            parts[-1:] = [f"{parts[-1]}[{item}]"] if parts else [f"[{item}]"]
        elif item in ("local", "aws", "aurora", "cloudnativepg") and parts:
            continue  # the discriminator's tag, not a key the user wrote
        else:
            parts.append(re.sub(r"_([a-z0-9])", lambda m: m.group(1).upper(), str(item)))
    return ".".join(parts)


def _lookup(raw: Mapping[str, Any], path: str) -> Any:
    value: Any = raw
    for part in re.findall(r"[^.\[\]]+|\[\d+\]", path):
        if part.startswith("["):
            index = int(part[1:-1])
            value = value[index] if isinstance(value, list) and index < len(value) else None
        elif isinstance(value, Mapping):
            value = value.get(part)
        else:
            return None
    return value


def _show(value: Any) -> str:
    text = json.dumps(value, default=str, sort_keys=True)
    return text if len(text) <= 120 else text[:117] + "..."


def validate(raw: Mapping[str, Any]) -> StackConfig:
    """Validate decoded ``platform:`` values (keys without the namespace) into a StackConfig."""
    known = {f.alias or n for n, f in StackConfig.model_fields.items()}
    unknown = sorted(set(raw) - known)
    if unknown:
        raise ConfigError(
            f"{NAMESPACE}:{unknown[0]}: unknown key; allowed keys are {', '.join(sorted(known))} "
            f"(value: {_show(raw[unknown[0]])})"
        )
    try:
        return StackConfig.model_validate(dict(raw))
    except ValidationError as exc:
        error = exc.errors(include_url=False)[0]
        ctx_error = (error.get("ctx") or {}).get("error")
        if isinstance(ctx_error, _PathError):
            path, message = ctx_error.path, str(ctx_error)
        else:
            path = _format_location(error["loc"])
            message = str(error["msg"]).removeprefix("Value error, ")
            if error["type"] == "extra_forbidden":
                message = "unknown key"
            elif error["type"] == "missing":
                message = "is required"
        value = _lookup(raw, path) if path else dict(raw)
        shown = "missing" if error["type"] == "missing" else _show(value)
        raise ConfigError(f"{NAMESPACE}:{path or '(root)'}: {message} (value: {shown})") from None


def decode(raw: Mapping[str, str]) -> dict[str, Any]:
    """Pulumi hands object-valued config over as JSON text; scalars stay as they are."""
    decoded: dict[str, Any] = {}
    for key, text in raw.items():
        try:
            decoded[key] = json.loads(text)
        except (TypeError, ValueError):
            decoded[key] = text
    return decoded


def load() -> StackConfig:
    """Read every ``platform:`` key of the running stack (engine or mocks) and validate it."""
    from pulumi.runtime import config as runtime_config

    values: dict[str, str] = {**runtime_config.get_config_env(), **runtime_config.CONFIG.get()}
    prefix = f"{NAMESPACE}:"
    raw = {k[len(prefix) :]: v for k, v in values.items() if k.startswith(prefix)}
    return validate(decode(raw))
