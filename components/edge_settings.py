"""Typed settings of the `domain` and `edge` keys: the stack's DNS name, CDN, WAF, releases and RUM.

Pure pydantic (no Pulumi import), so ``components.config`` can validate a stack before any
resource exists. Provider limits are checked here, where the message can name the key.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, StringConstraints, field_validator, model_validator

from components.model import Model

_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")

AWS_WAF_MIN_RATE_LIMIT = 10
"""AWS WAF's lowest rate-based rule limit (requests per evaluation window, per IP)."""
CLOUDFLARE_RATE_PERIODS = (10, 60, 120, 300, 600, 3600)
"""Counting periods (seconds) Cloudflare's rate-limiting rules accept."""


def check_domain(value: str) -> str:
    """A lowercase, fully qualified DNS name (RFC 1123), or a ValueError saying what is wrong."""
    if value != value.lower():
        raise ValueError(f"{value!r} must be lowercase")
    if value.endswith("."):
        raise ValueError(f"{value!r}: write the name without the trailing dot")
    if len(value) > 253:
        raise ValueError(f"{value!r} is longer than 253 characters")
    labels = value.split(".")
    if len(labels) < 2:
        raise ValueError(f"{value!r} is not fully qualified: a name like `platform.example.com` is needed")
    bad = [label for label in labels if not _LABEL.match(label)]
    if bad:
        raise ValueError(
            f"{value!r} has invalid labels {bad}: each label is 1-63 of a-z, 0-9 and `-`, "
            "not starting or ending with `-`"
        )
    if not re.fullmatch(r"[a-z]{2,63}|xn--[a-z0-9-]{1,59}", labels[-1]):
        raise ValueError(f"{value!r}: top-level domain {labels[-1]!r} is not a valid TLD")
    return value


DomainName = Annotated[str, AfterValidator(check_domain)]
DnsLabel = Annotated[str, StringConstraints(pattern=r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")]
ReleaseId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")]
"""A release name, e.g. `2026.11.26-3f9c2ab`: the prefix `releases/<id>/` in the bucket."""


class DnsSettings(Model):
    """Where the stack's DNS records live."""

    provider: Literal["route53", "cloudflare"] = Field(
        description="`route53` (a hosted zone in the stack's account) or `cloudflare`."
    )
    zone_id: str | None = Field(
        default=None,
        description="Existing zone: a Route53 hosted zone id (`Z...`) or a Cloudflare zone id (32 hex).",
    )
    zone_name: DomainName | None = Field(
        default=None,
        description="Route53 only: the hosted zone's name, looked up (or created with createZone).",
    )
    create_zone: bool = Field(
        default=False, description="Route53 only: create the hosted zone `zoneName` instead of looking it up."
    )

    @model_validator(mode="after")
    def _zone(self) -> DnsSettings:
        if self.provider == "cloudflare":
            if self.zone_id is None:
                raise ValueError("Cloudflare needs zoneId: the 32-hex id of the zone in Cloudflare")
            if not re.fullmatch(r"[0-9a-f]{32}", self.zone_id):
                raise ValueError(f"a Cloudflare zoneId is 32 lowercase hex characters, got {self.zone_id!r}")
            if self.zone_name is not None or self.create_zone:
                raise ValueError("zoneName and createZone are for route53; Cloudflare takes only zoneId")
            return self
        if (self.zone_id is None) == (self.zone_name is None):
            raise ValueError("route53 needs exactly one of zoneId (existing zone) or zoneName")
        if self.zone_id is not None and not re.fullmatch(r"Z[A-Z0-9]{1,31}", self.zone_id):
            raise ValueError(f"a Route53 zone id looks like `Z0123456789ABCDEFGHIJ`, got {self.zone_id!r}")
        if self.create_zone and self.zone_name is None:
            raise ValueError("createZone needs zoneName")
        return self


class DomainSettings(Model):
    """The stack's DNS name and the host names derived from it."""

    name: DomainName = Field(
        description="The stack's DNS name, e.g. `staging.platform.example.com` (or the apex for prod)."
    )
    app_subdomain: DnsLabel | None = Field(
        default=None, description="Label of the frontend's host under `name`; unset serves it at `name`."
    )
    api_subdomain: DnsLabel = Field(default="api", description="Label of the API's host under `name`.")
    dns: DnsSettings | None = Field(
        default=None,
        description="DNS provider and zone; unset for a local name (no records or certificates).",
    )

    @model_validator(mode="after")
    def _zone_holds_name(self) -> DomainSettings:
        zone = self.dns.zone_name if self.dns is not None else None
        if zone is not None and not (self.name == zone or self.name.endswith(f".{zone}")):
            raise ValueError(f"name {self.name!r} is not inside the zone {zone!r}")
        if self.app_subdomain is not None and self.app_subdomain == self.api_subdomain:
            raise ValueError(f"appSubdomain and apiSubdomain are both {self.api_subdomain!r}")
        return self

    @property
    def app_hostname(self) -> str:
        return f"{self.app_subdomain}.{self.name}" if self.app_subdomain else self.name

    @property
    def api_hostname(self) -> str:
        return f"{self.api_subdomain}.{self.name}"


class CdnSettings(Model):
    """The CDN in front of the frontend bucket and the API."""

    provider: Literal["cloudfront", "cloudflare"] = Field(
        description="`cloudfront` (with AWS WAF) or `cloudflare` (zone in domain.dns)."
    )
    price_class: Literal["PriceClass_100", "PriceClass_200", "PriceClass_All"] = Field(
        default="PriceClass_100", description="CloudFront only: which edge locations serve the stack."
    )
    minimum_protocol_version: Literal["TLSv1.2_2021", "TLSv1.2_2025", "TLSv1.3_2025"] = Field(
        default="TLSv1.2_2021", description="CloudFront only: oldest TLS security policy viewers may use."
    )


class WafSettings(Model):
    """Managed rule groups and a per-IP rate limit in front of everything the CDN serves."""

    mode: Literal["count", "block"] = Field(
        description="`count` logs matches only (to tune rules); `block` enforces them."
    )
    rate_limit: int = Field(
        default=2000,
        ge=1,
        le=2_000_000_000,
        description="Requests per IP per window before the rate rule acts.",
    )
    rate_window_seconds: Literal[10, 60, 120, 300, 600] = Field(
        default=300,
        description="Rate evaluation window: 60/120/300/600 on AWS WAF; 10/60/120/300/600 on Cloudflare.",
    )


class ReleaseSettings(Model):
    """Immutable frontend builds under `releases/<id>/`; one of them is served."""

    active: ReleaseId = Field(description="The release served now (switch it to roll forward or back).")
    retained: list[ReleaseId] = Field(
        min_length=1, max_length=20, description="Releases kept ready to serve (the active one included)."
    )
    noncurrent_days: int = Field(
        default=30, ge=1, le=3650, description="Days an overwritten or deleted object version is kept."
    )

    @field_validator("retained")
    @classmethod
    def _distinct(cls, v: list[str]) -> list[str]:
        if len(set(v)) != len(v):
            raise ValueError(f"retained releases must be distinct, got {v}")
        return v

    @model_validator(mode="after")
    def _active_is_retained(self) -> ReleaseSettings:
        if self.active not in self.retained:
            raise ValueError(f"active release {self.active!r} is not among the retained ones {self.retained}")
        return self


class RumSettings(Model):
    """CloudWatch RUM for the frontend (AWS stacks)."""

    enabled: bool = Field(default=True, description="Create a CloudWatch RUM app monitor.")
    session_sample_rate: float = Field(
        default=0.1, ge=0.0, le=1.0, description="Share of user sessions recorded, 0 to 1."
    )


REGION_PLACEHOLDER = "{region}"
"""Replaced in the Content-Security-Policy by the stack's AWS region (RUM and Cognito are regional)."""

DEFAULT_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "connect-src 'self' https://dataplane.rum.{region}.amazonaws.com "
    "https://cognito-identity.{region}.amazonaws.com https://sts.{region}.amazonaws.com; "
    "frame-ancestors 'none'; base-uri 'self'; object-src 'none'"
)

# A CSP host wildcard is only valid as the whole leftmost label (`*.example.com`); browsers drop a
# source with `*` anywhere else (`dataplane.rum.*.amazonaws.com`), which blocks what it meant to allow.
_CSP_WILDCARD_SOURCE = re.compile(
    r"^(?:[a-z][a-z0-9+.-]*://)?\*(?:\.[^*/:\s]+)+(?::(?:\d+|\*))?(?:/[^*\s]*)?$"
)


def misplaced_csp_wildcards(policy: str) -> list[str]:
    """Sources of ``policy`` with a `*` that is not the whole leftmost host label (nor a lone `*`)."""
    return [
        source
        for directive in policy.split(";")
        for source in directive.split()[1:]
        if "*" in source and source != "*" and not _CSP_WILDCARD_SOURCE.match(source)
    ]


class EdgeSettings(Model):
    """Frontend hosting, CDN, WAF, releases and RUM."""

    cdn: CdnSettings = Field(description="The CDN: CloudFront or Cloudflare.")
    waf: WafSettings = Field(description="WAF managed rules and rate limit.")
    releases: ReleaseSettings = Field(description="The active and retained frontend releases.")
    content_security_policy: Annotated[str, StringConstraints(min_length=10, max_length=1700)] = Field(
        default=DEFAULT_CSP,
        description=(
            "Content-Security-Policy header sent with every frontend response; "
            "`{region}` stands for the stack's AWS region."
        ),
    )
    log_retention_days: int = Field(
        default=90, ge=1, le=3650, description="Days CDN and bucket access logs are kept."
    )
    rum: RumSettings = Field(default_factory=RumSettings, description="CloudWatch RUM (CloudFront stacks).")

    @field_validator("content_security_policy")
    @classmethod
    def _csp_wildcards_leftmost(cls, v: str) -> str:
        if bad := misplaced_csp_wildcards(v):
            raise ValueError(
                f"sources {bad} put `*` inside a host name, which browsers ignore; a wildcard may only be "
                f"the leftmost label (`https://*.example.com`); write `{REGION_PLACEHOLDER}` for the region"
            )
        return v

    def content_security_policy_for(self, region: str) -> str:
        """The Content-Security-Policy with `{region}` replaced by the stack's AWS region."""
        return self.content_security_policy.replace(REGION_PLACEHOLDER, region)
