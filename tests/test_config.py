"""The typed stack config: every shipped stack is valid, and bad input is refused clearly."""

from __future__ import annotations

import copy
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from components.config import PROTECTION, ConfigError, StackConfig, validate
from synth.engine import ROOT, Registration, synthesize
from tests.conftest import STACKS, encode, stack_values


@pytest.mark.parametrize("stack", STACKS)
def test_every_shipped_stack_is_valid(stack: str) -> None:
    config = validate(stack_values(stack))
    assert config.environment == stack


def test_stacks_rise_in_protection() -> None:
    levels = [validate(stack_values(s)).protection for s in ("dev", "staging", "uat", "prod")]
    assert levels == ["none", "light", "standard", "production"]


def test_dev_is_local_and_the_others_are_aws() -> None:
    assert not validate(stack_values("dev")).is_aws
    assert all(validate(stack_values(s)).is_aws for s in ("staging", "uat", "prod"))


def test_prod_spans_three_zones() -> None:
    config = validate(stack_values("prod"))
    assert config.network is not None and len(config.network.availability_zones) == 3


def _set(path: str, value: Any):
    """A mutation setting a dotted path (creating dicts on the way) in the config values."""

    def mutate(values: dict[str, Any]) -> None:
        keys = path.split(".")
        target = values
        for key in keys[:-1]:
            target = target.setdefault(key, {})
        target[keys[-1]] = value

    return mutate


def _delete(path: str):
    def mutate(values: dict[str, Any]) -> None:
        keys = path.split(".")
        target = values
        for key in keys[:-1]:
            target = target[key]
        del target[keys[-1]]

    return mutate


# (id, mutation of prod's values, expected key in the message, expected words in the message)
INVALID = [
    ("unknown-top-level-key", _set("clustr", {}), "platform:clustr", "unknown key"),
    (
        "unknown-nested-key",
        _set("cluster.nodeGroups.general.minsize", 1),
        "platform:cluster.nodeGroups.general.minsize",
        "unknown key",
    ),
    (
        "wrong-type-node-count",
        _set("cluster.nodeGroups.general.minSize", "three"),
        "platform:cluster.nodeGroups.general.minSize",
        "integer",
    ),
    (
        "node-count-out-of-range",
        _set("cluster.nodeGroups.general.maxSize", 500),
        "platform:cluster.nodeGroups.general.maxSize",
        "less than or equal to 100",
    ),
    (
        "node-sizes-inverted",
        _set("cluster.nodeGroups.general.desiredSize", 12),
        "platform:cluster.nodeGroups.general",
        "minSize <= desiredSize <= maxSize",
    ),
    (
        "prod-with-two-zones",
        _set("network.availabilityZones", ["eu-west-1a", "eu-west-1b"]),
        "platform:network.availabilityZones",
        "at least 3",
    ),
    (
        "zone-outside-region",
        _set("network.availabilityZones", ["eu-west-1a", "eu-west-1b", "us-east-1a"]),
        "platform:network.availabilityZones",
        "not in region",
    ),
    (
        "duplicate-zones",
        _set("network.availabilityZones", ["eu-west-1a", "eu-west-1a", "eu-west-1b"]),
        "platform:network.availabilityZones",
        "distinct",
    ),
    ("public-vpc-cidr", _set("network.cidr", "8.8.0.0/16"), "platform:network.cidr", "private"),
    ("vpc-cidr-too-small", _set("network.cidr", "10.0.0.0/24"), "platform:network.cidr", "/16 to /20"),
    ("malformed-cidr", _set("network.cidr", "10.0.0.0/33"), "platform:network.cidr", "IPv4"),
    ("unknown-protection-level", _set("protection", "maximum"), "platform:protection", "production"),
    ("unknown-cloud-provider", _set("cloud.provider", "gcp"), "platform:cloud", "local"),
    ("bad-account-id", _set("cloud.accountId", "12345"), "platform:cloud.accountId", "pattern"),
    ("bad-region", _set("cloud.region", "europe"), "platform:cloud.region", "pattern"),
    (
        "public-endpoint-without-allow-list",
        _set("cluster.endpointPublicAccess", True),
        "platform:cluster",
        "publicAccessCidrs",
    ),
    (
        "public-endpoint-open-to-world",
        lambda v: v["cluster"].update(endpointPublicAccess=True, publicAccessCidrs=["0.0.0.0/0"]),
        "platform:cluster",
        "0.0.0.0/0",
    ),
    (
        "unsupported-kubernetes-version",
        _set("cluster.version", "1.19"),
        "platform:cluster.version",
        "pattern",
    ),
    (
        "too-few-nodes-for-production",
        lambda v: v["cluster"]["nodeGroups"]["general"].update(minSize=1, desiredSize=1),
        "platform:cluster.nodeGroups",
        "at least 3 nodes",
    ),
    ("aws-stack-without-network", _delete("network"), "platform:cloud", "platform:network"),
    ("reserved-tag-override", _set("tags.Environment", "qa"), "platform:tags", "cannot be overridden"),
    ("aws-reserved-tag-prefix", _set("tags.aws:owner", "me"), "platform:tags", "reserved by AWS"),
    ("missing-environment", _delete("environment"), "platform:environment", "is required"),
    (
        "bad-flow-log-retention",
        _set("network.flowLogs.retentionDays", 7),
        "platform:network.flowLogs.retentionDays",
        "30",
    ),
    ("prod-with-one-reader", _set("database.readers", 1), "platform:database.readers", "at least 2"),
    (
        "prod-backup-retention-too-short",
        _set("database.backupRetentionDays", 7),
        "platform:database.backupRetentionDays",
        "14",
    ),
    (
        "backup-retention-out-of-range",
        _set("database.backupRetentionDays", 40),
        "platform:database.backupRetentionDays",
        "35",
    ),
    ("unknown-database-engine", _set("database.engine", "mysql"), "platform:database", "aurora"),
    (
        "restore-time-in-the-future",
        _set(
            "database.restore",
            {"sourceClusterIdentifier": "platform-prod", "restoreTime": "2999-01-01T00:00:00Z"},
        ),
        "platform:database.restore.restoreTime",
        "future",
    ),
    (
        "invalid-admin-role-arn",
        _set("cluster.adminRoleArns", ["admins"]),
        "platform:cluster.adminRoleArns[0]",
        "pattern",
    ),
    (
        "aws-cluster-without-admins",
        _set("cluster.adminRoleArns", []),
        "platform:cluster.adminRoleArns",
        "at least one IAM role",
    ),
    (
        "aws-cluster-admins-omitted",
        _delete("cluster.adminRoleArns"),
        "platform:cluster.adminRoleArns",
        "is required",
    ),
]


@pytest.mark.parametrize(("mutation", "key", "words"), [c[1:] for c in INVALID], ids=[c[0] for c in INVALID])
def test_invalid_config_is_refused_naming_key_value_and_rule(
    prod_values: dict, mutation, key: str, words: str
) -> None:
    mutation(prod_values)
    with pytest.raises(ConfigError) as caught:
        validate(prod_values)
    message = str(caught.value)
    assert message.startswith(f"{key}:"), message
    assert words in message, message
    assert "(value:" in message, message
    assert "\n" not in message


def test_local_stack_refuses_aws_only_sections() -> None:
    values = stack_values("dev")
    values["network"] = copy.deepcopy(stack_values("prod")["network"])
    with pytest.raises(ConfigError, match=r"^platform:network: is only for AWS stacks"):
        validate(values)


def test_production_protection_needs_aws() -> None:
    values = {**stack_values("dev"), "protection": "production"}
    with pytest.raises(ConfigError, match=r"^platform:protection: .*needs cloud.provider `aws`"):
        validate(values)


def test_production_rules_are_the_strictest() -> None:
    production = PROTECTION["production"]
    for level, rules in PROTECTION.items():
        assert rules.min_availability_zones <= production.min_availability_zones, level
        assert rules.min_backup_retention_days <= production.min_backup_retention_days, level
    assert production.protect and production.deletion_protection and production.nat_per_az
    assert production.min_backup_retention_days >= 14


def test_bad_config_registers_no_resource(prod_values: dict) -> None:
    prod_values["cluster"]["nodeGroups"]["general"]["minSize"] = -1
    registered: list[Registration] = []
    with pytest.raises(ConfigError):
        synthesize("prod", config=encode(prod_values), secret_keys=[], project="platform", record=registered)
    assert registered == []


def test_a_cluster_nobody_can_administer_registers_no_resource(prod_values: dict) -> None:
    prod_values["cluster"]["adminRoleArns"] = []
    registered: list[Registration] = []
    with pytest.raises(ConfigError, match=r"^platform:cluster.adminRoleArns: .*at least one IAM role"):
        synthesize("prod", config=encode(prod_values), secret_keys=[], project="platform", record=registered)
    assert registered == []


def test_pulumi_yaml_declares_every_top_level_key_with_its_description() -> None:
    declared = yaml.safe_load((ROOT / "Pulumi.yaml").read_text())["config"]
    fields = {f.alias or n: f for n, f in StackConfig.model_fields.items()}
    assert set(declared) == set(fields)
    for key, field in fields.items():
        assert declared[key]["description"] == field.description, key


def test_readme_config_reference_is_generated_and_current() -> None:
    from synth.reference import BEGIN, END, render_reference

    readme = (ROOT / "README.md").read_text()
    current = readme[readme.index(BEGIN) : readme.index(END) + len(END)] + "\n"
    assert current == render_reference(), "README config reference is stale: run `python -m synth reference`"


def _synth_cli(
    tmp_path: Path, stack_yaml: dict[str, Any], stack: str = "broken"
) -> subprocess.CompletedProcess[str]:
    (tmp_path / "Pulumi.yaml").write_text((ROOT / "Pulumi.yaml").read_text())
    (tmp_path / f"Pulumi.{stack}.yaml").write_text(yaml.safe_dump(stack_yaml))
    return subprocess.run(
        [sys.executable, "-m", "synth", stack, "--stack-dir", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_synth_exits_2_with_one_line_and_no_traceback_on_bad_config(tmp_path: Path) -> None:
    stack = yaml.safe_load((ROOT / "Pulumi.prod.yaml").read_text())
    stack["config"]["platform:cluster"]["nodeGroups"]["general"]["minSize"] = "many"
    result = _synth_cli(tmp_path, stack)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith("error: platform:cluster.nodeGroups.general.minSize:"), result.stderr
    assert result.stdout == ""


def test_synth_exits_2_on_unknown_stack() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "synth", "nosuchstack"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert "no stack named 'nosuchstack'" in result.stderr
    assert "Traceback" not in result.stderr
