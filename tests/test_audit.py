"""Cloud audit (CloudTrail, GuardDuty), managed-service alarms to SNS, and the CloudWatch exporters."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable
from typing import Any

import pytest
import yaml

from components.audit import alarm_specs, audit_key_policy, trail_bucket_policy
from components.cloud_metrics import render_yace_config, yace_policy
from components.config import ConfigError, validate
from components.security_settings import AlarmThresholds
from synth.engine import Registration, Synthesis
from tests.conftest import AWS_STACKS, stack_values, synthesized

TRAIL = "aws:cloudtrail/trail:Trail"
ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"
TOPIC = "aws:sns/topic:Topic"


def trail_problems(trails: Iterable[Registration]) -> list[str]:
    """Trails that are not multi-region, validated, global and KMS-encrypted."""
    problems = []
    for t in trails:
        i = t.inputs
        if not (i.get("isMultiRegionTrail") and i.get("enableLogFileValidation")):
            problems.append(f"{t.urn}: not multi-region with log-file validation")
        if not i.get("includeGlobalServiceEvents") or not str(i.get("kmsKeyId", "")).startswith(
            "arn:aws:kms:"
        ):
            problems.append(f"{t.urn}: misses global events or KMS")
    return problems


def alarms_without_topic(alarms: Iterable[Registration], topic_arn: str) -> list[str]:
    """Alarms that do not notify the alarm topic (on alarm and on recovery)."""
    return [
        a.urn
        for a in alarms
        if a.inputs.get("alarmActions") != [topic_arn] or a.inputs.get("okActions") != [topic_arn]
    ]


def _one(synthesis: Synthesis, type_: str) -> Registration:
    (found,) = synthesis.by_type(type_)
    return found


def _named(synthesis: Synthesis, type_: str, name: str) -> Registration:
    return next(r for r in synthesis.by_type(type_) if r.name == name)


def test_dev_has_no_cloud_audit() -> None:
    assert [r for r in synthesized("dev").resources if r.type.startswith(("aws:", "platform:audit"))] == []


@pytest.mark.parametrize("stack", AWS_STACKS)
def test_trail_is_multi_region_validated_and_encrypted(stack: str) -> None:
    assert trail_problems([_one(synthesized(stack), TRAIL)]) == []


def test_trail_check_catches_a_single_region_trail() -> None:
    trail = _one(synthesized("prod"), TRAIL)
    broken = dataclasses.replace(trail, inputs={**trail.inputs, "isMultiRegionTrail": False})
    assert trail_problems([broken]) != []


@pytest.mark.parametrize("stack", AWS_STACKS)
def test_trail_bucket_is_private_versioned_encrypted_and_expires_per_config(stack: str) -> None:
    synthesis = synthesized(stack)
    config = validate(stack_values(stack))
    block = _named(synthesis, "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock", "audit-bucket").inputs
    assert all(block[k] is True for k in ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls"))
    assert block["restrictPublicBuckets"] is True
    versioning = _named(synthesis, "aws:s3/bucketVersioning:BucketVersioning", "audit-bucket").inputs
    assert versioning["versioningConfiguration"]["status"] == "Enabled"
    sse = _named(
        synthesis,
        "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
        "audit-bucket",
    ).inputs["rules"][0]["applyServerSideEncryptionByDefault"]
    assert sse["sseAlgorithm"] == "aws:kms" and sse["kmsMasterKeyId"].startswith("arn:aws:kms:")
    lifecycle = _named(
        synthesis, "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration", "audit-bucket"
    ).inputs["rules"][0]
    assert lifecycle["expiration"]["days"] == config.audit.trail.retention_days  # type: ignore[union-attr]
    bucket = _named(synthesis, "aws:s3/bucket:Bucket", "audit-bucket")
    assert bucket.protect is config.rules.protect and bucket.inputs["forceDestroy"] is False


def test_prod_locks_audit_logs_and_protects_the_trail() -> None:
    prod = synthesized("prod")
    lock = _named(prod, "aws:s3/bucketObjectLockConfiguration:BucketObjectLockConfiguration", "audit-bucket")
    assert lock.inputs["rule"]["defaultRetention"] == {"mode": "GOVERNANCE", "days": 365}
    assert _named(prod, "aws:s3/bucket:Bucket", "audit-bucket").inputs["objectLockEnabled"] is True
    assert _one(prod, TRAIL).protect and _one(prod, "aws:guardduty/detector:Detector").protect


def test_only_this_trail_may_write_and_tls_is_required() -> None:
    statements = {
        s["Sid"]: s for s in json.loads(trail_bucket_policy("b", "1", "eu-west-1", "t"))["Statement"]
    }
    write = statements["CloudTrailWrite"]
    assert write["Condition"]["StringEquals"]["aws:SourceArn"] == "arn:aws:cloudtrail:eu-west-1:1:trail/t"
    assert statements["DenyInsecureTransport"]["Effect"] == "Deny"
    key = {s["Sid"] for s in json.loads(audit_key_policy("1", "eu-west-1", "t"))["Statement"]}
    assert {"CloudTrailEncryptsLogs", "CloudWatchPublishesAlarms"} <= key


@pytest.mark.parametrize("stack", AWS_STACKS)
def test_guardduty_watches_eks_audit_logs_and_runtime(stack: str) -> None:
    features = {
        f.inputs["name"]: f.inputs
        for f in synthesized(stack).by_type("aws:guardduty/detectorFeature:DetectorFeature")
    }
    assert features["EKS_AUDIT_LOGS"]["status"] == "ENABLED"
    runtime = features["RUNTIME_MONITORING"]
    assert runtime["status"] == "ENABLED"
    assert {"name": "EKS_ADDON_MANAGEMENT", "status": "ENABLED"} in runtime["additionalConfigurations"]


@pytest.mark.parametrize("stack", AWS_STACKS)
def test_alarms_notify_the_encrypted_topic(stack: str) -> None:
    synthesis = synthesized(stack)
    topic = _one(synthesis, TOPIC)
    assert topic.inputs["kmsMasterKeyId"].startswith("arn:aws:kms:")
    arn = topic.outputs.get("arn") or f"arn:aws:sns:eu-west-1:111122223333:{topic.inputs['name']}"
    alarms = synthesis.by_type(ALARM)
    assert {a.name for a in alarms} >= {"audit-aurora-cpu", "audit-aurora-replica-lag", "audit-alb-elb-5xx"}
    assert alarms_without_topic(alarms, arn) == []
    policy = _one(synthesis, "aws:sns/topicPolicy:TopicPolicy").inputs["policy"]
    assert "cloudwatch.amazonaws.com" in policy
    emails = {s.inputs["endpoint"] for s in synthesis.by_type("aws:sns/topicSubscription:TopicSubscription")}
    assert emails == set(validate(stack_values(stack)).audit.alarm_emails)  # type: ignore[union-attr]


def test_alarm_check_catches_an_alarm_without_actions() -> None:
    alarm = _named(synthesized("prod"), ALARM, "audit-aurora-cpu")
    broken = dataclasses.replace(alarm, inputs={**alarm.inputs, "alarmActions": []})
    assert alarms_without_topic([broken], "arn:aws:sns:x") == [alarm.urn]


def test_alarm_thresholds_are_in_the_metrics_units() -> None:
    specs = {
        s.key: s for s in alarm_specs(AlarmThresholds(aurora_replica_lag_seconds=10), "db", elasticache=True)
    }
    assert specs["aurora-replica-lag"].threshold == 10_000  # AuroraReplicaLagMaximum is in ms
    assert specs["aurora-free-local-storage"].threshold == 5 * 1024**3
    assert specs["aurora-free-local-storage"].comparison == "LessThanThreshold"
    assert specs["aurora-cpu"].dimensions == {"DBClusterIdentifier": "db"}
    assert "AWS/ElastiCache" in (specs["elasticache-memory"].query or "")
    prod_cpu = _named(synthesized("prod"), ALARM, "audit-aurora-cpu").inputs
    assert prod_cpu["threshold"] == 75 and prod_cpu["dimensions"] == {"DBClusterIdentifier": "platform-prod"}


@pytest.mark.parametrize("stack", AWS_STACKS)
def test_eks_audit_logs_are_kept_as_configured(stack: str) -> None:
    synthesis = synthesized(stack)
    config = validate(stack_values(stack))
    cluster = _one(synthesis, "aws:eks/cluster:Cluster")
    assert "audit" in cluster.inputs["enabledClusterLogTypes"]
    group = next(
        g
        for g in synthesis.by_type("aws:cloudwatch/logGroup:LogGroup")
        if g.inputs["name"].endswith("/cluster")
    )
    assert group.inputs["retentionInDays"] == config.cluster.log_retention_days  # type: ignore[union-attr]


# -- exporters -------------------------------------------------------------------------------


@pytest.mark.parametrize("stack", AWS_STACKS)
def test_cloudwatch_exporter_runs_with_its_own_pod_identity(stack: str) -> None:
    synthesis = synthesized(stack)
    releases = {r.inputs["chart"] for r in synthesis.by_type("kubernetes:helm.sh/v3:Release")}
    assert "prometheus-yet-another-cloudwatch-exporter" in releases
    associations = synthesis.by_type("aws:eks/podIdentityAssociation:PodIdentityAssociation")
    assert any(a.inputs["serviceAccount"] == "yace" for a in associations)


def test_cloudwatch_exporter_may_only_read_metrics() -> None:
    (statement,) = json.loads(yace_policy())["Statement"]
    assert statement["Action"] == ["cloudwatch:GetMetricData", "cloudwatch:ListMetrics", "tag:GetResources"]


def test_cloudwatch_exporter_covers_the_managed_services() -> None:
    jobs = {j["type"]: j for j in yaml.safe_load(render_yace_config("eu-west-1"))["discovery"]["jobs"]}
    assert set(jobs) == {"AWS/RDS", "AWS/ElastiCache", "AWS/ApplicationELB", "AWS/CloudFront"}
    assert jobs["AWS/CloudFront"]["regions"] == ["us-east-1"] and jobs["AWS/RDS"]["regions"] == ["eu-west-1"]


# -- bad input -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("mutate", "path", "words"),
    [
        (lambda v: v.pop("audit"), "platform:audit:", "needs CloudTrail"),
        (lambda v: v["audit"].update(alarmEmails=[]), "platform:audit.alarmEmails:", "at least one address"),
        (
            lambda v: v["audit"]["trail"].pop("objectLockDays"),
            "platform:audit.trail.objectLockDays:",
            "Object Lock",
        ),
        (lambda v: v["audit"]["trail"].update(objectLockDays=4000), "platform:audit.trail", "objectLockDays"),
        (lambda v: v["audit"].update(alarmEmails=["a@x.io", "a@x.io"]), "platform:audit", "distinct"),
        (
            lambda v: v["audit"].update(alarmEmails=["not-an-address"]),
            "platform:audit.alarmEmails",
            "pattern",
        ),
        (
            lambda v: v["audit"]["alarms"].update(auroraCpuPercent=0),
            "platform:audit.alarms.auroraCpuPercent",
            "10",
        ),
    ],
)
def test_bad_audit_config_is_refused(prod_values: dict[str, Any], mutate: Any, path: str, words: str) -> None:
    mutate(prod_values)
    with pytest.raises(ConfigError) as caught:
        validate(prod_values)
    assert str(caught.value).startswith(path) and words in str(caught.value)


def test_audit_on_a_local_stack_is_refused() -> None:
    values = stack_values("dev")
    values["audit"] = {}
    with pytest.raises(ConfigError, match=r"^platform:audit: .*cloud.provider `aws`"):
        validate(values)


@pytest.mark.parametrize(("stack", "names"), [("dev", {"cert-manager"}), ("prod", {"cert-manager", "yace"})])
def test_exporters_reach_prometheus_through_service_monitors(stack: str, names: set[str]) -> None:
    monitors = synthesized(stack).by_type("kubernetes:monitoring.coreos.com/v1:ServiceMonitor")
    assert names <= {m.inputs["metadata"]["name"] for m in monitors}


def test_postgres_exporter_reads_the_reader_endpoint_with_a_secret_password() -> None:
    import pulumi

    from components.cloud_metrics import CloudMetrics, CloudMetricsArgs, PostgresTarget
    from components.endpoints import Credentials
    from synth.engine import SECRET, synthesize

    def program() -> None:
        login = Credentials("platform_monitor", pulumi.Output.secret("s3cret-value"))
        target = PostgresTarget("db.cluster-ro-x.eu-west-1.rds.amazonaws.com", 5432, "app", login)
        CloudMetrics("metrics", CloudMetricsArgs(region="eu-west-1", cluster_name="c", postgres=target))

    synthesis = synthesize("test", program=program, config={}, secret_keys=[], project="platform")
    release = next(
        r for r in synthesis.by_type("kubernetes:helm.sh/v3:Release") if r.name == "metrics-postgres-exporter"
    )
    datasource = release.inputs["values"]["config"]["datasource"]
    assert datasource["host"].startswith("db.cluster-ro-") and datasource["sslmode"] == "require"
    assert datasource["user"] == "platform_monitor" and "password" not in datasource
    (secret,) = synthesis.by_type("kubernetes:core/v1:Secret")
    string_data = secret.export_inputs()["stringData"]
    assert string_data in (SECRET, {"password": SECRET})
    assert "s3cret-value" not in json.dumps([r.export_inputs() for r in synthesis.resources])


@pytest.mark.parametrize("stack", AWS_STACKS)
def test_elasticache_alarms_exist_exactly_when_the_stack_has_elasticache(stack: str) -> None:
    synthesis = synthesized(stack)
    has_cache = bool(synthesis.by_type("aws:elasticache/replicationGroup:ReplicationGroup"))
    alarms = {a.name for a in synthesis.by_type(ALARM)}
    assert ({"audit-elasticache-cpu", "audit-elasticache-memory"} <= alarms) is has_cache
