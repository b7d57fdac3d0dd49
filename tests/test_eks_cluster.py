"""The EKS cluster component under mocks: resource options the engine receives, and the sources
admitted to the private API endpoint."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from pulumi.runtime.mocks import MockMonitor

from components import eks_cluster
from components.config import ConfigError, validate
from synth.engine import Registration, Synthesis, synthesize
from tests.conftest import encode, stack_values

CLUSTER = "aws:eks/cluster:Cluster"
INGRESS_RULE = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"


def _synth(
    cluster: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> tuple[Synthesis, dict[str, list[str]]]:
    """prod with its cluster section updated by ``cluster``, and each resource's `ignoreChanges`."""
    values = copy.deepcopy(stack_values("prod"))
    values["cluster"].update(cluster)
    ignored: dict[str, list[str]] = {}
    original = MockMonitor.RegisterResource

    def spy(self: MockMonitor, request: Any) -> Any:
        response = original(self, request)
        ignored[response.urn] = list(request.ignoreChanges)
        return response

    monkeypatch.setattr(MockMonitor, "RegisterResource", spy)
    synthesis = synthesize("prod", config=encode(values), secret_keys=[], project="platform")
    return synthesis, ignored


def _endpoint_rules(synthesis: Synthesis) -> list[Registration]:
    return [r for r in synthesis.by_type(INGRESS_RULE) if "-endpoint-from-" in r.name]


SOURCES = ["10.40.8.0/24", "172.16.0.0/22"]  # a runner subnet in the VPC, a peered VPN


@pytest.fixture(scope="module")
def narrowed() -> tuple[Synthesis, dict[str, list[str]]]:
    """prod with two endpoint sources: one synthesis shared by the module's component tests."""
    with pytest.MonkeyPatch.context() as monkeypatch:
        return _synth({"endpointSourceCidrs": SOURCES}, monkeypatch)


def test_the_cluster_ignores_later_changes_to_the_creator_admin_bootstrap(
    narrowed: tuple[Synthesis, dict[str, list[str]]],
) -> None:
    # Changing bootstrapClusterCreatorAdminPermissions replaces the cluster: a cluster created with
    # the default (true) must not be replaced for it.
    synthesis, ignored = narrowed
    (cluster,) = synthesis.by_type(CLUSTER)
    assert cluster.inputs["accessConfig"]["bootstrapClusterCreatorAdminPermissions"] is False
    assert "accessConfig.bootstrapClusterCreatorAdminPermissions" in ignored[cluster.urn]


def test_endpoint_rules_follow_the_configured_sources(
    narrowed: tuple[Synthesis, dict[str, list[str]]],
) -> None:
    synthesis, _ = narrowed
    rules = _endpoint_rules(synthesis)
    assert sorted(r.inputs["cidrIpv4"] for r in rules) == SOURCES
    (cluster,) = synthesis.by_type(CLUSTER)
    cluster_sg = cluster.outputs["vpcConfig"]["clusterSecurityGroupId"]
    for rule in rules:
        ports = (rule.inputs["ipProtocol"], rule.inputs["fromPort"], rule.inputs["toPort"])
        assert ports == ("tcp", 443, 443) and rule.inputs["securityGroupId"] == cluster_sg
    # The Kubernetes provider waits for the network path of the deployer.
    (provider,) = [r for r in synthesis.resources if r.type == "pulumi:providers:kubernetes"]
    assert {r.urn for r in rules} <= set(provider.dependencies)


def test_the_shipped_stacks_admit_their_vpc(any_stack: Synthesis) -> None:
    """Unset, the sources are the VPC (the shipped AWS stacks); a local stack has no such rule."""
    rules = _endpoint_rules(any_stack)
    if any_stack.stack == "dev":
        assert rules == []
    else:
        assert [r.name for r in rules] == ["cluster-endpoint-from-vpc"]
        network = validate(stack_values(any_stack.stack)).network
        assert network is not None and rules[0].inputs["cidrIpv4"] == str(network.cidr)


@pytest.mark.parametrize(
    ("sources", "expected"),
    [
        (None, {"vpc": "10.40.0.0/16"}),
        ([], {}),
        (["10.40.0.0/16", "172.16.0.0/22"], {"vpc": "10.40.0.0/16", "172-16-0-0-22": "172.16.0.0/22"}),
        (["10.40.8.0/24"], {"10-40-8-0-24": "10.40.8.0/24"}),
    ],
    ids=["default-is-the-vpc", "empty-is-none", "the-vpc-keeps-its-rule-name", "narrow"],
)
def test_endpoint_rule_sources_by_name(sources: list[str] | None, expected: dict[str, str]) -> None:
    values = copy.deepcopy(stack_values("prod"))
    if sources is not None:
        values["cluster"]["endpointSourceCidrs"] = sources
    config = validate(values)
    assert config.cluster is not None and config.network is not None
    assert eks_cluster.endpoint_rule_sources(config.cluster, str(config.network.cidr)) == expected


@pytest.mark.parametrize(
    ("sources", "words"),
    [
        (["0.0.0.0/0"], "may not contain 0.0.0.0/0"),
        (["0.0.0.0/1", "128.0.0.0/1"], "may not contain 0.0.0.0/1 (wider than /8)"),
        (["10.40.8.0/24", "10.40.8.0/24"], "repeats"),
    ],
    ids=["open-to-the-world", "the-world-in-halves", "listed-twice"],
)
def test_bad_endpoint_sources_are_refused(sources: list[str], words: str) -> None:
    values = copy.deepcopy(stack_values("prod"))
    values["cluster"]["endpointSourceCidrs"] = sources
    with pytest.raises(ConfigError) as caught:
        validate(values)
    message = str(caught.value)
    assert message.startswith("platform:cluster.endpointSourceCidrs:"), message
    assert words in message and "(value:" in message, message
