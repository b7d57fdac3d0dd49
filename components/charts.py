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
CLOUDNATIVE_PG = Chart("cloudnative-pg", "https://cloudnative-pg.github.io/charts", "0.26.0")
