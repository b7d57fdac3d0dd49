"""The lock-down every S3 bucket of the platform gets: no public access, encryption, versioning.

Functions, not a component: each bucket belongs to the component that owns its data (the frontend's
releases, Loki's chunks, CloudTrail's logs), and these resources are its children there.
"""

from __future__ import annotations

import pulumi


def lock_down(
    name: str,
    bucket: pulumi.Input[str],
    opts: pulumi.ResourceOptions,
    *,
    kms_key_arn: pulumi.Input[str] | None = None,
    versioned: bool = True,
) -> list[pulumi.Resource]:
    """Block all public access, encrypt by default (SSE-KMS with ``kms_key_arn``, else SSE-S3 for
    writers that cannot use KMS, such as CloudFront's standard logs) and, if asked, version objects.

    Returns the resources, for a bucket policy or writer that must wait for them.
    """
    import pulumi_aws as aws

    s3 = aws.s3
    default = s3.BucketServerSideEncryptionConfigurationRuleApplyServerSideEncryptionByDefaultArgs(
        sse_algorithm="AES256" if kms_key_arn is None else "aws:kms", kms_master_key_id=kms_key_arn
    )
    created: list[pulumi.Resource] = [
        s3.BucketPublicAccessBlock(
            f"{name}-public-access",
            bucket=bucket,
            block_public_acls=True,
            block_public_policy=True,
            ignore_public_acls=True,
            restrict_public_buckets=True,
            opts=opts,
        ),
        s3.BucketServerSideEncryptionConfiguration(
            f"{name}-encryption",
            bucket=bucket,
            rules=[
                s3.BucketServerSideEncryptionConfigurationRuleArgs(
                    apply_server_side_encryption_by_default=default, bucket_key_enabled=True
                )
            ],
            opts=opts,
        ),
    ]
    if versioned:
        created.append(
            s3.BucketVersioning(
                f"{name}-versioning",
                bucket=bucket,
                versioning_configuration=s3.BucketVersioningVersioningConfigurationArgs(status="Enabled"),
                opts=opts,
            )
        )
    return created


def deny_insecure_transport(bucket_arn: str) -> dict[str, object]:
    """The bucket-policy statement refusing every request to the bucket that does not come over TLS."""
    return {
        "Sid": "DenyInsecureTransport",
        "Effect": "Deny",
        "Principal": "*",
        "Action": "s3:*",
        "Resource": [bucket_arn, f"{bucket_arn}/*"],
        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
    }


def tls_only_policy(bucket_arn: str) -> dict[str, object]:
    """A bucket policy refusing every request that does not come over TLS."""
    return {"Version": "2012-10-17", "Statement": [deny_insecure_transport(bucket_arn)]}
