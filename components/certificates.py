"""cert-manager and the platform's ClusterIssuers: TLS issued and renewed inside the cluster.

- cert-manager from its pinned Helm chart (CRDs installed and kept by the chart), Prometheus
  metrics on; the observability tier scrapes them through a ``ScrapeTarget``.
- An internal CA for in-cluster endpoints (PgBouncer's client TLS, webhooks): a self-signed
  bootstrap issuer signs one CA certificate, and the CA ClusterIssuer signs from it. Every stack
  gets it; dev also uses it for its public (local) host names.
- A Let's Encrypt ClusterIssuer (production or staging endpoint, per config) solving DNS-01 in the
  stack's DNS provider: Route53 through an IAM role bound to cert-manager's ServiceAccount with EKS
  Pod Identity, scoped to the hosted zone; or Cloudflare with an API token from a Secret created
  out of band (`cloudflare-api-token`, key `api-token`) so the token never passes through Pulumi.

The manifests come from pure functions, validated against cert-manager's CRD schemas in the tests.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pulumi

from components import charts
from components.edge_settings import DnsSettings
from components.endpoints import ScrapeTarget
from components.kube import apply
from components.security_settings import TlsSettings

NAMESPACE = "cert-manager"
SERVICE_ACCOUNT = "cert-manager"
SELF_SIGNED_ISSUER = "platform-selfsigned"
"""Bootstraps the internal CA only; nothing else should use it."""
INTERNAL_ISSUER = "platform-internal-ca"
"""The CA ClusterIssuer for in-cluster endpoints."""
INTERNAL_CA_SECRET = "platform-internal-ca"
CLOUDFLARE_TOKEN_KEY = "api-token"
ACME_SERVERS = {
    "letsencrypt": "https://acme-v02.api.letsencrypt.org/directory",
    "letsencrypt-staging": "https://acme-staging-v02.api.letsencrypt.org/directory",
}
METRICS_PORT = "tcp-prometheus-servicemonitor"
"""Name of the controller Service's metrics port in chart v1.20 (renamed `http-metrics` in v1.21)."""


def public_issuer_name(settings: TlsSettings) -> str:
    """The ClusterIssuer for public host names: the ACME issuer, or the internal CA without one."""
    if settings.public_issuer == "letsencrypt":
        return "letsencrypt-production"
    if settings.public_issuer == "letsencrypt-staging":
        return "letsencrypt-staging"
    return INTERNAL_ISSUER


def cert_manager_values(settings: TlsSettings) -> dict[str, Any]:
    """Helm values of the cert-manager chart (keys as in the pinned chart's values.yaml)."""
    replicas = settings.replicas
    ha = replicas > 1
    budget = {"enabled": ha, **({"minAvailable": 1} if ha else {})}
    return {
        "crds": {"enabled": True, "keep": True},
        "replicaCount": replicas,
        "podDisruptionBudget": budget,
        "serviceAccount": {"create": True, "name": SERVICE_ACCOUNT},
        "prometheus": {"enabled": True, "servicemonitor": {"enabled": False}},
        "webhook": {"replicaCount": replicas, "podDisruptionBudget": budget},
        "cainjector": {"replicaCount": replicas, "podDisruptionBudget": budget},
        "global": {"leaderElection": {"namespace": NAMESPACE}},
    }


def route53_policy(zone_id: str | None) -> str:
    """The DNS-01 solver's permissions: change records in the zone, follow the change, find the zone.

    With a known zone id only that zone may be changed; a zone looked up by name (or created by the
    DNS tier later in the same run) is not known here, so changes are allowed on any hosted zone
    of the account and the issuer's `dnsZones` selector keeps cert-manager to the stack's name.
    """
    zone = f"arn:aws:route53:::hostedzone/{zone_id}" if zone_id else "arn:aws:route53:::hostedzone/*"
    statements = [
        {
            "Sid": "ChangeChallengeRecords",
            "Effect": "Allow",
            "Action": ["route53:ChangeResourceRecordSets", "route53:ListResourceRecordSets"],
            "Resource": zone,
            "Condition": {
                "ForAllValues:StringEquals": {"route53:ChangeResourceRecordSetsRecordTypes": ["TXT"]}
            },
        },
        {
            "Sid": "FollowChanges",
            "Effect": "Allow",
            "Action": "route53:GetChange",
            "Resource": "arn:aws:route53:::change/*",
        },
        {"Sid": "FindZone", "Effect": "Allow", "Action": "route53:ListHostedZonesByName", "Resource": "*"},
    ]
    return json.dumps({"Version": "2012-10-17", "Statement": statements}, sort_keys=True)


def dns01_solver(dns: DnsSettings, domain: str, settings: TlsSettings, region: str | None) -> dict[str, Any]:
    """The ACME DNS-01 solver for the stack's DNS provider, limited to the stack's domain."""
    if dns.provider == "route53":
        route53: dict[str, Any] = {"region": region or "us-east-1"}
        if dns.zone_id is not None:
            route53["hostedZoneID"] = dns.zone_id
        provider: dict[str, Any] = {"route53": route53}
    else:
        provider = {
            "cloudflare": {
                "apiTokenSecretRef": {"name": settings.cloudflare_token_secret, "key": CLOUDFLARE_TOKEN_KEY}
            }
        }
    return {"selector": {"dnsZones": [domain]}, "dns01": provider}


def render_certificate(
    name: str,
    namespace: str,
    dns_names: Sequence[str],
    issuer: str,
    *,
    secret_name: str | None = None,
    duration: str = "2160h",
    renew_before: str = "720h",
    is_ca: bool = False,
) -> dict[str, Any]:
    """A cert-manager Certificate signed by the ClusterIssuer ``issuer`` (ECDSA P-256, key rotated)."""
    spec: dict[str, Any] = {
        "secretName": secret_name or name,
        "issuerRef": {"name": issuer, "kind": "ClusterIssuer", "group": "cert-manager.io"},
        "duration": duration,
        "renewBefore": renew_before,
        "privateKey": {"algorithm": "ECDSA", "size": 256, "rotationPolicy": "Always"},
    }
    if is_ca:
        spec.update(isCA=True, commonName=dns_names[0])
    else:
        spec.update(dnsNames=list(dns_names), usages=["server auth", "digital signature"])
    return {
        "apiVersion": "cert-manager.io/v1",
        "kind": "Certificate",
        "metadata": {"name": name, "namespace": namespace},
        "spec": spec,
    }


def _cluster_issuer(name: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "cert-manager.io/v1",
        "kind": "ClusterIssuer",
        "metadata": {"name": name},
        "spec": spec,
    }


def render_issuers(
    settings: TlsSettings, domain: str | None, dns: DnsSettings | None, region: str | None
) -> list[dict[str, Any]]:
    """The bootstrap issuer, the internal CA (certificate and issuer) and, with ACME, the public issuer."""
    objects = [
        _cluster_issuer(SELF_SIGNED_ISSUER, {"selfSigned": {}}),
        render_certificate(
            INTERNAL_CA_SECRET,
            NAMESPACE,
            ["platform-internal-ca"],
            SELF_SIGNED_ISSUER,
            duration="43800h",
            renew_before="2160h",
            is_ca=True,
        ),
        _cluster_issuer(INTERNAL_ISSUER, {"ca": {"secretName": INTERNAL_CA_SECRET}}),
    ]
    if settings.acme:
        if dns is None or domain is None:
            raise ValueError(f"publicIssuer {settings.public_issuer!r} needs a DNS provider for DNS-01")
        name = public_issuer_name(settings)
        acme = {
            "server": ACME_SERVERS[settings.public_issuer],
            "email": settings.acme_email,
            "privateKeySecretRef": {"name": f"{name}-account-key"},
            "solvers": [dns01_solver(dns, domain, settings, region)],
        }
        objects.append(_cluster_issuer(name, {"acme": acme}))
    return objects


@dataclass(frozen=True)
class CertManagerArgs:
    """What cert-manager needs: its settings, the stack's domain and DNS provider, and on AWS the cluster."""

    settings: TlsSettings
    domain: str | None = None
    dns: DnsSettings | None = None
    region: str | None = None
    cluster_name: pulumi.Input[str] | None = None
    """The EKS cluster (for the Pod Identity association); None outside AWS."""


class CertManager(pulumi.ComponentResource):
    """cert-manager with the platform's ClusterIssuers."""

    cluster_issuer: str
    """ClusterIssuer for public host names (Let's Encrypt, or the internal CA in dev)."""
    internal_issuer: str
    """CA ClusterIssuer for in-cluster endpoints."""
    scrape_target: ScrapeTarget
    """cert-manager's metrics, for the observability tier."""

    def __init__(self, name: str, args: CertManagerArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("platform:tls:CertManager", name, None, opts)
        release_deps: list[pulumi.Resource] = []
        if args.dns is not None and args.dns.provider == "route53" and args.cluster_name is not None:
            release_deps.append(self._route53_identity(name, args.dns, args.cluster_name))

        import pulumi_kubernetes as k8s

        chart = charts.CERT_MANAGER
        release = k8s.helm.v3.Release(
            f"{name}-chart",
            name=chart.name,
            chart=chart.name,
            version=chart.version,
            repository_opts=k8s.helm.v3.RepositoryOptsArgs(repo=chart.repository),
            namespace=NAMESPACE,
            atomic=True,
            values=cert_manager_values(args.settings),
            opts=pulumi.ResourceOptions(parent=self, depends_on=release_deps),
        )
        after_crds = pulumi.ResourceOptions(parent=self, depends_on=[release])
        for obj in render_issuers(args.settings, args.domain, args.dns, args.region):
            apply(f"{name}-{obj['kind'].lower()}-{obj['metadata']['name']}", obj, after_crds)

        self.cluster_issuer = public_issuer_name(args.settings)
        self.internal_issuer = INTERNAL_ISSUER
        self.scrape_target = ScrapeTarget(
            name="cert-manager",
            namespace=NAMESPACE,
            selector={"app.kubernetes.io/name": "cert-manager", "app.kubernetes.io/component": "controller"},
            port=METRICS_PORT,
            interval="60s",
            # Certificate metrics carry the certificate's own `namespace`; keep it (the alerts group by it).
            honor_labels=True,
        )
        self.register_outputs(
            {"cluster_issuer": self.cluster_issuer, "internal_issuer": self.internal_issuer}
        )

    def _route53_identity(
        self, name: str, dns: DnsSettings, cluster_name: pulumi.Input[str]
    ) -> pulumi.Resource:
        import pulumi_aws as aws

        from components.iam import pod_identity_trust_policy

        child = pulumi.ResourceOptions(parent=self)
        role = aws.iam.Role(f"{name}-dns01", assume_role_policy=pod_identity_trust_policy(), opts=child)
        aws.iam.RolePolicy(f"{name}-dns01", role=role.id, policy=route53_policy(dns.zone_id), opts=child)
        return aws.eks.PodIdentityAssociation(
            f"{name}-dns01",
            cluster_name=cluster_name,
            namespace=NAMESPACE,
            service_account=SERVICE_ACCOUNT,
            role_arn=role.arn,
            opts=child,
        )
