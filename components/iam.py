"""IAM and KMS policy documents shared by the AWS components (pure), and a role helper."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import pulumi
import pulumi_aws as aws

MANAGED = "arn:aws:iam::aws:policy/"


def document(*statements: dict[str, Any]) -> str:
    """A policy document with the given statements, as stable JSON."""
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)}, sort_keys=True)


def service_trust_policy(*services: str) -> str:
    """A role trust policy letting the given AWS services assume the role."""
    return document(
        {
            "Effect": "Allow",
            "Principal": {"Service": list(services) if len(services) > 1 else services[0]},
            "Action": "sts:AssumeRole",
        }
    )


def pod_identity_trust_policy() -> str:
    """Trust policy of a role used through EKS Pod Identity (the agent assumes it and tags the session)."""
    return document(
        {
            "Effect": "Allow",
            "Principal": {"Service": "pods.eks.amazonaws.com"},
            "Action": ["sts:AssumeRole", "sts:TagSession"],
        }
    )


def account_admin_statement(account: str) -> dict[str, Any]:
    """The key-policy statement that keeps a key administrable by the account's IAM."""
    return {
        "Sid": "AccountAdministers",
        "Effect": "Allow",
        "Principal": {"AWS": f"arn:aws:iam::{account}:root"},
        "Action": "kms:*",
        "Resource": "*",
    }


def key_policy(account: str, *statements: dict[str, Any]) -> str:
    return document(account_admin_statement(account), *statements)


def logs_key_policy(account: str, region: str) -> str:
    """Key policy letting CloudWatch Logs in this account and region encrypt with the key."""
    return key_policy(
        account,
        {
            "Sid": "CloudWatchLogsEncrypts",
            "Effect": "Allow",
            "Principal": {"Service": f"logs.{region}.amazonaws.com"},
            "Action": [
                "kms:Encrypt*",
                "kms:Decrypt*",
                "kms:ReEncrypt*",
                "kms:GenerateDataKey*",
                "kms:Describe*",
            ],
            "Resource": "*",
            "Condition": {
                "ArnLike": {
                    "kms:EncryptionContext:aws:logs:arn": f"arn:aws:logs:{region}:{account}:log-group:*"
                }
            },
        },
    )


def allow(actions: Sequence[str], resources: Sequence[str] | str = "*", **condition: Any) -> dict[str, Any]:
    """One Allow statement; ``condition`` keyword arguments become the Condition block."""
    statement: dict[str, Any] = {"Effect": "Allow", "Action": sorted(actions), "Resource": resources}
    if condition:
        statement["Condition"] = condition
    return statement


def role_with_policies(
    name: str,
    trust_policy: str,
    managed: Sequence[str] = (),
    opts: pulumi.ResourceOptions | None = None,
    *,
    physical_name: str | None = None,
) -> tuple[aws.iam.Role, list[pulumi.Resource]]:
    """An IAM role with AWS-managed policies attached one resource each (keyed by policy name), and
    those attachments: what uses the role should depend on them, so that it is created after its
    permissions and deleted before them (EKS cannot clean up behind itself without them).

    ``physical_name`` fixes the role's name where others must refer to it before it exists (a
    resource policy naming its principal); otherwise Pulumi auto-names it.
    """
    created = aws.iam.Role(name, name=physical_name, assume_role_policy=trust_policy, opts=opts)
    attachments: list[pulumi.Resource] = [
        aws.iam.RolePolicyAttachment(
            f"{name}-{policy.rsplit('/', 1)[-1]}", role=created.name, policy_arn=MANAGED + policy, opts=opts
        )
        for policy in managed
    ]
    return created, attachments


def role(
    name: str,
    trust_policy: str,
    managed: Sequence[str] = (),
    opts: pulumi.ResourceOptions | None = None,
    *,
    physical_name: str | None = None,
) -> aws.iam.Role:
    """:func:`role_with_policies` for roles whose users need not wait for the attachments."""
    return role_with_policies(name, trust_policy, managed, opts, physical_name=physical_name)[0]


def customer_key(name: str, description: str, policy: str, opts: pulumi.ResourceOptions) -> aws.kms.Key:
    """A customer-managed KMS key that rotates yearly and waits 30 days before deletion."""
    return aws.kms.Key(
        name,
        description=description,
        enable_key_rotation=True,
        deletion_window_in_days=30,
        policy=policy,
        opts=opts,
    )
