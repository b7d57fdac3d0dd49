"""Mock engine responses with realistic outputs, so downstream inputs are concrete.

Every resource gets a stable, deterministic id (a hash of its type and name) and the outputs a
provider would return for it: ARNs, endpoints, subnet and security-group ids, an EKS
certificate authority, Kubernetes object names. Data-source calls return plausible answers.
"""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

from pulumi.runtime.mocks import MockCallArgs, MockResourceArgs, Mocks

DEFAULT_REGION = "eu-west-1"
DEFAULT_ACCOUNT = "111122223333"


def stable_hex(*parts: str, length: int = 17) -> str:
    return hashlib.sha256("/".join(parts).encode()).hexdigest()[:length]


# A syntactically valid, obviously fake PEM certificate for kubeconfigs.
FAKE_CA = base64.b64encode(
    b"-----BEGIN CERTIFICATE-----\nMIIBmockedcertificateauthorityforofflinesynth\n-----END CERTIFICATE-----\n"
).decode()

# AWS id prefixes by resource type, for realistic ids.
_ID_PREFIX = {
    "aws:ec2/vpc:Vpc": "vpc-",
    "aws:ec2/subnet:Subnet": "subnet-",
    "aws:ec2/securityGroup:SecurityGroup": "sg-",
    "aws:ec2/routeTable:RouteTable": "rtb-",
    "aws:ec2/internetGateway:InternetGateway": "igw-",
    "aws:ec2/natGateway:NatGateway": "nat-",
    "aws:ec2/eip:Eip": "eipalloc-",
    "aws:ec2/launchTemplate:LaunchTemplate": "lt-",
    "aws:ec2/flowLog:FlowLog": "fl-",
    "aws:ec2/vpcEndpoint:VpcEndpoint": "vpce-",
}

# Types the edge tier reads outputs of (see `PlatformMocks._edge`).
_EDGE_MODULES = (
    "aws:acm/",
    "aws:route53/",
    "aws:s3/bucket:",
    "aws:cloudfront/",
    "aws:wafv2/",
    "aws:rum/",
    "aws:cognito/",
)

# A fixed timestamp keeps Cloudflare's `createdOn`/`modifiedOn` outputs deterministic.
_CLOUDFLARE_TIME = "2026-01-01T00:00:00Z"

# The ARN service segment of a type's module, where it differs from the module name.
_ARN_SERVICE = {"cloudwatch": "logs", "elasticache": "elasticache", "rds": "rds", "s3": "s3"}


class PlatformMocks(Mocks):
    """Answers resource registrations and data-source calls as AWS and Kubernetes would."""

    def __init__(
        self, project: str, stack: str, region: str = DEFAULT_REGION, account: str = DEFAULT_ACCOUNT
    ):
        self.project = project
        self.stack = stack
        self.region = region
        self.account = account

    # -- resources ---------------------------------------------------------------------------

    def new_resource(self, args: MockResourceArgs) -> tuple[str, dict[str, Any]]:
        typ, name, inputs = args.typ, args.name, dict(args.inputs)
        if typ.startswith("pulumi:providers:"):
            return f"{name}-provider-id", inputs
        if typ.startswith("kubernetes:"):
            return self._kubernetes(typ, name, inputs)
        if typ.startswith(_EDGE_MODULES):
            return self._edge(typ, name, inputs, args.provider or "")
        if typ.startswith("cloudflare:"):
            return self._cloudflare(typ, name, inputs)
        if typ.startswith("aws:"):
            return self._aws(typ, name, inputs)
        if typ.startswith("random:"):
            return self._random(typ, name, inputs)
        if typ.startswith("postgresql:"):
            return self._postgresql(typ, inputs), inputs
        return f"{name}-{stable_hex(typ, name, length=8)}", inputs

    @staticmethod
    def _postgresql(typ: str, inputs: dict[str, Any]) -> str:
        """Ids as pulumi-postgresql forms them (role and database names, dotted or underscored paths)."""
        kind = typ.rsplit(":", 1)[-1]
        get = inputs.get
        if kind in ("Role", "Database"):
            return str(get("name"))
        if kind in ("Schema", "Extension"):
            return f"{get('database')}.{get('name')}"
        if kind == "Function":
            types = ",".join(a.get("type", "") for a in get("args") or [])
            return f"{get('database')}.{get('schema')}.{get('name')}({types})"
        if kind == "Grant":
            return f"{get('role')}_{get('database')}_{get('schema') or ''}_{get('objectType')}"
        if kind == "DefaultPrivileges":
            return f"{get('role')}_{get('database')}_{get('schema')}_{get('owner')}_{get('objectType')}"
        return f"{kind.lower()}-{stable_hex(typ, json.dumps(inputs, sort_keys=True, default=str), length=8)}"

    @property
    def _secrets_arn(self) -> str:
        return f"arn:aws:secretsmanager:{self.region}:{self.account}"

    def _arn(self, typ: str, name: str) -> str:
        module = typ.split(":")[1].split("/", maxsplit=1)[0]
        service = _ARN_SERVICE.get(module, module)
        resource = typ.rsplit(":", 1)[-1].lower()
        return f"arn:aws:{service}:{self.region}:{self.account}:{resource}/{name}"

    def _aws(self, typ: str, name: str, inputs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        given = inputs.get("name")
        physical = given if isinstance(given, str) else f"{name}-{stable_hex(typ, name, length=7)}"
        rid = _ID_PREFIX.get(typ, "") + stable_hex(typ, name) if typ in _ID_PREFIX else physical
        out: dict[str, Any] = {**inputs, "arn": self._arn(typ, physical), "tagsAll": inputs.get("tags", {})}
        # pulumi-aws 7's per-resource `region` (e.g. us-east-1 for CloudFront's alarm) overrides the stack's.
        region = inputs.get("region") or self.region
        if typ == "aws:eks/cluster:Cluster":
            host = stable_hex(typ, name, length=32).upper()
            out.update(
                name=physical,
                endpoint=f"https://{host}.gr7.{self.region}.eks.amazonaws.com",
                certificateAuthority={"data": FAKE_CA},
                identities=[
                    {"oidcs": [{"issuer": f"https://oidc.eks.{self.region}.amazonaws.com/id/{host}"}]}
                ],
                vpcConfig={
                    **inputs.get("vpcConfig", {}),
                    "clusterSecurityGroupId": "sg-" + stable_hex(name, "csg"),
                },
                status="ACTIVE",
            )
        elif typ == "aws:kms/key:Key":
            rid = stable_hex(typ, name, length=32)
            out.update(keyId=rid, arn=f"arn:aws:kms:{region}:{self.account}:key/{rid}")
        elif typ == "aws:iam/role:Role":
            out.update(arn=f"arn:aws:iam::{self.account}:role/{physical}", name=physical)
        elif typ == "aws:iam/policy:Policy":
            out.update(arn=f"arn:aws:iam::{self.account}:policy/{physical}")
        elif typ == "aws:rds/cluster:Cluster":
            ident = inputs.get("clusterIdentifier", physical)
            suffix = stable_hex(typ, name, length=12)
            out.update(
                endpoint=f"{ident}.cluster-{suffix}.{self.region}.rds.amazonaws.com",
                readerEndpoint=f"{ident}.cluster-ro-{suffix}.{self.region}.rds.amazonaws.com",
                port=inputs.get("port", 5432),
                masterUserSecrets=[{"secretArn": f"{self._secrets_arn}:secret:rds!cluster-{suffix}"}],
                clusterResourceId=f"cluster-{suffix.upper()}",
            )
        elif typ == "aws:elasticache/replicationGroup:ReplicationGroup":
            ident = inputs.get("replicationGroupId", physical)
            host = f"{ident}.{stable_hex(name, length=6)}.cache.amazonaws.com"
            out.update(
                primaryEndpointAddress=f"master.{host}",
                readerEndpointAddress=f"replica.{host}",
                port=inputs.get("port", 6379),
            )
        elif typ == "aws:ecr/repository:Repository":
            out.update(
                arn=f"arn:aws:ecr:{self.region}:{self.account}:repository/{physical}",
                registryId=self.account,
                repositoryUrl=f"{self.account}.dkr.ecr.{self.region}.amazonaws.com/{physical}",
            )
        elif typ == "aws:ec2/securityGroup:SecurityGroup":
            out.update(id=rid)
        elif typ == "aws:cloudwatch/logGroup:LogGroup":
            out.update(
                arn=f"arn:aws:logs:{self.region}:{self.account}:log-group:{inputs.get('name', physical)}"
            )
        elif typ == "aws:sns/topic:Topic":
            rid = f"arn:aws:sns:{region}:{self.account}:{physical}"
            out.update(arn=rid, name=physical)
        elif typ == "aws:cloudtrail/trail:Trail":
            out.update(arn=f"arn:aws:cloudtrail:{self.region}:{self.account}:trail/{physical}")
        elif typ == "aws:guardduty/detector:Detector":
            rid = stable_hex(typ, name, length=32)
            out.update(
                arn=f"arn:aws:guardduty:{self.region}:{self.account}:detector/{rid}", accountId=self.account
            )
        elif typ == "aws:cloudwatch/metricAlarm:MetricAlarm":
            out.update(arn=f"arn:aws:cloudwatch:{region}:{self.account}:alarm:{physical}")
        return rid, out

    def _edge(self, typ: str, name: str, inputs: dict[str, Any], provider: str) -> tuple[str, dict[str, Any]]:
        """DNS, certificates, S3, CloudFront, WAF, RUM: what the edge tier reads back."""
        rid, out = self._aws(typ, name, inputs)
        region = inputs.get("region") or ("us-east-1" if "us-east-1" in provider else self.region)
        uuid = "-".join(stable_hex(typ, name, str(n), length=k) for n, k in enumerate((8, 4, 4, 4, 12)))
        physical = str(inputs.get("name") or inputs.get("bucket") or rid)
        if typ == "aws:acm/certificate:Certificate":
            domain = inputs.get("domainName", "example.com")
            out.update(
                arn=f"arn:aws:acm:{region}:{self.account}:certificate/{uuid}",
                domainValidationOptions=[
                    {
                        "domainName": domain,
                        "resourceRecordName": f"_{stable_hex(domain, length=32)}.{domain}.",
                        "resourceRecordType": "CNAME",
                        "resourceRecordValue": f"_{stable_hex(domain, 'v', length=32)}.acm-validations.aws.",
                    }
                ],
            )
            rid = out["arn"]
        elif typ == "aws:acm/certificateValidation:CertificateValidation":
            out.update(certificateArn=inputs.get("certificateArn"))
        elif typ == "aws:route53/zone:Zone":
            rid = "Z" + stable_hex(typ, name, length=20).upper()
            out.update(zoneId=rid, nameServers=[f"ns-{n}.awsdns-{n}.org" for n in (101, 202, 303, 404)])
        elif typ == "aws:route53/record:Record":
            out.update(fqdn=inputs.get("name"))
        elif typ == "aws:s3/bucket:Bucket":
            out.update(
                arn=f"arn:aws:s3:::{physical}",
                bucket=physical,
                bucketDomainName=f"{physical}.s3.amazonaws.com",
                bucketRegionalDomainName=f"{physical}.s3.{self.region}.amazonaws.com",
            )
            rid = physical
        elif typ == "aws:cloudfront/distribution:Distribution":
            rid = "E" + stable_hex(typ, name, length=13).upper()
            out.update(
                arn=f"arn:aws:cloudfront::{self.account}:distribution/{rid}",
                domainName=f"d{stable_hex(typ, name, length=13)}.cloudfront.net",
                hostedZoneId="Z2FDTNDATAQYW2",
                status="Deployed",
            )
        elif typ == "aws:cloudfront/keyValueStore:KeyValueStore":
            out.update(arn=f"arn:aws:cloudfront::{self.account}:key-value-store/{uuid}", etag="E1MOCKETAG")
            rid = physical
        elif typ == "aws:cloudfront/function:Function":
            out.update(arn=f"arn:aws:cloudfront::{self.account}:function/{physical}", liveStageEtag="E2MOCK")
            rid = physical
        elif typ.startswith("aws:cloudfront/"):
            rid = stable_hex(typ, name, length=14).upper() if "Policy" in typ or "Control" in typ else rid
            out.update(id=rid, etag="E3MOCK")
        elif typ == "aws:wafv2/webAcl:WebAcl":
            out.update(arn=f"arn:aws:wafv2:us-east-1:{self.account}:global/webacl/{physical}/{uuid}")
            rid = uuid
        elif typ == "aws:rum/appMonitor:AppMonitor":
            arn = f"arn:aws:rum:{self.region}:{self.account}:appmonitor/{physical}"
            out.update(appMonitorId=uuid, arn=arn)
        elif typ == "aws:cognito/identityPool:IdentityPool":
            rid = f"{self.region}:{uuid}"
            out.update(arn=f"arn:aws:cognito-identity:{self.region}:{self.account}:identitypool/{rid}")
        return rid, out

    def _kubernetes(self, typ: str, name: str, inputs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        metadata = dict(inputs.get("metadata") or {})
        metadata.setdefault("name", f"{name}-{stable_hex(typ, name, length=8)}")
        out = {**inputs, "metadata": metadata}
        if typ == "kubernetes:helm.sh/v3:Release":
            out.setdefault("name", name)
            out["status"] = {"status": "deployed", "namespace": inputs.get("namespace", "default")}
        if typ == "kubernetes:core/v1:Service":
            out["spec"] = {
                **(inputs.get("spec") or {}),
                "clusterIP": "10.100.0." + str(int(stable_hex(name, length=2), 16)),
            }
        if typ == "kubernetes:networking.k8s.io/v1:Ingress":
            hostname = self._ingress_hostname(name, inputs)
            out["status"] = {"loadBalancer": {"ingress": [{"hostname": hostname}]}}
        namespace = metadata.get("namespace")
        return f"{namespace}/{metadata['name']}" if namespace else metadata["name"], out

    def _ingress_hostname(self, name: str, inputs: dict[str, Any]) -> str:
        """An ALB's DNS name as the AWS Load Balancer Controller names it; `localhost` for nginx."""
        if (inputs.get("spec") or {}).get("ingressClassName") != "alb":
            return "localhost"
        namespace = (inputs.get("metadata") or {}).get("namespace", "default").replace("-", "")[:8]
        digits = int(stable_hex(name, "alb", length=8), 16) % 10**10
        load_balancer = f"k8s-{namespace}-{name[:8]}-{stable_hex(name, length=10)}-{digits}"
        annotations = (inputs.get("metadata") or {}).get("annotations") or {}
        if annotations.get("alb.ingress.kubernetes.io/scheme") == "internal":
            load_balancer = f"internal-{load_balancer}"  # AWS prefixes internal load balancers' names
        return f"{load_balancer}.{self.region}.elb.amazonaws.com"

    @staticmethod
    def _cloudflare(typ: str, name: str, inputs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        """Cloudflare's 32-hex ids (a zone setting's id is its name) and what it reports back."""
        rid = stable_hex(typ, name, length=32)
        out: dict[str, Any] = {**inputs}
        if typ == "cloudflare:index/zoneSetting:ZoneSetting":
            rid = str(inputs.get("settingId"))
            out.update(editable=True, modifiedOn=_CLOUDFLARE_TIME, timeRemaining=0)
        elif typ == "cloudflare:index/dnsRecord:DnsRecord":
            out.update(
                createdOn=_CLOUDFLARE_TIME,
                modifiedOn=_CLOUDFLARE_TIME,
                proxiable=inputs.get("type") in ("A", "AAAA", "CNAME"),
                meta="{}",
            )
        elif typ == "cloudflare:index/ruleset:Ruleset":
            out.update(version="1", lastUpdated=_CLOUDFLARE_TIME)
        return rid, {**out, "id": rid}

    def _random(self, typ: str, name: str, inputs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        length = int(inputs.get("length", 32))
        # As the provider does, a changed keeper gives a new value (that is how secrets rotate).
        keepers = inputs.get("keepers")
        parts = (typ, name, json.dumps(keepers, sort_keys=True)) if keepers else (typ, name)
        value = stable_hex(*parts, length=64)
        value = (value * (length // len(value) + 1))[:length]
        return name, {
            **inputs,
            "result": value,
            "b64Std": base64.b64encode(value.encode()).decode(),
            "hex": value,
        }

    # -- data sources ------------------------------------------------------------------------

    def call(self, args: MockCallArgs) -> tuple[dict[str, Any], list[tuple[str, str]] | None]:
        token = args.token
        if token == "aws:index/getCallerIdentity:getCallerIdentity":
            return {
                "accountId": self.account,
                "arn": f"arn:aws:iam::{self.account}:role/deployer",
                "userId": "AIDAMOCK",
            }, None
        if token == "aws:index/getRegion:getRegion":
            return {"name": self.region, "region": self.region, "id": self.region}, None
        if token == "aws:index/getPartition:getPartition":
            return {"partition": "aws", "dnsSuffix": "amazonaws.com", "id": "aws"}, None
        if token == "aws:route53/getZone:getZone":
            zone = "Z" + stable_hex("zone", str(args.args.get("name")), length=20).upper()
            # A bare dict: the SDK's mock monitor iterates a tuple's second item as check failures.
            return {"zoneId": zone, "id": zone, "name": args.args.get("name"), "privateZone": False}  # type: ignore[return-value]
        if token == "aws:secretsmanager/getSecretVersion:getSecretVersion":
            # An RDS-managed master user secret: JSON with the user name and a generated password.
            arn = str(args.args.get("secretId"))
            secret = {"username": "dbadmin", "password": stable_hex("master", arn, length=28)}
            return {  # type: ignore[return-value]
                "arn": arn,
                "id": f"{arn}|AWSCURRENT",
                "secretId": arn,
                "secretString": json.dumps(secret),
                "versionId": stable_hex("version", arn, length=32),
                "versionStages": ["AWSCURRENT"],
            }
        if token == "aws:ec2/getManagedPrefixList:getManagedPrefixList":
            name = str(args.args.get("name") or "")
            return {  # type: ignore[return-value]
                "id": "pl-" + stable_hex("prefix-list", name, length=8),
                "name": name,
                "addressFamily": "IPv4",
                "maxEntries": 55,
                "entries": [],
                "tags": {},
            }
        if token == "aws:guardduty/getDetector:getDetector":
            # The region's existing detector (one per account and region), e.g. enabled by Organizations.
            region = str(args.args.get("region") or self.region)
            detector = stable_hex("guardduty", self.account, region, length=32)
            return {  # type: ignore[return-value]
                "id": detector,
                "arn": f"arn:aws:guardduty:{region}:{self.account}:detector/{detector}",
                "region": region,
                "status": "ENABLED",
                "findingPublishingFrequency": "SIX_HOURS",
                "serviceRoleArn": f"arn:aws:iam::{self.account}:role/aws-service-role/"
                "guardduty.amazonaws.com/AWSServiceRoleForAmazonGuardDuty",
                "features": [],
                "tags": {},
            }
        if token == "aws:iam/getPolicyDocument:getPolicyDocument":
            return {
                "json": json.dumps(args.args, sort_keys=True),
                "id": stable_hex(json.dumps(args.args, sort_keys=True)),
            }, None
        return {}, None
