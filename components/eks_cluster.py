"""The EKS cluster: private API endpoint, audit logs, KMS-encrypted secrets, managed nodes.

- API server reachable privately from ``cluster.endpointSourceCidrs`` (the VPC when unset); public
  access only when configured, and then only from an allow-list of CIDRs.
- Every control-plane log type (``audit`` included) to a KMS-encrypted log group whose
  retention is set here, not left to EKS's "never expire" default.
- Kubernetes Secrets envelope-encrypted with a customer-managed, rotating KMS key.
- Authentication through EKS access entries (no aws-auth ConfigMap); admins from config.
- Managed node groups in the private subnets, from launch templates that require IMDSv2 with a
  hop limit of 1 (pods cannot borrow the node's role) and encrypt the root volume.
- Workload identity through EKS Pod Identity (the agent add-on), used by the EBS CSI driver and
  the AWS Load Balancer Controller installed here.
- One ``kubernetes.Provider`` built from the cluster's endpoint, for every later tier.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from components import charts
from components.config import ClusterSettings
from components.iam import (
    allow,
    customer_key,
    document,
    key_policy,
    logs_key_policy,
    pod_identity_trust_policy,
    role_with_policies,
    service_trust_policy,
)
from components.kube import apply

LOG_TYPES = ["api", "audit", "authenticator", "controllerManager", "scheduler"]
ADMIN_POLICY = "arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy"
# Read-only, Secrets included: `pulumi preview --refresh` reads every Secret the stack manages and
# Helm's release records (Secrets too); AmazonEKSViewPolicy (Kubernetes' `view`) excludes them.
VIEW_POLICY = "arn:aws:eks::aws:cluster-access-policy/AmazonEKSAdminViewPolicy"
STORAGE_CLASS = "gp3"
"""The cluster's default StorageClass: encrypted gp3 volumes through the EBS CSI driver."""


def render_storage_class(*, retain: bool) -> dict[str, Any]:
    """The default StorageClass: encrypted gp3, bound where the pod lands, expandable.

    ``retain`` keeps a volume when its claim is deleted (production: a deleted release must not take
    its data with it).
    """
    return {
        "apiVersion": "storage.k8s.io/v1",
        "kind": "StorageClass",
        "metadata": {
            "name": STORAGE_CLASS,
            "annotations": {"storageclass.kubernetes.io/is-default-class": "true"},
        },
        "provisioner": "ebs.csi.aws.com",
        "parameters": {"type": "gp3", "encrypted": "true"},
        "reclaimPolicy": "Retain" if retain else "Delete",
        "volumeBindingMode": "WaitForFirstConsumer",
        "allowVolumeExpansion": True,
    }


def render_kubeconfig(cluster_name: str, endpoint: str, ca_data: str, region: str) -> str:
    """A kubeconfig that authenticates with `aws eks get-token` (no static credential in state)."""
    return json.dumps(
        {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {"name": cluster_name, "cluster": {"server": endpoint, "certificate-authority-data": ca_data}}
            ],
            "contexts": [{"name": cluster_name, "context": {"cluster": cluster_name, "user": cluster_name}}],
            "current-context": cluster_name,
            "users": [
                {
                    "name": cluster_name,
                    "user": {
                        "exec": {
                            "apiVersion": "client.authentication.k8s.io/v1beta1",
                            "command": "aws",
                            "args": [
                                "eks",
                                "get-token",
                                "--cluster-name",
                                cluster_name,
                                "--region",
                                region,
                                "--output",
                                "json",
                            ],
                            "interactiveMode": "Never",
                        }
                    },
                }
            ],
        },
        sort_keys=True,
    )


def load_balancer_controller_policy(cluster_name: str) -> str:
    """Permissions of the AWS Load Balancer Controller, scoped to what it tags as its own.

    Reads are account-wide (the controller discovers subnets, certificates and WAF ACLs);
    changes to load balancers, target groups and security groups are limited to resources
    carrying the controller's cluster tag.
    """
    owned: dict[str, Any] = {"Null": {"aws:ResourceTag/elbv2.k8s.aws/cluster": "false"}}
    creating: dict[str, Any] = {"Null": {"aws:RequestTag/elbv2.k8s.aws/cluster": "false"}}
    return document(
        allow(
            ["iam:CreateServiceLinkedRole"],
            StringEquals={"iam:AWSServiceName": "elasticloadbalancing.amazonaws.com"},
        ),
        allow(
            [
                "ec2:DescribeAccountAttributes",
                "ec2:DescribeAddresses",
                "ec2:DescribeAvailabilityZones",
                "ec2:DescribeInternetGateways",
                "ec2:DescribeVpcs",
                "ec2:DescribeVpcPeeringConnections",
                "ec2:DescribeSubnets",
                "ec2:DescribeSecurityGroups",
                "ec2:DescribeInstances",
                "ec2:DescribeNetworkInterfaces",
                "ec2:DescribeTags",
                "ec2:GetCoipPoolUsage",
                "ec2:DescribeCoipPools",
                "ec2:GetSecurityGroupsForVpc",
                "ec2:DescribeIpamPools",
                "ec2:DescribeRouteTables",
                "elasticloadbalancing:Describe*",
                "acm:ListCertificates",
                "acm:DescribeCertificate",
                "iam:ListServerCertificates",
                "iam:GetServerCertificate",
                "cognito-idp:DescribeUserPoolClient",
                "waf-regional:GetWebACL",
                "waf-regional:GetWebACLForResource",
                "waf-regional:AssociateWebACL",
                "waf-regional:DisassociateWebACL",
                "wafv2:GetWebACL",
                "wafv2:GetWebACLForResource",
                "wafv2:AssociateWebACL",
                "wafv2:DisassociateWebACL",
                "shield:GetSubscriptionState",
                "shield:DescribeProtection",
                "shield:CreateProtection",
                "shield:DeleteProtection",
            ]
        ),
        allow(["ec2:AuthorizeSecurityGroupIngress", "ec2:RevokeSecurityGroupIngress"]),
        allow(["ec2:CreateSecurityGroup"]),
        allow(
            ["ec2:CreateTags"],
            "arn:aws:ec2:*:*:security-group/*",
            StringEquals={"ec2:CreateAction": "CreateSecurityGroup"},
            **creating,
        ),
        allow(
            ["ec2:CreateTags", "ec2:DeleteTags", "ec2:DeleteSecurityGroup"],
            "arn:aws:ec2:*:*:security-group/*",
            **owned,
        ),
        allow(
            ["elasticloadbalancing:CreateLoadBalancer", "elasticloadbalancing:CreateTargetGroup"], **creating
        ),
        allow(
            [
                "elasticloadbalancing:CreateListener",
                "elasticloadbalancing:DeleteListener",
                "elasticloadbalancing:CreateRule",
                "elasticloadbalancing:DeleteRule",
            ]
        ),
        allow(
            [
                "elasticloadbalancing:AddTags",
                "elasticloadbalancing:RemoveTags",
                "elasticloadbalancing:ModifyLoadBalancerAttributes",
                "elasticloadbalancing:SetIpAddressType",
                "elasticloadbalancing:SetSecurityGroups",
                "elasticloadbalancing:SetSubnets",
                "elasticloadbalancing:DeleteLoadBalancer",
                "elasticloadbalancing:ModifyTargetGroup",
                "elasticloadbalancing:ModifyTargetGroupAttributes",
                "elasticloadbalancing:DeleteTargetGroup",
                "elasticloadbalancing:ModifyListenerAttributes",
                "elasticloadbalancing:ModifyCapacityReservation",
                "elasticloadbalancing:ModifyIpPools",
            ],
            [
                "arn:aws:elasticloadbalancing:*:*:loadbalancer/*",
                "arn:aws:elasticloadbalancing:*:*:targetgroup/*",
                # ModifyListenerAttributes acts on listeners.
                "arn:aws:elasticloadbalancing:*:*:listener/*",
            ],
            **owned,
        ),
        allow(
            ["elasticloadbalancing:AddTags"],
            [
                "arn:aws:elasticloadbalancing:*:*:targetgroup/*/*",
                "arn:aws:elasticloadbalancing:*:*:loadbalancer/net/*/*",
                "arn:aws:elasticloadbalancing:*:*:loadbalancer/app/*/*",
            ],
            StringEquals={"elasticloadbalancing:CreateAction": ["CreateTargetGroup", "CreateLoadBalancer"]},
            **creating,
        ),
        # Listeners and rules are created with tags (controller 2.x): tagging them needs its own grant.
        allow(
            ["elasticloadbalancing:AddTags", "elasticloadbalancing:RemoveTags"],
            [
                "arn:aws:elasticloadbalancing:*:*:listener/net/*/*/*",
                "arn:aws:elasticloadbalancing:*:*:listener/app/*/*/*",
                "arn:aws:elasticloadbalancing:*:*:listener-rule/net/*/*/*",
                "arn:aws:elasticloadbalancing:*:*:listener-rule/app/*/*/*",
            ],
        ),
        allow(
            ["elasticloadbalancing:RegisterTargets", "elasticloadbalancing:DeregisterTargets"],
            "arn:aws:elasticloadbalancing:*:*:targetgroup/*/*",
        ),
        allow(
            [
                "elasticloadbalancing:SetWebAcl",
                "elasticloadbalancing:ModifyListener",
                "elasticloadbalancing:AddListenerCertificates",
                "elasticloadbalancing:RemoveListenerCertificates",
                "elasticloadbalancing:ModifyRule",
                "elasticloadbalancing:SetRulePriorities",
            ]
        ),
    )


def endpoint_rule_sources(settings: ClusterSettings, vpc_cidr: str) -> dict[str, str]:
    """The networks admitted to the private API endpoint on 443, keyed by their rule's name suffix.

    ``endpointSourceCidrs`` unset admits ``vpc_cidr`` ("" admits none); ``[]`` admits none. The VPC's
    CIDR keeps the suffix ``vpc`` however it is listed: a renamed rule is a new resource, created
    before the old one is deleted, and AWS refuses the same rule twice.
    """
    if settings.endpoint_source_cidrs is None:
        sources = [vpc_cidr] if vpc_cidr else []
    else:
        sources = [str(cidr) for cidr in settings.endpoint_source_cidrs]
    return {"vpc" if c == vpc_cidr else c.replace(".", "-").replace("/", "-"): c for c in sources}


def node_role_name(cluster_name: str) -> str:
    """The nodes' IAM role name: fixed, so the image registry's policy can name its only puller."""
    return f"{cluster_name}-node"


@dataclass(frozen=True)
class EksClusterArgs:
    """What the cluster needs: its settings from config and the network from the network tier."""

    name: str
    settings: ClusterSettings
    account_id: str
    region: str
    vpc_id: pulumi.Input[str]
    private_subnet_ids: Sequence[pulumi.Input[str]]
    deletion_protection: bool
    protect: bool
    """Pulumi `protect` on the cluster, its keys and its audit log group."""
    vpc_cidr: str = ""
    """The VPC's CIDR: what may reach the private API endpoint when ``endpointSourceCidrs`` is unset
    ("" then admits none)."""
    tags: Mapping[str, str] = field(default_factory=dict)
    """Tags for what the node groups' Auto Scaling creates (instances, volumes, interfaces), which
    neither the provider's default tags nor the node group's reach."""


class EksCluster(pulumi.ComponentResource):
    """An EKS cluster with managed node groups, Pod Identity and the AWS Load Balancer Controller."""

    cluster_name: pulumi.Output[str]
    """The EKS cluster's name."""
    endpoint: pulumi.Output[str]
    """The API server endpoint."""
    kubeconfig: pulumi.Output[str]
    """A kubeconfig using `aws eks get-token` (marked secret)."""
    oidc_issuer: pulumi.Output[str]
    """The cluster's OIDC issuer (for IRSA, where Pod Identity does not reach)."""
    node_security_group_id: pulumi.Output[str]
    """The cluster security group that nodes and pods carry (databases admit it)."""
    provider: k8s.Provider
    """The Kubernetes provider every later tier uses."""

    def __init__(self, name: str, args: EksClusterArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("platform:cluster:EksCluster", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        stateful = pulumi.ResourceOptions(parent=self, protect=args.protect)
        settings = args.settings

        secrets_key = customer_key(
            f"{name}-secrets-key",
            f"{args.name} Kubernetes secrets envelope encryption",
            key_policy(args.account_id),
            stateful,
        )
        logs_key = customer_key(
            f"{name}-logs-key",
            f"{args.name} control-plane logs",
            logs_key_policy(args.account_id, args.region),
            stateful,
        )
        log_group = aws.cloudwatch.LogGroup(
            f"{name}-control-plane",
            name=f"/aws/eks/{args.name}/cluster",
            retention_in_days=settings.log_retention_days,
            kms_key_id=logs_key.arn,
            opts=stateful,
        )
        cluster_role, cluster_permissions = role_with_policies(
            f"{name}-cluster", service_trust_policy("eks.amazonaws.com"), ["AmazonEKSClusterPolicy"], child
        )
        cluster = aws.eks.Cluster(
            f"{name}-cluster",
            name=args.name,
            version=settings.version,
            role_arn=cluster_role.arn,
            vpc_config=aws.eks.ClusterVpcConfigArgs(
                subnet_ids=args.private_subnet_ids,
                endpoint_private_access=True,
                endpoint_public_access=settings.endpoint_public_access,
                public_access_cidrs=[str(c) for c in settings.public_access_cidrs] or None,
            ),
            enabled_cluster_log_types=LOG_TYPES,
            encryption_config=aws.eks.ClusterEncryptionConfigArgs(
                provider=aws.eks.ClusterEncryptionConfigProviderArgs(key_arn=secrets_key.arn),
                resources=["secrets"],
            ),
            # No implicit entry for whoever creates the cluster: the deploy role is in adminRoleArns
            # (which config refuses empty), and a second entry for the same principal fails with a 409.
            access_config=aws.eks.ClusterAccessConfigArgs(
                authentication_mode="API", bootstrap_cluster_creator_admin_permissions=False
            ),
            upgrade_policy=aws.eks.ClusterUpgradePolicyArgs(support_type="STANDARD"),
            deletion_protection=args.deletion_protection,
            opts=pulumi.ResourceOptions(
                parent=self,
                depends_on=[log_group, *cluster_permissions],
                protect=args.protect,
                # EKS reads bootstrapClusterCreatorAdminPermissions only when it creates the cluster,
                # and changing it replaces the cluster: a cluster created with the default (true)
                # keeps that value instead of being replaced.
                ignore_changes=["accessConfig.bootstrapClusterCreatorAdminPermissions"],
            ),
        )
        access = [("admin", arn, ADMIN_POLICY) for arn in settings.admin_role_arns]
        access += [("viewer", arn, VIEW_POLICY) for arn in settings.viewer_role_arns]
        admins: list[pulumi.Resource] = []
        for kind, arn, policy in access:
            role_name = arn.rsplit("/", 1)[-1]
            entry = aws.eks.AccessEntry(
                f"{name}-{kind}-{role_name}",
                cluster_name=cluster.name,
                principal_arn=arn,
                type="STANDARD",
                opts=child,
            )
            association = aws.eks.AccessPolicyAssociation(
                f"{name}-{kind}-{role_name}",
                cluster_name=cluster.name,
                principal_arn=arn,
                policy_arn=policy,
                access_scope=aws.eks.AccessPolicyAssociationAccessScopeArgs(type="cluster"),
                opts=pulumi.ResourceOptions(parent=self, depends_on=[entry]),
            )
            if kind == "admin":
                admins.append(association)
        # The private endpoint's interfaces carry only the cluster security group, which admits its
        # own members: a deploy runner (or a VPN client) outside the cluster needs one of these rules.
        # That group is also the security group of every managed node, and so of every pod: each
        # source admitted here reaches port 443 on the nodes and pods too, not only on the API
        # endpoint. So cluster.endpointSourceCidrs should be narrow (unset, it is the whole VPC).
        cluster_security_group = cluster.vpc_config.apply(lambda v: str(v.cluster_security_group_id))
        endpoint_access: list[pulumi.Resource] = [
            aws.vpc.SecurityGroupIngressRule(
                f"{name}-endpoint-from-{suffix}",
                security_group_id=cluster_security_group,
                description="Kubernetes API from the VPC (deploy runners)"
                if suffix == "vpc"
                else f"Kubernetes API from {cidr} (deploy runners, VPN)",
                ip_protocol="tcp",
                from_port=443,
                to_port=443,
                cidr_ipv4=cidr,
                opts=child,
            )
            for suffix, cidr in endpoint_rule_sources(settings, args.vpc_cidr).items()
        ]

        node_groups = self._node_groups(name, args, cluster)
        addons = self._addons(name, cluster, node_groups)

        self.cluster_name = cluster.name
        self.endpoint = cluster.endpoint
        self.oidc_issuer = cluster.identities.apply(lambda ids: str(ids[0].oidcs[0].issuer))  # type: ignore[index]
        self.node_security_group_id = cluster.vpc_config.apply(lambda v: str(v.cluster_security_group_id))
        self.kubeconfig = pulumi.Output.secret(
            pulumi.Output.all(
                cluster.name, cluster.endpoint, cluster.certificate_authority.apply(lambda c: c.data)
            ).apply(lambda v: render_kubeconfig(v[0], v[1], v[2], args.region))
        )
        self.provider = k8s.Provider(
            f"{name}-k8s",
            kubeconfig=self.kubeconfig,
            enable_server_side_apply=True,
            delete_unreachable=False,
            # The deployer's access (its admin policy) and network path come before any object.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[*node_groups, *admins, *endpoint_access]),
        )
        controller = self._load_balancer_controller(name, args, cluster)
        storage_class = apply(
            f"{name}-gp3",
            render_storage_class(retain=args.protect),
            pulumi.ResourceOptions(parent=self, provider=self.provider, depends_on=addons),
        )
        # What every workload tier waits for: Pod Identity credentials, volumes, DNS and the load
        # balancer controller (whose webhooks admit Services and Ingresses).
        chart = charts.METRICS_SERVER
        metrics_server = k8s.helm.v3.Release(
            f"{name}-metrics-server",
            name=chart.name,
            chart=chart.name,
            version=chart.version,
            repository_opts=k8s.helm.v3.RepositoryOptsArgs(repo=chart.repository),
            namespace="kube-system",
            atomic=True,
            # The autoscalers' source of CPU figures: two replicas, never both drained at once.
            values={"replicas": 2, "podDisruptionBudget": {"enabled": True, "minAvailable": 1}},
            opts=pulumi.ResourceOptions(parent=self, provider=self.provider, depends_on=addons),
        )
        self.ready = [*addons, storage_class, controller, metrics_server]
        self.register_outputs(
            {
                "cluster_name": self.cluster_name,
                "endpoint": self.endpoint,
                "oidc_issuer": self.oidc_issuer,
                "node_security_group_id": self.node_security_group_id,
            }
        )

    def _node_groups(
        self, name: str, args: EksClusterArgs, cluster: aws.eks.Cluster
    ) -> list[pulumi.Resource]:
        child = pulumi.ResourceOptions(parent=self)
        node_role, node_permissions = role_with_policies(
            f"{name}-node",
            service_trust_policy("ec2.amazonaws.com"),
            [
                "AmazonEKSWorkerNodePolicy",
                "AmazonEKS_CNI_Policy",
                # Nodes, and nothing else, pull images from the account's registries.
                "AmazonEC2ContainerRegistryReadOnly",
                # Shell access through Session Manager instead of SSH keys.
                "AmazonSSMManagedInstanceCore",
            ],
            child,
            physical_name=node_role_name(args.name),
        )
        groups: list[pulumi.Resource] = []
        for group_name, group in sorted(args.settings.node_groups.items()):
            template = aws.ec2.LaunchTemplate(
                f"{name}-{group_name}",
                name_prefix=f"{args.name}-{group_name}-",
                update_default_version=True,
                metadata_options=aws.ec2.LaunchTemplateMetadataOptionsArgs(
                    http_endpoint="enabled", http_tokens="required", http_put_response_hop_limit=1
                ),
                block_device_mappings=[
                    aws.ec2.LaunchTemplateBlockDeviceMappingArgs(
                        device_name="/dev/xvda",
                        ebs=aws.ec2.LaunchTemplateBlockDeviceMappingEbsArgs(
                            volume_size=group.disk_size_gib,
                            volume_type="gp3",
                            # The AWS-managed EBS key: Auto Scaling launches the nodes, and its
                            # service-linked role may use a customer key only if that key's policy
                            # grants it, which would also mix disk and secrets encryption.
                            encrypted="true",
                            delete_on_termination="true",
                        ),
                    )
                ],
                monitoring=aws.ec2.LaunchTemplateMonitoringArgs(enabled=True),
                tag_specifications=[
                    aws.ec2.LaunchTemplateTagSpecificationArgs(resource_type=kind, tags=dict(args.tags))
                    for kind in ("instance", "volume", "network-interface")
                ]
                if args.tags
                else None,
                opts=child,
            )
            groups.append(
                aws.eks.NodeGroup(
                    f"{name}-{group_name}",
                    cluster_name=cluster.name,
                    node_group_name_prefix=f"{group_name}-",
                    node_role_arn=node_role.arn,
                    subnet_ids=args.private_subnet_ids,
                    instance_types=group.instance_types,
                    capacity_type=group.capacity_type,
                    ami_type="AL2023_x86_64_STANDARD",
                    scaling_config=aws.eks.NodeGroupScalingConfigArgs(
                        min_size=group.min_size, desired_size=group.desired_size, max_size=group.max_size
                    ),
                    update_config=aws.eks.NodeGroupUpdateConfigArgs(max_unavailable_percentage=33),
                    launch_template=aws.eks.NodeGroupLaunchTemplateArgs(
                        id=template.id, version=template.latest_version.apply(str)
                    ),
                    labels={"platform/node-group": group_name, **group.labels},
                    opts=pulumi.ResourceOptions(
                        parent=self, depends_on=node_permissions, ignore_changes=["scalingConfig.desiredSize"]
                    ),
                )
            )
        return groups

    def _addons(
        self, name: str, cluster: aws.eks.Cluster, node_groups: list[pulumi.Resource]
    ) -> list[pulumi.Resource]:
        child = pulumi.ResourceOptions(parent=self)
        agent = aws.eks.Addon(
            f"{name}-pod-identity-agent",
            cluster_name=cluster.name,
            addon_name="eks-pod-identity-agent",
            opts=child,
        )
        for addon in ("vpc-cni", "kube-proxy"):
            aws.eks.Addon(
                f"{name}-{addon}",
                cluster_name=cluster.name,
                addon_name=addon,
                resolve_conflicts_on_update="OVERWRITE",
                opts=child,
            )
        # CoreDNS and the CSI driver run as pods: they need nodes first.
        after_nodes = pulumi.ResourceOptions(parent=self, depends_on=node_groups)
        coredns = aws.eks.Addon(
            f"{name}-coredns",
            cluster_name=cluster.name,
            addon_name="coredns",
            resolve_conflicts_on_update="OVERWRITE",
            opts=after_nodes,
        )
        csi_role, csi_permissions = role_with_policies(
            f"{name}-ebs-csi", pod_identity_trust_policy(), ["service-role/AmazonEBSCSIDriverPolicy"], child
        )
        ebs_csi = aws.eks.Addon(
            f"{name}-ebs-csi",
            cluster_name=cluster.name,
            addon_name="aws-ebs-csi-driver",
            resolve_conflicts_on_update="OVERWRITE",
            pod_identity_associations=[
                aws.eks.AddonPodIdentityAssociationArgs(
                    role_arn=csi_role.arn, service_account="ebs-csi-controller-sa"
                )
            ],
            opts=pulumi.ResourceOptions.merge(
                after_nodes, pulumi.ResourceOptions(depends_on=csi_permissions)
            ),
        )
        return [agent, coredns, ebs_csi]

    def _load_balancer_controller(
        self, name: str, args: EksClusterArgs, cluster: aws.eks.Cluster
    ) -> pulumi.Resource:
        child = pulumi.ResourceOptions(parent=self)
        service_account = "aws-load-balancer-controller"
        role = aws.iam.Role(
            f"{name}-lb-controller", assume_role_policy=pod_identity_trust_policy(), opts=child
        )
        permissions = aws.iam.RolePolicy(
            f"{name}-lb-controller",
            role=role.id,
            policy=load_balancer_controller_policy(args.name),
            opts=child,
        )
        association = aws.eks.PodIdentityAssociation(
            f"{name}-lb-controller",
            cluster_name=cluster.name,
            namespace="kube-system",
            service_account=service_account,
            role_arn=role.arn,
            opts=child,
        )
        chart = charts.AWS_LOAD_BALANCER_CONTROLLER
        return k8s.helm.v3.Release(
            f"{name}-lb-controller",
            name=chart.name,
            chart=chart.name,
            version=chart.version,
            repository_opts=k8s.helm.v3.RepositoryOptsArgs(repo=chart.repository),
            namespace="kube-system",
            atomic=True,
            values={
                "clusterName": args.name,
                "region": args.region,
                "vpcId": args.vpc_id,
                "replicaCount": 2,
                "serviceAccount": {"create": True, "name": service_account},
                "podDisruptionBudget": {"maxUnavailable": 1},
                "enableServiceMutatorWebhook": False,
            },
            opts=pulumi.ResourceOptions(
                parent=self, provider=self.provider, depends_on=[association, permissions]
            ),
        )
