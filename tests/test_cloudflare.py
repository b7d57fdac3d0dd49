"""Cloudflare resources registered by type token (`components.cloudflare`) register exactly what the
pulumi_cloudflare SDK classes would; the offline check still walks them to the leaves; and
synthesizing uat never imports the SDK. These tests import the SDK; the program must not."""

from __future__ import annotations

import dataclasses
import json
import re
import subprocess
import sys
from collections.abc import Callable, Iterator
from typing import Any

import pulumi
import pytest

from components import cloudflare as cf
from components.cdn_cloudflare import ZONE_SETTINGS, cloudflare_rulesets
from components.edge_settings import EdgeSettings
from synth.check import args_class, check_resources, unchecked_types
from synth.engine import ROOT, Registration, synthesize
from tests.conftest import stack_values, synthesized

ZONE = "0123456789abcdef0123456789abcdef"
APP, API, HOST = "uat.example.net", "api.uat.example.net", "bucket.s3.eu-west-1.amazonaws.com"


def _edge(mode: str) -> EdgeSettings:
    values = stack_values("uat")["edge"]
    return EdgeSettings.model_validate({**values, "waf": {**values["waf"], "mode": mode}})


def _sdk_rules(settings: EdgeSettings) -> dict[str, list[Any]]:
    """The rules of every phase built with the SDK's typed Args classes, as the SDK user writes them."""
    from pulumi_cloudflare import _inputs as i

    from components.edge_render import (
        ASSET_TTL,
        CLOUDFLARE_MANAGED_RULESET,
        CLOUDFLARE_OWASP_RULESET,
        SecurityHeaders,
        cloudflare_host_expression,
        cloudflare_is_api,
        cloudflare_is_asset,
        cloudflare_is_route,
        cloudflare_release_rewrite,
    )

    rule, params = i.RulesetRuleArgs, i.RulesetRuleActionParametersArgs
    uri, path = i.RulesetRuleActionParametersUriArgs, i.RulesetRuleActionParametersUriPathArgs
    index_path, asset_path = cloudflare_release_rewrite(settings.releases.active)
    headers = SecurityHeaders(settings.content_security_policy).as_headers()
    headers.pop("Strict-Transport-Security")
    waf, block = settings.waf, settings.waf.mode == "block"
    overrides = None if block else i.RulesetRuleActionParametersOverridesArgs(action="log")
    app, api = cloudflare_host_expression(APP), cloudflare_host_expression(API)
    app_api = cloudflare_is_api(APP)
    return {
        "http_request_transform": [
            rule(
                ref="release_routes",
                description="SPA routes to the active release's index.html",
                expression=cloudflare_is_route(APP),
                action="rewrite",
                action_parameters=params(uri=uri(path=path(value=index_path))),
            ),
            rule(
                ref="release_files",
                description="Files from the active release's directory",
                expression=cloudflare_is_asset(APP),
                action="rewrite",
                action_parameters=params(uri=uri(path=path(expression=asset_path))),
            ),
        ],
        "http_request_origin": [
            rule(
                ref="frontend_bucket",
                description="Host header (and with it SNI) of the bucket endpoint",
                expression=f"{app} and not ({app_api})",
                action="route",
                action_parameters=params(host_header=HOST),
            ),
            rule(
                ref="api_through_app",
                description="/api/ on the frontend's host to the API, as CloudFront routes it",
                expression=app_api,
                action="route",
                action_parameters=params(
                    host_header=API, origin=i.RulesetRuleActionParametersOriginArgs(host=API)
                ),
            ),
        ],
        "http_request_cache_settings": [
            rule(
                ref="no_cache",
                description="Never cache the entry document, SPA routes or the API",
                expression=f"({cloudflare_is_route(APP, raw=True)}) or ({app_api}) or {api}",
                action="set_cache_settings",
                action_parameters=params(cache=False),
            ),
            rule(
                ref="hashed_assets",
                description="Content-hashed build output and release files are immutable",
                expression=(
                    f'{app} and (starts_with(raw.http.request.uri.path, "/assets/") '
                    'or starts_with(raw.http.request.uri.path, "/releases/"))'
                ),
                action="set_cache_settings",
                action_parameters=params(
                    cache=True,
                    edge_ttl=i.RulesetRuleActionParametersEdgeTtlArgs(
                        mode="override_origin", default=ASSET_TTL
                    ),
                ),
            ),
        ],
        "http_response_headers_transform": [
            rule(
                ref="security_headers",
                description="nosniff, frame denial, referrer policy and the CSP",
                expression=app,
                action="rewrite",
                action_parameters=params(
                    headers={
                        h: i.RulesetRuleActionParametersHeadersArgs(operation="set", value=v)
                        for h, v in headers.items()
                    }
                ),
            )
        ],
        "http_request_firewall_managed": [
            rule(
                ref=ref,
                description=description,
                expression="true",
                action="execute",
                action_parameters=params(id=ruleset_id, overrides=overrides),
            )
            for ref, ruleset_id, description in (
                ("cloudflare_managed", CLOUDFLARE_MANAGED_RULESET, "Cloudflare Managed Ruleset"),
                ("owasp_core", CLOUDFLARE_OWASP_RULESET, "Cloudflare OWASP Core Ruleset"),
            )
        ],
        "http_ratelimit": [
            rule(
                ref="rate_limit_per_ip",
                description=f"{waf.rate_limit} requests per {waf.rate_window_seconds}s per IP",
                expression=f"{app} or {api}",
                action="block" if block else "log",
                ratelimit=i.RulesetRuleRatelimitArgs(
                    characteristics=["ip.src", "cf.colo.id"],
                    period=waf.rate_window_seconds,
                    requests_per_period=waf.rate_limit,
                    mitigation_timeout=waf.rate_window_seconds,
                ),
            )
        ],
    }


Program = Callable[[pulumi.ResourceOptions], object]


def _cases() -> Iterator[tuple[str, Program, Program]]:
    """(id, SDK program, type-token program), both given the same resource options."""

    def sdk(cls: str, **kwargs: Any) -> Program:
        """The SDK class ``cls``; a callable argument is evaluated at run time (keeps collection SDK-free)."""

        def program(opts: pulumi.ResourceOptions) -> object:
            import pulumi_cloudflare

            given = {k: v() if callable(v) else v for k, v in kwargs.items()}
            return getattr(pulumi_cloudflare, cls)("x", **given, opts=opts)

        return program

    def ours(token: str, props: dict[str, Any]) -> Program:
        return lambda opts: cf.cloudflare_resource(token, "x", props, opts)

    yield "provider", sdk("Provider"), lambda opts: cf.cloudflare_provider("x", opts)
    record = {"zone_id": ZONE, "name": APP, "type": "CNAME", "content": HOST, "proxied": True, "ttl": 1}
    yield (
        "dns-record",
        sdk("DnsRecord", **record),
        ours(cf.DNS_RECORD, {"zoneId": ZONE, **{k: v for k, v in record.items() if k != "zone_id"}}),
    )
    yield (
        "origin-pulls",
        sdk("AuthenticatedOriginPullsSettings", zone_id=ZONE, enabled=True),
        ours(cf.ORIGIN_PULLS, {"zoneId": ZONE, "enabled": True}),
    )
    for setting_id, value in ZONE_SETTINGS.items():
        yield (
            f"zone-setting-{setting_id}",
            sdk("ZoneSetting", zone_id=ZONE, setting_id=setting_id, value=value),
            ours(cf.ZONE_SETTING, {"zoneId": ZONE, "settingId": setting_id, "value": value}),
        )
    for mode in ("block", "count"):
        settings = _edge(mode)
        for phase, description, rules in cloudflare_rulesets(settings, APP, API, HOST):
            common = {
                "kind": "zone",
                "phase": phase,
                "name": f"{phase} for {APP}",
                "description": description,
            }
            yield (
                f"ruleset-{phase}-{mode}",
                sdk("Ruleset", zone_id=ZONE, rules=lambda s=settings, p=phase: _sdk_rules(s)[p], **common),
                ours(cf.RULESET, {"zoneId": ZONE, "rules": rules, **common}),
            )


CASES = list(_cases())


@dataclasses.dataclass
class _Options:
    version: str | None
    secret_outputs: list[str]
    aliases: list[str]


def _registered(program: Program, monkeypatch: pytest.MonkeyPatch) -> tuple[Registration, _Options]:
    """What the engine records for ``program``'s one resource, and the options it was registered with."""
    seen: list[_Options] = []
    original = pulumi.CustomResource.__init__

    def spy(self: Any, t: str, name: str, props: Any = None, opts: Any = None, *args: Any, **kw: Any) -> None:
        aliases = [a.type_ for a in (opts.aliases or []) if isinstance(a, pulumi.Alias)]
        seen.append(_Options(opts.version, sorted(opts.additional_secret_outputs or []), aliases))
        original(self, t, name, props, opts, *args, **kw)

    monkeypatch.setattr(pulumi.CustomResource, "__init__", spy)
    synthesis = synthesize(
        "cf", program=lambda: program(pulumi.ResourceOptions()), config={}, project="platform"
    )
    (only,) = [r for r in synthesis.resources if r.custom]
    return only, seen[-1]


@pytest.mark.parametrize(("sdk", "ours"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_registration_matches_the_sdk_class(
    sdk: Program, ours: Program, monkeypatch: pytest.MonkeyPatch
) -> None:
    sdk_registration, sdk_options = _registered(sdk, monkeypatch)
    registration, options = _registered(ours, monkeypatch)
    assert (registration.type, registration.inputs) == (sdk_registration.type, sdk_registration.inputs)
    assert options == sdk_options


def test_the_comparison_sees_a_wrong_nested_key(monkeypatch: pytest.MonkeyPatch) -> None:
    sdk = next(c[1] for c in CASES if c[0] == "ruleset-http_ratelimit-block")
    sdk_registration, _ = _registered(sdk, monkeypatch)

    def broken(opts: pulumi.ResourceOptions) -> object:
        (_, description, rules) = next(
            r for r in cloudflare_rulesets(_edge("block"), APP, API, HOST) if r[0] == "http_ratelimit"
        )
        rules[0]["ratelimit"]["requests_per_period"] = rules[0]["ratelimit"].pop("requestsPerPeriod")
        props = {
            "zoneId": ZONE,
            "kind": "zone",
            "phase": "http_ratelimit",
            "name": f"http_ratelimit for {APP}",
        }
        return cf.cloudflare_resource(
            cf.RULESET, "x", {**props, "description": description, "rules": rules}, opts
        )

    registration, _ = _registered(broken, monkeypatch)
    assert registration.inputs != sdk_registration.inputs


def test_the_comparison_sees_a_missing_alias(monkeypatch: pytest.MonkeyPatch) -> None:
    _, sdk, ours = next(c for c in CASES if c[0] == "dns-record")
    _, sdk_options = _registered(sdk, monkeypatch)
    without = dataclasses.replace(cf.TYPES[cf.DNS_RECORD], aliases=())
    monkeypatch.setitem(cf.TYPES, cf.DNS_RECORD, without)
    _, options = _registered(ours, monkeypatch)
    assert sdk_options.aliases == ["cloudflare:index/record:Record"] and options.aliases == []


@pytest.mark.parametrize("token", sorted(cf.TYPES))
def test_type_table_matches_the_sdk_class(token: str) -> None:
    from pulumi import _types

    args = args_class(token)
    assert args is not None
    kind = cf.TYPES[token]
    assert kind.inputs == set(_types.input_type_types(args))
    assert kind.required == _types._required_property_names(args)
    resource_class = getattr(sys.modules[args.__module__], token.rsplit(":", 1)[-1])
    getters = {
        getattr(attr.fget, "_pulumi_name", None)
        for attr in vars(resource_class).values()
        if isinstance(attr, property)
    }
    assert set(kind.outputs) == getters - kind.inputs


def test_plugin_version_is_the_sdk_one() -> None:
    from pulumi_cloudflare import _utilities

    assert cf.plugin_version() == _utilities.get_version()


@pytest.mark.parametrize(
    ("token", "props", "message"),
    [
        ("cloudflare:index/zone:Zone", {"name": "x"}, "is not registered"),
        (
            cf.ZONE_SETTING,
            {"zoneId": ZONE, "settingId": "ssl", "value": "strict", "zone_id": ZONE},
            "['zone_id']",
        ),
        (
            cf.DNS_RECORD,
            {"zoneId": ZONE, "name": APP, "type": "CNAME"},
            "missing required properties ['ttl']",
        ),
    ],
    ids=["unregistered-type", "unknown-property", "missing-required"],
)
def test_bad_properties_are_refused_like_the_sdk_does(
    token: str, props: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("]", r"\]")):
        synthesize(
            "cf", program=lambda: cf.cloudflare_resource(token, "x", props), config={}, project="platform"
        )


# -- the offline check still covers them --------------------------------------------------------


def test_every_uat_cloudflare_resource_is_checked_against_the_sdk() -> None:
    uat = synthesized("uat")
    types = {r.type for r in uat.custom() if "cloudflare" in r.type}
    assert types == {*cf.TYPES, "pulumi:providers:cloudflare"}
    assert not [t for t in unchecked_types(uat.resources) if "cloudflare" in t]


@pytest.mark.parametrize(
    ("phase", "mutate", "path"),
    [
        (
            "http_ratelimit",
            lambda rule: rule["ratelimit"].update(requestPerPeriod=1),
            "rules[0].ratelimit.requestPerPeriod",
        ),
        (
            "http_request_cache_settings",
            lambda rule: rule["actionParameters"].update(edge_ttl={"mode": "override_origin"}),
            "rules[0].actionParameters.edge_ttl",
        ),
    ],
    ids=["misspelled", "snake-case"],
)
def test_check_reports_a_misspelled_nested_key_in_a_uat_ruleset(
    phase: str, mutate: Callable[[dict[str, Any]], None], path: str
) -> None:
    ruleset = next(r for r in synthesized("uat").by_type(cf.RULESET) if r.inputs["phase"] == phase)
    rules = json.loads(json.dumps(ruleset.inputs["rules"]))
    mutate(rules[0])
    broken = dataclasses.replace(ruleset, inputs={**ruleset.inputs, "rules": rules})
    assert [p.path for p in check_resources([broken])] == [path]
    assert check_resources([ruleset]) == []


# -- cost ---------------------------------------------------------------------------------------

_PROBE = """
import json, sys
from synth.engine import synthesize
synthesis = synthesize("uat")
print(json.dumps({
    "cloudflare_resources": sum(r.type.startswith("cloudflare:") for r in synthesis.resources),
    "imported": sorted(m for m in ("pulumi_cloudflare", "components.cloudflare") if m in sys.modules),
}))
"""


def test_synthesizing_uat_does_not_import_pulumi_cloudflare() -> None:
    run = subprocess.run(
        [sys.executable, "-c", _PROBE], cwd=ROOT, capture_output=True, text=True, timeout=60, check=True
    )
    result = json.loads(run.stdout.strip().splitlines()[-1])
    assert result["cloudflare_resources"] > 0  # the Cloudflare code path ran ...
    assert result["imported"] == ["components.cloudflare"]  # ... and the probe sees what it imported


CACHE_PHASE = "http_request_cache_settings"


def cooked_uri_fields(rulesets: list[tuple[str, str, list[dict[str, Any]]]]) -> list[str]:
    """Cache-phase rules matching a URI field the release rewrite has already changed (not `raw.`)."""
    cooked = re.compile(r"(?<![\w.])http\.request\.(?:full_uri|uri)(?:\.[a-z_]+)?")
    return [
        f"{rule['ref']}: {match}"
        for phase, _, rules in rulesets
        if phase == CACHE_PHASE
        for rule in rules
        for match in cooked.findall(rule["expression"])
    ]


@pytest.mark.parametrize("mode", ["block", "count"])
def test_cache_rules_match_the_path_the_client_sent(mode: str) -> None:
    rulesets = cloudflare_rulesets(_edge(mode), APP, API, HOST)
    assert [phase for phase, _, _ in rulesets].index(CACHE_PHASE) > 0
    assert cooked_uri_fields(rulesets) == []
    (cache,) = [rules for phase, _, rules in rulesets if phase == CACHE_PHASE]
    assert all("raw.http.request.uri.path" in rule["expression"] for rule in cache)


def test_uat_cache_rulesets_use_raw_fields() -> None:
    rulesets = [
        (r.inputs["phase"], r.inputs["description"], r.inputs["rules"])
        for r in synthesized("uat").by_type("cloudflare:index/ruleset:Ruleset")
    ]
    assert [phase for phase, _, _ in rulesets].count(CACHE_PHASE) == 1
    assert cooked_uri_fields(rulesets) == []


def test_raw_field_check_catches_a_rewritten_path_in_a_cache_rule() -> None:
    broken = [
        (CACHE_PHASE, "", [{"ref": "assets", "expression": 'starts_with(http.request.uri.path, "/a/")'}])
    ]
    assert cooked_uri_fields(broken) == ["assets: http.request.uri.path"]


def test_hsts_zone_setting_uses_the_apis_snake_case_keys() -> None:
    hsts = ZONE_SETTINGS["security_header"]
    assert isinstance(hsts, dict)
    assert set(hsts) == {"strict_transport_security"}
    assert set(hsts["strict_transport_security"]) == {
        "enabled",
        "max_age",
        "include_subdomains",
        "preload",
        "nosniff",
    }
    (setting,) = [
        r
        for r in synthesized("uat").resources
        if r.type == "cloudflare:index/zoneSetting:ZoneSetting" and r.inputs["settingId"] == "security_header"
    ]
    assert setting.inputs["value"] == hsts
