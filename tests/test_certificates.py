"""cert-manager and its ClusterIssuers: per-stack issuers, DNS-01 solvers, CRD-valid manifests, bad input."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from components import charts
from components.certificates import (
    ACME_SERVERS,
    INTERNAL_ISSUER,
    SERVICE_ACCOUNT,
    cert_manager_values,
    render_certificate,
    render_issuers,
    route53_policy,
)
from components.config import ConfigError, validate
from components.edge_settings import DnsSettings
from components.security_settings import TlsSettings
from synth.engine import Synthesis
from tests.conftest import stack_values, synthesized
from tests.k8s_validation import assert_valid, validate_manifests

ISSUER = "kubernetes:cert-manager.io/v1:ClusterIssuer"
CERTIFICATE = "kubernetes:cert-manager.io/v1:Certificate"


def _issuers(synthesis: Synthesis) -> dict[str, dict[str, Any]]:
    return {r.inputs["metadata"]["name"]: r.inputs["spec"] for r in synthesis.by_type(ISSUER)}


@pytest.mark.parametrize(
    ("stack", "public", "server"),
    [
        ("dev", None, None),
        ("staging", "letsencrypt-staging", ACME_SERVERS["letsencrypt-staging"]),
        ("uat", "letsencrypt-production", ACME_SERVERS["letsencrypt"]),
        ("prod", "letsencrypt-production", ACME_SERVERS["letsencrypt"]),
    ],
)
def test_each_stack_gets_its_public_issuer_and_the_internal_ca(
    stack: str, public: str | None, server: str | None
) -> None:
    issuers = _issuers(synthesized(stack))
    assert issuers[INTERNAL_ISSUER] == {"ca": {"secretName": "platform-internal-ca"}}
    acme = [name for name, spec in issuers.items() if "acme" in spec]
    assert acme == ([public] if public else [])
    if public:
        assert issuers[public]["acme"]["server"] == server
    (ca,) = [c for c in synthesized(stack).by_type(CERTIFICATE) if c.inputs["spec"].get("isCA")]
    assert ca.inputs["spec"]["issuerRef"]["name"] == "platform-selfsigned"


@pytest.mark.parametrize(
    ("stack", "solver"),
    [
        ("staging", {"route53": {"region": "eu-west-1"}}),
        ("prod", {"route53": {"region": "eu-west-1", "hostedZoneID": "Z04821213PLATFORMPROD"}}),
        (
            "uat",
            {"cloudflare": {"apiTokenSecretRef": {"name": "cloudflare-api-token", "key": "api-token"}}},
        ),
    ],
)
def test_dns01_solver_uses_the_stacks_zone_and_only_its_domain(stack: str, solver: dict[str, Any]) -> None:
    (issuer,) = [s for s in _issuers(synthesized(stack)).values() if "acme" in s]
    (only,) = issuer["acme"]["solvers"]
    assert only["dns01"] == solver
    assert only["selector"] == {"dnsZones": [validate(stack_values(stack)).domain.name]}  # type: ignore[union-attr]


@pytest.mark.parametrize(("stack", "associated"), [("staging", True), ("prod", True), ("uat", False)])
def test_route53_solver_gets_a_pod_identity_role_and_cloudflare_none(stack: str, associated: bool) -> None:
    synthesis = synthesized(stack)
    associations = [
        a
        for a in synthesis.by_type("aws:eks/podIdentityAssociation:PodIdentityAssociation")
        if a.inputs["serviceAccount"] == SERVICE_ACCOUNT
    ]
    assert len(associations) == int(associated)
    if associated:
        assert associations[0].inputs["namespace"] == "cert-manager"


def test_route53_policy_is_scoped_to_the_hosted_zone() -> None:
    statements = json.loads(route53_policy("Z123"))["Statement"]
    change = next(s for s in statements if "route53:ChangeResourceRecordSets" in s["Action"])
    assert change["Resource"] == "arn:aws:route53:::hostedzone/Z123"
    assert {s["Action"] if isinstance(s["Action"], str) else "" for s in statements} >= {
        "route53:GetChange",
        "route53:ListHostedZonesByName",
    }
    prod_policy = next(
        p for p in synthesized("prod").by_type("aws:iam/rolePolicy:RolePolicy") if p.name == "tls-dns01"
    )
    assert "hostedzone/Z04821213PLATFORMPROD" in prod_policy.inputs["policy"]


def test_chart_is_pinned_and_installs_crds_with_metrics() -> None:
    (release,) = [
        r for r in synthesized("dev").by_type("kubernetes:helm.sh/v3:Release") if r.name == "tls-chart"
    ]
    assert release.inputs["chart"] == "cert-manager"
    assert release.inputs["version"] == charts.CERT_MANAGER.version
    values = release.inputs["values"]
    assert values["crds"] == {"enabled": True, "keep": True}
    assert values["prometheus"]["enabled"] is True


def test_prod_runs_cert_manager_highly_available() -> None:
    values = cert_manager_values(validate(stack_values("prod")).tls)
    assert values["replicaCount"] == 2 and values["podDisruptionBudget"] == {
        "enabled": True,
        "minAvailable": 1,
    }


_DNS = DnsSettings(provider="route53", zone_id="Z123")


@pytest.mark.parametrize(
    "settings",
    [
        TlsSettings(),
        TlsSettings(public_issuer="letsencrypt", acme_email="ops@example.com"),
        TlsSettings(public_issuer="letsencrypt-staging", acme_email="ops@example.com"),
    ],
)
def test_rendered_issuers_match_the_cert_manager_crd_schemas(settings: TlsSettings) -> None:
    objects = render_issuers(settings, "example.com", _DNS, "eu-west-1")
    objects.append(render_certificate("pgbouncer-tls", "platform-data", ["pgbouncer.svc"], INTERNAL_ISSUER))
    assert_valid(objects)


def test_schema_check_catches_a_misspelt_solver_field() -> None:
    (issuer,) = render_issuers(
        TlsSettings(public_issuer="letsencrypt", acme_email="ops@example.com"),
        "example.com",
        _DNS,
        "eu-west-1",
    )[-1:]
    broken = copy.deepcopy(issuer)
    broken["spec"]["acme"]["solvers"][0]["dns01"]["route53"]["hostedZoneId"] = "Z123"
    assert validate_manifests([broken]) != []


def _refused(values: dict[str, Any]) -> str:
    with pytest.raises(ConfigError) as caught:
        validate(values)
    return str(caught.value)


def test_acme_without_an_email_is_refused(prod_values: dict[str, Any]) -> None:
    del prod_values["tls"]["acmeEmail"]
    message = _refused(prod_values)
    assert message.startswith("platform:tls") and "needs acmeEmail" in message


def test_acme_without_a_dns_provider_is_refused() -> None:
    values = stack_values("dev")
    values["tls"] = {"publicIssuer": "letsencrypt-staging", "acmeEmail": "ops@example.com"}
    message = _refused(values)
    assert message.startswith("platform:tls.publicIssuer:") and "domain.dns" in message


def test_production_with_the_staging_endpoint_is_refused(prod_values: dict[str, Any]) -> None:
    prod_values["tls"]["publicIssuer"] = "letsencrypt-staging"
    message = _refused(prod_values)
    assert "platform:tls.publicIssuer" in message and "`letsencrypt`" in message


def test_unknown_issuer_is_refused_with_the_allowed_values(prod_values: dict[str, Any]) -> None:
    prod_values["tls"]["publicIssuer"] = "zerossl"
    message = _refused(prod_values)
    assert "platform:tls.publicIssuer" in message and "letsencrypt" in message and '"zerossl"' in message
