"""Cloudflare resources and the Cloudflare provider, registered by type token.

Why: `import pulumi_cloudflare` imports all of its ~500 resource modules eagerly. Measured here it
cost ~2.5 s and ~110 MB per run and made `python -m synth uat` take 5.7 s (budget 2.5 s), while
the uat stack registers a provider and three kinds of Cloudflare resource. Registering those by
type token, as `components/kube.py` does for Kubernetes objects, removes the import entirely.

What the SDK would add is reproduced here: the type token, the wire (camelCase) property names,
the output properties (registered as None so they can be read back), secret outputs, aliases
and the provider plugin version (read from the installed package's metadata without importing
it, so the engine loads the same plugin the SDK would). Unknown top-level properties and missing
required ones are refused as the SDK refuses them.

How it stays safe:
- `tests/test_cloudflare.py` registers every type below both ways and requires the same type
  token, inputs, property sets, secret outputs, aliases and version as the SDK class;
- `python -m synth <stack> --check` (`tests/test_synth_check.py` runs it on every stack) walks
  every Cloudflare input down to the leaves against the SDK's `...Args` classes, so a
  misspelled nested key fails in CI instead of at `pulumi up`.
A new Cloudflare type needs an entry in `TYPES` and a case in that test.
"""

from __future__ import annotations

import importlib.metadata
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pulumi

__all__ = [
    "DNS_RECORD",
    "PROVIDER_SECRET_OUTPUTS",
    "RULESET",
    "TYPES",
    "ZONE_SETTING",
    "CloudflareType",
    "cloudflare_provider",
    "cloudflare_resource",
    "plugin_version",
]

PACKAGE = "cloudflare"
_DISTRIBUTION = "pulumi_cloudflare"


@dataclass(frozen=True)
class CloudflareType:
    """What the SDK class of one Cloudflare resource type registers beside its inputs."""

    token: str
    inputs: frozenset[str]
    """Wire names of its input properties."""
    required: frozenset[str]
    outputs: tuple[str, ...]
    """Output-only properties (read back after create)."""
    secret_outputs: tuple[str, ...] = ()
    aliases: tuple[str, ...] = ()
    """Earlier type tokens of the same resource."""


DNS_RECORD = "cloudflare:index/dnsRecord:DnsRecord"
RULESET = "cloudflare:index/ruleset:Ruleset"
ZONE_SETTING = "cloudflare:index/zoneSetting:ZoneSetting"
ORIGIN_PULLS = "cloudflare:index/authenticatedOriginPullsSettings:AuthenticatedOriginPullsSettings"

TYPES: dict[str, CloudflareType] = {
    t.token: t
    for t in (
        CloudflareType(
            DNS_RECORD,
            inputs=frozenset(
                {
                    "comment",
                    "content",
                    "data",
                    "includeShadowMetadata",
                    "name",
                    "priority",
                    "privateRouting",
                    "proxied",
                    "settings",
                    "tags",
                    "ttl",
                    "type",
                    "zoneId",
                }
            ),
            required=frozenset({"name", "ttl", "type", "zoneId"}),
            outputs=(
                "commentModifiedOn",
                "createdOn",
                "meta",
                "modifiedOn",
                "proxiable",
                "tagsModifiedOn",
            ),
            aliases=("cloudflare:index/record:Record",),
        ),
        CloudflareType(
            RULESET,
            inputs=frozenset({"accountId", "description", "kind", "name", "phase", "rules", "zoneId"}),
            required=frozenset({"kind", "name", "phase"}),
            outputs=("lastUpdated", "version"),
        ),
        CloudflareType(
            ORIGIN_PULLS,
            inputs=frozenset({"enabled", "zoneId"}),
            required=frozenset({"enabled", "zoneId"}),
            outputs=(),
        ),
        CloudflareType(
            ZONE_SETTING,
            inputs=frozenset({"enabled", "settingId", "value", "zoneId"}),
            required=frozenset({"settingId", "value", "zoneId"}),
            outputs=("editable", "modifiedOn", "timeRemaining"),
        ),
    )
}
"""The Cloudflare types the platform registers, by type token."""

PROVIDER_SECRET_OUTPUTS = ("apiKey", "apiToken", "apiUserServiceKey")
"""Provider properties the SDK marks secret (credentials; the platform passes none)."""


def plugin_version() -> str:
    """The provider plugin version the installed SDK requests (its package version, e.g. `6.23.1`).

    The SDK converts PEP 440 to semver; pinned releases (no pre-release or local part) read the same.
    """
    return importlib.metadata.version(_DISTRIBUTION)


def _defaults(opts: pulumi.ResourceOptions | None) -> pulumi.ResourceOptions:
    return pulumi.ResourceOptions.merge(pulumi.ResourceOptions(version=plugin_version()), opts)


def cloudflare_provider(name: str, opts: pulumi.ResourceOptions | None = None) -> pulumi.ProviderResource:
    """An explicit Cloudflare provider (`pulumi:providers:cloudflare`) without credentials in its inputs.

    The API token comes from `CLOUDFLARE_API_TOKEN` in the deployer's environment.
    """
    secret = pulumi.ResourceOptions(additional_secret_outputs=list(PROVIDER_SECRET_OUTPUTS))
    return pulumi.ProviderResource(PACKAGE, name, {}, pulumi.ResourceOptions.merge(_defaults(opts), secret))


def cloudflare_resource(
    token: str, name: str, props: Mapping[str, Any], opts: pulumi.ResourceOptions | None = None
) -> pulumi.CustomResource:
    """Register one Cloudflare resource; ``props`` use the wire (camelCase) names, nested keys too.

    Refuses a type missing from `TYPES`, an unknown top-level property and a missing required one,
    as the SDK class would. Every input and output property is an attribute of the result.
    """
    kind = TYPES.get(token)
    if kind is None:
        raise ValueError(
            f"{name}: Cloudflare type {token!r} is not registered in components.cloudflare.TYPES"
        )
    unknown = sorted(set(props) - kind.inputs)
    if unknown:
        raise ValueError(f"{name}: unknown properties {unknown} of {token}; allowed: {sorted(kind.inputs)}")
    missing = sorted(p for p in kind.required if props.get(p) is None)
    if missing:
        raise ValueError(f"{name}: missing required properties {missing} of {token}")
    extra = pulumi.ResourceOptions(
        additional_secret_outputs=list(kind.secret_outputs) or None,
        aliases=[pulumi.Alias(type_=alias) for alias in kind.aliases] or None,
    )
    full: dict[str, Any] = {**props, **{output: None for output in kind.outputs if output not in props}}
    return pulumi.CustomResource(token, name, full, pulumi.ResourceOptions.merge(_defaults(opts), extra))
