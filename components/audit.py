"""Cloud audit and security monitoring on AWS: CloudTrail, GuardDuty, and managed-service alarms.

- A multi-region CloudTrail (global service events, log-file validation) into a dedicated bucket:
  versioned, public access blocked, KMS-encrypted, TLS only, writable by this trail alone,
  expired by lifecycle after the configured retention, optionally under Object Lock.
- GuardDuty with EKS audit-log monitoring and runtime monitoring, whose agent GuardDuty manages as
  an EKS add-on. The detector is created here, or (``guardDuty.manageDetector: false``) the
  region's existing one is looked up and only its features are managed.
- CloudWatch alarms for what Prometheus cannot see from inside the cluster (Aurora CPU, replica
  lag, local storage; ElastiCache CPU and memory; the API load balancers' 5xx) to a KMS-encrypted
  SNS topic. E-mail subscriptions come from config; a paging integration (its URL holds a key) is
  subscribed out of band to the topic, whose ARN is a stack output.
- On CloudFront stacks, the distribution's 5xx error rate alarm. CloudFront publishes its metrics in
  us-east-1 only and an alarm notifies only a topic of its own region, so the alarm, its SNS topic
  and the topic's key live in us-east-1 (pulumi-aws 7's per-resource ``region``: the stack keeps one
  AWS provider), with the same e-mail subscriptions; that topic's ARN is a stack output too.

One customer-managed key encrypts the trail and the topic; its policy admits CloudTrail (for this
account's trails) and CloudWatch (to publish alarms to the encrypted topic). The us-east-1 topic has
its own key, admitting CloudWatch alone.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pulumi

from components.buckets import deny_insecure_transport
from components.security_settings import AlarmThresholds, AuditSettings

GIB = 1024**3
EDGE_REGION = "us-east-1"
"""Where CloudFront publishes its metrics, hence where its alarm and that alarm's topic must be."""


@dataclass(frozen=True)
class AlarmSpec:
    """One CloudWatch alarm: a metric (namespace, name, statistic, dimensions) or a Metrics Insights query."""

    key: str
    description: str
    threshold: float
    comparison: str
    namespace: str | None = None
    metric: str | None = None
    statistic: str | None = None
    dimensions: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)
    query: str | None = None
    """A Metrics Insights query (account-wide over a namespace), instead of one metric."""


def alarm_specs(
    thresholds: AlarmThresholds, aurora_cluster_id: str | None, elasticache: bool
) -> list[AlarmSpec]:
    """The alarms of a stack: Aurora when it has a cluster, ElastiCache when it has one, the ALBs always.

    ElastiCache and load balancer metrics are per node / per load balancer, with ids chosen by AWS
    and the load balancer controller; a Metrics Insights query over the namespace covers them all
    (each stack has its own account) without knowing the ids.
    """
    specs: list[AlarmSpec] = []
    if aurora_cluster_id is not None:
        cluster = {"DBClusterIdentifier": aurora_cluster_id}
        specs += [
            AlarmSpec(
                "aurora-cpu",
                f"Aurora {aurora_cluster_id}: CPU above {thresholds.aurora_cpu_percent}%",
                thresholds.aurora_cpu_percent,
                "GreaterThanThreshold",
                "AWS/RDS",
                "CPUUtilization",
                "Maximum",
                cluster,
            ),
            AlarmSpec(
                "aurora-replica-lag",
                f"Aurora {aurora_cluster_id}: a replica lags more than "
                f"{thresholds.aurora_replica_lag_seconds}s",
                thresholds.aurora_replica_lag_seconds * 1000,  # the metric is in milliseconds
                "GreaterThanThreshold",
                "AWS/RDS",
                "AuroraReplicaLagMaximum",
                "Maximum",
                cluster,
            ),
            AlarmSpec(
                "aurora-free-local-storage",
                f"Aurora {aurora_cluster_id}: free local storage below "
                f"{thresholds.aurora_free_local_storage_gib} GiB",
                thresholds.aurora_free_local_storage_gib * GIB,
                "LessThanThreshold",
                "AWS/RDS",
                "FreeLocalStorage",
                "Minimum",
                cluster,
            ),
        ]
    if elasticache:
        specs += [
            AlarmSpec(
                "elasticache-cpu",
                f"ElastiCache: engine CPU above {thresholds.elasticache_cpu_percent}% on a node",
                thresholds.elasticache_cpu_percent,
                "GreaterThanThreshold",
                query='SELECT MAX(EngineCPUUtilization) FROM SCHEMA("AWS/ElastiCache", CacheClusterId)',
            ),
            AlarmSpec(
                "elasticache-memory",
                f"ElastiCache: memory above {thresholds.elasticache_memory_percent}% on a node",
                thresholds.elasticache_memory_percent,
                "GreaterThanThreshold",
                query=(
                    'SELECT MAX(DatabaseMemoryUsagePercentage) FROM SCHEMA("AWS/ElastiCache", CacheClusterId)'
                ),
            ),
        ]
    for source, metric in (("elb", "HTTPCode_ELB_5XX_Count"), ("target", "HTTPCode_Target_5XX_Count")):
        specs.append(
            AlarmSpec(
                f"alb-{source}-5xx",
                f"Load balancers: more than {thresholds.load_balancer_5xx_per_minute} {source} 5xx a minute",
                thresholds.load_balancer_5xx_per_minute,
                "GreaterThanThreshold",
                query=f'SELECT SUM({metric}) FROM SCHEMA("AWS/ApplicationELB", LoadBalancer)',
            )
        )
    return specs


def cloudfront_alarm_spec(thresholds: AlarmThresholds, distribution_id: pulumi.Input[str]) -> AlarmSpec:
    """The distribution's 5xx error rate (a percentage of viewer requests, published in us-east-1)."""
    return AlarmSpec(
        "cloudfront-5xx",
        f"CloudFront: 5xx responses above {thresholds.cloudfront_5xx_percent:g}% of viewer requests",
        thresholds.cloudfront_5xx_percent,
        "GreaterThanThreshold",
        "AWS/CloudFront",
        "5xxErrorRate",
        "Average",
        {"DistributionId": distribution_id, "Region": "Global"},
    )


def trail_arn(region: str, account: str, trail_name: str) -> str:
    return f"arn:aws:cloudtrail:{region}:{account}:trail/{trail_name}"


def audit_key_policy(account: str, region: str, trail_name: str) -> str:
    """Key policy: the account administers; CloudTrail encrypts this trail's logs; CloudWatch publishes."""
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "AccountAdministers",
                    "Effect": "Allow",
                    "Principal": {"AWS": f"arn:aws:iam::{account}:root"},
                    "Action": "kms:*",
                    "Resource": "*",
                },
                {
                    "Sid": "CloudTrailEncryptsLogs",
                    "Effect": "Allow",
                    "Principal": {"Service": "cloudtrail.amazonaws.com"},
                    "Action": "kms:GenerateDataKey*",
                    "Resource": "*",
                    "Condition": {
                        "StringEquals": {"aws:SourceArn": trail_arn(region, account, trail_name)},
                        "StringLike": {
                            "kms:EncryptionContext:aws:cloudtrail:arn": (
                                f"arn:aws:cloudtrail:*:{account}:trail/*"
                            )
                        },
                    },
                },
                {
                    "Sid": "CloudTrailDescribesKey",
                    "Effect": "Allow",
                    "Principal": {"Service": "cloudtrail.amazonaws.com"},
                    "Action": "kms:DescribeKey",
                    "Resource": "*",
                },
                cloudwatch_publishes_statement(account),
            ],
        },
        sort_keys=True,
    )


def cloudwatch_publishes_statement(account: str) -> dict[str, Any]:
    """Key-policy statement: this account's CloudWatch alarms publish to topics encrypted with the key."""
    return {
        "Sid": "CloudWatchPublishesAlarms",
        "Effect": "Allow",
        "Principal": {"Service": "cloudwatch.amazonaws.com"},
        "Action": ["kms:Decrypt", "kms:GenerateDataKey*"],
        "Resource": "*",
        "Condition": {"StringEquals": {"aws:SourceAccount": account}},
    }


def edge_alarm_key_policy(account: str) -> str:
    """Key policy of the us-east-1 alarm topic's key: the account administers, CloudWatch publishes."""
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "AccountAdministers",
                    "Effect": "Allow",
                    "Principal": {"AWS": f"arn:aws:iam::{account}:root"},
                    "Action": "kms:*",
                    "Resource": "*",
                },
                cloudwatch_publishes_statement(account),
            ],
        },
        sort_keys=True,
    )


def trail_bucket_policy(bucket: str, account: str, region: str, trail_name: str) -> str:
    """Bucket policy: only this trail writes (owner-full-control), and nobody reads or writes without TLS."""
    source = {"aws:SourceArn": trail_arn(region, account, trail_name)}
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "CloudTrailAclCheck",
                    "Effect": "Allow",
                    "Principal": {"Service": "cloudtrail.amazonaws.com"},
                    "Action": "s3:GetBucketAcl",
                    "Resource": f"arn:aws:s3:::{bucket}",
                    "Condition": {"StringEquals": source},
                },
                {
                    "Sid": "CloudTrailWrite",
                    "Effect": "Allow",
                    "Principal": {"Service": "cloudtrail.amazonaws.com"},
                    "Action": "s3:PutObject",
                    "Resource": f"arn:aws:s3:::{bucket}/AWSLogs/{account}/*",
                    "Condition": {"StringEquals": {**source, "s3:x-amz-acl": "bucket-owner-full-control"}},
                },
                deny_insecure_transport(f"arn:aws:s3:::{bucket}"),
            ],
        },
        sort_keys=True,
    )


def alarm_topic_policy(topic_arn: str, account: str) -> str:
    """Topic policy: the account manages the topic; CloudWatch alarms of this account publish to it."""
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "AccountManages",
                    "Effect": "Allow",
                    "Principal": {"AWS": f"arn:aws:iam::{account}:root"},
                    "Action": [
                        "sns:GetTopicAttributes",
                        "sns:SetTopicAttributes",
                        "sns:Subscribe",
                        "sns:ListSubscriptionsByTopic",
                        "sns:Publish",
                    ],
                    "Resource": topic_arn,
                },
                {
                    "Sid": "CloudWatchPublishes",
                    "Effect": "Allow",
                    "Principal": {"Service": "cloudwatch.amazonaws.com"},
                    "Action": "sns:Publish",
                    "Resource": topic_arn,
                    "Condition": {"StringEquals": {"aws:SourceAccount": account}},
                },
            ],
        },
        sort_keys=True,
    )


@dataclass(frozen=True)
class AuditArgs:
    """The audit settings, the account, and the identifiers other tiers' resources carry."""

    name: str
    """Name prefix (`platform-prod`)."""
    settings: AuditSettings
    account_id: str
    region: str
    protect: bool
    """Pulumi `protect` on the key, the bucket, the trail and the detector."""
    aurora_cluster_id: str | None = None
    elasticache: bool = False
    cloudfront_distribution_id: pulumi.Input[str] | None = None
    """The CloudFront distribution to alarm on (in us-east-1); None on stacks without CloudFront."""


class Audit(pulumi.ComponentResource):
    """CloudTrail, GuardDuty, and CloudWatch alarms to an encrypted SNS topic."""

    alarm_topic_arn: pulumi.Output[str]
    """The alarm topic (subscribe a paging integration to it)."""
    trail_bucket: pulumi.Output[str]
    """The bucket holding the audit logs."""
    edge_alarm_topic_arn: pulumi.Output[str] | None
    """The us-east-1 topic of the CloudFront alarm (None without CloudFront)."""

    def __init__(self, name: str, args: AuditArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("platform:audit:Audit", name, None, opts)
        import pulumi_aws as aws

        from components.iam import customer_key

        child = pulumi.ResourceOptions(parent=self)
        stateful = pulumi.ResourceOptions(parent=self, protect=args.protect)
        trail_name = f"{args.name}-audit"
        key = customer_key(
            f"{name}-key",
            f"{args.name} audit logs and alarm topic",
            audit_key_policy(args.account_id, args.region, trail_name),
            stateful,
        )
        bucket_name = f"{args.name}-audit-{args.account_id}"
        bucket, bucket_ready = self._bucket(name, bucket_name, args, key)

        trail = aws.cloudtrail.Trail(
            f"{name}-trail",
            name=trail_name,
            s3_bucket_name=bucket.bucket,
            is_multi_region_trail=True,
            include_global_service_events=True,
            enable_log_file_validation=True,
            enable_logging=True,
            kms_key_id=key.arn,
            opts=pulumi.ResourceOptions(parent=self, protect=args.protect, depends_on=bucket_ready),
        )

        guard = args.settings.guard_duty
        detector_id: pulumi.Output[str]
        if guard.manage_detector:
            detector_id = aws.guardduty.Detector(
                f"{name}-guardduty",
                enable=True,
                finding_publishing_frequency=guard.finding_frequency,
                opts=stateful,
            ).id
        else:
            # The region's one detector belongs to someone else (often the Organizations delegated
            # administrator): look it up and manage only the features this platform needs on it.
            detector_id = aws.guardduty.get_detector_output(
                region=args.region, opts=pulumi.InvokeOutputOptions(parent=self)
            ).id
        aws.guardduty.DetectorFeature(
            f"{name}-eks-audit-logs",
            detector_id=detector_id,
            name="EKS_AUDIT_LOGS",
            status="ENABLED",
            opts=child,
        )
        if guard.eks_runtime_monitoring:
            aws.guardduty.DetectorFeature(
                f"{name}-runtime-monitoring",
                detector_id=detector_id,
                name="RUNTIME_MONITORING",
                status="ENABLED",
                additional_configurations=[
                    aws.guardduty.DetectorFeatureAdditionalConfigurationArgs(
                        name="EKS_ADDON_MANAGEMENT", status="ENABLED"
                    )
                ],
                opts=child,
            )

        topic = aws.sns.Topic(
            f"{name}-alarms", name=f"{args.name}-alarms", kms_master_key_id=key.arn, opts=child
        )
        aws.sns.TopicPolicy(
            f"{name}-alarms",
            arn=topic.arn,
            policy=topic.arn.apply(lambda arn: alarm_topic_policy(arn, args.account_id)),
            opts=child,
        )
        for email in args.settings.alarm_emails:
            aws.sns.TopicSubscription(
                f"{name}-alarms-{email}", topic=topic.arn, protocol="email", endpoint=email, opts=child
            )
        thresholds = args.settings.alarms
        for spec in alarm_specs(thresholds, args.aurora_cluster_id, args.elasticache):
            self._alarm(name, args.name, spec, thresholds.evaluation_minutes, topic.arn)

        self.edge_alarm_topic_arn = None
        if args.cloudfront_distribution_id is not None:
            self.edge_alarm_topic_arn = self._edge_alarms(name, args, args.cloudfront_distribution_id)

        self.alarm_topic_arn = topic.arn
        self.trail_bucket = bucket.bucket
        self.trail_arn = trail.arn
        self.register_outputs(
            {
                "alarm_topic_arn": self.alarm_topic_arn,
                "trail_bucket": self.trail_bucket,
                "trail_arn": trail.arn,
                "edge_alarm_topic_arn": self.edge_alarm_topic_arn,
            }
        )

    def _edge_alarms(
        self, name: str, args: AuditArgs, distribution_id: pulumi.Input[str]
    ) -> pulumi.Output[str]:
        """CloudFront's 5xx alarm, its KMS-encrypted topic and the subscriptions, all in us-east-1."""
        import pulumi_aws as aws

        child = pulumi.ResourceOptions(parent=self)
        key = aws.kms.Key(
            f"{name}-edge-key",
            description=f"{args.name} CloudFront alarm topic ({EDGE_REGION})",
            enable_key_rotation=True,
            deletion_window_in_days=30,
            policy=edge_alarm_key_policy(args.account_id),
            region=EDGE_REGION,
            opts=pulumi.ResourceOptions(parent=self, protect=args.protect),
        )
        topic = aws.sns.Topic(
            f"{name}-edge-alarms",
            name=f"{args.name}-edge-alarms",
            kms_master_key_id=key.arn,
            region=EDGE_REGION,
            opts=child,
        )
        aws.sns.TopicPolicy(
            f"{name}-edge-alarms",
            arn=topic.arn,
            policy=topic.arn.apply(lambda arn: alarm_topic_policy(arn, args.account_id)),
            region=EDGE_REGION,
            opts=child,
        )
        for email in args.settings.alarm_emails:
            aws.sns.TopicSubscription(
                f"{name}-edge-alarms-{email}",
                topic=topic.arn,
                protocol="email",
                endpoint=email,
                region=EDGE_REGION,
                opts=child,
            )
        thresholds = args.settings.alarms
        spec = cloudfront_alarm_spec(thresholds, distribution_id)
        self._alarm(name, args.name, spec, thresholds.evaluation_minutes, topic.arn, region=EDGE_REGION)
        return topic.arn

    def _bucket(
        self, name: str, bucket_name: str, args: AuditArgs, key: Any
    ) -> tuple[Any, list[pulumi.Resource]]:
        import pulumi_aws as aws

        from components.buckets import lock_down

        s3 = aws.s3
        child = pulumi.ResourceOptions(parent=self)
        trail = args.settings.trail
        bucket = s3.Bucket(
            f"{name}-bucket",
            bucket=bucket_name,
            force_destroy=False,
            object_lock_enabled=trail.object_lock_days is not None,
            opts=pulumi.ResourceOptions(parent=self, protect=args.protect),
        )
        ready: list[pulumi.Resource] = [
            *lock_down(f"{name}-bucket", bucket.id, child, kms_key_arn=key.arn),
            s3.BucketPolicy(
                f"{name}-bucket",
                bucket=bucket.id,
                policy=trail_bucket_policy(bucket_name, args.account_id, args.region, f"{args.name}-audit"),
                opts=child,
            ),
        ]
        s3.BucketLifecycleConfiguration(
            f"{name}-bucket",
            bucket=bucket.id,
            rules=[
                s3.BucketLifecycleConfigurationRuleArgs(
                    id="expire-audit-logs",
                    status="Enabled",
                    filter=s3.BucketLifecycleConfigurationRuleFilterArgs(prefix=""),
                    expiration=s3.BucketLifecycleConfigurationRuleExpirationArgs(days=trail.retention_days),
                    noncurrent_version_expiration=s3.BucketLifecycleConfigurationRuleNoncurrentVersionExpirationArgs(
                        noncurrent_days=30
                    ),
                    abort_incomplete_multipart_upload=s3.BucketLifecycleConfigurationRuleAbortIncompleteMultipartUploadArgs(
                        days_after_initiation=7
                    ),
                )
            ],
            opts=child,
        )
        if trail.object_lock_days is not None:
            s3.BucketObjectLockConfiguration(
                f"{name}-bucket",
                bucket=bucket.id,
                object_lock_enabled="Enabled",
                rule=s3.BucketObjectLockConfigurationRuleArgs(
                    default_retention=s3.BucketObjectLockConfigurationRuleDefaultRetentionArgs(
                        mode="GOVERNANCE", days=trail.object_lock_days
                    )
                ),
                opts=child,
            )
        return bucket, ready

    def _alarm(
        self,
        name: str,
        prefix: str,
        spec: AlarmSpec,
        minutes: int,
        topic_arn: pulumi.Output[str],
        *,
        region: str | None = None,
    ) -> None:
        import pulumi_aws as aws

        cloudwatch = aws.cloudwatch
        common: dict[str, Any] = {
            "name": f"{prefix}-{spec.key}",
            "alarm_description": spec.description,
            "comparison_operator": spec.comparison,
            "threshold": spec.threshold,
            "evaluation_periods": minutes,
            "datapoints_to_alarm": minutes,
            "treat_missing_data": "notBreaching",
            "alarm_actions": [topic_arn],
            "ok_actions": [topic_arn],
        }
        if region is not None:
            common["region"] = region
        if spec.query is not None:
            common["metric_queries"] = [
                cloudwatch.MetricAlarmMetricQueryArgs(
                    id="q1", expression=spec.query, period=60, return_data=True
                )
            ]
        else:
            common.update(
                namespace=spec.namespace,
                metric_name=spec.metric,
                statistic=spec.statistic,
                dimensions=spec.dimensions,
                period=60,
            )
        cloudwatch.MetricAlarm(f"{name}-{spec.key}", opts=pulumi.ResourceOptions(parent=self), **common)
