"""The log stack: Loki and Alloy values per stack, and the LogStack component's S3 path under mocks."""

from __future__ import annotations

import json
from typing import Any

import pulumi
import pytest

from components import charts
from components.config import validate
from components.log_stack import (
    AwsLogStorage,
    LogStack,
    LogStackArgs,
    S3Storage,
    collector_values,
    loki_policy,
    loki_push_url,
    loki_values,
    render_alloy_config,
)
from components.observability_settings import LoggingSettings
from synth.engine import Registration, Synthesis, synthesize
from tests.conftest import stack_values

NAMESPACE = "platform-monitoring"
BUCKET = "platform-prod-logs-210000000003-eu-west-1"


def logging_of(stack: str) -> LoggingSettings:
    return validate(stack_values(stack)).observability.logging


def values_of(stack: str) -> dict[str, Any]:
    config = validate(stack_values(stack))
    s3 = S3Storage(BUCKET, "eu-west-1") if config.is_aws else None
    return loki_values(config.observability.logging, storage_class="gp3" if s3 else "standard", s3=s3)


@pytest.mark.parametrize(
    ("stack", "store", "replicas", "retention"),
    [
        ("dev", "filesystem", 1, "72h"),
        ("staging", "s3", 1, "336h"),
        ("uat", "s3", 1, "720h"),
        ("prod", "s3", 3, "2160h"),
    ],
)
def test_loki_stores_and_keeps_logs_as_each_stack_says(
    stack: str, store: str, replicas: int, retention: str
) -> None:
    values = values_of(stack)
    loki = values["loki"]
    assert loki["storage"]["type"] == store
    assert loki["schemaConfig"]["configs"][0]["object_store"] == store
    assert loki["compactor"] == {"retention_enabled": True, "delete_request_store": store}
    assert loki["limits_config"]["retention_period"] == retention
    assert values["singleBinary"]["replicas"] == replicas
    assert values["deploymentMode"] == "SingleBinary"


def test_loki_on_aws_writes_to_its_bucket_in_the_stack_region() -> None:
    storage = values_of("prod")["loki"]["storage"]
    assert storage["bucketNames"] == {"chunks": BUCKET, "ruler": BUCKET, "admin": BUCKET}
    assert storage["s3"] == {"region": "eu-west-1"}
    assert values_of("prod")["loki"]["commonConfig"]["replication_factor"] == 3


def test_loki_on_a_filesystem_refuses_more_than_one_replica() -> None:
    with pytest.raises(ValueError, match="replicas > 1 need S3 storage"):
        loki_values(LoggingSettings(replicas=2), storage_class="standard", s3=None)


def test_alloy_runs_on_every_node_and_pushes_to_loki() -> None:
    values = collector_values(push_url=loki_push_url(NAMESPACE))
    assert values["controller"]["type"] == "daemonset"
    assert values["alloy"]["mounts"]["varlog"] is True
    # Read positions survive a restart of the pod (a node path, not the pod's /tmp).
    (volume,) = values["controller"]["volumes"]["extra"]
    (mount,) = values["alloy"]["mounts"]["extra"]
    assert volume["hostPath"]["path"] == mount["mountPath"] == values["alloy"]["storagePath"]
    assert volume["name"] == mount["name"]
    content = values["alloy"]["configMap"]["content"]
    assert f'url = "{loki_push_url(NAMESPACE)}"' in content


def test_alloy_config_survives_helm_tpl_and_is_balanced() -> None:
    content = render_alloy_config("http://loki/loki/api/v1/push")
    # The chart passes the content through `tpl`: a `{{` would be executed as a Helm template.
    assert "{{" not in content and "}}" not in content
    assert content.count("{") == content.count("}")
    assert 'sys.env("NODE_NAME")' in content
    assert collector_values(push_url="x")["alloy"]["extraEnv"][0]["valueFrom"] == {
        "fieldRef": {"fieldPath": "spec.nodeName"}
    }


def test_loki_policy_is_scoped_to_its_bucket_and_key() -> None:
    policy = json.loads(loki_policy("arn:aws:s3:::b", "arn:aws:kms:eu-west-1:1:key/k"))
    resources = sorted(str(s["Resource"]) for s in policy["Statement"])
    assert resources == ["arn:aws:kms:eu-west-1:1:key/k", "arn:aws:s3:::b", "arn:aws:s3:::b/*"]
    assert all("*" not in a for s in policy["Statement"] for a in s["Action"])


def test_charts_are_pinned() -> None:
    assert (charts.LOKI.version, charts.ALLOY.version) == ("6.29.0", "0.12.5")


# --------------------------------------------------------------------------------------------
# The component under mocks (the AWS path: bucket, key, role, Pod Identity)
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def aws_logs() -> Synthesis:
    settings = logging_of("prod")

    def program() -> None:
        import pulumi_aws as aws
        import pulumi_kubernetes as k8s

        providers = {"aws": aws.Provider("aws", region="eu-west-1"), "kubernetes": k8s.Provider("k8s")}
        LogStack(
            "logs",
            LogStackArgs(
                settings,
                NAMESPACE,
                "gp3",
                AwsLogStorage(
                    name_prefix="platform-prod",
                    account_id="210000000003",
                    region="eu-west-1",
                    cluster_name="platform-prod",
                    protect=True,
                ),
            ),
            opts=pulumi.ResourceOptions(providers=providers),
        )

    return synthesize("test", program=program, config={}, secret_keys=[], project="platform")


def _only(synthesis: Synthesis, type_: str) -> Registration:
    (found,) = synthesis.by_type(type_)
    return found


def test_log_bucket_is_encrypted_private_versioned_and_expires_after_retention(aws_logs: Synthesis) -> None:
    bucket = _only(aws_logs, "aws:s3/bucket:Bucket")
    assert bucket.inputs["bucket"] == BUCKET and bucket.protect
    sse = _only(
        aws_logs, "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
    )
    rule = sse.inputs["rules"][0]["applyServerSideEncryptionByDefault"]
    assert rule["sseAlgorithm"] == "aws:kms" and rule["kmsMasterKeyId"].startswith("arn:aws:kms:")
    block = _only(aws_logs, "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock").inputs
    assert all(
        block[k]
        for k in ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")
    )
    versioning = _only(aws_logs, "aws:s3/bucketVersioning:BucketVersioning")
    assert versioning.inputs["versioningConfiguration"]["status"] == "Enabled"
    lifecycle = _only(aws_logs, "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration")
    assert lifecycle.inputs["rules"][0]["expiration"]["days"] == logging_of("prod").retention_days + 1
    assert _only(aws_logs, "aws:kms/key:Key").protect


def test_loki_gets_its_role_through_pod_identity_and_no_access_key(aws_logs: Synthesis) -> None:
    association = _only(aws_logs, "aws:eks/podIdentityAssociation:PodIdentityAssociation")
    assert (association.inputs["namespace"], association.inputs["serviceAccount"]) == (NAMESPACE, "loki")
    trust = json.loads(_only(aws_logs, "aws:iam/role:Role").inputs["assumeRolePolicy"])
    assert trust["Statement"][0]["Principal"] == {"Service": "pods.eks.amazonaws.com"}
    loki = next(r for r in aws_logs.by_type("kubernetes:helm.sh/v3:Release") if r.inputs["name"] == "loki")
    assert loki.inputs["values"]["loki"]["storage"]["bucketNames"]["chunks"] == BUCKET
    assert "accessKeyId" not in json.dumps(loki.inputs["values"])


def test_log_stack_installs_loki_and_the_collector(aws_logs: Synthesis) -> None:
    releases = {r.inputs["name"]: r.inputs for r in aws_logs.by_type("kubernetes:helm.sh/v3:Release")}
    assert {name: inputs["version"] for name, inputs in releases.items()} == {
        "loki": charts.LOKI.version,
        "alloy": charts.ALLOY.version,
    }
    assert all(inputs["namespace"] == NAMESPACE for inputs in releases.values())
