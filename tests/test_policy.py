"""The policy pack: each rule flags a hand-made violating resource and passes a compliant one; the
rules hold on every synthesized stack under its policy config; bad input is reported, never raised."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from components.config import PROTECTION, validate
from policy import offline, rules
from policy.rules import RULES, STACK_RULES, Resource, evaluate, rule_settings, run_rule
from tests.conftest import STACKS, stack_values, synthesized

RULE = {r.name: r for r in RULES}
STACK_RULE = {r.name: r for r in STACK_RULES}

POD = {
    "securityContext": {"runAsNonRoot": True, "runAsUser": 10001},
    "containers": [
        {
            "name": "api",
            "image": "registry.example.com/api:1.4.2",
            "securityContext": {"allowPrivilegeEscalation": False},
            "resources": {
                "limits": {"cpu": "1", "memory": "512Mi"},
                "requests": {"cpu": "250m", "memory": "256Mi"},
            },
            "readinessProbe": {"httpGet": {"path": "/ready", "port": 8000}},
            "livenessProbe": {"httpGet": {"path": "/live", "port": 8000}},
        }
    ],
}


def deployment(**container: Any) -> dict[str, Any]:
    base = POD["containers"][0]
    merged = {k: v for k, v in {**base, **container}.items() if v is not None}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "spec": {"template": {"spec": {**POD, "containers": [merged]}}},
    }


def pod_security(**security: Any) -> dict[str, Any]:
    inputs = deployment()
    inputs["spec"]["template"]["spec"]["securityContext"] = security
    return inputs


DEPLOYMENT = "kubernetes:apps/v1:Deployment"
ROLLOUT = "kubernetes:argoproj.io/v1alpha1:Rollout"
LAUNCH_TEMPLATE = "aws:ec2/launchTemplate:LaunchTemplate"
SG = "aws:ec2/securityGroup:SecurityGroup"
CLUSTER = "aws:rds/cluster:Cluster"
CDN = "aws:cloudfront/distribution:Distribution"
GOOD_LT = {
    "metadataOptions": {"httpEndpoint": "enabled", "httpTokens": "required", "httpPutResponseHopLimit": 1},
    "blockDeviceMappings": [{"deviceName": "/dev/xvda", "ebs": {"encrypted": "true", "volumeType": "gp3"}}],
}
GOOD_DB = {
    "storageEncrypted": True,
    "deletionProtection": True,
    "backupRetentionPeriod": 30,
    "finalSnapshotIdentifier": "platform-prod-final",
}
GOOD_CDN = {
    "webAclId": "arn:aws:wafv2:us-east-1:210000000003:global/webacl/platform/abc",
    "defaultCacheBehavior": {"viewerProtocolPolicy": "redirect-to-https"},
    "viewerCertificate": {
        "acmCertificateArn": "arn:aws:acm:us-east-1:1:certificate/x",
        "minimumProtocolVersion": "TLSv1.2_2021",
    },
    "origins": [{"domainName": "b.s3.amazonaws.com", "originId": "s3"}],
}
WEB_INGRESS = {
    "protocol": "tcp",
    "fromPort": 443,
    "toPort": 443,
    "cidrBlocks": ["0.0.0.0/0"],
    "description": "web",
}


def _ip_allow(cidrs: list[str]) -> dict[str, Any]:
    """A read grant to everyone narrowed to `cidrs` by `aws:SourceIp`."""
    return {
        "Effect": "Allow",
        "Principal": "*",
        "Action": "s3:GetObject",
        "Condition": {"IpAddress": {"aws:SourceIp": cidrs}},
    }


# (rule, type, compliant inputs, violating inputs, protect of the compliant one)
CASES: list[tuple[str, str, dict[str, Any], dict[str, Any]]] = [
    ("rds-encrypted-at-rest", CLUSTER, {"storageEncrypted": True}, {"storageEncrypted": False}),
    ("rds-encrypted-at-rest", "aws:rds/instance:Instance", {"storageEncrypted": True}, {}),
    (
        "s3-encrypted-at-rest",
        "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
        {"rules": [{"applyServerSideEncryptionByDefault": {"sseAlgorithm": "aws:kms"}}]},
        {"rules": [{"applyServerSideEncryptionByDefault": {"sseAlgorithm": "none"}}]},
    ),
    (
        "elasticache-encrypted",
        "aws:elasticache/replicationGroup:ReplicationGroup",
        {"atRestEncryptionEnabled": True, "transitEncryptionEnabled": True},
        {"atRestEncryptionEnabled": True, "transitEncryptionEnabled": False},
    ),
    (
        "elasticache-encrypted",
        "aws:elasticache/cluster:Cluster",
        {"engine": "memcached"},
        {"engine": "redis"},
    ),
    ("ebs-encrypted", "aws:ebs/volume:Volume", {"encrypted": True}, {"encrypted": False}),
    (
        "ebs-encrypted",
        LAUNCH_TEMPLATE,
        GOOD_LT,
        {**GOOD_LT, "blockDeviceMappings": [{"ebs": {"encrypted": "false"}}]},
    ),
    (
        "ebs-encrypted",
        "aws:ec2/instance:Instance",
        {"rootBlockDevice": {"encrypted": True}},
        {"rootBlockDevice": {"encrypted": True}, "ebsBlockDevices": [{"encrypted": False}]},
    ),
    (
        "eks-secrets-encrypted",
        "aws:eks/cluster:Cluster",
        {
            "encryptionConfig": {
                "resources": ["secrets"],
                "provider": {"keyArn": "arn:aws:kms:eu-west-1:1:key/k"},
            }
        },
        {"encryptionConfig": {"resources": ["configmaps"], "provider": {"keyArn": "arn:aws:kms:x"}}},
    ),
    (
        "encryption-in-transit",
        "aws:rds/clusterParameterGroup:ClusterParameterGroup",
        {"family": "aurora-postgresql16", "parameters": [{"name": "rds.force_ssl", "value": "1"}]},
        {"family": "aurora-postgresql16", "parameters": [{"name": "rds.force_ssl", "value": "0"}]},
    ),
    (
        "encryption-in-transit",
        "aws:lb/listener:Listener",
        {"protocol": "HTTP", "defaultActions": [{"type": "redirect", "redirect": {"protocol": "HTTPS"}}]},
        {"protocol": "HTTP", "defaultActions": [{"type": "forward", "targetGroupArn": "arn"}]},
    ),
    (
        "encryption-in-transit",
        "aws:lb/listener:Listener",
        {"protocol": "HTTPS", "sslPolicy": "ELBSecurityPolicy-TLS13-1-2-2021-06"},
        {"protocol": "HTTPS", "sslPolicy": "ELBSecurityPolicy-2016-08"},
    ),
    (
        "encryption-in-transit",
        CDN,
        GOOD_CDN,
        {**GOOD_CDN, "defaultCacheBehavior": {"viewerProtocolPolicy": "allow-all"}},
    ),
    (
        "encryption-in-transit",
        CDN,
        GOOD_CDN,
        {**GOOD_CDN, "origins": [{"customOriginConfig": {"originProtocolPolicy": "http-only"}}]},
    ),
    (
        "encryption-in-transit",
        "cloudflare:index/zoneSetting:ZoneSetting",
        {"settingId": "min_tls_version", "value": "1.2"},
        {"settingId": "min_tls_version", "value": "1.0"},
    ),
    (
        "s3-no-public-access",
        "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",
        dict.fromkeys(
            ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets"), True
        ),
        {"blockPublicAcls": True, "blockPublicPolicy": True, "ignorePublicAcls": True},
    ),
    ("s3-no-public-access", "aws:s3/bucketAclV2:BucketAclV2", {"acl": "private"}, {"acl": "public-read"}),
    (
        "s3-no-public-access",
        "aws:s3/bucketPolicy:BucketPolicy",
        {
            "policy": json.dumps(
                {
                    "Statement": [
                        {
                            "Effect": "Allow",
                            "Principal": {"Service": "cloudfront.amazonaws.com"},
                            "Action": "s3:GetObject",
                            "Condition": {
                                "StringEquals": {"AWS:SourceArn": "arn:aws:cloudfront::1:distribution/X"}
                            },
                        }
                    ]
                }
            )
        },
        {
            "policy": json.dumps(
                {"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject"}]}
            )
        },
    ),
    ("s3-no-public-access", "aws:s3/bucketPolicy:BucketPolicy", {"policy": "{}"}, {"policy": "{not json"}),
    (
        "s3-no-public-access",
        "aws:s3/bucketPolicy:BucketPolicy",
        {"policy": json.dumps({"Statement": [_ip_allow(["2a06:98c0::/32", "104.16.0.0/13"])]})},
        {"policy": json.dumps({"Statement": [_ip_allow(["2a06:98c0::/29", "104.16.0.0/13"])]})},
    ),
    (
        "no-world-ingress",
        SG,
        {"ingress": [WEB_INGRESS]},
        {"ingress": [{**WEB_INGRESS, "fromPort": 22, "toPort": 22}]},
    ),
    (
        "no-world-ingress",
        SG,
        {"ingress": [{**WEB_INGRESS, "fromPort": 5432, "toPort": 5432, "cidrBlocks": ["10.0.0.0/16"]}]},
        {
            "ingress": [
                {**WEB_INGRESS, "fromPort": 0, "toPort": 65535, "cidrBlocks": [], "ipv6CidrBlocks": ["::/0"]}
            ]
        },
    ),
    (
        "no-world-ingress",
        "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule",
        {"ipProtocol": "tcp", "fromPort": 80, "toPort": 80, "cidrIpv4": "0.0.0.0/0"},
        {"ipProtocol": "-1", "cidrIpv4": "0.0.0.0/0"},
    ),
    (
        "no-world-ingress",
        "aws:ec2/securityGroupRule:SecurityGroupRule",
        {"type": "egress", "protocol": "-1", "fromPort": 0, "toPort": 0, "cidrBlocks": ["0.0.0.0/0"]},
        {"type": "ingress", "protocol": "tcp", "fromPort": 3389, "toPort": 3389, "cidrBlocks": ["0.0.0.0/0"]},
    ),
    ("cdn-has-waf", CDN, GOOD_CDN, {k: v for k, v in GOOD_CDN.items() if k != "webAclId"}),
    ("cdn-has-waf", CDN, GOOD_CDN, {**GOOD_CDN, "webAclId": "arn:aws:waf::1:webacl/classic"}),
    ("database-protection", CLUSTER, GOOD_DB, {**GOOD_DB, "deletionProtection": False}),
    ("database-protection", CLUSTER, GOOD_DB, {**GOOD_DB, "backupRetentionPeriod": 1}),
    ("database-protection", CLUSTER, GOOD_DB, {**GOOD_DB, "skipFinalSnapshot": True}),
    (
        "database-protection",
        "kubernetes:postgresql.cnpg.io/v1:Cluster",
        {"spec": {"backup": {"barmanObjectStore": {"destinationPath": "s3://b/"}}}},
        {"spec": {"instances": 2}},
    ),
    ("imdsv2-required", LAUNCH_TEMPLATE, GOOD_LT, {**GOOD_LT, "metadataOptions": {"httpTokens": "optional"}}),
    (
        "imdsv2-required",
        LAUNCH_TEMPLATE,
        GOOD_LT,
        {**GOOD_LT, "metadataOptions": {"httpTokens": "required", "httpPutResponseHopLimit": 2}},
    ),
    (
        "imdsv2-required",
        "aws:eks/nodeGroup:NodeGroup",
        {"launchTemplate": {"id": "lt-1", "version": "1"}},
        {},
    ),
    ("pods-non-root", DEPLOYMENT, deployment(), pod_security()),
    ("pods-non-root", DEPLOYMENT, deployment(), pod_security(runAsNonRoot=True, runAsUser=0)),
    ("pods-non-root", DEPLOYMENT, deployment(), deployment(securityContext={"privileged": True})),
    ("pods-non-root", ROLLOUT, deployment(), deployment(securityContext={"runAsNonRoot": False})),
    ("containers-have-limits", DEPLOYMENT, deployment(), deployment(resources={"limits": {"cpu": "1"}})),
    ("containers-have-limits", "kubernetes:batch/v1:Job", deployment(), deployment(resources=None)),
    ("containers-have-probes", DEPLOYMENT, deployment(), deployment(livenessProbe=None)),
    ("containers-have-probes", "kubernetes:apps/v1:StatefulSet", deployment(), deployment(readinessProbe={})),
    ("no-latest-image", DEPLOYMENT, deployment(), deployment(image="registry.example.com/api:latest")),
    ("no-latest-image", DEPLOYMENT, deployment(), deployment(image="registry.example.com:5000/api")),
    (
        "no-latest-image",
        "kubernetes:postgresql.cnpg.io/v1:Cluster",
        {"spec": {"imageName": "ghcr.io/cloudnative-pg/postgresql:16.6"}},
        {"spec": {"imageName": "ghcr.io/cloudnative-pg/postgresql"}},
    ),
    (
        "no-latest-image",
        "kubernetes:helm.sh/v3:Release",
        {"values": {"controller": {"image": {"repository": "x", "tag": "v1.2.3"}}}},
        {"values": {"controller": {"image": {"repository": "x", "tag": "latest"}}}},
    ),
    (
        "image-pinned-by-digest",
        DEPLOYMENT,
        deployment(image="registry.example.com/api:1.4.2@sha256:" + "a" * 64),
        deployment(),
    ),
    (
        "containers-have-requests",
        DEPLOYMENT,
        deployment(),
        deployment(resources={"limits": {"memory": "1Gi"}}),
    ),
    ("log-retention-set", "aws:cloudwatch/logGroup:LogGroup", {"retentionInDays": 90}, {"name": "x"}),
    (
        "current-generation-instances",
        LAUNCH_TEMPLATE,
        {"instanceType": "m7i.large"},
        {"instanceType": "m4.large"},
    ),
    (
        "current-generation-instances",
        "aws:rds/clusterInstance:ClusterInstance",
        {"instanceClass": "db.r7g.large"},
        {"instanceClass": "db.r4.large"},
    ),
    ("gp3-volumes", "aws:ebs/volume:Volume", {"volumeType": "gp3"}, {"volumeType": "gp2"}),
    ("kms-key-rotation", "aws:kms/key:Key", {"enableKeyRotation": True}, {"description": "k"}),
    (
        "kms-key-rotation",
        "aws:kms/key:Key",
        {"customerMasterKeySpec": "RSA_4096"},
        {"enableKeyRotation": False},
    ),
    (
        "security-groups-described",
        SG,
        {"description": "ALB", "ingress": [WEB_INGRESS]},
        {"description": "Managed by Pulumi"},
    ),
]


def _run(rule: str, type_: str, inputs: dict[str, Any], protect: bool = True) -> list[str]:
    return run_rule(
        RULE[rule],
        Resource(type=type_, inputs=inputs, urn=f"urn:{type_}", protect=protect),
        rule_settings(RULE[rule]),
    )


@pytest.mark.parametrize(
    ("rule", "type_", "good", "bad"), CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)]
)
def test_rule_flags_the_violating_resource_and_passes_the_compliant_one(
    rule: str, type_: str, good: dict[str, Any], bad: dict[str, Any]
) -> None:
    assert _run(rule, type_, good) == []
    assert _run(rule, type_, bad) != []


def test_every_rule_has_a_violating_case() -> None:
    covered = {case[0] for case in CASES}
    assert set(RULE) - covered == set()


def test_database_protection_requires_protect_when_configured() -> None:
    assert _run("database-protection", CLUSTER, GOOD_DB, protect=False) != []
    relaxed = rule_settings(RULE["database-protection"], {"requireProtect": False})
    assert run_rule(RULE["database-protection"], Resource(CLUSTER, GOOD_DB), relaxed) == []


def test_rule_ignores_types_it_does_not_cover() -> None:
    assert _run("cdn-has-waf", SG, {}) == []


def test_rollout_with_a_workload_reference_is_not_a_pod_template() -> None:
    assert (
        _run("pods-non-root", ROLLOUT, {"spec": {"workloadRef": {"kind": "Deployment", "name": "api"}}}) == []
    )


# ---------------------------------------------------------------------------- stack rules


def _bucket_stack(*, block: bool = True, encryption: bool = True) -> list[Resource]:
    bucket = Resource("aws:s3/bucket:Bucket", {"bucket": "b"}, urn="urn:bucket")
    resources = [bucket]
    if block:
        resources.append(
            Resource(
                "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",
                {},
                "urn:pab",
                dependencies=("urn:bucket",),
            )
        )
    if encryption:
        resources.append(
            Resource(
                "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
                {},
                "urn:sse",
                dependencies=("urn:bucket",),
            )
        )
    return resources


def _sg_stack(user_type: str) -> list[Resource]:
    group = Resource(SG, {"ingress": [WEB_INGRESS]}, urn="urn:sg")
    return [group, Resource(user_type, {}, urn="urn:user", name="user", dependencies=("urn:sg",))]


def _cloudflare_stack(waf: bool) -> list[Resource]:
    resources = [Resource("cloudflare:index/dnsRecord:DnsRecord", {"proxied": True}, urn="urn:record")]
    if waf:
        resources.append(
            Resource("cloudflare:index/ruleset:Ruleset", {"phase": "http_request_firewall_managed"}, "urn:rs")
        )
    return resources


@pytest.mark.parametrize(
    ("rule", "good", "bad"),
    [
        ("s3-buckets-locked-down", _bucket_stack(), _bucket_stack(block=False)),
        ("s3-buckets-locked-down", _bucket_stack(), _bucket_stack(encryption=False)),
        (
            "world-ingress-only-on-load-balancers",
            _sg_stack("aws:lb/loadBalancer:LoadBalancer"),
            _sg_stack("aws:ec2/launchTemplate:LaunchTemplate"),
        ),
        ("cloudflare-has-waf", _cloudflare_stack(waf=True), _cloudflare_stack(waf=False)),
    ],
)
def test_stack_rule_flags_the_violating_stack(rule: str, good: list[Resource], bad: list[Resource]) -> None:
    check = STACK_RULE[rule]
    assert rules.run_stack_rule(check, good, {}) == []
    assert rules.run_stack_rule(check, bad, {}) != []


# ---------------------------------------------------------------------------- bad input


JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-5, 70000)
    | st.sampled_from(["", "*", "0.0.0.0/0", "true", "latest"]),
    lambda children: (
        st.lists(children, max_size=3)
        | st.dictionaries(
            st.sampled_from(
                [
                    "spec",
                    "template",
                    "containers",
                    "ingress",
                    "cidrBlocks",
                    "metadataOptions",
                    "rules",
                    "image",
                    "policy",
                    "securityContext",
                    "resources",
                    "limits",
                    "encryptionConfig",
                    "blockDeviceMappings",
                    "ebs",
                    "values",
                    "tag",
                ]
            ),
            children,
            max_size=4,
        )
    ),
    max_leaves=12,
)
TYPES = sorted({pattern.replace("*", "X") for rule in RULES for pattern in rule.types})


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    type_=st.sampled_from(TYPES),
    inputs=st.dictionaries(
        st.sampled_from(
            [
                "spec",
                "ingress",
                "metadataOptions",
                "rules",
                "policy",
                "parameters",
                "defaultActions",
                "origins",
                "blockDeviceMappings",
                "encryptionConfig",
                "values",
                "launchTemplate",
                "webAclId",
                "acl",
                "protocol",
            ]
        ),
        JSON,
        max_size=4,
    ),
)
def test_rules_report_instead_of_crashing_on_unexpected_inputs(type_: str, inputs: dict[str, Any]) -> None:
    for rule in RULES:
        messages = run_rule(rule, Resource(type_, inputs), rule_settings(rule))
        assert all(isinstance(m, str) for m in messages)
        assert not any(m.startswith("could not evaluate") for m in messages), messages


def test_a_rule_that_raises_is_reported_as_a_violation() -> None:
    def broken(_: Resource, __: Any) -> list[str]:
        raise KeyError("boom")

    rule = rules.Rule("broken", "raises", "mandatory", ("*",), broken)
    (message,) = run_rule(rule, Resource("aws:x/y:Z", {}), {})
    assert "could not evaluate" in message and "KeyError" in message


def test_unknown_values_reach_pulumi_policy() -> None:
    from pulumi_policy.proxy import UNKNOWN_STRING_VALUE, UnknownValueError, unknown_checking_proxy

    props = unknown_checking_proxy({"metadataOptions": {"httpTokens": UNKNOWN_STRING_VALUE}})
    with pytest.raises(UnknownValueError):
        run_rule(RULE["imdsv2-required"], Resource(LAUNCH_TEMPLATE, props), {})


# ---------------------------------------------------------------------------- pulumi-policy adapter


def test_policy_pack_wraps_every_rule_with_its_level_and_settings() -> None:
    from policy.__main__ import policies

    pack = {p.name: p for p in policies()}
    assert set(pack) == set(RULE) | set(STACK_RULE)
    assert pack["database-protection"].config_schema is not None
    assert pack["gp3-volumes"].enforcement_level.value == "advisory"
    assert pack["cdn-has-waf"].enforcement_level.value == "mandatory"


def test_resource_policy_reports_through_pulumi_policy() -> None:
    from pulumi_policy import PolicyCustomTimeouts, PolicyResourceOptions, ResourceValidationArgs

    from policy.__main__ import resource_policy

    opts = PolicyResourceOptions(False, [], None, [], PolicyCustomTimeouts(0, 0, 0), [])
    args = ResourceValidationArgs(
        CLUSTER, {**GOOD_DB, "deletionProtection": False}, "urn:db", "db", opts, None, {}
    )
    reported: list[str] = []
    resource_policy(RULE["database-protection"]).validate(
        args, lambda message, urn=None: reported.append(message)
    )
    assert any("protect" in m for m in reported) and any("deletionProtection" in m for m in reported)


def test_stack_policy_reports_through_pulumi_policy() -> None:
    from pulumi_policy import PolicyCustomTimeouts, PolicyResource, PolicyResourceOptions, StackValidationArgs

    from policy.__main__ import stack_policy

    opts = PolicyResourceOptions(False, [], None, [], PolicyCustomTimeouts(0, 0, 0), [])
    bucket = PolicyResource("aws:s3/bucket:Bucket", {}, "urn:bucket", "b", opts, None, None, [], {})
    reported: list[tuple[str, str | None]] = []
    stack_policy(STACK_RULE["s3-buckets-locked-down"]).validate(
        StackValidationArgs([bucket]), lambda message, urn=None: reported.append((message, urn))
    )
    assert {urn for _, urn in reported} == {"urn:bucket"}


# ---------------------------------------------------------------------------- policy config per stack


@pytest.mark.parametrize("stack", STACKS)
def test_every_stack_has_a_valid_policy_config(stack: str) -> None:
    assert offline.config_problems(offline.load_config(stack)) == []


@pytest.mark.parametrize(
    ("config", "problem"),
    [
        ({"cdn-waf": "mandatory"}, "unknown rule 'cdn-waf'"),
        ({"cdn-has-waf": "blocking"}, "enforcementLevel 'blocking'"),
        ({"database-protection": {"minBackupDays": 3}}, "unknown setting 'minBackupDays'"),
        (
            {"database-protection": {"minBackupRetentionDays": "7"}},
            "database-protection.minBackupRetentionDays",
        ),
        ([], "must be a JSON object"),
    ],
)
def test_policy_config_check_names_the_problem(config: Any, problem: str) -> None:
    assert any(problem in p for p in offline.config_problems(config))


@pytest.mark.parametrize("stack", STACKS)
def test_database_protection_settings_follow_the_stack_protection_level(stack: str) -> None:
    rules_ = PROTECTION[validate(stack_values(stack)).protection]
    settings_ = rule_settings(
        RULE["database-protection"], offline.load_config(stack).get("database-protection")
    )
    assert settings_["requireProtect"] == rules_.protect
    assert settings_["requireDeletionProtection"] == rules_.deletion_protection
    assert settings_["requireFinalSnapshot"] == rules_.final_snapshot
    assert settings_["minBackupRetentionDays"] == rules_.min_backup_retention_days


# ---------------------------------------------------------------------------- every synthesized stack


@pytest.mark.parametrize("stack", STACKS)
def test_every_stack_meets_the_mandatory_policies(stack: str) -> None:
    violations = offline.check(synthesized(stack), offline.load_config(stack))
    assert [str(v) for v in violations if v.level == "mandatory"] == []


def test_the_stack_check_catches_a_broken_prod_resource() -> None:
    resources = offline.resources_of(synthesized("prod"))
    broken = [
        Resource(r.type, {**r.inputs, "storageEncrypted": False}, r.urn, r.name, False)
        if r.type == CLUSTER
        else r
        for r in resources
    ]
    found = {(v.rule, v.level) for v in evaluate(broken, offline.load_config("prod"))}
    assert {("rds-encrypted-at-rest", "mandatory"), ("database-protection", "mandatory")} <= found


# ---------------------------------------------------------------------------- offline runner


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (None, "no policy config for stack"),
        ("{oops", "not valid JSON"),
        ('{"nope": "advisory"}', "unknown rule 'nope'"),
    ],
    ids=["missing", "bad-json", "unknown-rule"],
)
def test_load_config_refuses_a_bad_policy_config(tmp_path: Any, text: str | None, message: str) -> None:
    if text is not None:
        (tmp_path / "x.json").write_text(text)
    with pytest.raises(offline.PolicyConfigError, match=message):
        offline.load_config("x", tmp_path)


def test_offline_cli_exits_0_on_a_compliant_stack(capsys: pytest.CaptureFixture[str]) -> None:
    assert offline.main(["dev"]) == 0
    assert "mandatory" not in capsys.readouterr().out


def test_offline_cli_exits_1_on_a_mandatory_violation(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    found = [rules.Violation("cdn-has-waf", "mandatory", "urn:x", "has no WAF")]
    monkeypatch.setattr(offline, "check", lambda synthesis, config: found)
    assert offline.main(["dev"]) == 1
    assert "[mandatory] cdn-has-waf: urn:x: has no WAF" in capsys.readouterr().out


@pytest.mark.parametrize("argv", [[], ["dev", "prod"], ["nosuchstack"]])
def test_offline_cli_exits_2_on_bad_arguments(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert offline.main(argv) == 2
    assert capsys.readouterr().err.count("\n") == 1
