"""`kube.apply` registers an object exactly as the pulumi-kubernetes SDK class of its kind would."""

from __future__ import annotations

import importlib
from typing import Any

import pulumi
import pytest

from components.kube import KubernetesObject, apply, type_token
from synth.engine import Registration, synthesize

META = {"name": "x", "namespace": "n", "labels": {"app": "x"}}
POD = {"containers": [{"name": "c", "image": "registry.example.com/c:1"}]}
TEMPLATE = {"metadata": {"labels": {"app": "x"}}, "spec": POD}
SELECTOR = {"matchLabels": {"app": "x"}}

# (SDK module, class, rendered object)
CASES: list[tuple[str, str, dict[str, Any]]] = [
    ("core.v1", "Namespace", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "n"}}),
    ("core.v1", "ConfigMap", {"apiVersion": "v1", "kind": "ConfigMap", "metadata": META, "data": {"a": "b"}}),
    ("core.v1", "Secret", {"apiVersion": "v1", "kind": "Secret", "metadata": META, "stringData": {"k": "v"}}),
    ("core.v1", "Service", {"apiVersion": "v1", "kind": "Service", "metadata": META, "spec": {"ports": []}}),
    ("core.v1", "ServiceAccount", {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": META}),
    (
        "apps.v1",
        "Deployment",
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": META,
            "spec": {"selector": SELECTOR, "template": TEMPLATE},
        },
    ),
    (
        "apps.v1",
        "StatefulSet",
        {
            "apiVersion": "apps/v1",
            "kind": "StatefulSet",
            "metadata": META,
            "spec": {"selector": SELECTOR, "serviceName": "x", "template": TEMPLATE},
        },
    ),
    (
        "batch.v1",
        "Job",
        {"apiVersion": "batch/v1", "kind": "Job", "metadata": META, "spec": {"template": TEMPLATE}},
    ),
    (
        "batch.v1",
        "CronJob",
        {
            "apiVersion": "batch/v1",
            "kind": "CronJob",
            "metadata": META,
            "spec": {"schedule": "0 0 30 2 *", "jobTemplate": {"spec": {"template": TEMPLATE}}},
        },
    ),
    (
        "policy.v1",
        "PodDisruptionBudget",
        {
            "apiVersion": "policy/v1",
            "kind": "PodDisruptionBudget",
            "metadata": META,
            "spec": {"minAvailable": 1},
        },
    ),
    (
        "autoscaling.v2",
        "HorizontalPodAutoscaler",
        {
            "apiVersion": "autoscaling/v2",
            "kind": "HorizontalPodAutoscaler",
            "metadata": META,
            "spec": {"maxReplicas": 3, "scaleTargetRef": {"kind": "Deployment", "name": "x"}},
        },
    ),
    (
        "networking.v1",
        "NetworkPolicy",
        {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "NetworkPolicy",
            "metadata": META,
            "spec": {"podSelector": {}},
        },
    ),
    (
        "networking.v1",
        "Ingress",
        {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": META, "spec": {"rules": []}},
    ),
    (
        "rbac.v1",
        "RoleBinding",
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": META,
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "x"},
            "subjects": [{"kind": "ServiceAccount", "name": "x"}],
        },
    ),
]


def _sdk_kwargs(obj: dict[str, Any]) -> dict[str, Any]:
    snake = {"stringData": "string_data", "roleRef": "role_ref"}
    return {snake.get(k, k): v for k, v in obj.items() if k not in ("apiVersion", "kind")}


def _registered(program: Any) -> Registration:
    synthesis = synthesize("dev", program=program, config={}, project="platform")
    (only,) = [r for r in synthesis.resources if r.custom]
    return only


@pytest.mark.parametrize(("module", "cls", "obj"), CASES, ids=[c[1] for c in CASES])
def test_apply_registers_what_the_sdk_class_registers(module: str, cls: str, obj: dict[str, Any]) -> None:
    sdk_class = getattr(importlib.import_module(f"pulumi_kubernetes.{module}"), cls)
    sdk = _registered(lambda: sdk_class("x", **_sdk_kwargs(obj)))
    ours = _registered(lambda: apply("x", obj))
    assert (ours.type, ours.inputs) == (sdk.type, sdk.inputs)


def test_secret_payload_is_secret_as_with_the_sdk() -> None:
    holder: dict[str, KubernetesObject] = {}

    def program() -> None:
        holder["secret"] = apply("s", CASES[2][2])

    registration = _registered(program)
    assert registration.export_inputs()["stringData"] == {"k": "[secret]"}


def test_status_of_a_built_in_kind_can_be_read_back() -> None:
    holder: dict[str, KubernetesObject] = {}

    def program() -> None:
        holder["ingress"] = apply("i", next(obj for _, kind, obj in CASES if kind == "Ingress"))

    _registered(program)
    assert isinstance(holder["ingress"].status, pulumi.Output)


def test_a_mistyped_top_level_field_is_refused() -> None:
    with pytest.raises(ValueError, match="unexpected top-level fields \\['sepc'\\]"):
        synthesize(
            "dev",
            program=lambda: apply("x", {"apiVersion": "v1", "kind": "Service", "metadata": META, "sepc": {}}),
            config={},
            project="platform",
        )


@pytest.mark.parametrize(
    ("api_version", "kind", "token"),
    [
        ("v1", "Service", "kubernetes:core/v1:Service"),
        ("argoproj.io/v1alpha1", "Rollout", "kubernetes:argoproj.io/v1alpha1:Rollout"),
        ("networking.k8s.io/v1", "Ingress", "kubernetes:networking.k8s.io/v1:Ingress"),
    ],
)
def test_type_token_follows_the_sdk_scheme(api_version: str, kind: str, token: str) -> None:
    assert type_token(api_version, kind) == token


def test_custom_resources_register_as_the_sdk_custom_resource_does() -> None:
    import pulumi_kubernetes as k8s

    obj = {"apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout", "metadata": META, "spec": {"replicas": 2}}
    sdk = _registered(
        lambda: k8s.apiextensions.CustomResource(
            "x", api_version=obj["apiVersion"], kind=obj["kind"], metadata=META, spec=obj["spec"]
        )
    )
    ours = _registered(lambda: apply("x", obj))
    assert (ours.type, ours.inputs) == (sdk.type, sdk.inputs)
