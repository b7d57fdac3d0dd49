"""Cloud audit (CloudTrail, GuardDuty), managed-service alarms to SNS, and the CloudWatch exporters."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable
from typing import Any

import pytest
import yaml

from components.audit import (
    alarm_specs,
    audit_key_policy,
    cloudfront_alarm_spec,
    edge_alarm_key_policy,
    trail_bucket_policy,
)
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
    block = _named(
        synthesis, "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock", "audit-bucket-public-access"
    ).inputs
    assert all(block[k] is True for k in ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls"))
    assert block["restrictPublicBuckets"] is True
    versioning = _named(
        synthesis, "aws:s3/bucketVersioning:BucketVersioning", "audit-bucket-versioning"
    ).inputs
    assert versioning["versioningConfiguration"]["status"] == "Enabled"
    sse = _named(
        synthesis,
        "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
        "audit-bucket-encryption",
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
    topic = _named(synthesis, TOPIC, "audit-alarms")
    assert topic.inputs["kmsMasterKeyId"].startswith("arn:aws:kms:")
    arn = topic.outputs["arn"]
    # The CloudFront alarm notifies the us-east-1 topic instead (see the edge tests below).
    alarms = [a for a in synthesis.by_type(ALARM) if a.name != "audit-cloudfront-5xx"]
    assert {a.name for a in alarms} >= {"audit-aurora-cpu", "audit-aurora-replica-lag", "audit-alb-elb-5xx"}
    assert alarms_without_topic(alarms, arn) == []
    policy = _named(synthesis, "aws:sns/topicPolicy:TopicPolicy", "audit-alarms").inputs["policy"]
    assert "cloudwatch.amazonaws.com" in policy
    emails = {
        s.inputs["endpoint"]
        for s in synthesis.by_type("aws:sns/topicSubscription:TopicSubscription")
        if s.inputs["topic"] == arn
    }
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


def exporter_tls_problems(values: dict[str, Any], region: str) -> list[str]:
    """Why postgres_exporter would not verify Aurora's certificate against the region's RDS CA bundle."""
    from components.pgbouncer import rds_ca_bundle_url

    datasource = values["config"]["datasource"]
    problems = []
    if datasource.get("sslmode") != "verify-full":
        problems.append(f"sslmode {datasource.get('sslmode')!r}, not verify-full")
    params = dict(p.split("=", 1) for p in str(datasource.get("extraParams") or "").split("&") if p)
    ca_file = params.get("sslrootcert")
    if ca_file is None:
        problems.append("no sslrootcert")
        return problems
    ca_dir = ca_file.rsplit("/", 1)[0]
    volumes = {v["name"]: v for v in values.get("extraVolumes", [])}
    mounts = [m for m in values.get("extraVolumeMounts", []) if m["mountPath"] == ca_dir]
    if not mounts or mounts[0]["name"] not in volumes:
        problems.append(f"{ca_dir} is not a mounted volume")
        return problems
    fetches = [
        c
        for c in values.get("initContainers", [])
        if rds_ca_bundle_url(region) in c.get("args", [])
        and ca_file in c.get("args", [])
        and any(m["name"] == mounts[0]["name"] for m in c.get("volumeMounts", []))
    ]
    if not fetches:
        problems.append(f"no init container fetches the {region} RDS bundle into {ca_file}")
    return problems


def _exporter_values() -> dict[str, Any]:
    from components.cloud_metrics import postgres_exporter_values

    return postgres_exporter_values(
        "db.cluster-ro-x.eu-west-1.rds.amazonaws.com",
        5432,
        "app",
        "platform_monitor",
        "s",
        region="eu-west-1",
    )


def test_postgres_exporter_verifies_aurora_against_the_regional_rds_bundle() -> None:
    values = _exporter_values()
    assert exporter_tls_problems(values, "eu-west-1") == []
    (fetch,) = values["initContainers"]
    assert fetch["securityContext"]["runAsNonRoot"] is True
    assert values["extraVolumeMounts"][0]["readOnly"] is True


@pytest.mark.parametrize(
    ("breakage", "problem"),
    [
        (lambda v: v["config"]["datasource"].update(sslmode="require"), "sslmode 'require', not verify-full"),
        (lambda v: v["config"]["datasource"].update(extraParams=""), "no sslrootcert"),
        (lambda v: v.update(extraVolumeMounts=[]), "/var/run/rds-ca is not a mounted volume"),
        (lambda v: v.update(extraVolumes=[]), "/var/run/rds-ca is not a mounted volume"),
        (
            lambda v: v.update(initContainers=[]),
            "no init container fetches the eu-west-1 RDS bundle into /var/run/rds-ca/ca.crt",
        ),
    ],
)
def test_exporter_tls_check_catches_a_weaker_or_unverifiable_connection(breakage: Any, problem: str) -> None:
    values = _exporter_values()
    breakage(values)
    assert exporter_tls_problems(values, "eu-west-1") == [problem]


def test_exporter_tls_check_catches_another_regions_bundle() -> None:
    assert exporter_tls_problems(_exporter_values(), "us-east-1") == [
        "no init container fetches the us-east-1 RDS bundle into /var/run/rds-ca/ca.crt"
    ]


def test_postgres_exporters_watch_the_writer_and_the_reader_with_a_secret_password() -> None:
    import pulumi

    from components.cloud_metrics import CloudMetrics, CloudMetricsArgs, PostgresTarget
    from components.endpoints import Credentials
    from components.monitoring import render_monitors
    from synth.engine import SECRET, synthesize

    holder: dict[str, CloudMetrics] = {}

    def program() -> None:
        login = Credentials("platform_monitor", pulumi.Output.secret("s3cret-value"))
        target = PostgresTarget(
            "db.cluster-x.eu-west-1.rds.amazonaws.com",
            "db.cluster-ro-x.eu-west-1.rds.amazonaws.com",
            5432,
            "app",
            login,
        )
        holder["metrics"] = CloudMetrics(
            "metrics", CloudMetricsArgs(region="eu-west-1", cluster_name="c", postgres=target)
        )

    synthesis = synthesize("test", program=program, config={}, secret_keys=[], project="platform")
    releases = {r.name: r.inputs["values"] for r in synthesis.by_type("kubernetes:helm.sh/v3:Release")}
    hosts = {}
    for endpoint in ("writer", "reader"):
        values = releases[f"metrics-postgres-exporter-{endpoint}"]
        datasource = values["config"]["datasource"]
        hosts[endpoint] = datasource["host"]
        assert exporter_tls_problems(values, "eu-west-1") == []
        assert datasource["user"] == "platform_monitor" and "password" not in datasource
        assert values["service"]["labels"]["database-endpoint"] == endpoint
    assert hosts == {
        "writer": "db.cluster-x.eu-west-1.rds.amazonaws.com",
        "reader": "db.cluster-ro-x.eu-west-1.rds.amazonaws.com",
    }
    # One monitor scrapes both and copies the endpoint label onto their series.
    (monitor,) = [
        m
        for m in render_monitors(holder["metrics"].scrape_targets)
        if m["metadata"]["name"] == "postgres-exporter"
    ]
    assert monitor["spec"]["targetLabels"] == ["database-endpoint"]
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


# -- CloudFront 5xx, alarmed in us-east-1 ------------------------------------------------------

EDGE_REGION = "us-east-1"
CLOUDFRONT_STACKS = [("dev", False), ("staging", True), ("uat", False), ("prod", True)]


def edge_alarm_problems(resources: Iterable[Registration], distribution_id: str) -> list[str]:
    """What keeps a stack's CloudFront 5xx alarm from reaching its encrypted us-east-1 topic."""
    by_name = {(r.type, r.name): r for r in resources}
    alarm = by_name.get((ALARM, "audit-cloudfront-5xx"))
    topic = by_name.get((TOPIC, "audit-edge-alarms"))
    key = by_name.get(("aws:kms/key:Key", "audit-edge-key"))
    policy = by_name.get(("aws:sns/topicPolicy:TopicPolicy", "audit-edge-alarms"))
    if alarm is None or topic is None or key is None or policy is None:
        return ["the CloudFront alarm, its topic, topic policy or key is missing"]
    problems = [
        f"{r.urn}: in {r.inputs.get('region')!r}, not {EDGE_REGION}"
        for r in (alarm, topic, key, policy)
        if r.inputs.get("region") != EDGE_REGION
    ]
    topic_arn = str(topic.outputs.get("arn"))
    if not topic_arn.startswith(f"arn:aws:sns:{EDGE_REGION}:"):
        problems.append(f"topic ARN {topic_arn} is not in {EDGE_REGION}")
    problems += alarms_without_topic([alarm], topic_arn)
    i = alarm.inputs
    if (i.get("namespace"), i.get("metricName")) != ("AWS/CloudFront", "5xxErrorRate"):
        problems.append(f"alarm watches {i.get('namespace')}/{i.get('metricName')}")
    if i.get("dimensions") != {"DistributionId": distribution_id, "Region": "Global"}:
        problems.append(f"alarm dimensions {i.get('dimensions')}")
    if topic.inputs.get("kmsMasterKeyId") != key.outputs.get("arn") or not key.inputs.get(
        "enableKeyRotation"
    ):
        problems.append("topic is not encrypted with the rotating us-east-1 key")
    if "cloudwatch.amazonaws.com" not in str(policy.inputs.get("policy")):
        problems.append("CloudWatch may not publish to the topic")
    return problems


@pytest.mark.parametrize(("stack", "has_cloudfront"), CLOUDFRONT_STACKS)
def test_cloudfront_5xx_alarms_in_us_east_1_exactly_on_cloudfront_stacks(
    stack: str, has_cloudfront: bool
) -> None:
    synthesis = synthesized(stack)
    distributions = synthesis.by_type("aws:cloudfront/distribution:Distribution")
    assert bool(distributions) is has_cloudfront
    if has_cloudfront:
        distribution_id = synthesis.outputs["cdnDistributionId"]
        assert edge_alarm_problems(synthesis.resources, distribution_id) == []
        assert synthesis.outputs["edgeAlarmTopicArn"].startswith(f"arn:aws:sns:{EDGE_REGION}:")
    else:
        assert "edgeAlarmTopicArn" not in synthesis.outputs
        assert not [r for r in synthesis.resources if r.name.startswith(("audit-edge", "audit-cloudfront"))]
        assert all(r.inputs.get("region") != EDGE_REGION for r in synthesis.by_type(ALARM))


@pytest.mark.parametrize(
    ("type_", "name", "change"),
    [
        (ALARM, "audit-cloudfront-5xx", {"region": None}),
        (ALARM, "audit-cloudfront-5xx", {"okActions": []}),
        (ALARM, "audit-cloudfront-5xx", {"dimensions": {"DistributionId": "E0THER"}}),
        (TOPIC, "audit-edge-alarms", {"region": "eu-west-1"}),
        ("aws:kms/key:Key", "audit-edge-key", {"enableKeyRotation": False}),
    ],
)
def test_edge_alarm_check_catches_a_broken_alarm_topic_or_key(
    type_: str, name: str, change: dict[str, Any]
) -> None:
    prod = synthesized("prod")
    broken = [
        dataclasses.replace(r, inputs={**r.inputs, **change}) if (r.type, r.name) == (type_, name) else r
        for r in prod.resources
    ]
    distribution_id = prod.outputs["cdnDistributionId"]
    assert edge_alarm_problems(prod.resources, distribution_id) == []
    assert edge_alarm_problems(broken, distribution_id) != []


@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_edge_topic_has_the_regional_topics_subscriptions(stack: str) -> None:
    config = validate(stack_values(stack))
    by_region: dict[str, set[str]] = {}
    for s in synthesized(stack).by_type("aws:sns/topicSubscription:TopicSubscription"):
        by_region.setdefault(s.inputs["topic"].split(":")[3], set()).add(s.inputs["endpoint"])
    emails = set(config.audit.alarm_emails)  # type: ignore[union-attr]
    assert by_region == {config.cloud.region: emails, EDGE_REGION: emails}  # type: ignore[union-attr]


def test_cloudfront_threshold_comes_from_config(prod_values: dict[str, Any]) -> None:
    assert (
        _named(synthesized("prod"), ALARM, "audit-cloudfront-5xx").inputs["threshold"] == 5.0
    )  # the default
    prod_values["audit"]["alarms"]["cloudfront5xxPercent"] = 2.5
    thresholds = validate(prod_values).audit.alarms  # type: ignore[union-attr]
    spec = cloudfront_alarm_spec(thresholds, "E123")
    assert (spec.threshold, spec.statistic, spec.dimensions) == (
        2.5,
        "Average",
        {"DistributionId": "E123", "Region": "Global"},
    )
    assert "2.5%" in spec.description


@pytest.mark.parametrize("value", [0, -1, 101, "five"])
def test_a_cloudfront_threshold_outside_0_to_100_percent_is_refused(
    prod_values: dict[str, Any], value: Any
) -> None:
    prod_values["audit"]["alarms"]["cloudfront5xxPercent"] = value
    with pytest.raises(ConfigError, match=r"^platform:audit\.alarms\.cloudfront5xxPercent: .*\(value: "):
        validate(prod_values)


def test_edge_key_admits_the_account_and_cloudwatch_only() -> None:
    statements = json.loads(edge_alarm_key_policy("123456789012"))["Statement"]
    assert [s["Sid"] for s in statements] == ["AccountAdministers", "CloudWatchPublishesAlarms"]
    regional = {
        s["Sid"]: s for s in json.loads(audit_key_policy("123456789012", "eu-west-1", "t"))["Statement"]
    }
    assert statements[1] == regional["CloudWatchPublishesAlarms"]
    assert statements[1]["Condition"] == {"StringEquals": {"aws:SourceAccount": "123456789012"}}


def test_edge_region_is_where_cloudfront_keeps_its_global_resources() -> None:
    from components.audit import EDGE_REGION as AUDIT_EDGE_REGION
    from components.cdn_cloudfront import GLOBAL_REGION

    assert AUDIT_EDGE_REGION == GLOBAL_REGION == EDGE_REGION


# Every property the edge alarm path sets, by SDK class: a misspelled keyword would only fail at `pulumi up`.
EDGE_PROPERTIES = {
    "kms.Key": {"description", "enable_key_rotation", "deletion_window_in_days", "policy", "region"},
    "sns.Topic": {"name", "kms_master_key_id", "region"},
    "sns.TopicPolicy": {"arn", "policy", "region"},
    "sns.TopicSubscription": {"topic", "protocol", "endpoint", "region"},
    "cloudwatch.MetricAlarm": {
        "name",
        "alarm_description",
        "comparison_operator",
        "threshold",
        "evaluation_periods",
        "datapoints_to_alarm",
        "treat_missing_data",
        "alarm_actions",
        "ok_actions",
        "namespace",
        "metric_name",
        "statistic",
        "dimensions",
        "period",
        "region",
    },
}


def unknown_properties(properties: dict[str, set[str]]) -> list[str]:
    """`module.Class.property` of every property the installed pulumi-aws does not accept."""
    import inspect

    import pulumi_aws as aws

    unknown = []
    for path, names in properties.items():
        module, cls = path.split(".")
        accepted = set(inspect.signature(getattr(getattr(aws, module), cls)._internal_init).parameters)
        unknown += [f"{path}.{n}" for n in sorted(names - accepted)]
    return unknown


def test_every_edge_alarm_property_is_in_the_sdk_signature() -> None:
    assert unknown_properties(EDGE_PROPERTIES) == []


def test_signature_check_catches_a_misspelled_property() -> None:
    assert unknown_properties({"cloudwatch.MetricAlarm": {"regoin", "region"}}) == [
        "cloudwatch.MetricAlarm.regoin"
    ]


def test_edge_properties_cover_what_the_synthesized_resources_set() -> None:
    camel = {  # the engine's camelCase names of EDGE_PROPERTIES
        p: {n.split("_")[0] + "".join(w.capitalize() for w in n.split("_")[1:]) for n in names}
        for p, names in EDGE_PROPERTIES.items()
    }
    types = {
        "kms.Key": ("aws:kms/key:Key", "audit-edge-key"),
        "sns.Topic": (TOPIC, "audit-edge-alarms"),
        "sns.TopicPolicy": ("aws:sns/topicPolicy:TopicPolicy", "audit-edge-alarms"),
        "sns.TopicSubscription": (
            "aws:sns/topicSubscription:TopicSubscription",
            "audit-edge-alarms-platform-oncall@example.com",
        ),
        "cloudwatch.MetricAlarm": (ALARM, "audit-cloudfront-5xx"),
    }
    prod = synthesized("prod")
    for path, (type_, name) in types.items():
        assert set(_named(prod, type_, name).inputs) - {"tags"} <= camel[path], path


# -- GuardDuty: own the detector, or only its features on an existing one ----------------------

DETECTOR = "aws:guardduty/detector:Detector"
FEATURE = "aws:guardduty/detectorFeature:DetectorFeature"


def _audit_synthesis(manage_detector: bool) -> Synthesis:
    from components.audit import Audit, AuditArgs
    from components.security_settings import AuditSettings
    from synth.engine import synthesize

    settings = AuditSettings.model_validate({"guardDuty": {"manageDetector": manage_detector}})

    def program() -> None:
        Audit("audit", AuditArgs("platform-x", settings, "123456789012", "eu-west-1", protect=False))

    return synthesize("test", program=program, config={}, secret_keys=[], project="platform")


def detector_feature_problems(synthesis: Synthesis, manage_detector: bool) -> list[str]:
    """Features not on the stack's own detector (managed) or on the region's existing one (not managed)."""
    detectors = {d.urn for d in synthesis.by_type(DETECTOR)}
    if manage_detector != bool(detectors):
        return [f"{len(detectors)} detectors registered with manageDetector={manage_detector}"]
    problems = []
    features = synthesis.by_type(FEATURE)
    if {f.inputs["name"] for f in features} != {"EKS_AUDIT_LOGS", "RUNTIME_MONITORING"}:
        problems.append(f"features {sorted(f.inputs['name'] for f in features)}")
    for f in features:
        if not f.inputs.get("detectorId"):
            problems.append(f"{f.urn}: no detector")
        elif manage_detector and not detectors & set(f.dependencies):
            problems.append(f"{f.urn}: not on the stack's detector")
    return problems


@pytest.mark.parametrize("manage_detector", [True, False])
def test_guardduty_features_go_on_the_detector_the_stack_owns_or_finds(manage_detector: bool) -> None:
    synthesis = _audit_synthesis(manage_detector)
    assert detector_feature_problems(synthesis, manage_detector) == []


def test_an_existing_detector_is_looked_up_and_not_created() -> None:
    synthesis = _audit_synthesis(False)
    assert synthesis.by_type(DETECTOR) == []
    detector_ids = {f.inputs["detectorId"] for f in synthesis.by_type(FEATURE)}
    # The mock's id for the region's existing detector (synth/mocks.py, getDetector).
    assert len(detector_ids) == 1 and len(next(iter(detector_ids))) == 32


def test_detector_check_catches_a_second_detector_and_a_feature_off_the_detector() -> None:
    synthesis = _audit_synthesis(True)
    assert detector_feature_problems(synthesis, False) != []
    feature = synthesis.by_type(FEATURE)[0]
    broken = dataclasses.replace(
        feature, inputs={**feature.inputs, "detectorId": "someone-elses"}, dependencies=[]
    )
    resources = [broken if r is feature else r for r in synthesis.resources]
    assert detector_feature_problems(dataclasses.replace(synthesis, resources=resources), True) == [
        f"{feature.urn}: not on the stack's detector"
    ]


@pytest.mark.parametrize("stack", AWS_STACKS)
def test_every_stack_still_owns_its_detector(stack: str) -> None:
    config = validate(stack_values(stack))
    assert config.audit is not None and config.audit.guard_duty.manage_detector is True
    assert len(synthesized(stack).by_type(DETECTOR)) == 1


def test_manage_detector_must_be_a_boolean() -> None:
    values = stack_values("prod")
    values["audit"]["guardDuty"]["manageDetector"] = "sometimes"
    with pytest.raises(ConfigError, match=r"audit\.guardDuty\.manageDetector"):
        validate(values)
