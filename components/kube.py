"""Register a rendered Kubernetes object (a plain dict from a pure render function) as a resource.

Built-in kinds go through the SDK's typed class, so pulumi-kubernetes awaits them (a Deployment's
rollout, a Job's completion) and previews them with its schema; any other kind (a CRD's object)
becomes an `apiextensions.CustomResource`. Nested keys stay as rendered (camelCase), exactly what
the API server receives and what the offline schema validation checks.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

# (apiVersion, kind) → (SDK module path under pulumi_kubernetes, class name)
_TYPED: dict[tuple[str, str], tuple[str, str]] = {
    ("v1", "ConfigMap"): ("core.v1", "ConfigMap"),
    ("v1", "Secret"): ("core.v1", "Secret"),
    ("v1", "Service"): ("core.v1", "Service"),
    ("v1", "ServiceAccount"): ("core.v1", "ServiceAccount"),
    ("apps/v1", "Deployment"): ("apps.v1", "Deployment"),
    ("apps/v1", "StatefulSet"): ("apps.v1", "StatefulSet"),
    ("apps/v1", "DaemonSet"): ("apps.v1", "DaemonSet"),
    ("batch/v1", "Job"): ("batch.v1", "Job"),
    ("policy/v1", "PodDisruptionBudget"): ("policy.v1", "PodDisruptionBudget"),
    ("autoscaling/v2", "HorizontalPodAutoscaler"): ("autoscaling.v2", "HorizontalPodAutoscaler"),
    ("networking.k8s.io/v1", "NetworkPolicy"): ("networking.v1", "NetworkPolicy"),
    ("networking.k8s.io/v1", "Ingress"): ("networking.v1", "Ingress"),
    ("rbac.authorization.k8s.io/v1", "Role"): ("rbac.v1", "Role"),
    ("rbac.authorization.k8s.io/v1", "RoleBinding"): ("rbac.v1", "RoleBinding"),
}

_TOP_LEVEL = {"metadata", "spec", "data", "stringData", "binaryData", "type", "immutable", "rules"}
_TOP_LEVEL |= {"roleRef", "subjects", "automountServiceAccountToken", "imagePullSecrets"}


def _snake(key: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", key).lower()


def _typed_class(api_version: str, kind: str) -> type[pulumi.CustomResource] | None:
    found = _TYPED.get((api_version, kind))
    if found is None:
        return None
    module: Any = k8s
    for part in found[0].split("."):
        module = getattr(module, part)
    cls: type[pulumi.CustomResource] = getattr(module, found[1])
    return cls


def apply(
    name: str, obj: Mapping[str, Any], opts: pulumi.ResourceOptions | None = None
) -> pulumi.CustomResource:
    """Register ``obj`` (with ``apiVersion``, ``kind``, ``metadata``) as the resource ``name``."""
    api_version, kind = obj["apiVersion"], obj["kind"]
    body = {key: value for key, value in obj.items() if key not in ("apiVersion", "kind")}
    unknown = set(body) - _TOP_LEVEL
    if unknown:
        raise ValueError(f"{kind} {name}: unexpected top-level keys {sorted(unknown)}")
    cls = _typed_class(api_version, kind)
    if cls is not None:
        return cls(name, opts=opts, **{_snake(key): value for key, value in body.items()})
    extra = set(body) - {"metadata", "spec"}
    if extra:
        raise ValueError(f"{kind} {name}: custom resources carry only metadata and spec: {sorted(extra)}")
    return k8s.apiextensions.CustomResource(
        name,
        api_version=api_version,
        kind=kind,
        metadata=body.get("metadata"),
        spec=body.get("spec"),
        opts=opts,
    )
