"""Invariants over every synthesized stack (each synthesized once per session)."""

from __future__ import annotations

import copy
import dataclasses
import ipaddress
import json
import re
from typing import Any

import pytest

from components.config import PROTECTION, ConfigError, validate
from components.network import plan_subnets
from components.tagging import base_tags
from synth.engine import ROOT, Registration, Synthesis
from tests.conftest import STACKS, stack_values, synthesized
from tests.invariants import (
    created_before_their_crds,
    missing_labels,
    missing_tags,
    plaintext_secrets,
    unknown_storage_classes,
    unprovided,
)


def _required_tags(synthesis: Synthesis) -> dict[str, str]:
    config = validate(stack_values(synthesis.stack))
    return base_tags(synthesis.project, config.environment, synthesis.stack, config.tags)


def test_every_taggable_aws_resource_carries_the_platform_tags(aws_stack: Synthesis) -> None:
    assert missing_tags(aws_stack.resources, _required_tags(aws_stack)) == []


def test_tag_check_catches_an_untagged_resource() -> None:
    prod = synthesized("prod")
    vpc = next(r for r in prod.resources if r.type == "aws:ec2/vpc:Vpc")
    broken = dataclasses.replace(vpc, inputs={**vpc.inputs, "tags": {"Name": "x"}})
    assert missing_tags([broken], _required_tags(prod)) != []


def test_extra_tags_from_config_reach_resources() -> None:
    prod = synthesized("prod")
    vpc = next(r for r in prod.resources if r.type == "aws:ec2/vpc:Vpc")
    assert vpc.inputs["tags"]["DataClassification"] == "confidential"


def test_every_kubernetes_object_carries_the_platform_labels(any_stack: Synthesis) -> None:
    assert missing_labels(any_stack.resources, any_stack.stack) == []
    assert any(r.type.startswith("kubernetes:core") for r in any_stack.resources)


def test_label_check_catches_an_unlabelled_object() -> None:
    dev = synthesized("dev")
    namespace = next(r for r in dev.resources if r.type == "kubernetes:core/v1:Namespace")
    broken = dataclasses.replace(
        namespace, inputs={**namespace.inputs, "metadata": {"name": "x", "labels": {}}}
    )
    assert missing_labels([broken], "dev") != []


def test_dev_uses_no_aws_at_all() -> None:
    dev = synthesized("dev")
    assert [r.urn for r in dev.resources if r.type.startswith(("aws:", "pulumi:providers:aws"))] == []


def test_every_resource_uses_an_explicit_provider(any_stack: Synthesis) -> None:
    assert unprovided(any_stack.resources, "aws") == []
    assert unprovided(any_stack.resources, "kubernetes") == []


def test_provider_check_catches_a_default_provider() -> None:
    vpc = next(r for r in synthesized("prod").resources if r.type == "aws:ec2/vpc:Vpc")
    assert unprovided([dataclasses.replace(vpc, provider=None)], "aws") == [vpc.urn]


def test_aws_provider_is_pinned_to_the_stack_account(aws_stack: Synthesis) -> None:
    (provider,) = aws_stack.by_type("pulumi:providers:aws")
    config = validate(stack_values(aws_stack.stack))
    assert provider.inputs["allowedAccountIds"] == f'["{config.cloud.account_id}"]'  # type: ignore[union-attr]


def test_no_plaintext_secret_in_any_input(any_stack: Synthesis) -> None:
    assert plaintext_secrets(any_stack.resources) == []
    assert all(v != "" for v in any_stack.outputs.values())


def test_secret_check_catches_a_clear_password() -> None:
    fake = Registration(
        "urn:x", "aws:rds/cluster:Cluster", "db", True, None, None, False, {"masterPassword": "hunter2"}
    )
    assert plaintext_secrets([fake]) == ["urn:x: masterPassword is a plaintext secret"]


def test_kubeconfig_output_is_secret(aws_stack: Synthesis) -> None:
    assert aws_stack.outputs["kubeconfig"] == "[secret]"


# -- network ---------------------------------------------------------------------------------


def _count(synthesis: Synthesis, type_: str) -> int:
    return len(synthesis.by_type(type_))


@pytest.mark.parametrize(("stack", "zones", "nats"), [("staging", 2, 1), ("uat", 2, 1), ("prod", 3, 3)])
def test_subnets_in_every_zone_and_nat_per_az_only_where_protection_asks(
    stack: str, zones: int, nats: int
) -> None:
    synthesis = synthesized(stack)
    assert _count(synthesis, "aws:ec2/subnet:Subnet") == 3 * zones
    assert _count(synthesis, "aws:ec2/natGateway:NatGateway") == nats
    assert PROTECTION[validate(stack_values(stack)).protection].nat_per_az == (nats == zones)


def test_isolated_subnets_have_no_route_out(aws_stack: Synthesis) -> None:
    isolated_tables = [
        r for r in aws_stack.by_type("aws:ec2/routeTable:RouteTable") if r.name.endswith("isolated-rt")
    ]
    assert len(isolated_tables) == 1
    assert isolated_tables[0].inputs.get("routes", []) == []


def test_private_subnets_route_through_nat_and_public_through_the_gateway(aws_stack: Synthesis) -> None:
    tables = aws_stack.by_type("aws:ec2/routeTable:RouteTable")
    for table in tables:
        routes = table.inputs.get("routes", [])
        if "-private-rt-" in table.name:
            assert next(r.get("natGatewayId") for r in routes if r["cidrBlock"] == "0.0.0.0/0")
        elif table.name.endswith("public-rt"):
            assert next(r.get("gatewayId") for r in routes if r["cidrBlock"] == "0.0.0.0/0")


def test_no_subnet_maps_public_ips_on_launch(aws_stack: Synthesis) -> None:
    assert all(not s.inputs.get("mapPublicIpOnLaunch") for s in aws_stack.by_type("aws:ec2/subnet:Subnet"))


def test_subnet_plan_is_disjoint_and_inside_the_vpc() -> None:
    cidr = ipaddress.IPv4Network("10.40.0.0/16")
    plan = plan_subnets(cidr, ["a", "b", "c", "d", "e", "f"])
    blocks = [ipaddress.IPv4Network(b) for p in plan.values() for b in (p.public, p.private, p.isolated)]
    assert all(b.subnet_of(cidr) for b in blocks)
    assert all(not a.overlaps(b) for i, a in enumerate(blocks) for b in blocks[i + 1 :])


def test_subnet_plan_keeps_existing_zones_when_one_is_added() -> None:
    cidr = ipaddress.IPv4Network("10.40.0.0/16")
    assert plan_subnets(cidr, ["a", "b"])["a"] == plan_subnets(cidr, ["a", "b", "c"])["a"]


def test_flow_logs_capture_all_traffic_to_an_encrypted_group(aws_stack: Synthesis) -> None:
    (flow_log,) = aws_stack.by_type("aws:ec2/flowLog:FlowLog")
    assert flow_log.inputs["trafficType"] == "ALL"
    groups = [
        g for g in aws_stack.by_type("aws:cloudwatch/logGroup:LogGroup") if "flow-logs" in g.inputs["name"]
    ]
    assert groups and groups[0].inputs["kmsKeyId"].startswith("arn:aws:kms:")


# -- cluster ---------------------------------------------------------------------------------


def _cluster(synthesis: Synthesis) -> Registration:
    (cluster,) = synthesis.by_type("aws:eks/cluster:Cluster")
    return cluster


def test_cluster_endpoint_is_private(aws_stack: Synthesis) -> None:
    vpc_config = _cluster(aws_stack).inputs["vpcConfig"]
    assert vpc_config["endpointPrivateAccess"] is True
    assert vpc_config["endpointPublicAccess"] is False
    assert "publicAccessCidrs" not in vpc_config


def test_cluster_logs_audit_and_encrypts_secrets_with_kms(aws_stack: Synthesis) -> None:
    cluster = _cluster(aws_stack)
    assert {"audit", "api", "authenticator"} <= set(cluster.inputs["enabledClusterLogTypes"])
    encryption = cluster.inputs["encryptionConfig"]
    assert encryption["resources"] == ["secrets"]
    assert encryption["provider"]["keyArn"].startswith("arn:aws:kms:")


def test_cluster_deletion_protection_follows_protection_level(aws_stack: Synthesis) -> None:
    expected = PROTECTION[validate(stack_values(aws_stack.stack)).protection].deletion_protection
    assert _cluster(aws_stack).inputs["deletionProtection"] is expected


def test_nodes_require_imdsv2_and_encrypt_their_disks(aws_stack: Synthesis) -> None:
    templates = aws_stack.by_type("aws:ec2/launchTemplate:LaunchTemplate")
    assert templates
    for template in templates:
        metadata = template.inputs["metadataOptions"]
        assert metadata["httpTokens"] == "required"
        assert metadata["httpPutResponseHopLimit"] == 1
        ebs = template.inputs["blockDeviceMappings"][0]["ebs"]
        # Encrypted with the AWS-managed EBS key: a customer key would need a grant to Auto Scaling's
        # service-linked role, without which no node ever launches.
        assert ebs["encrypted"] == "true" and "kmsKeyId" not in ebs
        # What Auto Scaling creates carries the platform's tags, which default tags do not reach.
        kinds = {spec["resourceType"]: spec["tags"] for spec in template.inputs["tagSpecifications"]}
        assert set(kinds) == {"instance", "volume", "network-interface"}
        assert all(tags["Environment"] and tags["ManagedBy"] for tags in kinds.values())


def test_the_deployer_gets_an_explicit_access_entry_and_a_path_to_the_private_endpoint(
    aws_stack: Synthesis,
) -> None:
    access = _cluster(aws_stack).inputs["accessConfig"]
    assert access == {"authenticationMode": "API", "bootstrapClusterCreatorAdminPermissions": False}
    rules = [
        r
        for r in aws_stack.by_type("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule")
        if r.name.endswith("endpoint-from-vpc")
    ]
    cidr = validate(stack_values(aws_stack.stack)).network.cidr  # type: ignore[union-attr]
    assert [(r.inputs["fromPort"], r.inputs["toPort"], r.inputs["cidrIpv4"]) for r in rules] == [
        (443, 443, str(cidr))
    ]


def test_node_groups_span_every_private_subnet(aws_stack: Synthesis) -> None:
    zones = len(validate(stack_values(aws_stack.stack)).network.availability_zones)  # type: ignore[union-attr]
    for group in aws_stack.by_type("aws:eks/nodeGroup:NodeGroup"):
        assert len(group.inputs["subnetIds"]) == zones


def test_workload_identity_and_load_balancer_controller(aws_stack: Synthesis) -> None:
    addons = {a.inputs["addonName"] for a in aws_stack.by_type("aws:eks/addon:Addon")}
    assert "eks-pod-identity-agent" in addons
    associations = aws_stack.by_type("aws:eks/podIdentityAssociation:PodIdentityAssociation")
    assert any(a.inputs["serviceAccount"] == "aws-load-balancer-controller" for a in associations)
    releases = {r.inputs["chart"] for r in aws_stack.by_type("kubernetes:helm.sh/v3:Release")}
    assert "aws-load-balancer-controller" in releases


def test_every_kms_key_rotates(aws_stack: Synthesis) -> None:
    keys = aws_stack.by_type("aws:kms/key:Key")
    assert keys and all(k.inputs["enableKeyRotation"] is True for k in keys)


# -- namespaces ------------------------------------------------------------------------------


def test_namespaces_enforce_pod_security(any_stack: Synthesis) -> None:
    namespaces = {
        n.inputs["metadata"]["name"]: n.inputs["metadata"]["labels"]
        for n in any_stack.by_type("kubernetes:core/v1:Namespace")
    }
    assert namespaces["platform-api"]["pod-security.kubernetes.io/enforce"] == "restricted"
    assert namespaces["platform-data"]["pod-security.kubernetes.io/enforce"] == "restricted"
    for labels in namespaces.values():
        assert labels["pod-security.kubernetes.io/enforce"] in {"restricted", "baseline", "privileged"}
        assert labels["pod-security.kubernetes.io/audit"] == "restricted"


# -- protection ------------------------------------------------------------------------------

STATEFUL = (
    "aws:kms/key:Key",
    "aws:eks/cluster:Cluster",
    "aws:cloudwatch/logGroup:LogGroup",
    "aws:rds/cluster:Cluster",
    "aws:rds/clusterInstance:ClusterInstance",
)


def unprotected_stateful(resources: list[Registration]) -> list[str]:
    return [r.urn for r in resources if r.type in STATEFUL and not r.protect]


def test_prod_protects_every_stateful_resource() -> None:
    prod = synthesized("prod")
    assert [r for r in prod.resources if r.type in STATEFUL]
    assert unprotected_stateful(prod.resources) == []


def test_protection_check_catches_an_unprotected_key_and_lower_levels_do_not_protect() -> None:
    staging = synthesized("staging")
    assert unprotected_stateful(staging.resources) != []
    assert not any(r.protect for r in staging.resources)


def test_every_kubernetes_manifest_of_every_stack_is_schema_valid(any_stack: Synthesis) -> None:
    from synth.output import manifests
    from tests.k8s_validation import assert_valid

    objects = manifests(any_stack)
    assert objects
    assert_valid(objects)


# -- data ------------------------------------------------------------------------------------


def _db(synthesis: Synthesis) -> Registration:
    (cluster,) = synthesis.by_type("aws:rds/cluster:Cluster")
    return cluster


def test_aurora_is_encrypted_with_a_managed_password_and_forced_tls(aws_stack: Synthesis) -> None:
    db = _db(aws_stack)
    assert db.inputs["storageEncrypted"] is True and db.inputs["kmsKeyId"].startswith("arn:aws:kms:")
    assert db.inputs["manageMasterUserPassword"] is True
    assert "masterPassword" not in db.inputs
    assert db.inputs["iamDatabaseAuthenticationEnabled"] is True
    params = aws_stack.by_type("aws:rds/clusterParameterGroup:ClusterParameterGroup")
    assert any(
        p["name"] == "rds.force_ssl" and p["value"] == "1" for g in params for p in g.inputs["parameters"]
    )


@pytest.mark.parametrize(("stack", "readers"), [("staging", 1), ("uat", 1), ("prod", 2)])
def test_aurora_readers_spread_over_the_zones(stack: str, readers: int) -> None:
    instances = synthesized(stack).by_type("aws:rds/clusterInstance:ClusterInstance")
    assert len(instances) == readers + 1
    zones = {i.inputs["availabilityZone"] for i in instances}
    assert len(zones) == min(readers + 1, len(validate(stack_values(stack)).network.availability_zones))  # type: ignore[union-attr]


def test_prod_database_keeps_two_weeks_of_point_in_time_recovery_and_a_final_snapshot() -> None:
    db = _db(synthesized("prod"))
    assert db.inputs["backupRetentionPeriod"] >= 14
    assert db.inputs["deletionProtection"] is True
    assert db.inputs["skipFinalSnapshot"] is False and db.protect


def test_uat_starts_from_a_prod_snapshot() -> None:
    assert ":cluster-snapshot:platform-prod" in _db(synthesized("uat")).inputs["snapshotIdentifier"]


def test_dev_runs_cloudnativepg_with_a_replica() -> None:
    (cluster,) = synthesized("dev").by_type("kubernetes:postgresql.cnpg.io/v1:Cluster")
    assert cluster.inputs["spec"]["instances"] >= 2


def test_every_custom_resource_waits_for_the_release_of_its_crd(any_stack: Synthesis) -> None:
    assert created_before_their_crds(any_stack.resources) == []


def test_crd_order_check_catches_a_custom_resource_that_does_not_wait() -> None:
    dev = synthesized("dev")
    certificate = next(r for r in dev.resources if r.type == "kubernetes:cert-manager.io/v1:Certificate")
    broken = dataclasses.replace(certificate, dependencies=[])
    assert created_before_their_crds([*dev.resources, broken][-1:]) != []
    others = [r for r in dev.resources if r.urn != certificate.urn]
    assert created_before_their_crds([*others, broken]) != []


def _storage_classes(synthesis: Synthesis) -> dict[str, Registration]:
    return {
        r.inputs["metadata"]["name"]: r
        for r in synthesis.resources
        if r.type == "kubernetes:storage.k8s.io/v1:StorageClass"
    }


def test_aws_volumes_use_the_encrypted_default_storage_class_the_stack_creates(aws_stack: Synthesis) -> None:
    classes = _storage_classes(aws_stack)
    assert list(classes) == ["gp3"]
    gp3 = classes["gp3"].inputs
    assert gp3["provisioner"] == "ebs.csi.aws.com" and gp3["parameters"]["encrypted"] == "true"
    assert gp3["metadata"]["annotations"]["storageclass.kubernetes.io/is-default-class"] == "true"
    assert gp3["reclaimPolicy"] == ("Retain" if aws_stack.stack == "prod" else "Delete")
    assert unknown_storage_classes(aws_stack.resources, set(classes)) == []


def test_dev_volumes_use_the_local_clusters_storage_class() -> None:
    dev = synthesized("dev")
    assert unknown_storage_classes(dev.resources, {validate(stack_values("dev")).cloud.storage_class}) == []


def test_storage_class_check_catches_a_volume_on_a_class_nobody_created() -> None:
    prod = synthesized("prod")
    release = next(r for r in prod.resources if r.type == "kubernetes:helm.sh/v3:Release")
    broken = dataclasses.replace(release, inputs={"values": {"persistence": {"storageClassName": "gp2"}}})
    assert unknown_storage_classes([broken], {"gp3"}) == [
        f"{release.urn}: .values.persistence.storageClassName = 'gp2'"
    ]


def test_workload_tiers_wait_for_the_cluster_add_ons() -> None:
    prod = synthesized("prod")
    by_urn = {r.urn: r for r in prod.resources}
    storage_class = next(r.urn for r in prod.resources if r.type.endswith(":StorageClass"))
    monitoring = next(r for r in prod.resources if r.type == "platform:observability:Monitoring")
    assert storage_class in monitoring.dependencies
    controller = next(
        r.urn for r in prod.resources if r.inputs.get("chart") == "aws-load-balancer-controller"
    )
    api = next(r for r in prod.resources if r.type == "platform:api:ApiService")
    assert controller in api.dependencies and api.urn in by_urn


def test_pipeline_roles_get_admin_or_read_only_cluster_access() -> None:
    prod = synthesized("prod")
    policies = {
        r.inputs["principalArn"].rsplit("/", 1)[-1]: r.inputs["policyArn"].rsplit("/", 1)[-1]
        for r in prod.resources
        if r.type == "aws:eks/accessPolicyAssociation:AccessPolicyAssociation"
    }
    assert policies == {
        "platform-deploy": "AmazonEKSClusterAdminPolicy",
        "platform-admins": "AmazonEKSClusterAdminPolicy",
        "platform-preview": "AmazonEKSAdminViewPolicy",
        "platform-drift": "AmazonEKSAdminViewPolicy",
    }


def autoscalers_without_metrics(resources: list[Registration]) -> list[str]:
    """HorizontalPodAutoscalers in a stack that installs no metrics-server to feed them."""
    installs = any(r.inputs.get("chart") == "metrics-server" for r in resources)
    hpas = [r.urn for r in resources if r.type.endswith(":HorizontalPodAutoscaler")]
    return [] if installs else hpas


def test_every_stack_with_autoscalers_installs_metrics_server(any_stack: Synthesis) -> None:
    assert any(r.type.endswith(":HorizontalPodAutoscaler") for r in any_stack.resources)
    assert autoscalers_without_metrics(any_stack.resources) == []


def test_metrics_server_check_catches_autoscalers_with_nothing_to_read() -> None:
    dev = synthesized("dev")
    without = [r for r in dev.resources if r.inputs.get("chart") != "metrics-server"]
    assert autoscalers_without_metrics(without) != []


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda c: c["viewerRoleArns"].append(c["adminRoleArns"][0]), "repeat"),
        (
            lambda c: c["viewerRoleArns"].append(
                c["adminRoleArns"][0].replace(":role/", ":role/team/").replace("1", "9")
            ),
            "share the name",
        ),
    ],
    ids=["same-role-twice", "same-name-other-role"],
)
def test_an_access_role_listed_twice_is_refused(change: Any, message: str) -> None:
    values = copy.deepcopy(stack_values("prod"))
    change(values["cluster"])
    with pytest.raises(ConfigError, match=f"^platform:cluster: .*{message}"):
        validate(values)


def _waits_for(resource: Registration, kind: str) -> bool:
    return any(f"aws:iam/{kind}:" in urn for urn in resource.dependencies)


def permission_order_problems(resources: list[Registration]) -> list[str]:
    """What uses an IAM role must wait for the role's permissions (and so be deleted before them)."""
    wanted = {
        "aws:eks/cluster:Cluster": "rolePolicyAttachment",
        "aws:eks/nodeGroup:NodeGroup": "rolePolicyAttachment",
        "aws:ec2/flowLog:FlowLog": "rolePolicy",
    }
    problems = [
        f"{r.name} does not wait for its role's {kind}"
        for r in resources
        if (kind := wanted.get(r.type)) and not _waits_for(r, kind)
    ]
    problems += [
        f"{r.name} does not wait for its role's rolePolicyAttachment"
        for r in resources
        if r.type == "aws:eks/addon:Addon"
        and r.inputs.get("podIdentityAssociations")
        and not _waits_for(r, "rolePolicyAttachment")
    ]
    problems += [
        f"{r.name} does not wait for its role's rolePolicy"
        for r in resources
        if r.type == "kubernetes:helm.sh/v3:Release"
        and r.inputs.get("chart") == "aws-load-balancer-controller"
        and not _waits_for(r, "rolePolicy")
    ]
    return problems


def test_what_uses_an_iam_role_waits_for_its_permissions(aws_stack: Synthesis) -> None:
    assert permission_order_problems(aws_stack.resources) == []


def test_permission_order_check_catches_a_node_group_that_does_not_wait() -> None:
    resources = synthesized("prod").resources
    group = next(r for r in resources if r.type == "aws:eks/nodeGroup:NodeGroup")
    hasty = dataclasses.replace(group, dependencies=[d for d in group.dependencies if "aws:iam/" not in d])
    assert permission_order_problems([hasty]) == [
        f"{group.name} does not wait for its role's rolePolicyAttachment"
    ]


# EC2's CreateSecurityGroup accepts only these characters in a group's or a rule's description
# (AWS EC2 API reference); the provider does not check, so a stray apostrophe fails only at `up`.
EC2_DESCRIPTION = re.compile(r"^[A-Za-z0-9 ._\-:/()#,@\[\]+=&;{}!$*]*$")


def description_problems(resources: list[Registration]) -> list[str]:
    problems = []
    for r in resources:
        if r.type == "aws:ec2/securityGroup:SecurityGroup":
            texts = [r.inputs.get("description", "")]
            texts += [
                rule.get("description", "") for key in ("ingress", "egress") for rule in r.inputs.get(key, [])
            ]
        elif r.type.startswith(("aws:vpc/securityGroupIngressRule:", "aws:vpc/securityGroupEgressRule:")):
            texts = [r.inputs.get("description", "")]
        else:
            continue
        problems += [f"{r.name}: {text!r}" for text in texts if not EC2_DESCRIPTION.fullmatch(text or "")]
    return problems


def test_security_group_descriptions_use_only_what_ec2_accepts(aws_stack: Synthesis) -> None:
    assert description_problems(aws_stack.resources) == []


def test_description_check_catches_an_apostrophe() -> None:
    group = next(r for r in synthesized("prod").resources if r.type == "aws:ec2/securityGroup:SecurityGroup")
    broken = dataclasses.replace(group, inputs={**group.inputs, "description": "the cluster's pods"})
    assert description_problems([broken]) == [f'{group.name}: "the cluster\'s pods"']


def tls_only_problems(resources: list[Registration]) -> list[str]:
    """Buckets whose policy does not refuse requests without TLS."""
    denied = set()
    for policy in (r for r in resources if r.type == "aws:s3/bucketPolicy:BucketPolicy"):
        for statement in json.loads(policy.inputs["policy"])["Statement"]:
            if statement.get("Effect") == "Deny" and statement.get("Condition") == {
                "Bool": {"aws:SecureTransport": "false"}
            }:
                denied.add(policy.inputs["bucket"])
    return sorted(
        r.name
        for r in resources
        if r.type == "aws:s3/bucket:Bucket" and not {r.outputs.get("bucket"), r.outputs.get("id")} & denied
    )


def test_every_bucket_refuses_requests_without_tls(aws_stack: Synthesis) -> None:
    assert tls_only_problems(aws_stack.resources) == []


def test_tls_check_catches_a_bucket_without_the_deny() -> None:
    resources = [
        r
        for r in synthesized("prod").resources
        if r.name != "logs-logs" or r.type != "aws:s3/bucketPolicy:BucketPolicy"
    ]
    assert tls_only_problems(resources) == ["logs-logs"]


# `pulumi stack output <name>` in the docs, runbooks and pipeline scripts, and "stack output `<name>`".
_OUTPUT_MENTION = re.compile(r"stack output(?:\s+--[\w-]+)*\s+`?(?P<name>[a-z][A-Za-z]+)`?")


def _mentioned_outputs(text: str) -> set[str]:
    return {m["name"] for m in _OUTPUT_MENTION.finditer(text)}


def test_every_stack_output_the_docs_and_scripts_read_exists() -> None:
    """A runbook or script reading an output the program does not export fails at the worst time."""
    exported = {name for stack in STACKS for name in synthesized(stack).outputs}
    places = [ROOT / "README.md", *(ROOT / "docs").rglob("*.md"), *(ROOT / ".github").rglob("*.sh")]
    places += list((ROOT / ".github" / "workflows").glob("*.yml"))
    mentioned = {
        (str(p.relative_to(ROOT)), name) for p in places for name in _mentioned_outputs(p.read_text())
    }
    assert len(mentioned) >= 8, mentioned
    assert sorted((place, name) for place, name in mentioned if name not in exported) == []
    # The pattern sees each way of naming one.
    assert _mentioned_outputs(
        "pulumi stack output --show-secrets kubeconfg; stack output `alarmTopicArn`"
    ) == {
        "kubeconfg",
        "alarmTopicArn",
    }


def test_a_synth_skips_the_sdks_stack_traces_only_while_it_runs() -> None:
    """The mocks discard the source positions; the patch must not outlive the synth."""
    from pulumi.runtime import resource

    from synth.engine import synthesize

    original = resource._get_stack_trace
    during: list[bool] = []
    synthesize("test", program=lambda: during.append(resource._get_stack_trace is original), config={})
    assert during == [False]
    assert resource._get_stack_trace is original
