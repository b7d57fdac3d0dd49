"""Real-user monitoring of the frontend: a CloudWatch RUM app monitor and its guest identity.

Browsers send RUM events with temporary credentials from a Cognito identity pool that allows
unauthenticated identities; the role those identities assume may do exactly one thing,
`rum:PutRumEvents` on this app monitor. `snippet` is what the frontend build passes to
`aws-rum-web`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import pulumi

from components.edge_render import rum_snippet_settings


@dataclass(frozen=True)
class RumMonitorArgs:
    name: str
    """Physical name prefix, e.g. `platform-prod`."""
    app_hostname: str
    region: str
    release: str
    session_sample_rate: float


class RumMonitor(pulumi.ComponentResource):
    """App monitor, identity pool and the guest role that may only put RUM events."""

    app_monitor_id: pulumi.Output[str]
    identity_pool_id: pulumi.Output[str]
    guest_role_arn: pulumi.Output[str]
    snippet: pulumi.Output[dict[str, object]]
    """Settings for `new AwsRum(applicationId, applicationVersion, applicationRegion, config)`."""

    def __init__(self, name: str, args: RumMonitorArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("platform:edge:RumMonitor", name, None, opts)
        import pulumi_aws as aws

        child = pulumi.ResourceOptions(parent=self)
        pool = aws.cognito.IdentityPool(
            f"{name}-identities",
            identity_pool_name=f"{args.name.replace('-', '_')}_rum",
            allow_unauthenticated_identities=True,
            allow_classic_flow=False,
            opts=child,
        )
        role = aws.iam.Role(
            f"{name}-guest",
            name=f"{args.name}-rum-guest",
            description="Assumed by anonymous browsers to send RUM events, nothing else",
            assume_role_policy=pool.id.apply(lambda pool_id: json.dumps(guest_trust_policy(pool_id))),
            opts=child,
        )
        monitor = aws.rum.AppMonitor(
            f"{name}-monitor",
            name=f"{args.name}-frontend",
            domain=args.app_hostname,
            cw_log_enabled=False,
            app_monitor_configuration=aws.rum.AppMonitorAppMonitorConfigurationArgs(
                identity_pool_id=pool.id,
                guest_role_arn=role.arn,
                session_sample_rate=args.session_sample_rate,
                telemetries=["errors", "performance", "http"],
                allow_cookies=True,
                enable_xray=False,
            ),
            opts=child,
        )
        aws.iam.RolePolicy(
            f"{name}-guest-put-events",
            role=role.name,
            policy=monitor.arn.apply(lambda arn: json.dumps(put_events_policy(arn))),
            opts=child,
        )
        aws.cognito.IdentityPoolRoleAttachment(
            f"{name}-identities-roles",
            identity_pool_id=pool.id,
            roles={"unauthenticated": role.arn},
            opts=child,
        )
        self.app_monitor_id = monitor.app_monitor_id
        self.identity_pool_id = pool.id
        self.guest_role_arn = role.arn
        self.snippet = pulumi.Output.all(monitor.app_monitor_id, pool.id).apply(
            lambda v: rum_snippet_settings(
                app_monitor_id=v[0],
                identity_pool_id=v[1],
                region=args.region,
                release=args.release,
                session_sample_rate=args.session_sample_rate,
            )
        )
        self.register_outputs(
            {
                "appMonitorId": self.app_monitor_id,
                "identityPoolId": self.identity_pool_id,
                "guestRoleArn": self.guest_role_arn,
                "snippet": self.snippet,
            }
        )


def guest_trust_policy(identity_pool_id: str) -> dict[str, object]:
    """Only unauthenticated identities of this pool may assume the guest role."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Federated": "cognito-identity.amazonaws.com"},
                "Action": "sts:AssumeRoleWithWebIdentity",
                "Condition": {
                    "StringEquals": {"cognito-identity.amazonaws.com:aud": identity_pool_id},
                    "ForAnyValue:StringLike": {"cognito-identity.amazonaws.com:amr": "unauthenticated"},
                },
            }
        ],
    }


def put_events_policy(app_monitor_arn: str) -> dict[str, object]:
    """`rum:PutRumEvents` on this one app monitor."""
    return {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "rum:PutRumEvents", "Resource": app_monitor_arn}],
    }
