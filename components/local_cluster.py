"""An existing local Kubernetes cluster (kind, k3d, minikube, Docker Desktop), reached by its kube context.

Nothing is created in any cloud: this only yields the ``kubernetes.Provider`` that later tiers
use, pointed at the configured context.
"""

from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s

from components.config import LocalCloud


class LocalCluster(pulumi.ComponentResource):
    """The dev stack's cluster: a kube context on the developer's machine."""

    provider: k8s.Provider
    """The Kubernetes provider every later tier uses."""
    context: str
    """The kube context in use."""

    def __init__(self, name: str, args: LocalCloud, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("platform:cluster:LocalCluster", name, None, opts)
        self.context = args.kube_context
        self.provider = k8s.Provider(
            f"{name}-k8s",
            context=args.kube_context,
            kubeconfig=args.kubeconfig_path,
            enable_server_side_apply=True,
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.register_outputs({"context": self.context})
