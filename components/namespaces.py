"""The platform's namespaces, each labelled for Pod Security Admission.

Workloads written here (API, PgBouncer, Redis, CloudNativePG clusters) meet the `restricted`
profile, so their namespaces enforce it. Operators installed from charts get `baseline`
enforced and `restricted` audited and warned, so a chart that drifts shows up in audit logs
without breaking an upgrade. Monitoring runs node-exporter and a log collector that need host
access, so its namespace is `privileged`, the one deliberate exception.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

import pulumi

from components.kube import KubernetesObject, apply

PodSecurity = Literal["restricted", "baseline", "privileged"]


@dataclass(frozen=True)
class NamespaceSpec:
    name: str
    tier: str
    enforce: PodSecurity


NAMESPACES = (
    NamespaceSpec("platform-data", "data", "restricted"),
    NamespaceSpec("platform-api", "api", "restricted"),
    NamespaceSpec("platform-monitoring", "observability", "privileged"),
    NamespaceSpec("cnpg-system", "operators", "baseline"),
    NamespaceSpec("argo-rollouts", "operators", "baseline"),
    NamespaceSpec("cert-manager", "operators", "baseline"),
)


def pod_security_labels(enforce: PodSecurity) -> dict[str, str]:
    """PSA labels: enforce the given level; always audit and warn at `restricted`."""
    return {
        "pod-security.kubernetes.io/enforce": enforce,
        "pod-security.kubernetes.io/enforce-version": "latest",
        "pod-security.kubernetes.io/audit": "restricted",
        "pod-security.kubernetes.io/warn": "restricted",
    }


class Namespaces(pulumi.ComponentResource):
    """Creates the platform's namespaces; later tiers look theirs up by tier name."""

    names: Mapping[str, str]
    """Namespace name by its own name (a stable handle for later tiers)."""

    def __init__(
        self,
        name: str,
        specs: tuple[NamespaceSpec, ...] = NAMESPACES,
        opts: pulumi.ResourceOptions | None = None,
    ):
        super().__init__("platform:cluster:Namespaces", name, None, opts)
        self.resources: dict[str, KubernetesObject] = {}
        for spec in specs:
            self.resources[spec.name] = apply(
                f"{name}-{spec.name}",
                {
                    "apiVersion": "v1",
                    "kind": "Namespace",
                    "metadata": {
                        "name": spec.name,
                        "labels": {
                            "app.kubernetes.io/name": spec.name,
                            "platform/tier": spec.tier,
                            **pod_security_labels(spec.enforce),
                        },
                    },
                },
                opts=pulumi.ResourceOptions(parent=self),
            )
        self.names = {n: n for n in self.resources}
        self.register_outputs({"names": sorted(self.names)})

    def opts_in(self, namespace: str) -> pulumi.ResourceOptions:
        """Options that make a resource wait for its namespace."""
        return pulumi.ResourceOptions(depends_on=[self.resources[namespace]])
