"""The VPC: public, private and isolated subnets in every AZ, NAT, and flow logs.

- public: load balancers and NAT gateways; tagged for the AWS Load Balancer Controller.
- private: EKS nodes and pods; egress through NAT (one per AZ where the protection level asks
  for it, so an AZ outage does not cut the other AZs' egress; one otherwise, to save cost).
- isolated: databases and caches; no route to the internet at all.

Flow logs of all traffic go to a KMS-encrypted CloudWatch log group.
"""

from __future__ import annotations

import ipaddress
import json
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components.iam import customer_key, logs_key_policy, service_trust_policy
from components.model import Model

TIERS = ("public", "private", "isolated")


@dataclass(frozen=True)
class SubnetPlan:
    public: str
    private: str
    isolated: str


def plan_subnets(cidr: ipaddress.IPv4Network, zones: list[str]) -> dict[str, SubnetPlan]:
    """Carve the VPC into per-AZ subnets: large private ones for pods, small public and isolated ones.

    The VPC is split in eight; each AZ's private subnet is one eighth (room for pod IPs), and the
    last eighth is shared out as public and isolated subnets. Keyed by AZ, so adding a zone never
    renumbers the others. Supports up to six zones.
    """
    if len(zones) > 6:
        raise ValueError("at most six availability zones are supported")
    eighths = list(cidr.subnets(prefixlen_diff=3))
    small = list(eighths[7].subnets(prefixlen_diff=4))  # 16 blocks: 0-5 public, 8-13 isolated
    return {
        zone: SubnetPlan(public=str(small[i]), private=str(eighths[i]), isolated=str(small[8 + i]))
        for i, zone in enumerate(zones)
    }


class NetworkArgs(Model):
    name_prefix: str
    cidr: ipaddress.IPv4Network
    availability_zones: list[str]
    nat_per_az: bool
    flow_log_retention_days: int
    flow_log_traffic_type: str
    cluster_name: str
    account_id: str
    region: str
    protect: bool
    """Pulumi `protect` on the stateful pieces (the flow-log key and group)."""
    """The EKS cluster's name, for the subnet discovery tags of the load balancer controller."""


class Network(pulumi.ComponentResource):
    """A three-tier VPC over the given availability zones."""

    vpc_id: pulumi.Output[str]
    """The VPC's id."""
    public_subnet_ids: list[pulumi.Output[str]]
    """Public subnets, one per AZ, in the order of the configured zones."""
    private_subnet_ids: list[pulumi.Output[str]]
    """Private subnets (nodes and pods), one per AZ."""
    isolated_subnet_ids: list[pulumi.Output[str]]
    """Isolated subnets (data), one per AZ, with no internet route."""
    cidr: str
    """The VPC's CIDR block."""

    def __init__(self, name: str, args: NetworkArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("platform:network:Network", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        plan = plan_subnets(args.cidr, args.availability_zones)
        self.cidr = str(args.cidr)

        vpc = aws.ec2.Vpc(
            f"{name}-vpc",
            cidr_block=str(args.cidr),
            enable_dns_hostnames=True,
            enable_dns_support=True,
            tags={"Name": f"{args.name_prefix}-vpc"},
            opts=child,
        )
        # The default security group allows all traffic between its members: empty it.
        aws.ec2.DefaultSecurityGroup(
            f"{name}-default-sg", vpc_id=vpc.id, tags={"Name": f"{args.name_prefix}-default"}, opts=child
        )
        igw = aws.ec2.InternetGateway(
            f"{name}-igw", vpc_id=vpc.id, tags={"Name": f"{args.name_prefix}-igw"}, opts=child
        )

        public_rt = aws.ec2.RouteTable(
            f"{name}-public-rt",
            vpc_id=vpc.id,
            routes=[aws.ec2.RouteTableRouteArgs(cidr_block="0.0.0.0/0", gateway_id=igw.id)],
            tags={"Name": f"{args.name_prefix}-public"},
            opts=child,
        )
        isolated_rt = aws.ec2.RouteTable(
            f"{name}-isolated-rt", vpc_id=vpc.id, tags={"Name": f"{args.name_prefix}-isolated"}, opts=child
        )

        elb_tags = {f"kubernetes.io/cluster/{args.cluster_name}": "shared"}
        self.public_subnet_ids, self.private_subnet_ids, self.isolated_subnet_ids = [], [], []
        nat_ids: dict[str, pulumi.Output[str]] = {}
        for zone, cidrs in plan.items():
            public = aws.ec2.Subnet(
                f"{name}-public-{zone}",
                vpc_id=vpc.id,
                availability_zone=zone,
                cidr_block=cidrs.public,
                map_public_ip_on_launch=False,
                tags={"Name": f"{args.name_prefix}-public-{zone}", "kubernetes.io/role/elb": "1", **elb_tags},
                opts=child,
            )
            aws.ec2.RouteTableAssociation(
                f"{name}-public-{zone}", subnet_id=public.id, route_table_id=public_rt.id, opts=child
            )
            if args.nat_per_az or not nat_ids:
                eip = aws.ec2.Eip(
                    f"{name}-nat-{zone}",
                    domain="vpc",
                    tags={"Name": f"{args.name_prefix}-nat-{zone}"},
                    opts=child,
                )
                nat = aws.ec2.NatGateway(
                    f"{name}-nat-{zone}",
                    allocation_id=eip.allocation_id,
                    subnet_id=public.id,
                    tags={"Name": f"{args.name_prefix}-nat-{zone}"},
                    opts=pulumi.ResourceOptions(parent=self, depends_on=[igw]),
                )
                nat_ids[zone] = nat.id
            nat_id = nat_ids.get(zone) or next(iter(nat_ids.values()))

            private = aws.ec2.Subnet(
                f"{name}-private-{zone}",
                vpc_id=vpc.id,
                availability_zone=zone,
                cidr_block=cidrs.private,
                tags={
                    "Name": f"{args.name_prefix}-private-{zone}",
                    "kubernetes.io/role/internal-elb": "1",
                    **elb_tags,
                },
                opts=child,
            )
            private_rt = aws.ec2.RouteTable(
                f"{name}-private-rt-{zone}",
                vpc_id=vpc.id,
                routes=[aws.ec2.RouteTableRouteArgs(cidr_block="0.0.0.0/0", nat_gateway_id=nat_id)],
                tags={"Name": f"{args.name_prefix}-private-{zone}"},
                opts=child,
            )
            aws.ec2.RouteTableAssociation(
                f"{name}-private-{zone}", subnet_id=private.id, route_table_id=private_rt.id, opts=child
            )

            isolated = aws.ec2.Subnet(
                f"{name}-isolated-{zone}",
                vpc_id=vpc.id,
                availability_zone=zone,
                cidr_block=cidrs.isolated,
                tags={"Name": f"{args.name_prefix}-isolated-{zone}"},
                opts=child,
            )
            aws.ec2.RouteTableAssociation(
                f"{name}-isolated-{zone}", subnet_id=isolated.id, route_table_id=isolated_rt.id, opts=child
            )
            self.public_subnet_ids.append(public.id)
            self.private_subnet_ids.append(private.id)
            self.isolated_subnet_ids.append(isolated.id)

        self._flow_logs(name, args, vpc)
        self.vpc_id = vpc.id
        self.register_outputs(
            {
                "vpc_id": self.vpc_id,
                "public_subnet_ids": self.public_subnet_ids,
                "private_subnet_ids": self.private_subnet_ids,
                "isolated_subnet_ids": self.isolated_subnet_ids,
            }
        )

    def _flow_logs(self, name: str, args: NetworkArgs, vpc: aws.ec2.Vpc) -> None:
        child = pulumi.ResourceOptions(parent=self)
        stateful = pulumi.ResourceOptions(parent=self, protect=args.protect)
        key = customer_key(
            f"{name}-flow-logs-key",
            f"{args.name_prefix} VPC flow logs",
            logs_key_policy(args.account_id, args.region),
            stateful,
        )
        group = aws.cloudwatch.LogGroup(
            f"{name}-flow-logs",
            name=f"/aws/vpc/{args.name_prefix}/flow-logs",
            retention_in_days=args.flow_log_retention_days,
            kms_key_id=key.arn,
            opts=stateful,
        )
        role = aws.iam.Role(
            f"{name}-flow-logs",
            assume_role_policy=service_trust_policy("vpc-flow-logs.amazonaws.com"),
            opts=child,
        )
        permissions = aws.iam.RolePolicy(
            f"{name}-flow-logs",
            role=role.id,
            policy=group.arn.apply(
                lambda arn: json.dumps(
                    {
                        "Version": "2012-10-17",
                        "Statement": [
                            {
                                "Effect": "Allow",
                                "Action": [
                                    "logs:CreateLogStream",
                                    "logs:PutLogEvents",
                                    "logs:DescribeLogStreams",
                                ],
                                "Resource": [arn, f"{arn}:*"],
                            }
                        ],
                    }
                )
            ),
            opts=child,
        )
        aws.ec2.FlowLog(
            f"{name}-flow-logs",
            vpc_id=vpc.id,
            traffic_type=args.flow_log_traffic_type,
            log_destination_type="cloud-watch-logs",
            log_destination=group.arn,
            iam_role_arn=role.arn,
            max_aggregation_interval=60,
            # Created after, and deleted before, the permission to write.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[permissions]),
        )
