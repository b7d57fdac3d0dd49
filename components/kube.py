"""Register a rendered Kubernetes object (a plain dict from a pure render function) as a resource.

Every object is registered under the same type token and with the same properties the
pulumi-kubernetes SDK's class for its kind would use (`kubernetes:apps/v1:Deployment`, …), so the
provider treats it identically: it awaits built-in kinds (a Deployment's rollout, a Job's
completion), previews them against the cluster's schema, and marks a Secret's data secret. The SDK
classes are not imported: loading their typed modules costs about a second per run, the largest
part of a synth, for annotations that a rendered dict does not use. `tests/test_kube.py` proves the
registration matches the SDK's for each kind the platform renders.

Nested keys stay as rendered (camelCase): exactly what the API server receives and what the offline
schema validation checks.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pulumi

# Top-level fields a Kubernetes object may carry beside apiVersion and kind.
_FIELDS = frozenset(
    {
        "metadata",
        "spec",
        "data",
        "stringData",
        "binaryData",
        "type",
        "immutable",
        "rules",
        "roleRef",
        "subjects",
        "automountServiceAccountToken",
        "imagePullSecrets",
        "secrets",
        # StorageClass
        "provisioner",
        "parameters",
        "reclaimPolicy",
        "volumeBindingMode",
        "allowVolumeExpansion",
        "mountOptions",
        "allowedTopologies",
    }
)
# Kinds whose SDK class declares a `status` output (read back after apply, e.g. an Ingress's
# load balancer host name).
_WITH_STATUS = frozenset(
    {
        "Deployment",
        "StatefulSet",
        "DaemonSet",
        "Job",
        "CronJob",
        "Service",
        "Ingress",
        "PodDisruptionBudget",
        "HorizontalPodAutoscaler",
        "Namespace",
    }
)
# The SDK registers these with their payload fields as secret outputs.
_SECRET_OUTPUTS = {"Secret": ["data", "stringData"]}


def type_token(api_version: str, kind: str) -> str:
    """`kubernetes:<group>/<version>:<kind>`, the core group spelled `core` as the SDK does."""
    group_version = api_version if "/" in api_version else f"core/{api_version}"
    return f"kubernetes:{group_version}:{kind}"


class KubernetesObject(pulumi.CustomResource):
    """One Kubernetes object; `status` is its status as the API server reports it (built-in kinds)."""

    status: pulumi.Output[Any]

    def __init__(self, name: str, obj: Mapping[str, Any], opts: pulumi.ResourceOptions | None = None) -> None:
        api_version, kind = obj["apiVersion"], obj["kind"]
        unknown = set(obj) - _FIELDS - {"apiVersion", "kind"}
        if unknown:
            raise ValueError(f"{kind} {name}: unexpected top-level fields {sorted(unknown)}")
        props: dict[str, Any] = dict(obj)
        if kind in _WITH_STATUS:
            props["status"] = None
        if kind in _SECRET_OUTPUTS:
            for key in _SECRET_OUTPUTS[kind]:
                if props.get(key) is not None:
                    props[key] = pulumi.Output.secret(props[key])
            secret = pulumi.ResourceOptions(additional_secret_outputs=_SECRET_OUTPUTS[kind])
            opts = pulumi.ResourceOptions.merge(opts, secret)
        super().__init__(type_token(api_version, kind), name, props, opts)


def apply(name: str, obj: Mapping[str, Any], opts: pulumi.ResourceOptions | None = None) -> KubernetesObject:
    """Register ``obj`` (with ``apiVersion``, ``kind``, ``metadata``) as the resource ``name``."""
    return KubernetesObject(name, obj, opts)
