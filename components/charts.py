"""Every Helm chart the platform installs, pinned in one place.

Upgrading an add-on is a one-line reviewed change here; the synth diff shows which releases move.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Chart:
    name: str
    repository: str
    version: str


AWS_LOAD_BALANCER_CONTROLLER = Chart(
    "aws-load-balancer-controller", "https://aws.github.io/eks-charts", "1.13.4"
)
CLOUDNATIVE_PG = Chart("cloudnative-pg", "https://cloudnative-pg.github.io/charts", "0.26.0")
ARGO_ROLLOUTS = Chart("argo-rollouts", "https://argoproj.github.io/argo-helm", "2.40.4")
CERT_MANAGER = Chart("cert-manager", "https://charts.jetstack.io", "v1.18.2")
KUBE_PROMETHEUS_STACK = Chart(
    "kube-prometheus-stack", "https://prometheus-community.github.io/helm-charts", "77.5.0"
)
INGRESS_NGINX = Chart("ingress-nginx", "https://kubernetes.github.io/ingress-nginx", "4.13.2")
