"""Frontend hosting: a private, versioned, encrypted S3 bucket of immutable releases, and its log bucket.

Each frontend build is uploaded once under `releases/<id>/` and never modified; the edge serves
whichever release the config names. Nothing is public: every Block Public Access switch is on
and only the CDN (the bucket policy the CDN component writes) may read. Old object versions and
releases tagged `retired=true` (see docs/frontend-releases.md) expire by lifecycle; access logs
of the bucket and of the CDN go to a second bucket that expires them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import pulumi

from components.buckets import deny_insecure_transport

RETIRED_TAG = ("retired", "true")
"""Object tag the release tooling puts on a release that left `edge.releases.retained`."""


SITE_ACCESS_LOG_PREFIX = "s3/frontend/"


def access_log_bucket_policy(logs_arn: str, site_arn: str, account_id: str) -> dict[str, object]:
    """The log bucket's policy: S3 server access logging of ``site_arn`` may write under its prefix
    (the logging service needs this grant, or no log is delivered); nothing over plain HTTP."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "S3ServerAccessLogsOfTheSiteBucket",
                "Effect": "Allow",
                "Principal": {"Service": "logging.s3.amazonaws.com"},
                "Action": "s3:PutObject",
                "Resource": f"{logs_arn}/{SITE_ACCESS_LOG_PREFIX}*",
                "Condition": {
                    "ArnLike": {"aws:SourceArn": site_arn},
                    "StringEquals": {"aws:SourceAccount": account_id},
                },
            },
            deny_insecure_transport(logs_arn),
        ],
    }


@dataclass(frozen=True)
class FrontendBucketArgs:
    name: str
    """Bucket name prefix, e.g. `platform-prod` (the account id is appended: names are global)."""
    account_id: str
    noncurrent_days: int
    log_retention_days: int
    protect: bool


class FrontendBucket(pulumi.ComponentResource):
    """The release bucket and the access-log bucket."""

    bucket_name: pulumi.Output[str]
    """Name of the release bucket."""
    bucket_arn: pulumi.Output[str]
    bucket_regional_domain_name: pulumi.Output[str]
    """The bucket's regional REST endpoint, the CDN's origin."""
    log_bucket_name: pulumi.Output[str]
    log_bucket_domain_name: pulumi.Output[str]
    """Where CloudFront writes its standard logs (`<bucket>.s3.amazonaws.com`)."""
    log_bucket_ownership: pulumi.Resource
    """The log bucket's ownership controls (ACLs enabled): CloudFront logging must wait for them."""

    def __init__(
        self, name: str, args: FrontendBucketArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("platform:frontend:FrontendBucket", name, None, opts)
        import pulumi_aws as aws

        from components.buckets import lock_down

        s3 = aws.s3

        stateful = pulumi.ResourceOptions(parent=self, protect=args.protect)
        child = pulumi.ResourceOptions(parent=self)

        logs = aws.s3.Bucket(f"{name}-logs", bucket=f"{args.name}-edge-logs-{args.account_id}", opts=stateful)
        site = aws.s3.Bucket(f"{name}-site", bucket=f"{args.name}-frontend-{args.account_id}", opts=stateful)
        # CloudFront standard logs cannot be written with SSE-KMS: both buckets use SSE-S3.
        lock_down(f"{name}-logs", logs.id, child, versioned=False)
        lock_down(f"{name}-site", site.id, child)
        # CloudFront standard logging writes through an ACL grant, which needs ACLs enabled.
        self.log_bucket_ownership = aws.s3.BucketOwnershipControls(
            f"{name}-logs-ownership",
            bucket=logs.id,
            rule=s3.BucketOwnershipControlsRuleArgs(object_ownership="BucketOwnerPreferred"),
            opts=child,
        )
        aws.s3.BucketOwnershipControls(
            f"{name}-site-ownership",
            bucket=site.id,
            rule=s3.BucketOwnershipControlsRuleArgs(object_ownership="BucketOwnerEnforced"),
            opts=child,
        )
        rule = s3.BucketLifecycleConfigurationRuleArgs
        abort = s3.BucketLifecycleConfigurationRuleAbortIncompleteMultipartUploadArgs(days_after_initiation=7)
        aws.s3.BucketLifecycleConfiguration(
            f"{name}-site-lifecycle",
            bucket=site.id,
            rules=[
                rule(
                    id="expire-old-versions",
                    status="Enabled",
                    filter=s3.BucketLifecycleConfigurationRuleFilterArgs(prefix=""),
                    noncurrent_version_expiration=s3.BucketLifecycleConfigurationRuleNoncurrentVersionExpirationArgs(
                        noncurrent_days=args.noncurrent_days
                    ),
                    abort_incomplete_multipart_upload=abort,
                ),
                rule(
                    id="expire-retired-releases",
                    status="Enabled",
                    filter=s3.BucketLifecycleConfigurationRuleFilterArgs(
                        tag=s3.BucketLifecycleConfigurationRuleFilterTagArgs(
                            key=RETIRED_TAG[0], value=RETIRED_TAG[1]
                        )
                    ),
                    expiration=s3.BucketLifecycleConfigurationRuleExpirationArgs(days=args.noncurrent_days),
                ),
            ],
            opts=child,
        )
        aws.s3.BucketLifecycleConfiguration(
            f"{name}-logs-lifecycle",
            bucket=logs.id,
            rules=[
                rule(
                    id="expire-logs",
                    status="Enabled",
                    filter=s3.BucketLifecycleConfigurationRuleFilterArgs(prefix=""),
                    expiration=s3.BucketLifecycleConfigurationRuleExpirationArgs(
                        days=args.log_retention_days
                    ),
                    abort_incomplete_multipart_upload=abort,
                )
            ],
            opts=child,
        )
        aws.s3.BucketLogging(
            f"{name}-site-access-logs",
            bucket=site.id,
            target_bucket=logs.id,
            target_prefix=SITE_ACCESS_LOG_PREFIX,
            opts=child,
        )
        aws.s3.BucketPolicy(
            f"{name}-logs-policy",
            bucket=logs.id,
            policy=pulumi.Output.all(logs.arn, site.arn).apply(
                lambda arns: json.dumps(access_log_bucket_policy(arns[0], arns[1], args.account_id))
            ),
            opts=child,
        )

        self.bucket_name = site.bucket
        self.bucket_arn = site.arn
        self.bucket_regional_domain_name = site.bucket_regional_domain_name
        self.log_bucket_name = logs.bucket
        self.log_bucket_domain_name = logs.bucket_domain_name
        self.register_outputs(
            {
                "bucketName": self.bucket_name,
                "bucketArn": self.bucket_arn,
                "bucketRegionalDomainName": self.bucket_regional_domain_name,
                "logBucketName": self.log_bucket_name,
            }
        )
