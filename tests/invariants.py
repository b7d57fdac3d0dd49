"""Invariants over a synthesized stack, as functions returning violations (empty list = holds).

Kept apart from the tests so that each can be shown to fail on a deliberately broken input.
"""

from __future__ import annotations

import importlib
import inspect
import re
from collections.abc import Iterable, Mapping
from functools import cache
from typing import Any

from components.tagging import REQUIRED_LABELS
from synth.engine import SECRET, Registration
from synth.output import manifest

SECRET_KEY = re.compile(r"(password|passwd|secret|token|private_?key|authToken|apiKey)$", re.IGNORECASE)
# Keys that name or point at a secret rather than hold one (`existingSecret`: a chart's Secret name).
NOT_A_SECRET = re.compile(r"(Arn|Name|Ref|Id|Key(Id|Ref)|^existingSecret)$")


@cache
def sdk_accepts_tags(type_token: str) -> bool:
    """Whether the pulumi-aws class behind a type token has a `tags` input (i.e. is taggable)."""
    _, module, name = type_token.split(":")
    package = "pulumi_aws" if module.startswith("index") else f"pulumi_aws.{module.split('/')[0]}"
    cls = getattr(importlib.import_module(package), name)
    return "tags" in inspect.signature(cls._internal_init).parameters


def missing_tags(resources: Iterable[Registration], required: Mapping[str, str]) -> list[str]:
    """Taggable AWS resources whose `tags` lack a required key or carry a different value."""
    problems = []
    for r in resources:
        if not r.custom or not r.type.startswith("aws:") or not sdk_accepts_tags(r.type):
            continue
        tags = r.inputs.get("tags") or {}
        wrong = {k: tags.get(k) for k, v in required.items() if tags.get(k) != v}
        if wrong:
            problems.append(f"{r.urn}: tags {wrong} should be {dict(required)}")
    return problems


def missing_labels(resources: Iterable[Registration], environment: str) -> list[str]:
    """Kubernetes objects without the platform's labels."""
    problems = []
    for r in resources:
        obj = manifest(r)
        if obj is None:
            continue
        labels = obj["metadata"].get("labels") or {}
        absent = [k for k in REQUIRED_LABELS if not labels.get(k)]
        if absent or labels.get("platform/environment") != environment:
            problems.append(f"{r.urn}: labels {labels} lack {absent or 'the environment'}")
    return problems


def _walk(value: Any, path: str = "") -> Iterable[tuple[str, Any]]:
    if isinstance(value, Mapping):
        for k, v in value.items():
            yield from _walk(v, f"{path}.{k}" if path else str(k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _walk(v, f"{path}[{i}]")
    else:
        yield path, value


def plaintext_secrets(resources: Iterable[Registration]) -> list[str]:
    """Inputs whose key says secret but whose value is in clear text (not masked as a secret)."""
    problems = []
    for r in resources:
        for path, value in _walk(r.export_inputs()):
            key = re.split(r"[.\[]", path)[-1]
            if (
                SECRET_KEY.search(key)
                and not NOT_A_SECRET.search(key)
                and isinstance(value, str)
                and value
                and value != SECRET
            ):
                problems.append(f"{r.urn}: {path} is a plaintext secret")
    return problems


def unprovided(resources: Iterable[Registration], package: str) -> list[str]:
    """Custom resources of a package that would use the ambient default provider."""
    return [r.urn for r in resources if r.custom and r.type.startswith(f"{package}:") and not r.provider]


# The chart that installs each custom resource group's CRDs.
CRD_CHARTS = {
    "argoproj.io": "argo-rollouts",
    "cert-manager.io": "cert-manager",
    "monitoring.coreos.com": "kube-prometheus-stack",
    "postgresql.cnpg.io": "cloudnative-pg",
    "elbv2.k8s.aws": "aws-load-balancer-controller",
}
HELM_RELEASE = "kubernetes:helm.sh/v3:Release"


def created_before_their_crds(resources: Iterable[Registration]) -> list[str]:
    """Custom resources that do not wait (directly or transitively) for the release of their CRDs.

    Without that ordering a first `pulumi up` creates the object before its kind exists and fails.
    """
    by_urn = {r.urn: r for r in resources}
    problems = []
    for resource in by_urn.values():
        package, module, _ = resource.type.split(":")
        chart = CRD_CHARTS.get(module.rsplit("/", 1)[0]) if package == "kubernetes" else None
        if chart is None:
            continue
        seen: set[str] = set()
        pending = list(resource.dependencies)
        while pending:
            urn = pending.pop()
            if urn not in seen and urn in by_urn:
                seen.add(urn)
                pending.extend(by_urn[urn].dependencies)
        charts = {by_urn[u].inputs.get("chart") for u in seen if by_urn[u].type == HELM_RELEASE}
        if chart not in charts:
            problems.append(f"{resource.urn}: does not wait for the {chart} release that installs its CRD")
    return problems


def _storage_class_references(value: Any, path: str = "") -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    if isinstance(value, dict):
        for key, item in value.items():
            if key in {"storageClass", "storageClassName"} and isinstance(item, str) and item:
                found.append((f"{path}.{key}", item))
            else:
                found += _storage_class_references(item, f"{path}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += _storage_class_references(item, f"{path}[{index}]")
    return found


def unknown_storage_classes(resources: Iterable[Registration], available: set[str]) -> list[str]:
    """Volumes (Helm values, operator resources) asking for a StorageClass that is not ``available``."""
    return [
        f"{r.urn}: {path} = {name!r}"
        for r in resources
        if r.type.startswith("kubernetes:")
        for path, name in _storage_class_references(r.inputs)
        if name not in available
    ]
