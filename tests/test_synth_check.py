"""The offline input check: every stack's inputs match the provider SDKs' input types, and typos
that the SDK would pass through silently are caught with the resource and the property path."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest

from synth import __main__ as cli
from synth.check import args_class, check_inputs, check_resources
from synth.engine import Registration, synthesize
from tests.conftest import STACKS, synthesized

LAUNCH_TEMPLATE = "aws:ec2/launchTemplate:LaunchTemplate"


@pytest.mark.parametrize("stack", STACKS)
def test_every_stack_input_matches_the_sdk_input_types(stack: str) -> None:
    assert [str(p) for p in check_resources(synthesized(stack).resources)] == []


@pytest.mark.parametrize(
    ("type_", "inputs", "kind", "path"),
    [
        (
            LAUNCH_TEMPLATE,
            {"metadataOptions": {"http_tokens": "required"}},
            "snake_case",
            "metadataOptions.http_tokens",
        ),
        (
            LAUNCH_TEMPLATE,
            {"metadataOptions": {"httpTokenz": "required"}},
            "unknown",
            "metadataOptions.httpTokenz",
        ),
        (
            LAUNCH_TEMPLATE,
            {"blockDeviceMappings": [{"deviceName": "/dev/xvda", "ebs": {"encrypt": "true"}}]},
            "unknown",
            "blockDeviceMappings[0].ebs.encrypt",
        ),
        (
            "aws:ec2/securityGroup:SecurityGroup",
            {"ingress": [{"fromPort": 443, "toPort": 443, "cidrBlocks": ["10.0.0.0/8"]}]},
            "missing",
            "ingress[0].protocol",
        ),
        ("aws:rds/cluster:Cluster", {"storageEncrypted": True}, "missing", "engine"),
        (
            "aws:eks/cluster:Cluster",
            {
                "name": "c",
                "roleArn": "arn",
                "vpcConfig": {"subnetIds": ["a"], "endpoint_private_access": True},
            },
            "snake_case",
            "vpcConfig.endpoint_private_access",
        ),
        ("aws:ec2/vpc:Vpc", {"cidrBlock": "10.0.0.0/16", "tags": {"some_tag": "x"}}, None, None),
        (
            "random:index/randomPassword:RandomPassword",
            {"length": 32, "min_upper": 2},
            "snake_case",
            "min_upper",
        ),
        (
            "pulumi:providers:aws",
            {"region": "eu-west-1", "allowedAccountIdz": "[]"},
            "unknown",
            "allowedAccountIdz",
        ),
        (
            "kubernetes:core/v1:Namespace",
            {"apiVersion": "v1", "kind": "Namespace", "metdata": {}},
            "unknown",
            "metdata",
        ),
        (
            "kubernetes:argoproj.io/v1alpha1:Rollout",
            {"apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout", "spec": {}, "status": {}},
            "unknown",
            "status",
        ),
    ],
)
def test_check_reports_the_problem_with_its_property_path(
    type_: str, inputs: dict[str, Any], kind: str | None, path: str | None
) -> None:
    problems = check_inputs(type_, inputs, urn="urn:x")
    if kind is None:  # map values (tags) are free-form
        assert problems == []
    else:
        assert [(p.kind, p.path) for p in problems] == [(kind, path)]
        assert str(problems[0]).startswith(f"urn:x: {path}: ")


def test_unknown_key_suggests_the_closest_property() -> None:
    (problem,) = check_inputs(LAUNCH_TEMPLATE, {"metadataOptions": {"httpTokenz": "required"}})
    assert "did you mean 'httpTokens'" in problem.message


def test_resource_input_type_is_the_resource_one_when_a_nested_type_shares_its_name() -> None:
    cls = args_class("aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration")
    assert cls is not None and cls.__name__ == "BucketServerSideEncryptionConfigurationInitArgs"


def test_types_without_an_sdk_class_are_not_checked() -> None:
    assert args_class("platform:index:Platform") is None
    assert args_class("aws:nosuch/thing:Thing") is None
    assert check_inputs("aws:nosuch/thing:Thing", {"x": 1}) == []


def _typo_program() -> None:
    import pulumi
    import pulumi_aws as aws

    provider = aws.Provider("aws", region="eu-west-1")
    aws.ec2.LaunchTemplate(
        "nodes",
        metadata_options={"http_tokenz": "required", "httpPutResponseHopLimit": 1},  # type: ignore[arg-type]
        block_device_mappings=[{"deviceName": "/dev/xvda", "ebs": {"encrypt": "true"}}],  # type: ignore[list-item]
        opts=pulumi.ResourceOptions(provider=provider),
    )


def test_a_nested_typo_survives_the_sdk_and_mocks_but_not_the_check() -> None:
    synthesis = synthesize("typo", program=_typo_program, config={}, project="platform")
    (template,) = synthesis.by_type(LAUNCH_TEMPLATE)
    # The SDK passes unknown nested keys through untouched; the provider would reject them at `pulumi up`.
    assert "http_tokenz" in template.inputs["metadataOptions"]
    assert template.inputs["blockDeviceMappings"][0]["ebs"] == {"encrypt": "true"}
    assert {p.path for p in check_resources(synthesis.resources)} == {
        "metadataOptions.http_tokenz",
        "blockDeviceMappings[0].ebs.encrypt",
    }


def test_check_catches_a_broken_resource_of_a_synthesized_stack() -> None:
    prod = synthesized("prod")
    template = next(r for r in prod.resources if r.type == LAUNCH_TEMPLATE)
    broken: Registration = dataclasses.replace(
        template, inputs={**template.inputs, "metadataOptions": {"http_tokens": "required"}}
    )
    assert [p.path for p in check_resources([broken])] == ["metadataOptions.http_tokens"]


def test_cli_check_exits_zero_on_a_clean_stack(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["dev", "--check"]) == 0
    assert "match the SDK input types" in capsys.readouterr().out


def test_cli_check_exits_one_and_lists_problems(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import synth.check

    bad = synth.check.InputProblem(
        "urn:x", LAUNCH_TEMPLATE, "metadataOptions.http_tokens", "snake_case", "msg"
    )
    monkeypatch.setattr(synth.check, "check_resources", lambda resources: [bad])
    assert cli.main(["dev", "--check"]) == 1
    assert "urn:x: metadataOptions.http_tokens: msg" in capsys.readouterr().out


# ---------------------------------------------------------------------------- bad input to synth diff


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "not valid JSON (line 1, column 1"),
        (b"\xff\xfe[]", "cannot read: 'utf-8' codec"),
        (None, "cannot read"),
    ],
    ids=["empty-file", "not-utf8", "a-directory"],
)
def test_synth_diff_refuses_unreadable_files_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: bytes | None, message: str
) -> None:
    bad = tmp_path / "bad.json"
    if content is None:
        bad.mkdir()
    else:
        bad.write_bytes(content)
    good = tmp_path / "good.json"
    good.write_text("[]")
    assert cli.main(["diff", str(good), str(bad)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"synth diff: error: {bad}: ") and message in err and err.count("\n") == 1
