"""Pure renders for the edge: the CloudFront viewer-request function, security headers, cache and
WAF rule data, Cloudflare rule expressions and the RUM snippet settings.

No Pulumi import and no I/O, so each can be tested (and the function code read) on its own. The
components turn these values into resources.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Iterable
from dataclasses import dataclass

from components.buckets import deny_insecure_transport

RELEASES_PREFIX = "releases"
"""Bucket prefix of the immutable builds: `releases/<id>/index.html`, `releases/<id>/assets/...`."""
ACTIVE_RELEASE_KEY = "active-release"
"""The KeyValueStore key holding the id of the release the edge serves."""
API_PATH = "/api/*"
ASSETS_PATH = "/assets/*"
"""Content-hashed build output (Vite's default `assets/` directory): immutable, cached for a year."""
RELEASE_FILES_PATH = f"/{RELEASES_PREFIX}/*"
"""A release's own files by their full path: a build made with base `/releases/<id>/` links its assets
there, so a page loaded before a switch keeps loading its own release's files after it."""
FILE_EXTENSIONS = (
    *("js", "mjs", "css", "map", "json", "txt", "xml", "webmanifest", "html", "wasm", "pdf"),
    *("ico", "png", "jpg", "jpeg", "gif", "svg", "webp", "avif", "mp4", "webm"),
    *("woff", "woff2", "ttf", "otf", "eot"),
)
"""Extensions of files a frontend build ships: a path ending in one is a file of the active release;
any other path (`/orders/42`, `/users/jane.doe`) is a single-page-app route served `index.html`."""

HSTS_MAX_AGE = 63_072_000  # two years, the preload list's requirement
ASSET_TTL = 31_536_000  # one year
API_FORWARDED_HEADERS = (
    "Authorization",
    "Accept",
    "Accept-Language",
    "Content-Type",
    "Origin",
    "Referer",
    "User-Agent",
    "X-Request-Id",
)
"""Headers the API needs from the viewer (besides cookies and the query string, forwarded whole)."""

# AWS managed rule groups, in evaluation order: (name, priority).
AWS_MANAGED_RULE_GROUPS = (
    ("AWSManagedRulesAmazonIpReputationList", 10),
    ("AWSManagedRulesCommonRuleSet", 20),
    ("AWSManagedRulesKnownBadInputsRuleSet", 30),
    ("AWSManagedRulesSQLiRuleSet", 40),
)
RATE_RULE_PRIORITY = 5
COUNT_ONLY_RULES = {"AWSManagedRulesCommonRuleSet": ("SizeRestrictions_BODY",)}
"""Managed rules that only count even in `block` mode: SizeRestrictions_BODY blocks every request
body over 8 KB, which would refuse ordinary API writes (`/api/*` shares the web ACL)."""

# Cloudflare's managed rulesets (fixed ids, the same for every account).
CLOUDFLARE_MANAGED_RULESET = "efb7b8c949ac4650a09736fc376e9aee"
CLOUDFLARE_OWASP_RULESET = "4814384a9e5d4991b9815dcfc25d2f1f"


def viewer_request_function() -> str:
    """CloudFront Function (cloudfront-js-2.0) mapping a viewer path into the active release.

    The active release id is read from the associated KeyValueStore on every request, so
    switching it takes effect at the edge within seconds without redeploying the function or
    the distribution. Paths ending in one of `FILE_EXTENSIONS` are files of the release; any other
    path is a single-page-app route and gets the release's `index.html`. (`/releases/*` and
    `/api/*` have their own behaviors, without this function.) Because the rewritten URI (release
    id included) is the cache key, a switch never serves a cached object of another release, and
    nothing needs invalidating.
    """
    return f"""import cf from 'cloudfront';

const kvs = cf.kvs();
const FILE_EXTENSIONS = {json.dumps(FILE_EXTENSIONS)};

async function handler(event) {{
  const request = event.request;
  let release;
  try {{
    release = await kvs.get('{ACTIVE_RELEASE_KEY}');
  }} catch (err) {{
    return {{
      statusCode: 503,
      statusDescription: 'Service Unavailable',
      headers: {{ 'cache-control': {{ value: 'no-store' }} }},
    }};
  }}
  const uri = request.uri;
  const last = uri.substring(uri.lastIndexOf('/') + 1);
  const dot = last.lastIndexOf('.');
  const file = dot > -1 && FILE_EXTENSIONS.indexOf(last.substring(dot + 1).toLowerCase()) !== -1;
  request.uri = '/{RELEASES_PREFIX}/' + release + (file ? uri : '/index.html');
  return request;
}}
"""


@dataclass(frozen=True)
class SecurityHeaders:
    """Response headers every frontend response carries."""

    content_security_policy: str
    hsts_max_age: int = HSTS_MAX_AGE
    frame_option: str = "DENY"
    referrer_policy: str = "strict-origin-when-cross-origin"

    def as_headers(self) -> dict[str, str]:
        """As HTTP header lines (Cloudflare response-header rules, documentation, tests)."""
        return {
            "Strict-Transport-Security": f"max-age={self.hsts_max_age}; includeSubDomains; preload",
            "X-Content-Type-Options": "nosniff",
            "X-Frame-Options": self.frame_option,
            "Referrer-Policy": self.referrer_policy,
            "Content-Security-Policy": self.content_security_policy,
        }


def rum_snippet_settings(
    *,
    app_monitor_id: str,
    identity_pool_id: str,
    region: str,
    release: str,
    session_sample_rate: float,
) -> dict[str, object]:
    """The settings the frontend build passes to `aws-rum-web`'s `AwsRum` constructor.

    No `guestRoleArn`: the client then uses Cognito's enhanced flow (`GetCredentialsForIdentity`),
    and the pool refuses the classic flow.
    """
    return {
        "applicationId": app_monitor_id,
        "applicationVersion": release,
        "applicationRegion": region,
        "config": {
            "sessionSampleRate": session_sample_rate,
            "identityPoolId": identity_pool_id,
            "endpoint": f"https://dataplane.rum.{region}.amazonaws.com",
            "telemetries": ["errors", "performance", "http"],
            "allowCookies": True,
            "enableXRay": False,
        },
    }


# -- Cloudflare --------------------------------------------------------------------------------


def cloudflare_host_expression(host: str) -> str:
    return f'(http.host eq "{host}")'


def cloudflare_release_rewrite(release: str) -> tuple[str, str]:
    """(route expression, asset path expression): the dynamic URL rewrites into the active release.

    Route paths (no file extension) become the release's `index.html`; anything else is
    prefixed with the release directory. The release id is in the rewritten path, which is
    the cache key: switching releases never serves a cached object of another release.
    """
    prefix = f"/{RELEASES_PREFIX}/{release}"
    return f"{prefix}/index.html", f'concat("{prefix}", http.request.uri.path)'


URI_PATH = "http.request.uri.path"
RAW_URI_PATH = "raw.http.request.uri.path"
"""The path as the client sent it: phases after the URL rewrite (cache rules) see the rewritten
`http.request.uri.path` (`/releases/<id>/…`), so they must match the immutable `raw.` field."""


API_PREFIX = API_PATH.removesuffix("*")
RELEASE_FILES_PREFIX = RELEASE_FILES_PATH.removesuffix("*")


def _passed_through(field: str) -> str:
    """Paths the release rewrite leaves alone: the API and a release's files by their full path."""
    return f'(starts_with({field}, "{API_PREFIX}") or starts_with({field}, "{RELEASE_FILES_PREFIX}"))'


def _is_file(field: str) -> str:
    return f"({field}.extension in {{{' '.join(json.dumps(e) for e in FILE_EXTENSIONS)}}})"


def cloudflare_is_route(host: str, *, raw: bool = False) -> str:
    """Frontend requests for a single-page-app route: neither a file of the build nor passed through.

    ``raw`` matches the path as received, for phases that run after the release rewrite.
    """
    field = RAW_URI_PATH if raw else URI_PATH
    return f"{cloudflare_host_expression(host)} and not {_passed_through(field)} and not {_is_file(field)}"


def cloudflare_is_asset(host: str) -> str:
    """Frontend requests for a file of the active release (by its path in the build)."""
    return f"{cloudflare_host_expression(host)} and not {_passed_through(URI_PATH)} and {_is_file(URI_PATH)}"


def cloudflare_is_api(host: str) -> str:
    """Requests for the API through the frontend's host (`/api/...`), as CloudFront routes them."""
    return f'{cloudflare_host_expression(host)} and starts_with({RAW_URI_PATH}, "{API_PREFIX}")'


CLOUDFLARE_IPV4 = (
    "173.245.48.0/20",
    "103.21.244.0/22",
    "103.22.200.0/22",
    "103.31.4.0/22",
    "141.101.64.0/18",
    "108.162.192.0/18",
    "190.93.240.0/20",
    "188.114.96.0/20",
    "197.234.240.0/22",
    "198.41.128.0/17",
    "162.158.0.0/15",
    "104.16.0.0/13",
    "104.24.0.0/14",
    "172.64.0.0/13",
    "131.0.72.0/22",
)
CLOUDFLARE_IPV6 = (
    "2400:cb00::/32",
    "2606:4700::/32",
    "2803:f800::/32",
    "2405:b500::/32",
    "2405:8100::/32",
    "2a06:98c0::/29",
    "2c0f:f248::/32",
)
"""Cloudflare's published edge ranges (https://www.cloudflare.com/ips/): the only readers of the bucket."""

NON_PUBLIC_MAX_PREFIX = {4: 8, 6: 32}
"""The widest `aws:SourceIp` prefix per IP version that S3 Block Public Access still treats as a fixed
set of addresses: a wider range makes an `Allow` to `"*"` public, and `BlockPublicPolicy` refuses the
policy."""


def narrow_cidrs(cidrs: Iterable[str]) -> list[str]:
    """The addresses of `cidrs`, each range wider than `NON_PUBLIC_MAX_PREFIX` split to that size."""
    out: list[str] = []
    for cidr in cidrs:
        net = ipaddress.ip_network(cidr)
        limit = NON_PUBLIC_MAX_PREFIX[net.version]
        subnets = net.subnets(new_prefix=limit) if net.prefixlen < limit else (net,)
        out += [str(sub) for sub in subnets]
    return out


def cloudflare_bucket_policy(bucket_arn: str) -> dict[str, object]:
    """Releases readable from Cloudflare's edge ranges only (fixed ranges keep the bucket non-public)."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "CloudflareReadsReleases",
                "Effect": "Allow",
                "Principal": "*",
                "Action": "s3:GetObject",
                "Resource": f"{bucket_arn}/{RELEASES_PREFIX}/*",
                "Condition": {
                    "IpAddress": {"aws:SourceIp": narrow_cidrs([*CLOUDFLARE_IPV4, *CLOUDFLARE_IPV6])}
                },
            },
            deny_insecure_transport(bucket_arn),
        ],
    }


def _managed_group(group: str) -> dict[str, object]:
    statement: dict[str, object] = {"vendorName": "AWS", "name": group}
    if group in COUNT_ONLY_RULES:
        statement["ruleActionOverrides"] = [
            {"name": rule, "actionToUse": {"count": {}}} for rule in COUNT_ONLY_RULES[group]
        ]
    return statement


def _waf_visibility(metric: str) -> dict[str, object]:
    return {"cloudwatchMetricsEnabled": True, "metricName": metric, "sampledRequestsEnabled": True}


def waf_web_acl(*, name: str, mode: str, rate_limit: int, window_seconds: int) -> dict[str, object]:
    """Inputs of an `aws:wafv2/webAcl:WebAcl` (scope CLOUDFRONT), camelCase as the provider takes them.

    A per-IP rate rule first, then the AWS managed rule groups. In `count` mode matches are only
    counted (managed groups overridden to count, the rate rule counts), so rules can be tuned
    on real traffic before a stack blocks.
    """
    block = mode == "block"
    rules: list[dict[str, object]] = [
        {
            "name": "rate-limit-per-ip",
            "priority": RATE_RULE_PRIORITY,
            "action": {"block": {}} if block else {"count": {}},
            "statement": {
                "rateBasedStatement": {
                    "aggregateKeyType": "IP",
                    "limit": rate_limit,
                    "evaluationWindowSec": window_seconds,
                }
            },
            "visibilityConfig": _waf_visibility("rate-limit-per-ip"),
        }
    ]
    rules += [
        {
            "name": group,
            "priority": priority,
            "overrideAction": {"none": {}} if block else {"count": {}},
            "statement": {"managedRuleGroupStatement": _managed_group(group)},
            "visibilityConfig": _waf_visibility(group),
        }
        for group, priority in AWS_MANAGED_RULE_GROUPS
    ]
    return {
        "name": name,
        # AWS allows only [\w+=:#@/\-,.] and spaces in a description (no parentheses).
        "description": f"Managed rules and a per-IP rate limit, mode {mode}",
        "scope": "CLOUDFRONT",
        "defaultAction": {"allow": {}},
        "rules": rules,
        "visibilityConfig": _waf_visibility(name),
    }
