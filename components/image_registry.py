"""The API's container registry: one ECR repository the stack owns, and who may pull from it.

Tags are immutable (a version names one image forever, so a rollback redeploys exactly what ran),
every push is scanned, images are encrypted with a customer-managed KMS key, and a lifecycle
policy expires untagged layers and keeps the newest tagged images. The repository policy lets
only the cluster's nodes pull: an explicit deny covers every other principal, whatever its IAM
policies say. Pushing (CI) is left to identity policies and is not affected.

The JSON documents come from pure functions so they can be tested without Pulumi.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pulumi

from components.api_manifests import RegistrySettings

PULL_ACTIONS = ("ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer")
LAYER_DOWNLOAD = "ecr:GetDownloadUrlForLayer"
"""The one action a pull needs and a push never calls: denying it to everyone else stops pulls only."""


def lifecycle_policy(settings: RegistrySettings) -> str:
    """Expire untagged images after ``untaggedExpiryDays``; keep the newest ``keepImages`` tagged ones."""
    return json.dumps(
        {
            "rules": [
                {
                    "rulePriority": 1,
                    "description": f"untagged images expire after {settings.untagged_expiry_days} days",
                    "selection": {
                        "tagStatus": "untagged",
                        "countType": "sinceImagePushed",
                        "countUnit": "days",
                        "countNumber": settings.untagged_expiry_days,
                    },
                    "action": {"type": "expire"},
                },
                {
                    "rulePriority": 2,
                    "description": f"keep the newest {settings.keep_images} tagged images",
                    "selection": {
                        "tagStatus": "tagged",
                        "tagPatternList": ["*"],
                        "countType": "imageCountMoreThan",
                        "countNumber": settings.keep_images,
                    },
                    "action": {"type": "expire"},
                },
            ]
        },
        sort_keys=True,
    )


def repository_policy(puller_arn_patterns: Sequence[str]) -> str:
    """Allow the given principals (IAM role ARNs, `*` wildcards allowed) to pull; deny everyone else.

    The deny matches on `aws:PrincipalArn`, which for an assumed role (a node's instance profile
    session) is the role's ARN, so it holds whichever credentials the principal uses.
    """
    if not puller_arn_patterns:
        raise ValueError("a repository policy needs at least one principal allowed to pull")
    patterns = sorted(puller_arn_patterns)
    account_roots = sorted({f"arn:aws:iam::{p.split(':')[4]}:root" for p in patterns})
    statements: list[dict[str, Any]] = [
        {
            "Sid": "ClusterNodesPull",
            "Effect": "Allow",
            "Principal": {"AWS": account_roots},
            "Action": list(PULL_ACTIONS),
            "Condition": {"ArnLike": {"aws:PrincipalArn": patterns}},
        },
        {
            # Only the layer download: a push also calls BatchCheckLayerAvailability and
            # BatchGetImage, and an explicit Deny on them would stop the pipeline's pushes too.
            "Sid": "NobodyElsePulls",
            "Effect": "Deny",
            "Principal": "*",
            "Action": [LAYER_DOWNLOAD],
            "Condition": {"ArnNotLike": {"aws:PrincipalArn": patterns}},
        },
    ]
    return json.dumps({"Version": "2012-10-17", "Statement": statements}, sort_keys=True)


@dataclass(frozen=True)
class ImageRegistryArgs:
    """The repository's name, its retention, and who may pull."""

    repository_name: str
    """ECR repository name, e.g. `platform/api` (the path of the image reference)."""
    settings: RegistrySettings
    account_id: str
    puller_arn_patterns: Sequence[str]
    """IAM role ARNs (wildcards allowed) of the nodes that pull the images."""
    protect: bool = False
    """Pulumi `protect` on the repository and its key (the images are the rollback history)."""


class ImageRegistry(pulumi.ComponentResource):
    """An ECR repository with immutable tags, scan on push, KMS encryption and node-only pulls."""

    repository_url: pulumi.Output[str]
    """`<account>.dkr.ecr.<region>.amazonaws.com/<name>`, where CI pushes the API images."""
    repository_arn: pulumi.Output[str]
    """The repository's ARN (for CI's push policy)."""
    key_arn: pulumi.Output[str]
    """The KMS key encrypting the images."""

    def __init__(
        self, name: str, args: ImageRegistryArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        import pulumi_aws as aws

        from components.iam import customer_key, key_policy

        super().__init__("platform:api:ImageRegistry", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        stateful = pulumi.ResourceOptions(parent=self, protect=args.protect)
        key = customer_key(
            f"{name}-key", f"{args.repository_name} container images", key_policy(args.account_id), stateful
        )
        repository = aws.ecr.Repository(
            f"{name}-repository",
            name=args.repository_name,
            image_tag_mutability="IMMUTABLE",
            image_scanning_configuration=aws.ecr.RepositoryImageScanningConfigurationArgs(scan_on_push=True),
            encryption_configurations=[
                aws.ecr.RepositoryEncryptionConfigurationArgs(encryption_type="KMS", kms_key=key.arn)
            ],
            force_delete=False,
            opts=stateful,
        )
        aws.ecr.LifecyclePolicy(
            f"{name}-lifecycle",
            repository=repository.name,
            policy=lifecycle_policy(args.settings),
            opts=child,
        )
        aws.ecr.RepositoryPolicy(
            f"{name}-policy",
            repository=repository.name,
            policy=repository_policy(args.puller_arn_patterns),
            opts=child,
        )
        self.repository_url = repository.repository_url
        self.repository_arn = repository.arn
        self.key_arn = key.arn
        self.register_outputs(
            {
                "repository_url": self.repository_url,
                "repository_arn": self.repository_arn,
                "key_arn": self.key_arn,
            }
        )
