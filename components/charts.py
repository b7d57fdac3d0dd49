"""Every Helm chart the platform installs, pinned in one place.

Upgrading an add-on is a one-line reviewed change here; the synth diff shows which releases move.
A chart is added here when a tier starts installing it.
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
METRICS_SERVER = Chart("metrics-server", "https://kubernetes-sigs.github.io/metrics-server/", "3.13.1")
CLOUDNATIVE_PG = Chart("cloudnative-pg", "https://cloudnative-pg.github.io/charts", "0.26.0")
ARGO_ROLLOUTS = Chart("argo-rollouts", "https://argoproj.github.io/argo-helm", "2.40.9")
INGRESS_NGINX = Chart("ingress-nginx", "https://kubernetes.github.io/ingress-nginx", "4.12.0")
CERT_MANAGER = Chart("cert-manager", "https://charts.jetstack.io", "v1.20.3")
PROMETHEUS_COMMUNITY = "https://prometheus-community.github.io/helm-charts"
YET_ANOTHER_CLOUDWATCH_EXPORTER = Chart(
    "prometheus-yet-another-cloudwatch-exporter", PROMETHEUS_COMMUNITY, "0.50.0"
)
POSTGRES_EXPORTER = Chart("prometheus-postgres-exporter", PROMETHEUS_COMMUNITY, "8.1.0")
KUBE_PROMETHEUS_STACK = Chart("kube-prometheus-stack", PROMETHEUS_COMMUNITY, "79.4.0")
LOKI = Chart("loki", "https://grafana.github.io/helm-charts", "6.29.0")
ALLOY = Chart("alloy", "https://grafana.github.io/helm-charts", "0.12.5")
"""The log collector: Grafana Alloy as a DaemonSet (Promtail is end-of-life)."""
