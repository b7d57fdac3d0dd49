"""An existing local Kubernetes cluster (kind, k3d, minikube, Docker Desktop), reached by its kube context.

Nothing is created in any cloud: this yields the ``kubernetes.Provider`` that later tiers use,
pointed at the configured context, and installs metrics-server unless the cluster has one.
"""

from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s

from components import charts
from components.config import LocalCloud


class LocalCluster(pulumi.ComponentResource):
    """The dev stack's cluster: a kube context on the developer's machine."""

    provider: k8s.Provider
    """The Kubernetes provider every later tier uses."""
    context: str
    """The kube context in use."""
    ready: list[pulumi.Resource]
    """What workloads wait for (metrics-server, for their autoscalers)."""

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
        self.ready = []
        if args.metrics_server:
            chart = charts.METRICS_SERVER
            self.ready.append(
                k8s.helm.v3.Release(
                    f"{name}-metrics-server",
                    name=chart.name,
                    chart=chart.name,
                    version=chart.version,
                    repository_opts=k8s.helm.v3.RepositoryOptsArgs(repo=chart.repository),
                    namespace="kube-system",
                    atomic=True,
                    # Local clusters (kind) serve kubelet metrics with self-signed certificates.
                    values={"args": ["--kubelet-insecure-tls"]},
                    opts=pulumi.ResourceOptions(parent=self, provider=self.provider),
                )
            )
        self.register_outputs({"context": self.context})
