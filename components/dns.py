"""The stack's DNS zone, its host names and the API's regional TLS certificate.

On AWS stacks the zone is a Route53 hosted zone (looked up, or created) or a Cloudflare zone;
the API's certificate is issued by ACM in the stack's region and validated through a DNS
record in that zone, so it renews by itself. Locally (dev) only the host names exist.
Records are added with :func:`add_record`, so every tier writes DNS the same way.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import pulumi

from components.edge_settings import DomainSettings

CLOUDFRONT_HOSTED_ZONE_ID = "Z2FDTNDATAQYW2"
"""The fixed Route53 zone of every CloudFront distribution, for alias records."""


@dataclass(frozen=True)
class DnsZone:
    """A zone records can be written into."""

    provider: Literal["route53", "cloudflare"]
    zone_id: pulumi.Input[str]


def add_record(
    name: str,
    zone: DnsZone,
    host: pulumi.Input[str],
    type_: Literal["A", "AAAA", "CNAME", "TXT"],
    value: pulumi.Input[str] | None = None,
    *,
    proxied: bool = False,
    alias_target: pulumi.Input[str] | None = None,
    opts: pulumi.ResourceOptions | None = None,
) -> pulumi.CustomResource:
    """One record in ``zone``: a value, a CloudFront alias (Route53) or a proxied record (Cloudflare)."""
    strip = lambda v: pulumi.Output.from_input(v).apply(lambda s: s.rstrip("."))  # noqa: E731
    if zone.provider == "cloudflare":
        from components.cloudflare import DNS_RECORD, cloudflare_resource

        content = value if value is not None else alias_target
        assert content is not None, "a Cloudflare record needs a value"
        return cloudflare_resource(
            DNS_RECORD,
            name,
            {
                "zoneId": zone.zone_id,
                "name": strip(host),
                "type": "CNAME" if type_ in ("A", "AAAA") and alias_target is not None else type_,
                "content": strip(content),
                "proxied": proxied,
                "ttl": 1 if proxied else 300,  # 1 = automatic, required for proxied records
            },
            opts,
        )
    import pulumi_aws as aws

    if alias_target is not None:
        return aws.route53.Record(
            name,
            zone_id=zone.zone_id,
            name=host,
            type=type_,
            aliases=[
                aws.route53.RecordAliasArgs(
                    name=alias_target, zone_id=CLOUDFRONT_HOSTED_ZONE_ID, evaluate_target_health=False
                )
            ],
            opts=opts,
        )
    assert value is not None, "a record needs a value or an alias target"
    return aws.route53.Record(
        name, zone_id=zone.zone_id, name=host, type=type_, ttl=300, records=[value], opts=opts
    )


def _given(value: str | None, what: str) -> str:
    """ACM always sets a DNS validation option's record; a missing one is a provider bug."""
    if value is None:
        raise ValueError(f"ACM returned a DNS validation option without {what}")
    return value


def validated_certificate(
    name: str,
    zone: DnsZone,
    domain_name: str,
    opts: pulumi.ResourceOptions,
    region: str | None = None,
) -> pulumi.Output[str]:
    """An ACM certificate for ``domain_name`` validated through ``zone``; its ARN once issued.

    ``region`` overrides the provider's (pulumi-aws 7's per-resource region): CloudFront's
    viewer certificates must be issued in us-east-1.
    """
    import pulumi_aws as aws

    certificate = aws.acm.Certificate(
        f"{name}-certificate",
        domain_name=domain_name,
        validation_method="DNS",
        key_algorithm="EC_prime256v1",
        region=region,
        opts=opts,
    )
    option = certificate.domain_validation_options.apply(lambda options: options[0])
    record = add_record(
        f"{name}-certificate-validation",
        zone,
        option.apply(lambda o: _given(o.resource_record_name, "resource_record_name")),
        "CNAME",
        option.apply(lambda o: _given(o.resource_record_value, "resource_record_value")),
        opts=opts,
    )
    fqdn = record.fqdn if isinstance(record, aws.route53.Record) else record.name  # type: ignore[attr-defined]
    validation = aws.acm.CertificateValidation(
        f"{name}-certificate-ready",
        certificate_arn=certificate.arn,
        validation_record_fqdns=[fqdn],
        region=region,
        opts=opts,
    )
    return validation.certificate_arn


@dataclass(frozen=True)
class DnsArgs:
    domain: DomainSettings
    aws: bool
    """Whether the stack has an AWS account (certificates are ACM's)."""
    protect: bool


class Dns(pulumi.ComponentResource):
    """The stack's zone, host names and the API's regional certificate."""

    app_hostname: str
    """Where the frontend is served, e.g. `prod.platform.example.com`."""
    api_hostname: str
    """Where the API is served, e.g. `api.prod.platform.example.com`."""
    zone: DnsZone | None
    """The zone records go into; None without a DNS provider."""
    api_certificate_arn: pulumi.Output[str] | None
    """The issued regional certificate for the API host; None without AWS and a DNS provider."""

    def __init__(self, name: str, args: DnsArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("platform:dns:Dns", name, None, opts)
        domain = args.domain
        self.app_hostname = domain.app_hostname
        self.api_hostname = domain.api_hostname
        self.zone = None
        self.api_certificate_arn = None
        child = pulumi.ResourceOptions(parent=self)
        dns = domain.dns
        if dns is not None:
            if dns.provider == "cloudflare":
                assert dns.zone_id is not None  # guaranteed by DnsSettings
                self.zone = DnsZone("cloudflare", dns.zone_id)
            elif dns.zone_id is not None:
                self.zone = DnsZone("route53", dns.zone_id)
            else:
                self.zone = DnsZone(
                    "route53", self._route53_zone(name, dns.zone_name or "", dns.create_zone, args)
                )
            if args.aws:
                self.api_certificate_arn = validated_certificate(
                    f"{name}-api", self.zone, self.api_hostname, child
                )
        self.register_outputs(
            {
                "appHostname": self.app_hostname,
                "apiHostname": self.api_hostname,
                "zoneId": self.zone.zone_id if self.zone else None,
                "apiCertificateArn": self.api_certificate_arn,
            }
        )

    def _route53_zone(self, name: str, zone_name: str, create: bool, args: DnsArgs) -> pulumi.Output[str]:
        import pulumi_aws as aws

        if create:
            zone = aws.route53.Zone(
                f"{name}-zone",
                name=zone_name,
                comment=f"{zone_name}: managed by the platform program",
                opts=pulumi.ResourceOptions(parent=self, protect=args.protect),
            )
            return zone.zone_id
        found = aws.route53.get_zone_output(
            name=zone_name, private_zone=False, opts=pulumi.InvokeOptions(parent=self)
        )
        return found.zone_id
