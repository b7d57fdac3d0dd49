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
        if typ.startswith("aws:"):
            return self._aws(typ, name, inputs)
        if typ.startswith("random:"):
            return self._random(typ, name, inputs)
        return f"{name}-{stable_hex(typ, name, length=8)}", inputs

    @property
    def _secrets_arn(self) -> str:
        return f"arn:aws:secretsmanager:{self.region}:{self.account}"

    def _arn(self, typ: str, name: str) -> str:
        module = typ.split(":")[1].split("/", maxsplit=1)[0]
        service = _ARN_SERVICE.get(module, module)
        resource = typ.rsplit(":", 1)[-1].lower()
        return f"arn:aws:{service}:{self.region}:{self.account}:{resource}/{name}"

    def _aws(self, typ: str, name: str, inputs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        physical = (
            inputs.get("name")
            if isinstance(inputs.get("name"), str)
            else f"{name}-{stable_hex(typ, name, length=7)}"
        )
        rid = _ID_PREFIX.get(typ, "") + stable_hex(typ, name) if typ in _ID_PREFIX else physical
        out: dict[str, Any] = {**inputs, "arn": self._arn(typ, physical), "tagsAll": inputs.get("tags", {})}
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
            out.update(keyId=rid, arn=f"arn:aws:kms:{self.region}:{self.account}:key/{rid}")
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
        elif typ == "aws:ec2/securityGroup:SecurityGroup":
            out.update(id=rid)
        elif typ == "aws:cloudwatch/logGroup:LogGroup":
            out.update(
                arn=f"arn:aws:logs:{self.region}:{self.account}:log-group:{inputs.get('name', physical)}"
            )
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
        namespace = metadata.get("namespace")
        return f"{namespace}/{metadata['name']}" if namespace else metadata["name"], out

    def _random(self, typ: str, name: str, inputs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        length = int(inputs.get("length", 32))
        value = stable_hex(typ, name, length=64)
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
        if token == "aws:iam/getPolicyDocument:getPolicyDocument":
            return {
                "json": json.dumps(args.args, sort_keys=True),
                "id": stable_hex(json.dumps(args.args, sort_keys=True)),
            }, None
        return {}, None
