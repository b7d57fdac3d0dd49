"""Cloudflare in front of the private release bucket and the API.

- Zone settings: SSL "full (strict)", TLS 1.2 at least, HTTPS only, HSTS; zone-level authenticated
  origin pulls (Cloudflare presents its client certificate to origins; neither origin here checks
  it, the IP allow-lists below do the fencing).
- Proxied records for the frontend (to the bucket's regional endpoint, with the Host header, and
  with it SNI, rewritten to it) and for the API (to its load balancer); `/api/` on the frontend's
  host goes to the API, as on CloudFront. Host header and DNS-record overrides in Origin Rules are
  Enterprise-plan features: the zone must be on that plan (see `docs/frontend-releases.md`).
- Rulesets, one per phase: URL rewrites into the active release (the release pointer), origin
  routing, cache rules (hashed assets for a year, `index.html` and the API never), response
  security headers, the managed WAF rulesets, and a per-IP rate limit.
- The bucket admits only Cloudflare's published ranges (see `edge_render.CLOUDFLARE_IPV4`).

Resources are registered by type token through `components.cloudflare` (no `pulumi_cloudflare`
import: it would cost ~2.5 s per run); every input here uses the wire (camelCase) names.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pulumi

from components.dns import DnsZone, add_record
from components.edge_render import (
    ASSET_TTL,
    CLOUDFLARE_MANAGED_RULESET,
    CLOUDFLARE_OWASP_RULESET,
    HSTS_MAX_AGE,
    RAW_URI_PATH,
    RELEASES_PREFIX,
    SecurityHeaders,
    cloudflare_bucket_policy,
    cloudflare_host_expression,
    cloudflare_is_api,
    cloudflare_is_asset,
    cloudflare_is_route,
    cloudflare_release_rewrite,
)
from components.edge_settings import EdgeSettings


@dataclass(frozen=True)
class CloudflareCdnArgs:
    settings: EdgeSettings
    app_hostname: str
    api_hostname: str
    zone: DnsZone
    bucket_name: pulumi.Input[str]
    bucket_arn: pulumi.Input[str]
    bucket_regional_domain_name: pulumi.Input[str]
    api_origin_hostname: pulumi.Input[str] | None = None


IMMUTABLE_EXPRESSION = (
    f'(starts_with({RAW_URI_PATH}, "/assets/") or starts_with({RAW_URI_PATH}, "/{RELEASES_PREFIX}/"))'
)
"""Content-hashed build output and a release's files by their full path, matched on the path the client
asked for (the cache phase runs after the rewrite)."""

ZONE_SETTINGS: dict[str, object] = {
    "ssl": "strict",
    "min_tls_version": "1.2",
    "always_use_https": "on",
    # `value` is untyped and reaches Cloudflare's API as is: its keys are the API's snake_case ones.
    "security_header": {
        "strict_transport_security": {
            "enabled": True,
            "max_age": HSTS_MAX_AGE,
            "include_subdomains": True,
            "preload": True,
            "nosniff": True,
        }
    },
}
"""Zone settings by id: full-strict TLS to origins, TLS 1.2+, HTTPS only, HSTS.

Values use the Cloudflare API's own (snake_case) keys: the SDK does not translate inside `value`."""


Rule = dict[str, Any]
"""One Cloudflare ruleset rule in wire form (camelCase keys)."""


def cloudflare_rulesets(
    settings: EdgeSettings, app: str, api: str, origin_host: object
) -> list[tuple[str, str, list[Rule]]]:
    """(phase, description, rules) of every zone ruleset; ``origin_host`` is the bucket endpoint.

    Pure: ``origin_host`` may be a value not known yet (an output), it is only placed in the rules.
    """
    index_path, asset_path = cloudflare_release_rewrite(settings.releases.active)
    headers = SecurityHeaders(settings.content_security_policy).as_headers()
    headers.pop("Strict-Transport-Security")  # the zone's security_header setting sends it
    waf = settings.waf
    block = waf.mode == "block"
    managed_parameters: dict[str, Any] = {} if block else {"overrides": {"action": "log"}}
    return [
        (
            "http_request_transform",
            "Serve the active release: SPA routes get its index.html, files its copy",
            [
                {
                    "ref": "release_routes",
                    "description": "SPA routes to the active release's index.html",
                    "expression": cloudflare_is_route(app),
                    "action": "rewrite",
                    "actionParameters": {"uri": {"path": {"value": index_path}}},
                },
                {
                    "ref": "release_files",
                    "description": "Files from the active release's directory",
                    "expression": cloudflare_is_asset(app),
                    "action": "rewrite",
                    "actionParameters": {"uri": {"path": {"expression": asset_path}}},
                },
            ],
        ),
        (
            "http_request_origin",
            "The frontend's origin is the bucket's regional endpoint; /api goes to the API",
            [
                {
                    "ref": "frontend_bucket",
                    "description": "Host header (and with it SNI) of the bucket endpoint",
                    "expression": f"{cloudflare_host_expression(app)} and not ({cloudflare_is_api(app)})",
                    "action": "route",
                    "actionParameters": {"hostHeader": origin_host},
                },
                {
                    "ref": "api_through_app",
                    "description": "/api/ on the frontend's host to the API, as CloudFront routes it",
                    "expression": cloudflare_is_api(app),
                    "action": "route",
                    "actionParameters": {"hostHeader": api, "origin": {"host": api}},
                },
            ],
        ),
        (
            "http_request_cache_settings",
            "Hashed assets for a year; index.html, routes and the API never",
            [
                {
                    "ref": "no_cache",
                    "description": "Never cache the entry document, SPA routes or the API",
                    "expression": (
                        f"({cloudflare_is_route(app, raw=True)}) or ({cloudflare_is_api(app)}) "
                        f"or {cloudflare_host_expression(api)}"
                    ),
                    "action": "set_cache_settings",
                    "actionParameters": {"cache": False},
                },
                {
                    "ref": "hashed_assets",
                    "description": "Content-hashed build output and release files are immutable",
                    "expression": f"{cloudflare_host_expression(app)} and {IMMUTABLE_EXPRESSION}",
                    "action": "set_cache_settings",
                    "actionParameters": {
                        "cache": True,
                        "edgeTtl": {"mode": "override_origin", "default": ASSET_TTL},
                    },
                },
            ],
        ),
        (
            "http_response_headers_transform",
            "Security headers on every frontend response",
            [
                {
                    "ref": "security_headers",
                    "description": "nosniff, frame denial, referrer policy and the CSP",
                    "expression": cloudflare_host_expression(app),
                    "action": "rewrite",
                    "actionParameters": {
                        "headers": {
                            header: {"operation": "set", "value": value} for header, value in headers.items()
                        }
                    },
                }
            ],
        ),
        (
            "http_request_firewall_managed",
            f"Cloudflare managed and OWASP core rulesets ({waf.mode})",
            [
                {
                    "ref": ref,
                    "description": description,
                    "expression": "true",
                    "action": "execute",
                    "actionParameters": {"id": ruleset_id, **managed_parameters},
                }
                for ref, ruleset_id, description in (
                    ("cloudflare_managed", CLOUDFLARE_MANAGED_RULESET, "Cloudflare Managed Ruleset"),
                    ("owasp_core", CLOUDFLARE_OWASP_RULESET, "Cloudflare OWASP Core Ruleset"),
                )
            ],
        ),
        (
            "http_ratelimit",
            "Per-IP rate limit on the frontend and the API",
            [
                {
                    "ref": "rate_limit_per_ip",
                    "description": f"{waf.rate_limit} requests per {waf.rate_window_seconds}s per IP",
                    "expression": f"{cloudflare_host_expression(app)} or {cloudflare_host_expression(api)}",
                    "action": "block" if block else "log",
                    "ratelimit": {
                        "characteristics": ["ip.src", "cf.colo.id"],
                        "period": waf.rate_window_seconds,
                        "requestsPerPeriod": waf.rate_limit,
                        "mitigationTimeout": waf.rate_window_seconds,
                    },
                }
            ],
        ),
    ]


class CloudflareCdn(pulumi.ComponentResource):
    """Zone settings, proxied records and the rulesets of the stack's Cloudflare zone."""

    release_rule_expression: str
    """The rewrite that points at the active release (what a release switch changes)."""

    def __init__(
        self, name: str, args: CloudflareCdnArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("platform:edge:CloudflareCdn", name, None, opts)
        import pulumi_aws as aws

        from components.cloudflare import ORIGIN_PULLS, RULESET, ZONE_SETTING, cloudflare_resource

        child = pulumi.ResourceOptions(parent=self)
        zone_id = args.zone.zone_id
        app, api = args.app_hostname, args.api_hostname

        # Zone-level authenticated origin pulls (all plans): Cloudflare presents its client certificate
        # to every origin. The bucket and the ALB do not verify it; the IP allow-lists keep them closed.
        cloudflare_resource(ORIGIN_PULLS, f"{name}-origin-pulls", {"zoneId": zone_id, "enabled": True}, child)
        for setting_id, value in ZONE_SETTINGS.items():
            cloudflare_resource(
                ZONE_SETTING,
                f"{name}-{setting_id.replace('_', '-')}",
                {"zoneId": zone_id, "settingId": setting_id, "value": value},
                child,
            )
        add_record(
            f"{name}-app", args.zone, app, "CNAME", args.bucket_regional_domain_name, proxied=True, opts=child
        )
        if args.api_origin_hostname is not None:
            add_record(
                f"{name}-api", args.zone, api, "CNAME", args.api_origin_hostname, proxied=True, opts=child
            )

        _, self.release_rule_expression = cloudflare_release_rewrite(args.settings.releases.active)
        bucket_host = pulumi.Output.from_input(args.bucket_regional_domain_name)
        for phase, description, rules in cloudflare_rulesets(args.settings, app, api, bucket_host):
            cloudflare_resource(
                RULESET,
                f"{name}-{phase.replace('_', '-')}",
                {
                    "zoneId": zone_id,
                    "kind": "zone",
                    "phase": phase,
                    "name": f"{phase} for {app}",
                    "description": description,
                    "rules": rules,
                },
                child,
            )
        aws.s3.BucketPolicy(
            f"{name}-bucket-policy",
            bucket=args.bucket_name,
            policy=pulumi.Output.from_input(args.bucket_arn).apply(
                lambda arn: json.dumps(cloudflare_bucket_policy(arn), sort_keys=True)
            ),
            opts=child,
        )
        self.register_outputs({"releaseRuleExpression": self.release_rule_expression})
