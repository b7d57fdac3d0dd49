"""The edge: DNS, frontend bucket, CloudFront + WAF or Cloudflare, releases and RUM.

Stack-level invariants run over the session's synthesized stacks; each has a case showing it
fails on a deliberately broken resource. Invalid edge and domain config is refused by the model.
"""

from __future__ import annotations

import copy
import dataclasses
import fnmatch
import inspect
import ipaddress
import json
import re
import subprocess
from collections.abc import Callable, Iterable
from typing import Any

import pytest

from components.cdn_cloudfront import ALL_VIEWER_EXCEPT_HOST_HEADER, CACHING_DISABLED, GLOBAL_REGION
from components.config import ConfigError, validate
from components.edge_render import (
    API_PATH,
    AWS_MANAGED_RULE_GROUPS,
    CLOUDFLARE_IPV4,
    CLOUDFLARE_IPV6,
    cloudflare_bucket_policy,
    cloudflare_release_rewrite,
    narrow_cidrs,
    viewer_request_function,
    waf_web_acl,
)
from components.edge_settings import check_domain, misplaced_csp_wildcards
from synth.diff import diff_resources
from synth.engine import Registration, Synthesis, synthesize
from tests import cf_expr
from tests.conftest import encode, stack_values, synthesized
from tests.tools import find_tool, need

CLOUDFRONT_STACKS = ["staging", "prod"]
DISTRIBUTION = "aws:cloudfront/distribution:Distribution"
WEB_ACL = "aws:wafv2/webAcl:WebAcl"
BUCKET = "aws:s3/bucket:Bucket"
PUBLIC_ACCESS_BLOCK = "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock"
BUCKET_POLICY = "aws:s3/bucketPolicy:BucketPolicy"
RULESET = "cloudflare:index/ruleset:Ruleset"
DNS_RECORD = "cloudflare:index/dnsRecord:DnsRecord"
ZONE_SETTING = "cloudflare:index/zoneSetting:ZoneSetting"


def _one(synthesis: Synthesis, type_: str) -> Registration:
    (found,) = synthesis.by_type(type_)
    return found


def _behaviors(distribution: Registration) -> list[dict[str, Any]]:
    return [
        distribution.inputs["defaultCacheBehavior"],
        *distribution.inputs.get("orderedCacheBehaviors", []),
    ]


# -- invariants (empty list = holds) -------------------------------------------------------------


def waf_problems(resources: list[Registration]) -> list[str]:
    """Every distribution sits behind a CLOUDFRONT-scope web ACL created in us-east-1."""
    acls = {r.outputs.get("arn"): r for r in resources if r.type == WEB_ACL}
    problems = []
    for distribution in (r for r in resources if r.type == DISTRIBUTION):
        acl = acls.get(distribution.inputs.get("webAclId"))
        if acl is None:
            problems.append(f"{distribution.name}: no web ACL of this stack attached")
        elif acl.inputs.get("scope") != "CLOUDFRONT" or acl.inputs.get("region") != GLOBAL_REGION:
            problems.append(f"{acl.name}: scope {acl.inputs.get('scope')} in {acl.inputs.get('region')}")
    return problems


def public_bucket_problems(resources: list[Registration]) -> list[str]:
    """Every bucket blocks all public access; no policy allows `*` without a narrowing condition."""
    blocks = {r.inputs.get("bucket"): r.inputs for r in resources if r.type == PUBLIC_ACCESS_BLOCK}
    switches = ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")
    problems = []
    for bucket in (r for r in resources if r.type == BUCKET):
        block = blocks.get(bucket.outputs.get("bucket")) or {}
        off = [s for s in switches if block.get(s) is not True]
        if off:
            problems.append(f"{bucket.name}: public access not blocked ({off})")
    for policy in (r for r in resources if r.type == BUCKET_POLICY):
        for statement in json.loads(policy.inputs["policy"])["Statement"]:
            if (
                statement["Effect"] == "Allow"
                and statement.get("Principal") == "*"
                and not statement.get("Condition")
            ):
                problems.append(f"{policy.name}: {statement.get('Sid')} allows anyone")
    return problems


def tls_problems(resources: list[Registration]) -> list[str]:
    """Viewers need TLS 1.2+ (CloudFront policy, Cloudflare zone), HTTPS only, strict origin TLS."""
    problems = []
    for distribution in (r for r in resources if r.type == DISTRIBUTION):
        version = distribution.inputs["viewerCertificate"].get("minimumProtocolVersion", "")
        if not re.fullmatch(r"TLSv1\.(2_2021|2_2025|3_2025)", version):
            problems.append(f"{distribution.name}: minimum protocol {version!r}")
        for behavior in _behaviors(distribution):
            if behavior["viewerProtocolPolicy"] not in ("https-only", "redirect-to-https"):
                problems.append(f"{distribution.name}: {behavior['viewerProtocolPolicy']} viewers")
        for origin in distribution.inputs["origins"]:
            custom = origin.get("customOriginConfig")
            if custom and (
                custom["originProtocolPolicy"] != "https-only" or custom["originSslProtocols"] != ["TLSv1.2"]
            ):
                problems.append(f"{distribution.name}: origin {origin['originId']} without strict TLS")
    settings = {r.inputs["settingId"]: r.inputs.get("value") for r in resources if r.type == ZONE_SETTING}
    if settings:
        wanted = {"ssl": "strict", "min_tls_version": "1.2", "always_use_https": "on"}
        problems += [f"zone {k} is {settings.get(k)!r}" for k, v in wanted.items() if settings.get(k) != v]
    return problems


# -- CloudFront, WAF ------------------------------------------------------------------------------


@pytest.mark.parametrize("stack", CLOUDFRONT_STACKS)
def test_cloudfront_sits_behind_a_us_east_1_cloudfront_scope_waf(stack: str) -> None:
    resources = synthesized(stack).resources
    assert [r for r in resources if r.type == DISTRIBUTION]
    assert waf_problems(resources) == []


def test_waf_check_catches_a_distribution_without_web_acl_and_a_regional_acl() -> None:
    resources = synthesized("prod").resources
    distribution = next(r for r in resources if r.type == DISTRIBUTION)
    acl = next(r for r in resources if r.type == WEB_ACL)
    unattached = dataclasses.replace(distribution, inputs={**distribution.inputs, "webAclId": None})
    regional = dataclasses.replace(acl, inputs={**acl.inputs, "region": "eu-west-1"})
    assert waf_problems([unattached, acl]) != []
    assert waf_problems([distribution, regional]) != []


@pytest.mark.parametrize(("stack", "mode"), [("staging", "count"), ("prod", "block")])
def test_waf_counts_in_staging_and_blocks_in_prod(stack: str, mode: str) -> None:
    rules = _one(synthesized(stack), WEB_ACL).inputs["rules"]
    managed = {r["name"]: r["overrideAction"] for r in rules if "overrideAction" in r}
    assert set(managed) == {name for name, _ in AWS_MANAGED_RULE_GROUPS}
    assert all(action == ({"none": {}} if mode == "block" else {"count": {}}) for action in managed.values())
    (rate,) = [r for r in rules if "rateBasedStatement" in r["statement"]]
    assert rate["action"] == {mode: {}}
    assert rate["statement"]["rateBasedStatement"]["aggregateKeyType"] == "IP"


# WAFv2's `EntityDescription` pattern (its API reference): word characters, `+=:#@/-,.` and spaces.
WAF_DESCRIPTION = re.compile(r"^[\w+=:#@/\-,\.][\w+=:#@/\-,\.\s]+[\w+=:#@/\-,\.]$")


@pytest.mark.parametrize("stack", CLOUDFRONT_STACKS)
def test_web_acl_description_is_one_aws_accepts(stack: str) -> None:
    description = _one(synthesized(stack), WEB_ACL).inputs["description"]
    assert WAF_DESCRIPTION.fullmatch(description), description
    assert not WAF_DESCRIPTION.fullmatch("Managed rules and a per-IP rate limit (block)")


def test_api_request_bodies_over_8_kb_are_only_counted_in_block_mode() -> None:
    rules = _one(synthesized("prod"), WEB_ACL).inputs["rules"]
    common = next(r for r in rules if r["name"] == "AWSManagedRulesCommonRuleSet")
    assert common["overrideAction"] == {"none": {}}  # the group blocks ...
    overrides = common["statement"]["managedRuleGroupStatement"]["ruleActionOverrides"]
    assert overrides == [{"name": "SizeRestrictions_BODY", "actionToUse": {"count": {}}}]  # ... but this


def _sdk_key_problems(value: Any, cls_name: str, module: Any) -> list[str]:
    """Keys of camelCase ``value`` that the SDK's typed `<cls_name>` classes do not have."""
    cls = getattr(module, f"{cls_name}Args", None)
    if cls is None:
        return [f"no SDK class {cls_name}Args"]
    params = set(inspect.signature(cls.__init__).parameters)
    problems = []
    for key, sub in value.items():
        snake = re.sub(r"(?<!^)(?=[A-Z])", "_", key).lower()
        if snake not in params:
            problems.append(f"{cls_name}Args has no {snake!r}")
        elif isinstance(sub, dict):
            problems += _sdk_key_problems(sub, cls_name + key[0].upper() + key[1:], module)
        elif isinstance(sub, list) and sub and isinstance(sub[0], dict):
            for item in sub:
                problems += _sdk_key_problems(item, cls_name + key[0].upper() + key[1:].rstrip("s"), module)
    return problems


def web_acl_input_problems(props: dict[str, Any]) -> list[str]:
    """The web ACL is registered by type token; check every nested key against the SDK's classes."""
    from pulumi_aws import wafv2

    params = set(inspect.signature(wafv2.WebAcl._internal_init).parameters)
    problems = [
        f"WebAcl has no {k!r}" for k in props if re.sub(r"(?<!^)(?=[A-Z])", "_", k).lower() not in params
    ]
    for key in ("defaultAction", "visibilityConfig"):
        problems += _sdk_key_problems(props[key], "WebAcl" + key[0].upper() + key[1:], wafv2)
    for rule in props["rules"]:
        problems += _sdk_key_problems(rule, "WebAclRule", wafv2)
    return problems


def test_web_acl_inputs_match_the_sdk_schema_and_a_typo_is_caught() -> None:
    props = waf_web_acl(name="x", mode="block", rate_limit=100, window_seconds=300)
    assert web_acl_input_problems({**props, "region": "us-east-1", "tags": {}}) == []
    broken = copy.deepcopy(props)
    broken["rules"][0]["statement"]["rateBasedStatement"]["evaluationWindow"] = 300
    assert web_acl_input_problems(broken) == [
        "WebAclRuleStatementRateBasedStatementArgs has no 'evaluation_window'"
    ]


# -- buckets and TLS ----------------------------------------------------------------------------


@pytest.mark.parametrize("stack", ["staging", "uat", "prod"])
def test_no_bucket_is_public(stack: str) -> None:
    resources = synthesized(stack).resources
    assert len([r for r in resources if r.type == BUCKET]) >= 2
    assert public_bucket_problems(resources) == []


def test_public_bucket_check_catches_a_lowered_block_and_an_open_policy() -> None:
    resources = synthesized("prod").resources
    block = next(r for r in resources if r.type == PUBLIC_ACCESS_BLOCK)
    lowered = dataclasses.replace(block, inputs={**block.inputs, "restrictPublicBuckets": False})
    assert public_bucket_problems([lowered if r is block else r for r in resources]) != []
    policy = next(r for r in resources if r.type == BUCKET_POLICY)
    opened = {"Statement": [{"Sid": "Open", "Effect": "Allow", "Principal": "*", "Action": "s3:GetObject"}]}
    assert public_bucket_problems([dataclasses.replace(policy, inputs={"policy": json.dumps(opened)})]) != []


def test_cloudflare_bucket_policy_admits_exactly_the_published_ranges_in_non_public_prefixes() -> None:
    statement = cloudflare_bucket_policy("arn:aws:s3:::b")["Statement"][0]  # type: ignore[index]
    cidrs = statement["Condition"]["IpAddress"]["aws:SourceIp"]
    assert all(
        ipaddress.ip_network(c).prefixlen >= {4: 8, 6: 32}[ipaddress.ip_network(c).version] for c in cidrs
    )
    v4 = [ipaddress.IPv4Network(c) for c in cidrs if ":" not in c]
    v6 = [ipaddress.IPv6Network(c) for c in cidrs if ":" in c]
    assert list(ipaddress.collapse_addresses(v4)) == list(
        ipaddress.collapse_addresses(ipaddress.IPv4Network(c) for c in CLOUDFLARE_IPV4)
    )
    assert list(ipaddress.collapse_addresses(v6)) == list(
        ipaddress.collapse_addresses(ipaddress.IPv6Network(c) for c in CLOUDFLARE_IPV6)
    )
    assert narrow_cidrs(["2a06:98c0::/29"])[::7] == ["2a06:98c0::/32", "2a06:98c7::/32"]
    assert narrow_cidrs(["10.0.0.0/7", "10.1.0.0/16"]) == ["10.0.0.0/8", "11.0.0.0/8", "10.1.0.0/16"]


def test_frontend_bucket_is_versioned_encrypted_logged_and_expires_old_versions() -> None:
    resources = synthesized("prod").resources
    by_type = {r.type.rsplit(":", 1)[1]: r for r in resources if r.name.startswith("frontend-site")}
    assert by_type["BucketVersioning"].inputs["versioningConfiguration"]["status"] == "Enabled"
    rule = by_type["BucketServerSideEncryptionConfiguration"].inputs["rules"][0]
    assert rule["applyServerSideEncryptionByDefault"]["sseAlgorithm"] == "AES256"
    lifecycle = {r["id"]: r for r in by_type["BucketLifecycleConfiguration"].inputs["rules"]}
    assert lifecycle["expire-old-versions"]["noncurrentVersionExpiration"]["noncurrentDays"] == 30
    assert lifecycle["expire-retired-releases"]["filter"]["tag"] == {"key": "retired", "value": "true"}
    assert by_type["BucketLogging"].inputs["targetPrefix"] == "s3/frontend/"
    assert by_type["Bucket"].protect  # prod protects its release bucket


@pytest.mark.parametrize("stack", ["staging", "uat", "prod"])
def test_viewers_need_tls_1_2_or_newer_and_https(stack: str) -> None:
    assert tls_problems(synthesized(stack).resources) == []


def test_tls_check_catches_an_old_protocol_and_flexible_ssl() -> None:
    distribution = _one(synthesized("prod"), DISTRIBUTION)
    certificate = {**distribution.inputs["viewerCertificate"], "minimumProtocolVersion": "TLSv1_2016"}
    old = dataclasses.replace(distribution, inputs={**distribution.inputs, "viewerCertificate": certificate})
    assert tls_problems([old]) != []
    ssl = next(r for r in synthesized("uat").by_type(ZONE_SETTING) if r.inputs["settingId"] == "ssl")
    assert tls_problems([dataclasses.replace(ssl, inputs={**ssl.inputs, "value": "flexible"})]) != []


@pytest.mark.parametrize("stack", CLOUDFRONT_STACKS)
def test_every_behavior_sends_the_security_headers_with_the_configured_csp(stack: str) -> None:
    synthesis = synthesized(stack)
    policy = _one(synthesis, "aws:cloudfront/responseHeadersPolicy:ResponseHeadersPolicy")
    headers = policy.inputs["securityHeadersConfig"]
    assert headers["strictTransportSecurity"]["accessControlMaxAgeSec"] >= 31_536_000
    assert headers["strictTransportSecurity"]["includeSubdomains"] is True
    assert headers["contentTypeOptions"]["override"] is True
    assert headers["frameOptions"]["frameOption"] == "DENY"
    assert headers["referrerPolicy"]["referrerPolicy"] == "strict-origin-when-cross-origin"
    config = validate(stack_values(stack))
    csp = config.edge.content_security_policy_for(config.cloud.region)  # type: ignore[union-attr]
    assert headers["contentSecurityPolicy"]["contentSecurityPolicy"] == csp
    assert {b["responseHeadersPolicyId"] for b in _behaviors(_one(synthesis, DISTRIBUTION))} == {
        policy.outputs["id"]
    }


@pytest.mark.parametrize("stack", CLOUDFRONT_STACKS)
def test_api_bypasses_the_cache_and_gets_the_viewer_headers(stack: str) -> None:
    distribution = _one(synthesized(stack), DISTRIBUTION)
    (api,) = [b for b in _behaviors(distribution) if b.get("pathPattern") == API_PATH]
    assert api["cachePolicyId"] == CACHING_DISABLED
    assert api["originRequestPolicyId"] == ALL_VIEWER_EXCEPT_HOST_HEADER
    assert {"POST", "PUT", "PATCH", "DELETE"} <= set(api["allowedMethods"])
    assert distribution.inputs["defaultCacheBehavior"]["cachePolicyId"] == CACHING_DISABLED  # index.html
    assert distribution.inputs["httpVersion"] == "http2and3"


def test_cloudflare_never_caches_the_api_or_the_entry_document() -> None:
    rulesets = {r.inputs["phase"]: r for r in synthesized("uat").by_type(RULESET)}
    (no_cache,) = [
        r for r in rulesets["http_request_cache_settings"].inputs["rules"] if r["ref"] == "no_cache"
    ]
    assert no_cache["actionParameters"]["cache"] is False
    for host, path in [
        ("api.uat.platform.example.net", "/api/orders"),
        ("uat.platform.example.net", "/api/orders"),
        ("uat.platform.example.net", "/"),
        ("uat.platform.example.net", "/orders/42"),
    ]:
        assert cf_expr.matches(no_cache["expression"], host=host, path=path), (host, path)
    assert not cf_expr.matches(no_cache["expression"], host="uat.platform.example.net", path="/assets/a-1.js")
    assert {"http_request_firewall_managed", "http_ratelimit", "http_request_transform"} <= set(rulesets)


def test_cloudflare_blocks_in_uat_with_a_per_ip_rate_limit() -> None:
    rulesets = {r.inputs["phase"]: r for r in synthesized("uat").by_type(RULESET)}
    (rate,) = rulesets["http_ratelimit"].inputs["rules"]
    assert rate["action"] == "block"
    assert rate["ratelimit"]["requestsPerPeriod"] == 600 and rate["ratelimit"]["period"] == 60
    managed = rulesets["http_request_firewall_managed"].inputs["rules"]
    assert len(managed) == 2 and all("overrides" not in r["actionParameters"] for r in managed)


@pytest.mark.parametrize(("mode", "action", "overrides"), [("block", "block", None), ("count", "log", "log")])
def test_cloudflare_waf_mode_decides_whether_rules_block_or_log(
    mode: str, action: str, overrides: str | None
) -> None:
    from components.cdn_cloudflare import cloudflare_rulesets
    from components.edge_settings import EdgeSettings

    values = stack_values("uat")["edge"]
    settings = EdgeSettings.model_validate({**values, "waf": {**values["waf"], "mode": mode}})
    rules = {phase: rules for phase, _, rules in cloudflare_rulesets(settings, "a.test", "api.a.test", "o")}
    assert [r["action"] for r in rules["http_ratelimit"]] == [action]
    managed = [
        r["actionParameters"].get("overrides", {}).get("action")
        for r in rules["http_request_firewall_managed"]
    ]
    assert managed == [overrides, overrides]


# -- DNS and certificates ------------------------------------------------------------------------


@pytest.mark.parametrize("stack", ["staging", "uat", "prod"])
def test_api_certificate_is_regional_and_validated_through_dns(stack: str) -> None:
    synthesis = synthesized(stack)
    certificates = {r.name: r for r in synthesis.by_type("aws:acm/certificate:Certificate")}
    api = certificates["dns-api-certificate"]
    assert api.inputs["domainName"].startswith("api.") and api.inputs["validationMethod"] == "DNS"
    assert "region" not in api.inputs  # the stack's region, through its provider
    validations = {r.name for r in synthesis.resources if r.name.endswith("-certificate-validation")}
    assert "dns-api-certificate-validation" in validations
    viewer = certificates.get("cdn-viewer-certificate")
    if viewer is not None:
        assert viewer.inputs["region"] == "us-east-1"


def test_dev_gets_a_local_name_and_no_edge() -> None:
    dev = synthesized("dev")
    assert dev.outputs["appHostname"] == "platform.localtest.me"
    assert dev.outputs["apiHostname"] == "api.platform.localtest.me"
    assert not [r for r in dev.resources if r.type.startswith(("aws:", "cloudflare:"))]


def test_prod_serves_the_app_at_its_apex_through_alias_records() -> None:
    records = {r.name: r.inputs for r in synthesized("prod").by_type("aws:route53/record:Record")}
    for record_type in ("a", "aaaa"):
        alias = records[f"cdn-app-{record_type}"]
        assert alias["name"] == "platform.example.com"
        assert alias["aliases"][0]["zoneId"] == "Z2FDTNDATAQYW2"


# -- releases -----------------------------------------------------------------------------------


def test_switching_the_active_release_changes_only_the_release_pointer() -> None:
    values = stack_values("prod")
    retained = values["edge"]["releases"]["retained"]
    assert values["edge"]["releases"]["active"] != retained[0]
    values["edge"]["releases"]["active"] = retained[0]
    rolled_back = synthesize("prod", config=encode(values))
    before = [r.as_export() for r in synthesized("prod").resources]
    diff = diff_resources(before, [r.as_export() for r in rolled_back.resources])
    assert not diff.added and not diff.removed and not diff.dangers
    assert [(c.type, [p.path for p in c.inputs]) for c in diff.changed] == [
        ("aws:cloudfront/keyvaluestoreKey:KeyvaluestoreKey", ["value"])
    ]
    assert rolled_back.outputs["activeRelease"] == retained[0]


def _run_function(uri: str, release: str) -> str:
    node = find_tool("node")
    need(node, "node is not installed (needed to run the CloudFront Function)")
    code = viewer_request_function().replace(
        "import cf from 'cloudfront';", f"const cf = {{ kvs: () => ({{ get: async () => '{release}' }}) }};"
    )
    code += f"\nhandler({{ request: {{ uri: {json.dumps(uri)} }} }}).then((r) => console.log(r.uri));\n"
    result = subprocess.run(
        [str(node), "--input-type=module", "-e", code], capture_output=True, text=True, check=True
    )
    return result.stdout.strip()


# What each CDN must do with a request for the frontend's host: (path, origin, object served, cached).
# `r7` is the active release; a page of release `r6` still open after the switch asks for its own files.
EDGE_ROUTES = [
    ("/", "bucket", "/releases/r7/index.html", False),
    ("/orders/42", "bucket", "/releases/r7/index.html", False),
    ("/settings/", "bucket", "/releases/r7/index.html", False),
    ("/users/jane.doe", "bucket", "/releases/r7/index.html", False),
    ("/assets/index-3f9c2ab.js", "bucket", "/releases/r7/assets/index-3f9c2ab.js", True),
    ("/favicon.ico", "bucket", "/releases/r7/favicon.ico", None),
    ("/releases/r6/assets/index-1a2b3c4.js", "bucket", "/releases/r6/assets/index-1a2b3c4.js", True),
    ("/api/orders", "api", "/api/orders", False),
    ("/api/export.json", "api", "/api/export.json", False),
]
"""`cached` None: the CDN's default (by the origin's headers)."""


def _cloudfront_route(distribution: Registration, path: str) -> tuple[str, str, bool | None]:
    """(origin, object, cached for long) of a request, as CloudFront's behaviors and the function route it."""
    behavior = next(
        (
            b
            for b in distribution.inputs.get("orderedCacheBehaviors", [])
            if fnmatch.fnmatchcase(path, b["pathPattern"])
        ),
        distribution.inputs["defaultCacheBehavior"],
    )
    origin = "api" if behavior["targetOriginId"] == "api" else "bucket"
    served = _run_function(path, "r7") if behavior.get("functionAssociations") else path
    cached = None if behavior["cachePolicyId"] == CACHING_DISABLED else True
    return origin, served, False if cached is None else cached


@pytest.mark.parametrize(("path", "origin", "served", "cached"), EDGE_ROUTES)
def test_cloudfront_routes_each_path_to_its_origin_and_release(
    path: str, origin: str, served: str, cached: bool | None
) -> None:
    distribution = _one(synthesized("prod"), DISTRIBUTION)
    got = _cloudfront_route(distribution, path)
    assert got[:2] == (origin, served)
    if cached is not None:
        assert got[2] is cached


def _cloudflare_route(
    rulesets: dict[str, list[dict[str, Any]]], host: str, path: str
) -> tuple[str, str, bool | None]:
    """(origin, object, cached) of a request, as the zone's rulesets route it (every rule of a phase
    sees the phase's input; later rules of a phase win)."""
    served = path
    for rule in rulesets["http_request_transform"]:
        if cf_expr.matches(rule["expression"], host=host, path=path):
            uri = rule["actionParameters"]["uri"]["path"]
            if "value" in uri:
                served = uri["value"]
            else:
                assert uri["expression"] == 'concat("/releases/r7", http.request.uri.path)', uri
                served = "/releases/r7" + path
    origin = "default"
    for rule in rulesets["http_request_origin"]:
        if cf_expr.matches(rule["expression"], host=host, path=path, rewritten=served):
            params = rule["actionParameters"]
            origin = "api" if params.get("origin", {}).get("host") == API_HOST else "bucket"
            assert params["hostHeader"] == (
                API_HOST if origin == "api" else "bucket.s3.eu-west-1.amazonaws.com"
            )
    cached: bool | None = None
    for rule in rulesets["http_request_cache_settings"]:
        if cf_expr.matches(rule["expression"], host=host, path=path, rewritten=served):
            cached = rule["actionParameters"]["cache"]
    return origin, served, cached


APP_HOST, API_HOST = "uat.example.net", "api.uat.example.net"


@pytest.mark.parametrize(("path", "origin", "served", "cached"), EDGE_ROUTES)
def test_cloudflare_routes_each_path_to_its_origin_and_release(
    path: str, origin: str, served: str, cached: bool | None
) -> None:
    from components.cdn_cloudflare import cloudflare_rulesets
    from components.edge_settings import EdgeSettings

    values = stack_values("uat")["edge"]
    settings = EdgeSettings.model_validate({**values, "releases": {"active": "r7", "retained": ["r6", "r7"]}})
    rulesets = {
        phase: rules
        for phase, _, rules in cloudflare_rulesets(
            settings, APP_HOST, API_HOST, "bucket.s3.eu-west-1.amazonaws.com"
        )
    }
    assert _cloudflare_route(rulesets, APP_HOST, path) == (origin, served, cached)


def test_cloudflare_sends_the_api_host_to_its_origin_uncached_and_unrewritten() -> None:
    from components.cdn_cloudflare import cloudflare_rulesets
    from components.edge_settings import EdgeSettings

    settings = EdgeSettings.model_validate(stack_values("uat")["edge"])
    rulesets = {p: r for p, _, r in cloudflare_rulesets(settings, APP_HOST, API_HOST, "bucket")}
    assert _cloudflare_route(rulesets, API_HOST, "/api/orders") == ("default", "/api/orders", False)


def test_cloudfront_on_a_cloudflare_zone_gets_one_cname_for_the_app() -> None:
    values = copy.deepcopy(stack_values("uat"))
    values["edge"]["cdn"] = {"provider": "cloudfront"}
    synthesis = synthesize("uat", config=encode(values))
    app = values["domain"]["name"]
    records = [r for r in synthesis.by_type(DNS_RECORD) if r.inputs["name"] == app]
    assert [(r.inputs["type"], r.inputs["proxied"]) for r in records] == [("CNAME", False)]
    assert records[0].inputs["content"] == _one(synthesis, DISTRIBUTION).outputs["domainName"]


def test_cloudflare_rewrite_points_into_the_active_release() -> None:
    index, files = cloudflare_release_rewrite("2026.11.24-7c41d09")
    assert index == "/releases/2026.11.24-7c41d09/index.html"
    assert files == 'concat("/releases/2026.11.24-7c41d09", http.request.uri.path)'


# -- RUM ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("stack", ["staging", "uat", "prod"])
def test_rum_guests_may_only_put_events_on_their_monitor(stack: str) -> None:
    synthesis = synthesized(stack)
    monitor = _one(synthesis, "aws:rum/appMonitor:AppMonitor")
    (policy,) = [
        r for r in synthesis.by_type("aws:iam/rolePolicy:RolePolicy") if r.name == "rum-guest-put-events"
    ]
    assert json.loads(policy.inputs["policy"])["Statement"] == [
        {"Effect": "Allow", "Action": "rum:PutRumEvents", "Resource": monitor.outputs["arn"]}
    ]
    (role,) = [r for r in synthesis.by_type("aws:iam/role:Role") if r.name == "rum-guest"]
    condition = json.loads(role.inputs["assumeRolePolicy"])["Statement"][0]["Condition"]
    assert condition["ForAnyValue:StringLike"]["cognito-identity.amazonaws.com:amr"] == "unauthenticated"
    snippet = synthesis.outputs["rum"]
    assert snippet["applicationId"] == monitor.outputs["appMonitorId"]
    assert snippet["config"]["identityPoolId"].startswith("eu-west-1:")


# -- invalid input ------------------------------------------------------------------------------


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def mutate(values: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        target = values
        for part in parents:
            target = target.setdefault(part, {})
        target[last] = value

    return mutate


def _uat_cdn_on(dns: dict[str, Any]) -> Callable[[dict[str, Any]], None]:
    def mutate(values: dict[str, Any]) -> None:
        values["edge"]["cdn"] = {"provider": "cloudflare"}
        values["domain"]["dns"] = dns

    return mutate


INVALID: list[tuple[str, Callable[[dict[str, Any]], None], str, str]] = [
    ("unknown-cdn", _set("edge.cdn.provider", "fastly"), "edge.cdn.provider", "'cloudfront' or 'cloudflare'"),
    (
        "cloudflare-cdn-without-zone",
        _uat_cdn_on({"provider": "route53", "zoneName": "platform.example.com"}),
        "edge.cdn.provider",
        "needs a Cloudflare zone",
    ),
    (
        "cloudflare-dns-without-zone-id",
        _set("domain.dns", {"provider": "cloudflare"}),
        "domain.dns",
        "needs zoneId",
    ),
    ("double-dot-domain", _set("domain.name", "platform..example.com"), "domain.name", "invalid labels"),
    ("uppercase-domain", _set("domain.name", "Platform.example.com"), "domain.name", "must be lowercase"),
    ("single-label-domain", _set("domain.name", "localhost"), "domain.name", "not fully qualified"),
    (
        "domain-outside-zone",
        _set("domain.dns", {"provider": "route53", "zoneName": "example.org"}),
        "domain",
        "not inside the zone",
    ),
    (
        "active-not-retained",
        _set("edge.releases.active", "2020.01.01-deadbee"),
        "edge.releases",
        "not among the retained",
    ),
    (
        "waf-rate-below-minimum",
        _set("edge.waf.rateLimit", 9),
        "edge.waf.rateLimit",
        "lowest rate limit is 10",
    ),
    (
        "waf-window-cloudflare-only",
        _set("edge.waf.rateWindowSeconds", 10),
        "edge.waf.rateWindowSeconds",
        "60, 120, 300 or 600",
    ),
    ("edge-without-dns", _set("domain.dns", None), "domain.dns", "needs a DNS provider"),
]


@pytest.mark.parametrize(("case", "mutate", "key", "message"), INVALID, ids=[c[0] for c in INVALID])
def test_invalid_edge_config_is_refused_with_the_key_and_rule(
    case: str, mutate: Callable[[dict[str, Any]], None], key: str, message: str
) -> None:
    values = copy.deepcopy(stack_values("prod"))
    mutate(values)
    with pytest.raises(ConfigError) as error:
        validate(values)
    text = str(error.value)
    assert text.startswith(f"platform:{key}: "), text
    assert message in text and "(value: " in text, text


def test_edge_on_a_local_stack_is_refused() -> None:
    values = copy.deepcopy(stack_values("dev"))
    values["edge"] = stack_values("prod")["edge"]
    with pytest.raises(ConfigError, match=r"^platform:edge: .*cloud.provider `aws`"):
        validate(values)


@pytest.mark.parametrize(
    "name", ["example.com", "xn--bcher-kva.example", "a-b.c-d.example.co.uk", "platform.localtest.me"]
)
def test_valid_domains_pass(name: str) -> None:
    assert check_domain(name) == name


@pytest.mark.parametrize(
    "name",
    [
        "-a.example.com",
        "a-.example.com",
        "example.com.",
        "a_b.example.com",
        "example.123",
        ("a" * 64) + ".com",
    ],
)
def test_invalid_domains_are_refused(name: str) -> None:
    with pytest.raises(ValueError):
        check_domain(name)


def test_every_stack_config_with_an_edge_validates() -> None:
    edges: Iterable[str] = [
        s for s in ("staging", "uat", "prod") if validate(stack_values(s)).edge is not None
    ]
    assert list(edges) == ["staging", "uat", "prod"]


def _sent_csp(stack: str) -> str:
    synthesis = synthesized(stack)
    if stack in CLOUDFRONT_STACKS:
        policy = _one(synthesis, "aws:cloudfront/responseHeadersPolicy:ResponseHeadersPolicy")
        return policy.inputs["securityHeadersConfig"]["contentSecurityPolicy"]["contentSecurityPolicy"]
    for ruleset in synthesis.by_type("cloudflare:index/ruleset:Ruleset"):
        for rule in ruleset.inputs.get("rules", []):
            headers = (rule.get("actionParameters") or {}).get("headers") or {}
            if "Content-Security-Policy" in headers:
                return headers["Content-Security-Policy"]["value"]
    raise AssertionError(f"{stack} sends no Content-Security-Policy")


@pytest.mark.parametrize("stack", ["staging", "uat", "prod"])
def test_csp_allows_rum_and_cognito_in_the_stacks_region(stack: str) -> None:
    csp = _sent_csp(stack)
    region = validate(stack_values(stack)).cloud.region  # type: ignore[union-attr]
    assert f"https://dataplane.rum.{region}.amazonaws.com" in csp
    assert f"https://cognito-identity.{region}.amazonaws.com" in csp
    assert "{region}" not in csp
    assert misplaced_csp_wildcards(csp) == []


@pytest.mark.parametrize(
    ("policy", "bad"),
    [
        (
            "connect-src 'self' https://dataplane.rum.*.amazonaws.com",
            ["https://dataplane.rum.*.amazonaws.com"],
        ),
        ("img-src https://cdn*.example.com *", ["https://cdn*.example.com"]),
        ("connect-src https://*.example.com wss://*.example.com:* *; img-src *", []),
    ],
)
def test_csp_wildcard_check_accepts_only_a_leftmost_label(policy: str, bad: list[str]) -> None:
    assert misplaced_csp_wildcards(policy) == bad


def test_a_csp_with_a_mid_host_wildcard_is_refused_with_the_key(prod_values: dict[str, Any]) -> None:
    prod_values["edge"]["contentSecurityPolicy"] = (
        "connect-src 'self' https://cognito-identity.*.amazonaws.com"
    )
    with pytest.raises(ConfigError, match=r"platform:edge\.contentSecurityPolicy: .*leftmost label"):
        validate(prod_values)


def test_staging_owns_a_delegated_subzone_not_prods_parent_zone() -> None:
    zones = synthesized("staging").by_type("aws:route53/zone:Zone")
    assert [z.inputs["name"] for z in zones] == ["staging.platform.example.com"]
    dns = validate(stack_values("staging")).domain.dns  # type: ignore[union-attr]
    assert dns is not None and dns.create_zone and dns.zone_name == "staging.platform.example.com"


def log_delivery_problems(policy: dict[str, Any], site_arn: str, account_id: str) -> list[str]:
    """What keeps S3 access logs of ``site_arn`` from being delivered, or lets plain HTTP in."""
    problems = []
    statements = policy["Statement"]
    grants = [
        s
        for s in statements
        if s["Effect"] == "Allow"
        and s.get("Principal") == {"Service": "logging.s3.amazonaws.com"}
        and s["Action"] == "s3:PutObject"
    ]
    if not grants:
        problems.append("no s3:PutObject grant to logging.s3.amazonaws.com")
    for grant in grants:
        condition = grant.get("Condition", {})
        if condition.get("ArnLike", {}).get("aws:SourceArn") != site_arn:
            problems.append("grant not limited to the site bucket (aws:SourceArn)")
        if condition.get("StringEquals", {}).get("aws:SourceAccount") != account_id:
            problems.append("grant not limited to the account (aws:SourceAccount)")
    if not any(
        s["Effect"] == "Deny" and s.get("Condition") == {"Bool": {"aws:SecureTransport": "false"}}
        for s in statements
    ):
        problems.append("insecure transport is not denied")
    return problems


def _logs_policy(stack: str) -> tuple[dict[str, Any], Registration]:
    synthesis = synthesized(stack)
    (policy,) = [
        r for r in synthesis.by_type("aws:s3/bucketPolicy:BucketPolicy") if r.name == "frontend-logs-policy"
    ]
    return json.loads(policy.inputs["policy"]), policy


@pytest.mark.parametrize("stack", ["staging", "uat", "prod"])
def test_log_bucket_accepts_the_site_buckets_access_logs(stack: str) -> None:
    policy, _ = _logs_policy(stack)
    synthesis = synthesized(stack)
    (site,) = [r for r in synthesis.by_type("aws:s3/bucket:Bucket") if r.name == "frontend-site"]
    account = validate(stack_values(stack)).cloud.account_id  # type: ignore[union-attr]
    assert log_delivery_problems(policy, site.outputs["arn"], account) == []
    (grant,) = [s for s in policy["Statement"] if s["Effect"] == "Allow"]
    assert grant["Resource"].endswith("/s3/frontend/*")


def test_log_delivery_check_catches_an_unscoped_grant_and_a_missing_deny() -> None:
    policy, _ = _logs_policy("prod")
    broken = copy.deepcopy(policy)
    broken["Statement"] = [s for s in broken["Statement"] if s["Effect"] == "Allow"]
    del broken["Statement"][0]["Condition"]["ArnLike"]
    assert log_delivery_problems(broken, "arn:aws:s3:::x", "210000000003") == [
        "grant not limited to the site bucket (aws:SourceArn)",
        "insecure transport is not denied",
    ]


@pytest.mark.parametrize("stack", CLOUDFRONT_STACKS)
def test_cloudfront_logging_waits_for_the_log_buckets_acls(stack: str) -> None:
    synthesis = synthesized(stack)
    (ownership,) = [
        r
        for r in synthesis.by_type("aws:s3/bucketOwnershipControls:BucketOwnershipControls")
        if r.name == "frontend-logs-ownership"
    ]
    assert ownership.urn in _one(synthesis, DISTRIBUTION).dependencies
