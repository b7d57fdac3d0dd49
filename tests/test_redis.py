"""Redis: the `platform:redis` rules, the rendered objects, and what each synthesized stack gets."""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Iterable
from typing import Any

import pytest

from components.config import ConfigError, validate
from components.redis import (
    EXPORTER_IMAGE,
    REDIS_IMAGE,
    cache_cluster_zones,
    maxmemory_mib,
    render_in_cluster_deployment,
    render_network_policy,
    render_redis_conf,
)
from components.redis_settings import RedisSettings
from synth.engine import SECRET, Registration, Synthesis
from synth.output import manifest
from tests.conftest import stack_values, synthesized
from tests.k8s_validation import validate_manifests

REPLICATION_GROUP = "aws:elasticache/replicationGroup:ReplicationGroup"
REDIS_METRICS = ("redis_up", "redis_memory_used_bytes", "redis_memory_max_bytes", "redis_evicted_keys_total")

# -- invariants (each shown to fail on a broken input below) -----------------------------------------


def replication_group_problems(group: Registration, *, highly_available: bool) -> list[str]:
    """Encryption both ways with a customer key, a secret AUTH token; HA where the stack needs it."""
    inputs = group.export_inputs()
    problems = [
        f"{key} is {inputs.get(key)!r}"
        for key in ("atRestEncryptionEnabled", "transitEncryptionEnabled")
        if inputs.get(key) is not True
    ]
    if not str(inputs.get("kmsKeyId", "")).startswith("arn:aws:kms:"):
        problems.append("no customer-managed KMS key")
    if inputs.get("transitEncryptionMode") != "required":
        problems.append("TLS is not required")
    if inputs.get("authToken") != SECRET:
        problems.append("the AUTH token is not a secret")
    if highly_available:
        if int(inputs.get("numCacheClusters", 0)) < 2:
            problems.append("fewer than 2 nodes")
        if inputs.get("automaticFailoverEnabled") is not True or inputs.get("multiAzEnabled") is not True:
            problems.append("no automatic failover across AZs")
        if not group.protect:
            problems.append("not protected")
    return problems


RESTRICTED = {
    "runAsNonRoot": True,
    "allowPrivilegeEscalation": False,
    "readOnlyRootFilesystem": True,
    "capabilities": {"drop": ["ALL"]},
    "seccompProfile": {"type": "RuntimeDefault"},
}


def unrestricted_containers(objects: Iterable[dict[str, Any]]) -> list[str]:
    """Containers of Deployments whose security context falls short of the restricted profile."""
    problems = []
    for obj in objects:
        if obj["kind"] != "Deployment":
            continue
        for container in obj["spec"]["template"]["spec"]["containers"]:
            context = container.get("securityContext") or {}
            wrong = {k: context.get(k) for k, v in RESTRICTED.items() if context.get(k) != v}
            if wrong:
                problems.append(f"{obj['metadata']['name']}/{container['name']}: {wrong}")
    return problems


def open_ingress(policy: dict[str, Any]) -> list[str]:
    """Ingress rules admitting anything beyond the API namespace and Prometheus."""
    allowed = [
        {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "platform-api"}}},
        {
            "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "platform-monitoring"}},
            "podSelector": {"matchLabels": {"app.kubernetes.io/name": "prometheus"}},
        },
    ]
    problems = []
    for rule in policy["spec"].get("ingress", []):
        peers = rule.get("from")
        if not peers or any(p not in allowed for p in peers) or not rule.get("ports"):
            problems.append(f"open rule {rule}")
    if "Ingress" not in policy["spec"].get("policyTypes", []):
        problems.append("the policy does not restrict ingress")
    return problems


def _mine(synthesis: Synthesis) -> list[Registration]:
    (component,) = [r for r in synthesis.resources if r.type == "platform:data:Redis"]
    return [r for r in synthesis.resources if r.parent == component.urn]


def _objects(synthesis: Synthesis) -> list[dict[str, Any]]:
    return [m for r in _mine(synthesis) if (m := manifest(r)) is not None]


# -- config ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "path", "fragment"),
    [
        ({"nodes": 1}, "redis.nodes", "automaticFailover needs at least 2 nodes"),
        ({"automaticFailover": False}, "redis.multiAz", "needs automaticFailover"),
        ({"multiAz": False}, "redis.multiAz", "nodes spread over availability zones"),
        (
            {"engine": "in-cluster", "nodes": 1, "automaticFailover": False, "multiAz": False},
            "redis.engine",
            "AWS",
        ),
        ({"nodeType": "r7g.large"}, "redis.nodeType", "pattern"),
        ({"engineVersion": "6.2"}, "redis.engineVersion", "pattern"),
        ({"maxmemoryPolicy": "noeviction"}, "redis.maxmemoryPolicy", "volatile-ttl"),
        ({"snapshotRetentionDays": 36}, "redis.snapshotRetentionDays", "35"),
        ({"replicas": 2}, "redis.replicas", "unknown key"),
    ],
)
def test_prod_redis_config_errors_name_the_key(
    prod_values: dict[str, Any], change: dict[str, Any], path: str, fragment: str
) -> None:
    prod_values["redis"] = {**prod_values["redis"], **change}
    with pytest.raises(ConfigError, match=rf"^platform:{path}: .*{fragment}"):
        validate(prod_values)


def test_prod_redis_without_failover_is_refused_by_its_protection_level(prod_values: dict[str, Any]) -> None:
    prod_values["redis"] = {"engine": "elasticache", "nodes": 2}
    with pytest.raises(
        ConfigError, match=r"^platform:redis.nodes: the protection level needs at least 2 nodes"
    ):
        validate(prod_values)


def test_local_stacks_cannot_use_elasticache() -> None:
    values = copy.deepcopy(stack_values("dev"))
    values["redis"] = {"engine": "elasticache"}
    with pytest.raises(
        ConfigError, match=r"^platform:redis.engine: `elasticache` needs cloud.provider `aws`"
    ):
        validate(values)


def test_in_cluster_redis_is_one_pod() -> None:
    values = copy.deepcopy(stack_values("dev"))
    values["redis"] = {**values["redis"], "nodes": 2}
    with pytest.raises(ConfigError, match=r"^platform:redis.engine: `in-cluster` runs one Redis pod"):
        validate(values)


def test_stacks_without_redis_stay_valid() -> None:
    values = copy.deepcopy(stack_values("dev"))
    values.pop("redis")
    assert validate(values).redis is None


# -- renders --------------------------------------------------------------------------------------


def test_redis_conf_bounds_memory_below_the_container_limit_and_evicts_by_ttl() -> None:
    settings = RedisSettings(engine="in-cluster", memory_mib=256)
    conf = render_redis_conf(settings)
    assert f"maxmemory {maxmemory_mib(settings)}mb\n" in conf and maxmemory_mib(settings) < 256
    assert "maxmemory-policy volatile-ttl\n" in conf
    assert "requirepass" not in conf  # the password comes only from the Secret


def test_nodes_are_spread_round_robin_over_the_zones() -> None:
    assert cache_cluster_zones(3, ["a", "b", "c"]) == ["a", "b", "c"]
    assert cache_cluster_zones(4, ["a", "b"]) == ["a", "b", "a", "b"]


def test_in_cluster_deployment_is_valid_and_pins_its_images() -> None:
    deployment = render_in_cluster_deployment(
        RedisSettings(engine="in-cluster"), name="redis", namespace="platform-data", secret="s"
    )
    images = [c["image"] for c in deployment["spec"]["template"]["spec"]["containers"]]
    assert images == [REDIS_IMAGE, EXPORTER_IMAGE]
    assert all(":" in image and not image.endswith(":latest") for image in images)
    assert validate_manifests([deployment]) == []


# -- stacks ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(("stack", "highly_available"), [("staging", False), ("uat", False), ("prod", True)])
def test_elasticache_is_encrypted_both_ways_with_a_secret_token(stack: str, highly_available: bool) -> None:
    (group,) = synthesized(stack).by_type(REPLICATION_GROUP)
    assert replication_group_problems(group, highly_available=highly_available) == []


def test_prod_redis_survives_a_node_or_zone_loss() -> None:
    (group,) = synthesized("prod").by_type(REPLICATION_GROUP)
    assert group.inputs["numCacheClusters"] == 3
    assert sorted(group.inputs["preferredCacheClusterAzs"]) == ["eu-west-1a", "eu-west-1b", "eu-west-1c"]
    assert replication_group_problems(group, highly_available=True) == []


@pytest.mark.parametrize(
    "broken",
    [
        {"atRestEncryptionEnabled": False},
        {"transitEncryptionEnabled": False},
        {"transitEncryptionMode": "preferred"},
        {"authToken": "plaintext-token"},
        {"kmsKeyId": None},
        {"multiAzEnabled": False},
        {"numCacheClusters": 1},
    ],
)
def test_replication_group_check_catches_a_weakened_group(broken: dict[str, Any]) -> None:
    (group,) = synthesized("prod").by_type(REPLICATION_GROUP)
    weakened = dataclasses.replace(group, inputs={**group.inputs, **broken})
    assert replication_group_problems(weakened, highly_available=True) != []


def test_replication_group_check_catches_an_unprotected_prod_group() -> None:
    (group,) = synthesized("prod").by_type(REPLICATION_GROUP)
    assert replication_group_problems(dataclasses.replace(group, protect=False), highly_available=True) != []


def test_elasticache_lives_in_isolated_subnets_behind_the_node_security_group() -> None:
    prod = synthesized("prod")
    mine = _mine(prod)
    (subnets,) = [r for r in mine if r.type == "aws:elasticache/subnetGroup:SubnetGroup"]
    isolated = {
        r.outputs.get("id") or r.urn for r in prod.by_type("aws:ec2/subnet:Subnet") if "isolated" in r.name
    }
    assert len(subnets.inputs["subnetIds"]) == 3
    assert set(subnets.inputs["subnetIds"]) <= isolated or all(
        s.startswith("subnet-") for s in subnets.inputs["subnetIds"]
    )
    (group,) = [r for r in mine if r.type == "aws:ec2/securityGroup:SecurityGroup"]
    (rule,) = group.inputs["ingress"]
    assert (rule["fromPort"], rule["toPort"]) == (6379, 6379) and "cidrBlocks" not in rule
    assert rule["securityGroups"] and group.inputs["egress"] == []
    (params,) = [r for r in mine if r.type == "aws:elasticache/parameterGroup:ParameterGroup"]
    assert params.inputs["parameters"] == [{"name": "maxmemory-policy", "value": "volatile-ttl"}]


def test_dev_runs_one_restricted_redis_open_only_to_the_api_and_prometheus() -> None:
    dev = synthesized("dev")
    assert dev.by_type(REPLICATION_GROUP) == []
    objects = _objects(dev)
    (deployment,) = [o for o in objects if o["kind"] == "Deployment"]
    assert deployment["spec"]["replicas"] == 1
    assert unrestricted_containers(objects) == []
    (policy,) = [o for o in objects if o["kind"] == "NetworkPolicy"]
    assert open_ingress(policy) == []
    # A Secret's stringData may be masked whole in the synthesis; the rest must be schema-valid.
    assert validate_manifests([o for o in objects if o["kind"] != "Secret"]) == []


def test_restricted_check_catches_a_root_container() -> None:
    deployment = copy.deepcopy(next(o for o in _objects(synthesized("dev")) if o["kind"] == "Deployment"))
    deployment["spec"]["template"]["spec"]["containers"][0]["securityContext"]["runAsNonRoot"] = False
    assert unrestricted_containers([deployment]) != []


@pytest.mark.parametrize("peers", [[{}], [{"namespaceSelector": {}}], None])
def test_ingress_check_catches_an_open_policy(peers: list[dict[str, Any]] | None) -> None:
    policy = render_network_policy("redis", "platform-data", {"app": "redis"}, with_redis=True)
    policy["spec"]["ingress"][0]["from"] = peers
    assert open_ingress(policy) != []


@pytest.mark.parametrize("stack", ["dev", "staging", "uat", "prod"])
def test_every_stack_hands_the_api_a_redis_endpoint_and_scrapes_the_exporter(stack: str) -> None:
    synthesis = synthesized(stack)
    assert synthesis.outputs["redisHost"]
    objects = _objects(synthesis)
    exporters = [
        c
        for o in objects
        if o["kind"] == "Deployment"
        for c in o["spec"]["template"]["spec"]["containers"]
        if c["image"] == EXPORTER_IMAGE
    ]
    assert len(exporters) == 1
    monitors = [
        m
        for r in synthesis.resources
        if r.type.startswith("kubernetes:monitoring.coreos.com") and (m := manifest(r)) is not None
    ]
    assert any("redis" in m["metadata"]["name"] for m in monitors)


def test_the_api_reaches_redis_over_tls_with_the_token_on_aws() -> None:
    from components.endpoints import RedisEndpoint

    fields = {f.name for f in dataclasses.fields(RedisEndpoint)}
    assert {"host", "port", "tls", "backend", "auth_token"} <= fields
    prod = synthesized("prod")
    secrets = [r for r in _mine(prod) if r.type == "kubernetes:core/v1:Secret"]
    for secret in secrets:
        data = secret.export_inputs()["stringData"]
        assert data == SECRET or (data and all(v == SECRET for v in data.values()))


def test_alert_metrics_come_from_the_pinned_exporter() -> None:
    assert EXPORTER_IMAGE.startswith("oliver006/redis_exporter:v1.")
    assert all(metric.startswith("redis_") for metric in REDIS_METRICS)
