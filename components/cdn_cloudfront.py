"""CloudFront in front of the private release bucket and the API, behind an AWS WAF web ACL.

- The bucket stays private: CloudFront signs its requests with an Origin Access Control and the
  bucket policy admits only this distribution.
- A CloudFront Function maps every viewer path into the active release, read from a
  KeyValueStore: switching releases is one key update, live at the edge in seconds. The
  release id is part of the rewritten URI, hence of the cache key, so no invalidation is
  needed; `index.html` is never cached, hashed assets are cached for a year.
- `/releases/*` serves a release's files by their full path, without the function: a build
  made with base `/releases/<id>/` links its assets there, so a page loaded before a switch
  keeps loading its own release's files.
- `/api/*` goes to the API host name with caching off and the viewer's headers, cookies and
  query string forwarded (Host excepted, so the origin's certificate matches).
- WAF (scope CLOUDFRONT) and the viewer certificate are created in us-east-1 through
  pulumi-aws 7's per-resource `region`, so the stack keeps one AWS provider per account;
  CloudFront's own resources are global.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

import pulumi

from components.buckets import deny_insecure_transport
from components.dns import DnsZone, add_record, validated_certificate
from components.edge_render import (
    ACTIVE_RELEASE_KEY,
    API_PATH,
    ASSET_TTL,
    ASSETS_PATH,
    RELEASE_FILES_PATH,
    RELEASES_PREFIX,
    SecurityHeaders,
    viewer_request_function,
    waf_web_acl,
)
from components.edge_settings import EdgeSettings

# AWS managed policies (fixed ids, the same in every account).
CACHING_DISABLED = "4135ea2d-6df8-44a3-9df3-4b5a84be39ad"
ALL_VIEWER_EXCEPT_HOST_HEADER = "b689b0a8-53d0-40ab-baf2-68738e2966ac"
WEB_ACL_TYPE = "aws:wafv2/webAcl:WebAcl"
GLOBAL_REGION = "us-east-1"
"""Where AWS keeps what CloudFront uses: WAF web ACLs of scope CLOUDFRONT and viewer certificates."""


@dataclass(frozen=True)
class CloudFrontCdnArgs:
    name: str
    """Physical name prefix, e.g. `platform-prod`."""
    settings: EdgeSettings
    app_hostname: str
    api_hostname: str
    zone: DnsZone
    bucket_name: pulumi.Input[str]
    bucket_arn: pulumi.Input[str]
    bucket_regional_domain_name: pulumi.Input[str]
    log_bucket_domain_name: pulumi.Input[str]
    api_origin_hostname: pulumi.Input[str] | None = None
    """The API load balancer's DNS name; `api_hostname` gets a record to it when set."""
    log_bucket_ready: Sequence[pulumi.Resource] = ()
    """What standard logging needs first: the log bucket's ownership controls (ACLs enabled)."""


class CloudFrontCdn(pulumi.ComponentResource):
    """The distribution, its WAF, certificate, release pointer and DNS records."""

    distribution_id: pulumi.Output[str]
    distribution_domain_name: pulumi.Output[str]
    web_acl_arn: pulumi.Output[str]
    key_value_store_arn: pulumi.Output[str]
    """The store holding the active release id (key `active-release`)."""

    def __init__(
        self, name: str, args: CloudFrontCdnArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("platform:edge:CloudFrontCdn", name, None, opts)
        import pulumi_aws as aws

        child = pulumi.ResourceOptions(parent=self)
        settings = args.settings

        certificate_arn = validated_certificate(
            f"{name}-viewer", args.zone, args.app_hostname, child, region=GLOBAL_REGION
        )
        web_acl = self._web_acl(name, args, child)
        web_acl_arn: pulumi.Output[str] = web_acl.arn  # type: ignore[attr-defined]
        store = aws.cloudfront.KeyValueStore(
            f"{name}-releases",
            name=f"{args.name}-releases",
            comment="Active frontend release id, read by the viewer-request function",
            opts=child,
        )
        # The release pointer: the only resource that changes when the active release switches.
        aws.cloudfront.KeyvaluestoreKey(
            f"{name}-active-release",
            key_value_store_arn=store.arn,
            key=ACTIVE_RELEASE_KEY,
            value=settings.releases.active,
            opts=child,
        )
        function = aws.cloudfront.Function(
            f"{name}-release-router",
            name=f"{args.name}-release-router",
            runtime="cloudfront-js-2.0",
            comment="Maps viewer paths into the active release; SPA routes get index.html",
            code=viewer_request_function(),
            key_value_store_associations=[store.arn],
            publish=True,
            opts=child,
        )
        oac = aws.cloudfront.OriginAccessControl(
            f"{name}-oac",
            name=f"{args.name}-frontend",
            description="CloudFront signs its requests to the private release bucket",
            origin_access_control_origin_type="s3",
            signing_behavior="always",
            signing_protocol="sigv4",
            opts=child,
        )
        assets_policy = aws.cloudfront.CachePolicy(
            f"{name}-assets-cache",
            name=f"{args.name}-hashed-assets",
            comment="Content-hashed assets: immutable, cached for a year",
            min_ttl=ASSET_TTL,
            default_ttl=ASSET_TTL,
            max_ttl=ASSET_TTL,
            parameters_in_cache_key_and_forwarded_to_origin=aws.cloudfront.CachePolicyParametersInCacheKeyAndForwardedToOriginArgs(
                cookies_config=aws.cloudfront.CachePolicyParametersInCacheKeyAndForwardedToOriginCookiesConfigArgs(
                    cookie_behavior="none"
                ),
                headers_config=aws.cloudfront.CachePolicyParametersInCacheKeyAndForwardedToOriginHeadersConfigArgs(
                    header_behavior="none"
                ),
                query_strings_config=aws.cloudfront.CachePolicyParametersInCacheKeyAndForwardedToOriginQueryStringsConfigArgs(
                    query_string_behavior="none"
                ),
                enable_accept_encoding_brotli=True,
                enable_accept_encoding_gzip=True,
            ),
            opts=child,
        )
        headers = self._headers_policy(name, args, child)

        s3_origin, api_origin = "frontend", "api"
        function_associations = [
            aws.cloudfront.DistributionDefaultCacheBehaviorFunctionAssociationArgs(
                event_type="viewer-request", function_arn=function.arn
            )
        ]
        distribution = aws.cloudfront.Distribution(
            f"{name}-distribution",
            enabled=True,
            comment=f"{args.app_hostname}: frontend releases and /api",
            aliases=[args.app_hostname],
            http_version="http2and3",
            is_ipv6_enabled=True,
            price_class=settings.cdn.price_class,
            web_acl_id=web_acl_arn,
            origins=[
                aws.cloudfront.DistributionOriginArgs(
                    origin_id=s3_origin,
                    domain_name=args.bucket_regional_domain_name,
                    origin_access_control_id=oac.id,
                ),
                aws.cloudfront.DistributionOriginArgs(
                    origin_id=api_origin,
                    domain_name=args.api_hostname,
                    custom_origin_config=aws.cloudfront.DistributionOriginCustomOriginConfigArgs(
                        http_port=80,
                        https_port=443,
                        origin_protocol_policy="https-only",
                        origin_ssl_protocols=["TLSv1.2"],
                        origin_read_timeout=60,
                    ),
                ),
            ],
            default_cache_behavior=aws.cloudfront.DistributionDefaultCacheBehaviorArgs(
                target_origin_id=s3_origin,
                viewer_protocol_policy="redirect-to-https",
                allowed_methods=["GET", "HEAD", "OPTIONS"],
                cached_methods=["GET", "HEAD"],
                cache_policy_id=CACHING_DISABLED,  # index.html and SPA routes: never cached
                response_headers_policy_id=headers.id,
                function_associations=function_associations,
                compress=True,
            ),
            ordered_cache_behaviors=[
                aws.cloudfront.DistributionOrderedCacheBehaviorArgs(
                    path_pattern=API_PATH,
                    target_origin_id=api_origin,
                    viewer_protocol_policy="https-only",
                    allowed_methods=["GET", "HEAD", "OPTIONS", "PUT", "POST", "PATCH", "DELETE"],
                    cached_methods=["GET", "HEAD"],
                    cache_policy_id=CACHING_DISABLED,
                    origin_request_policy_id=ALL_VIEWER_EXCEPT_HOST_HEADER,
                    response_headers_policy_id=headers.id,
                    compress=False,
                ),
                aws.cloudfront.DistributionOrderedCacheBehaviorArgs(
                    path_pattern=RELEASE_FILES_PATH,  # by full path: immutable, no release lookup
                    target_origin_id=s3_origin,
                    viewer_protocol_policy="redirect-to-https",
                    allowed_methods=["GET", "HEAD"],
                    cached_methods=["GET", "HEAD"],
                    cache_policy_id=assets_policy.id,
                    response_headers_policy_id=headers.id,
                    compress=True,
                ),
                aws.cloudfront.DistributionOrderedCacheBehaviorArgs(
                    path_pattern=ASSETS_PATH,
                    target_origin_id=s3_origin,
                    viewer_protocol_policy="redirect-to-https",
                    allowed_methods=["GET", "HEAD"],
                    cached_methods=["GET", "HEAD"],
                    cache_policy_id=assets_policy.id,
                    response_headers_policy_id=headers.id,
                    function_associations=[
                        aws.cloudfront.DistributionOrderedCacheBehaviorFunctionAssociationArgs(
                            event_type="viewer-request", function_arn=function.arn
                        )
                    ],
                    compress=True,
                ),
            ],
            viewer_certificate=aws.cloudfront.DistributionViewerCertificateArgs(
                acm_certificate_arn=certificate_arn,
                ssl_support_method="sni-only",
                minimum_protocol_version=settings.cdn.minimum_protocol_version,
            ),
            logging_config=aws.cloudfront.DistributionLoggingConfigArgs(
                bucket=args.log_bucket_domain_name, prefix="cloudfront/", include_cookies=False
            ),
            restrictions=aws.cloudfront.DistributionRestrictionsArgs(
                geo_restriction=aws.cloudfront.DistributionRestrictionsGeoRestrictionArgs(
                    restriction_type="none"
                )
            ),
            # Standard logging writes through an ACL grant: the log bucket must accept ACLs first.
            opts=pulumi.ResourceOptions(parent=self, depends_on=list(args.log_bucket_ready)),
        )
        aws.s3.BucketPolicy(
            f"{name}-bucket-policy",
            bucket=args.bucket_name,
            policy=pulumi.Output.all(args.bucket_arn, distribution.arn).apply(
                lambda v: json.dumps(bucket_policy(v[0], v[1]), sort_keys=True)
            ),
            opts=child,
        )
        # Route53 aliases the name for IPv4 and IPv6; Cloudflare has no alias type, so one CNAME does both.
        for record_type in ("A", "AAAA") if args.zone.provider == "route53" else ("CNAME",):
            add_record(
                f"{name}-app-{record_type.lower()}",
                args.zone,
                args.app_hostname,
                record_type,  # type: ignore[arg-type]
                alias_target=distribution.domain_name,
                opts=child,
            )
        if args.api_origin_hostname is not None:
            add_record(
                f"{name}-api", args.zone, args.api_hostname, "CNAME", args.api_origin_hostname, opts=child
            )

        self.distribution_id = distribution.id
        self.distribution_domain_name = distribution.domain_name
        self.web_acl_arn = web_acl_arn
        self.key_value_store_arn = store.arn
        self.register_outputs(
            {
                "distributionId": self.distribution_id,
                "distributionDomainName": self.distribution_domain_name,
                "webAclArn": self.web_acl_arn,
                "keyValueStoreArn": self.key_value_store_arn,
            }
        )

    def _headers_policy(
        self, name: str, args: CloudFrontCdnArgs, opts: pulumi.ResourceOptions
    ) -> pulumi.CustomResource:
        import pulumi_aws as aws
        from pulumi_aws.cloudfront import _inputs as cf

        values = SecurityHeaders(args.settings.content_security_policy)
        return aws.cloudfront.ResponseHeadersPolicy(
            f"{name}-security-headers",
            name=f"{args.name}-security-headers",
            comment="HSTS, nosniff, frame denial, referrer policy and the CSP on every response",
            security_headers_config=cf.ResponseHeadersPolicySecurityHeadersConfigArgs(
                strict_transport_security=cf.ResponseHeadersPolicySecurityHeadersConfigStrictTransportSecurityArgs(
                    access_control_max_age_sec=values.hsts_max_age,
                    include_subdomains=True,
                    preload=True,
                    override=True,
                ),
                content_type_options=cf.ResponseHeadersPolicySecurityHeadersConfigContentTypeOptionsArgs(
                    override=True
                ),
                frame_options=cf.ResponseHeadersPolicySecurityHeadersConfigFrameOptionsArgs(
                    frame_option=values.frame_option, override=True
                ),
                referrer_policy=cf.ResponseHeadersPolicySecurityHeadersConfigReferrerPolicyArgs(
                    referrer_policy=values.referrer_policy, override=True
                ),
                content_security_policy=cf.ResponseHeadersPolicySecurityHeadersConfigContentSecurityPolicyArgs(
                    content_security_policy=values.content_security_policy, override=True
                ),
            ),
            opts=opts,
        )

    def _web_acl(
        self, name: str, args: CloudFrontCdnArgs, opts: pulumi.ResourceOptions
    ) -> pulumi.CustomResource:
        # Registered by type token rather than through `pulumi_aws.wafv2`, whose import alone costs
        # ~1 s per run (a 2.8 MB module). tests/test_edge.py checks every key of these inputs
        # against the SDK's typed WebAcl classes, so a typo still fails in CI.
        waf = args.settings.waf
        props = waf_web_acl(
            name=f"{args.name}-edge",
            mode=waf.mode,
            rate_limit=waf.rate_limit,
            window_seconds=waf.rate_window_seconds,
        )
        return pulumi.CustomResource(
            WEB_ACL_TYPE,
            f"{name}-waf",
            {**props, "region": GLOBAL_REGION, "tags": {}, "arn": None, "capacity": None},
            opts,
        )


def bucket_policy(bucket_arn: str, distribution_arn: str) -> dict[str, object]:
    """Only this distribution reads releases; nothing reaches the bucket without TLS."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "CloudFrontReadsReleases",
                "Effect": "Allow",
                "Principal": {"Service": "cloudfront.amazonaws.com"},
                "Action": "s3:GetObject",
                "Resource": f"{bucket_arn}/{RELEASES_PREFIX}/*",
                "Condition": {"StringEquals": {"AWS:SourceArn": distribution_arn}},
            },
            deny_insecure_transport(bucket_arn),
        ],
    }
