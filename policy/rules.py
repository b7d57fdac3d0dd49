"""The platform's policy rules, as pure functions over a resource's type, inputs and options.

The same rules run in two places: in the policy pack (``pulumi preview --policy-pack policy``,
wrapped by ``policy/__main__.py`` as pulumi-policy validations) and offline over every
synthesized stack in the tests. Nothing here imports Pulumi, reads files or touches the network.

A rule never trusts the shape of its input: a missing property, a string where a list is
expected or a malformed policy document is a reported violation, never an exception. When a
rule does raise (a bug), ``run_rule`` turns the exception into a violation naming the rule.

Mandatory rules guard security and reliability; advisory rules flag cost and hygiene. Each
stack's enforcement levels and rule settings live in ``policy/config/<stack>.json`` (the file
``pulumi preview --policy-pack-config`` reads).
"""

from __future__ import annotations

import fnmatch
import ipaddress
import json
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = [
    "RULES",
    "STACK_RULES",
    "Level",
    "Resource",
    "Rule",
    "StackRule",
    "Violation",
    "evaluate",
    "normalize_config",
    "rule_settings",
    "run_rule",
    "run_stack_rule",
]

Level = Literal["mandatory", "advisory", "disabled"]
LEVELS: tuple[str, ...] = ("mandatory", "advisory", "disabled")


@dataclass(frozen=True)
class Resource:
    """What a rule sees of one resource: its type token, inputs (wire names) and options."""

    type: str
    inputs: Mapping[str, Any]
    urn: str = ""
    name: str = ""
    protect: bool = False
    dependencies: tuple[str, ...] = ()
    """URNs of the resources this one depends on (input references and ``depends_on``)."""


Check = Callable[[Resource, Mapping[str, Any]], Iterable[str]]
StackCheck = Callable[[Sequence[Resource], Mapping[str, Any]], Iterable[tuple[str, str]]]


@dataclass(frozen=True)
class Rule:
    """A check of one resource at a time, applied to the type tokens matching ``types``."""

    name: str
    description: str
    level: Literal["mandatory", "advisory"]
    types: tuple[str, ...]
    """fnmatch patterns over type tokens."""
    check: Check
    """Yields one message per violation; receives the rule's settings (defaults merged with config)."""
    settings: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    """JSON schema of each setting, with its ``default``."""

    def applies_to(self, type_: str) -> bool:
        return any(fnmatch.fnmatchcase(type_, pattern) for pattern in self.types)


@dataclass(frozen=True)
class StackRule:
    """A check over all resources of a stack (relations between resources)."""

    name: str
    description: str
    level: Literal["mandatory", "advisory"]
    check: StackCheck
    """Yields ``(urn, message)`` per violation."""
    settings: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)


@dataclass(frozen=True)
class Violation:
    rule: str
    level: str
    urn: str
    message: str

    def __str__(self) -> str:
        return f"[{self.level}] {self.rule}: {self.urn}: {self.message}"


# ------------------------------------------------------------------------------------------
# Defensive accessors: inputs may miss properties or hold unexpected types.
# ------------------------------------------------------------------------------------------


def _map(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _list(value: Any) -> list[Any]:
    if isinstance(value, Sequence) and not isinstance(value, str | bytes):
        return list(value)
    return []


def _get(value: Any, *path: str) -> Any:
    for key in path:
        if not isinstance(value, Mapping):
            return None
        value = value.get(key)
    return value


def _true(value: Any) -> bool:
    return value is True or (isinstance(value, str) and value.strip().lower() == "true")


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    return None


def _show(value: Any) -> str:
    text = json.dumps(value, default=str) if not isinstance(value, str) else repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _require_true(inputs: Mapping[str, Any], key: str, why: str) -> Iterator[str]:
    if not _true(inputs.get(key)):
        yield f"{key} must be true ({why}); got {_show(inputs.get(key))}"


# ------------------------------------------------------------------------------------------
# Encryption at rest
# ------------------------------------------------------------------------------------------


def _rds_encrypted(r: Resource, _: Mapping[str, Any]) -> Iterator[str]:
    yield from _require_true(r.inputs, "storageEncrypted", "database storage encrypted at rest")


def _s3_encryption(r: Resource, _: Mapping[str, Any]) -> Iterator[str]:
    rules = _list(r.inputs.get("rules"))
    if not rules:
        yield "has no encryption rule (rules is empty or missing)"
    for i, rule in enumerate(rules):
        algorithm = _get(rule, "applyServerSideEncryptionByDefault", "sseAlgorithm")
        if algorithm not in ("aws:kms", "aws:kms:dsse", "AES256"):
            yield f"rules[{i}].applyServerSideEncryptionByDefault.sseAlgorithm is {_show(algorithm)}"


def _elasticache_encrypted(r: Resource, _: Mapping[str, Any]) -> Iterator[str]:
    if r.type.endswith(":ReplicationGroup"):
        yield from _require_true(r.inputs, "atRestEncryptionEnabled", "cache data encrypted at rest")
        yield from _require_true(r.inputs, "transitEncryptionEnabled", "TLS between clients and the cache")
    elif r.inputs.get("engine") in ("redis", "valkey") and not r.inputs.get("replicationGroupId"):
        yield "a standalone Redis/Valkey cache cluster cannot encrypt at rest: use a replication group"


def _ebs_encrypted(r: Resource, _: Mapping[str, Any]) -> Iterator[str]:
    if r.type == "aws:ebs/volume:Volume":
        yield from _require_true(r.inputs, "encrypted", "EBS volume encrypted at rest")
    elif r.type == "aws:ec2/launchTemplate:LaunchTemplate":
        mappings = _list(r.inputs.get("blockDeviceMappings"))
        if not mappings:
            yield "declares no blockDeviceMappings, so the root volume's encryption is the AMI's default"
        for i, mapping in enumerate(mappings):
            ebs = _get(mapping, "ebs")
            if ebs is not None and not _true(_get(ebs, "encrypted")):
                got = _show(_get(ebs, "encrypted"))
                yield f"blockDeviceMappings[{i}].ebs.encrypted must be true; got {got}"
    elif r.type == "aws:ec2/instance:Instance":
        if not _true(_get(r.inputs, "rootBlockDevice", "encrypted")):
            yield "rootBlockDevice.encrypted must be true"
        for i, device in enumerate(_list(r.inputs.get("ebsBlockDevices"))):
            if not _true(_get(device, "encrypted")):
                yield f"ebsBlockDevices[{i}].encrypted must be true"


def _eks_secrets(r: Resource, _: Mapping[str, Any]) -> Iterator[str]:
    configs = r.inputs.get("encryptionConfig")
    configs = [configs] if isinstance(configs, Mapping) else _list(configs)
    for config in configs:
        if "secrets" in _list(_get(config, "resources")) and _get(config, "provider", "keyArn"):
            return
    yield "encryptionConfig must envelope-encrypt `secrets` with a KMS key (provider.keyArn)"


# ------------------------------------------------------------------------------------------
# Encryption in transit
# ------------------------------------------------------------------------------------------

_HTTPS_VIEWER = ("redirect-to-https", "https-only")
_TLS_POLICY = re.compile(r"TLS13|TLS-1-2|TLS-1-3|FS-1-2")


def _parameters(inputs: Mapping[str, Any]) -> dict[str, str]:
    return {str(_get(p, "name")): str(_get(p, "value")) for p in _list(inputs.get("parameters"))}


def _in_transit(r: Resource, _: Mapping[str, Any]) -> Iterator[str]:
    inputs = r.inputs
    if r.type.startswith("aws:rds/"):
        family = str(inputs.get("family") or "")
        cluster_level = r.type.endswith(":ClusterParameterGroup")
        needs_tls = "postgres" in family and (cluster_level or not family.startswith("aurora"))
        if needs_tls and _parameters(inputs).get("rds.force_ssl") != "1":
            yield f"parameter rds.force_ssl must be 1 (TLS only) for family {family!r}"
    elif r.type in ("aws:lb/listener:Listener", "aws:alb/listener:Listener"):
        protocol = str(inputs.get("protocol") or "HTTP").upper()
        if protocol in ("HTTP", "TCP", "UDP"):
            actions = _list(inputs.get("defaultActions"))
            redirects = [a for a in actions if _get(a, "type") == "redirect"]
            if protocol != "HTTP" or not actions or len(redirects) != len(actions):
                yield f"a {protocol} listener may only redirect to HTTPS"
            for a in redirects:
                if str(_get(a, "redirect", "protocol") or "").upper() != "HTTPS":
                    yield "the plain HTTP listener must redirect to HTTPS"
        elif not _TLS_POLICY.search(str(inputs.get("sslPolicy") or "")):
            yield f"sslPolicy {_show(inputs.get('sslPolicy'))} must require TLS 1.2 or later"
    elif r.type == "aws:cloudfront/distribution:Distribution":
        behaviors = [("defaultCacheBehavior", inputs.get("defaultCacheBehavior"))]
        behaviors += [
            (f"orderedCacheBehaviors[{i}]", b)
            for i, b in enumerate(_list(inputs.get("orderedCacheBehaviors")))
        ]
        for path, behavior in behaviors:
            policy = _get(behavior, "viewerProtocolPolicy")
            if policy not in _HTTPS_VIEWER:
                yield f"{path}.viewerProtocolPolicy is {_show(policy)}; allowed: {', '.join(_HTTPS_VIEWER)}"
        certificate = _map(inputs.get("viewerCertificate"))
        if not _true(certificate.get("cloudfrontDefaultCertificate")):
            version = str(certificate.get("minimumProtocolVersion") or "")
            if not version.startswith(("TLSv1.2", "TLSv1.3")):
                yield f"viewerCertificate.minimumProtocolVersion is {_show(version)}; needs TLSv1.2_2021+"
        for i, origin in enumerate(_list(inputs.get("origins"))):
            if _get(origin, "customOriginConfig", "originProtocolPolicy") in ("http-only", "match-viewer"):
                yield f"origins[{i}].customOriginConfig.originProtocolPolicy must be https-only"
    elif r.type == "cloudflare:index/zoneSetting:ZoneSetting":
        setting, value = inputs.get("settingId"), inputs.get("value")
        if setting == "min_tls_version" and value not in ("1.2", "1.3"):
            yield f"min_tls_version is {_show(value)}; needs 1.2 or 1.3"
        if setting in ("always_use_https", "ssl") and value in ("off", "flexible"):
            yield f"{setting} is {_show(value)}: traffic would travel in clear text"


# ------------------------------------------------------------------------------------------
# Public exposure
# ------------------------------------------------------------------------------------------

_BLOCK_FLAGS = ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")
_PUBLIC_ACLS = ("public-read", "public-read-write", "authenticated-read")


def _statements(document: Any) -> tuple[list[Any], str | None]:
    if isinstance(document, str):
        try:
            document = json.loads(document)
        except ValueError:
            return [], "the policy is not valid JSON"
    if not isinstance(document, Mapping):
        return [], f"the policy is not a JSON object: {_show(document)}"
    statements = document.get("Statement")
    return ([statements] if isinstance(statements, Mapping) else _list(statements)), None


def _public_principal(principal: Any) -> bool:
    if principal == "*":
        return True
    return any(p == "*" for p in [*_list(_get(principal, "AWS")), _get(principal, "AWS")])


_NON_PUBLIC_PREFIX = {4: 8, 6: 32}
"""The widest `aws:SourceIp` prefix S3 still treats as a fixed set of addresses, per IP version."""


def _wide_source_ips(condition: Any) -> list[str]:
    """`aws:SourceIp` values of an `IpAddress` condition that S3 treats as public (or cannot parse)."""
    wide = []
    for operator, keys in condition.items() if isinstance(condition, Mapping) else ():
        if operator not in ("IpAddress", "ForAnyValue:IpAddress") or not isinstance(keys, Mapping):
            continue
        for key, values in keys.items():
            if key.lower() != "aws:sourceip":
                continue
            for value in [values] if isinstance(values, str) else _list(values):
                try:
                    net = ipaddress.ip_network(str(value), strict=False)
                except ValueError:
                    wide.append(_show(value))
                    continue
                if net.prefixlen < _NON_PUBLIC_PREFIX[net.version]:
                    wide.append(str(value))
    return wide


def _no_public_bucket(r: Resource, _: Mapping[str, Any]) -> Iterator[str]:
    inputs = r.inputs
    if r.type.endswith(":BucketPublicAccessBlock"):
        for flag in _BLOCK_FLAGS:
            if not _true(inputs.get(flag)):
                yield f"{flag} must be true; got {_show(inputs.get(flag))}"
    elif inputs.get("acl") in _PUBLIC_ACLS:
        yield f"acl {inputs.get('acl')!r} makes the bucket public"
    if r.type in ("aws:s3/bucketPolicy:BucketPolicy", "aws:s3/bucket:Bucket") and inputs.get("policy"):
        statements, problem = _statements(inputs.get("policy"))
        if problem:
            yield f"{problem}, so it cannot be shown not to be public"
        for i, statement in enumerate(statements):
            if (
                _get(statement, "Effect") == "Allow"
                and _public_principal(_get(statement, "Principal"))
                and not _get(statement, "Condition")
            ):
                yield f"Statement[{i}] allows everyone (Principal *) without a condition"
            elif _get(statement, "Effect") == "Allow" and _public_principal(_get(statement, "Principal")):
                wide = _wide_source_ips(_get(statement, "Condition"))
                if wide:
                    yield (
                        f"Statement[{i}] allows everyone from {', '.join(wide)}: S3 treats an aws:SourceIp "
                        "wider than /8 (IPv4) or /32 (IPv6) as public"
                    )


_WORLD = ("0.0.0.0/0", "::/0")
_EDGE_PORTS = (80, 443)


def _world_rule_problem(protocol: Any, from_port: Any, to_port: Any) -> str | None:
    start, end = _int(from_port), _int(to_port)
    if str(protocol).lower() in ("tcp", "6") and start == end and start in _EDGE_PORTS:
        return None
    return f"protocol {_show(protocol)} ports {_show(from_port)}-{_show(to_port)}"


def _world_ingress(r: Resource) -> list[str]:
    """Problems of the resource's ingress open to the internet (empty when none or only 80/443 TCP)."""
    inputs, found = r.inputs, []
    if r.type == "aws:ec2/securityGroup:SecurityGroup":
        for i, rule in enumerate(_list(inputs.get("ingress"))):
            cidrs = _list(_get(rule, "cidrBlocks")) + _list(_get(rule, "ipv6CidrBlocks"))
            if any(c in _WORLD for c in cidrs):
                problem = _world_rule_problem(
                    _get(rule, "protocol"), _get(rule, "fromPort"), _get(rule, "toPort")
                )
                found.append(f"ingress[{i}] open to the internet on {problem}" if problem else "")
    elif r.type == "aws:ec2/securityGroupRule:SecurityGroupRule":
        cidrs = _list(inputs.get("cidrBlocks")) + _list(inputs.get("ipv6CidrBlocks"))
        if inputs.get("type") == "ingress" and any(c in _WORLD for c in cidrs):
            problem = _world_rule_problem(
                inputs.get("protocol"), inputs.get("fromPort"), inputs.get("toPort")
            )
            found.append(f"ingress open to the internet on {problem}" if problem else "")
    elif r.type == "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule" and (
        inputs.get("cidrIpv4") in _WORLD or inputs.get("cidrIpv6") in _WORLD
    ):
        problem = _world_rule_problem(inputs.get("ipProtocol"), inputs.get("fromPort"), inputs.get("toPort"))
        found.append(f"ingress open to the internet on {problem}" if problem else "")
    return found


def _no_world_ingress(r: Resource, _: Mapping[str, Any]) -> Iterator[str]:
    for problem in _world_ingress(r):
        if problem:
            yield f"{problem}; only TCP 80 and 443 (the load balancer) may be open to 0.0.0.0/0 or ::/0"


_CDN_PHASES = ("http_request_firewall_managed", "http_request_firewall_custom")


def _cdn_waf(r: Resource, _: Mapping[str, Any]) -> Iterator[str]:
    web_acl = r.inputs.get("webAclId")
    if not isinstance(web_acl, str) or not web_acl:
        yield "has no WAF (webAclId is empty): attach a CLOUDFRONT-scoped WAFv2 web ACL"
    elif web_acl.startswith("arn:") and ":wafv2:" not in web_acl:
        yield f"webAclId {web_acl!r} is not a WAFv2 web ACL ARN"


# ------------------------------------------------------------------------------------------
# Reliability: databases and nodes
# ------------------------------------------------------------------------------------------

_DB_SETTINGS: dict[str, dict[str, Any]] = {
    "requireProtect": {"type": "boolean", "default": True, "description": "Pulumi `protect` on databases."},
    "requireDeletionProtection": {
        "type": "boolean",
        "default": True,
        "description": "Cloud-side deletion protection on databases.",
    },
    "requireFinalSnapshot": {
        "type": "boolean",
        "default": True,
        "description": "A final snapshot when a database is deleted.",
    },
    "minBackupRetentionDays": {
        "type": "integer",
        "minimum": 0,
        "default": 7,
        "description": "Smallest automated-backup (point-in-time recovery) window, in days.",
    },
    "requireInClusterBackups": {
        "type": "boolean",
        "default": True,
        "description": "CloudNativePG clusters must back up to object storage (spec.backup).",
    },
}


def _database_protection(r: Resource, settings: Mapping[str, Any]) -> Iterator[str]:
    inputs = r.inputs
    if settings.get("requireProtect") and not r.protect:
        yield "the resource option protect must be set (pulumi refuses to delete or replace it)"
    if r.type.startswith("kubernetes:"):
        backup = _get(inputs, "spec", "backup")
        if settings.get("requireInClusterBackups") and not _get(backup, "barmanObjectStore"):
            yield "spec.backup.barmanObjectStore must be configured (continuous backups and WAL archive)"
        return
    if settings.get("requireDeletionProtection") and not _true(inputs.get("deletionProtection")):
        yield f"deletionProtection must be true; got {_show(inputs.get('deletionProtection'))}"
    minimum = _int(settings.get("minBackupRetentionDays")) or 0
    days = _int(inputs.get("backupRetentionPeriod"))
    if minimum and (days is None or days < minimum):
        got = _show(inputs.get("backupRetentionPeriod"))
        yield f"backupRetentionPeriod is {got}; at least {minimum} days"
    if settings.get("requireFinalSnapshot"):
        if _true(inputs.get("skipFinalSnapshot")):
            yield "skipFinalSnapshot must be false"
        elif not inputs.get("finalSnapshotIdentifier"):
            yield "finalSnapshotIdentifier must name the final snapshot"


def _imdsv2(r: Resource, settings: Mapping[str, Any]) -> Iterator[str]:
    if r.type == "aws:eks/nodeGroup:NodeGroup":
        template = _map(r.inputs.get("launchTemplate"))
        if not (template.get("id") or template.get("name")):
            yield "the node group must use a launch template (it sets IMDSv2 and encrypted volumes)"
        return
    options = _map(r.inputs.get("metadataOptions"))
    if options.get("httpTokens") != "required":
        yield f"metadataOptions.httpTokens is {_show(options.get('httpTokens'))}; must be 'required' (IMDSv2)"
    limit, allowed = _int(options.get("httpPutResponseHopLimit")), _int(settings.get("maxHopLimit")) or 1
    if options.get("httpEndpoint") != "disabled" and (limit is None or limit > allowed):
        yield (
            f"metadataOptions.httpPutResponseHopLimit is {_show(options.get('httpPutResponseHopLimit'))}; "
            f"at most {allowed} keeps pods from reaching the node's credentials"
        )


# ------------------------------------------------------------------------------------------
# Kubernetes workloads
# ------------------------------------------------------------------------------------------

_POD_SPEC_PATH: dict[str, tuple[str, ...]] = {
    "kubernetes:core/v1:Pod": ("spec",),
    "kubernetes:apps/v1:Deployment": ("spec", "template", "spec"),
    "kubernetes:apps/v1:StatefulSet": ("spec", "template", "spec"),
    "kubernetes:apps/v1:DaemonSet": ("spec", "template", "spec"),
    "kubernetes:apps/v1:ReplicaSet": ("spec", "template", "spec"),
    "kubernetes:batch/v1:Job": ("spec", "template", "spec"),
    "kubernetes:batch/v1:CronJob": ("spec", "jobTemplate", "spec", "template", "spec"),
    "kubernetes:argoproj.io/v1alpha1:Rollout": ("spec", "template", "spec"),
}
WORKLOAD_TYPES = tuple(_POD_SPEC_PATH)
_RUN_TO_COMPLETION = ("kubernetes:batch/v1:Job", "kubernetes:batch/v1:CronJob")


def _pod_spec(r: Resource) -> Mapping[str, Any] | None:
    """The pod spec of a workload, or None when it has none to check (a Rollout's workloadRef)."""
    if r.type.endswith(":Rollout") and _get(r.inputs, "spec", "workloadRef"):
        return None
    return _map(_get(r.inputs, *_POD_SPEC_PATH[r.type]))


def _containers(spec: Mapping[str, Any], init: bool = True) -> Iterator[tuple[str, Mapping[str, Any]]]:
    keys = ("containers", "initContainers") if init else ("containers",)
    for key in keys:
        for i, item in enumerate(_list(spec.get(key))):
            container = _map(item)
            yield f"{key}[{i}] ({container.get('name', '?')})", container


def _non_root(r: Resource, _: Mapping[str, Any]) -> Iterator[str]:
    spec = _pod_spec(r)
    if spec is None:
        return
    if not _list(spec.get("containers")):
        yield "the pod template has no containers"
    pod = _map(spec.get("securityContext"))
    for where, container in _containers(spec):
        own = _map(container.get("securityContext"))
        non_root = own.get("runAsNonRoot", pod.get("runAsNonRoot"))
        user = own.get("runAsUser", pod.get("runAsUser"))
        if non_root is not True:
            yield f"{where}: runAsNonRoot must be true (pod or container securityContext)"
        if _int(user) == 0:
            yield f"{where}: runAsUser is 0 (root)"
        if own.get("privileged") is True:
            yield f"{where}: privileged containers are not allowed"
        if own.get("allowPrivilegeEscalation") is not False:
            yield f"{where}: allowPrivilegeEscalation must be false"


def _limits(r: Resource, settings: Mapping[str, Any]) -> Iterator[str]:
    spec = _pod_spec(r)
    if spec is None:
        return
    required = [str(k) for k in _list(settings.get("resources"))] or ["memory"]
    for where, container in _containers(spec):
        limits = _map(_get(container, "resources", "limits"))
        missing = [k for k in required if not limits.get(k)]
        if missing:
            yield f"{where}: resources.limits lacks {', '.join(missing)}"


def _probes(r: Resource, _: Mapping[str, Any]) -> Iterator[str]:
    spec = _pod_spec(r)
    if spec is None or r.type in _RUN_TO_COMPLETION:
        return
    for where, container in _containers(spec, init=False):
        missing = [p for p in ("readinessProbe", "livenessProbe") if not _map(container.get(p))]
        if missing:
            yield f"{where}: no {' or '.join(missing)}"


def _images(r: Resource) -> Iterator[tuple[str, Any]]:
    """(path, image reference) of every image a resource runs."""
    if r.type in _POD_SPEC_PATH:
        spec = _pod_spec(r)
        for where, container in _containers(spec or {}):
            yield f"{where}.image", container.get("image")
    elif r.type == "kubernetes:postgresql.cnpg.io/v1:Cluster":
        if _get(r.inputs, "spec", "imageName") is not None:
            yield "spec.imageName", _get(r.inputs, "spec", "imageName")
    elif r.type == "kubernetes:helm.sh/v3:Release":
        yield from _helm_images(r.inputs.get("values"), "values")


def _helm_images(values: Any, path: str) -> Iterator[tuple[str, Any]]:
    if isinstance(values, Mapping):
        for key, value in values.items():
            where = f"{path}.{key}"
            if key == "tag" and isinstance(value, str):
                yield where, f"image:{value}"
            elif key == "image" and isinstance(value, str):
                yield where, value
            else:
                yield from _helm_images(value, where)
    elif isinstance(values, list):
        for i, value in enumerate(values):
            yield from _helm_images(value, f"{path}[{i}]")


def _split_image(image: str) -> tuple[str, str | None, str | None]:
    """(name, tag, digest) of an image reference."""
    name, _, digest = image.partition("@")
    last = name.rsplit("/", 1)[-1]
    tag = last.rsplit(":", 1)[1] if ":" in last else None
    return name, tag, digest or None


def _no_latest(r: Resource, _: Mapping[str, Any]) -> Iterator[str]:
    for where, image in _images(r):
        if not isinstance(image, str) or not image:
            if r.type in _POD_SPEC_PATH:
                yield f"{where} is missing"
            continue
        tag, digest = _split_image(image)[1:]
        if digest is None and tag in (None, "latest"):
            yield f"{where} {image!r} floats (no tag, or :latest): pin a version tag or a digest"


def _digest_pinned(r: Resource, _: Mapping[str, Any]) -> Iterator[str]:
    for where, image in _images(r):
        if isinstance(image, str) and r.type != "kubernetes:helm.sh/v3:Release" and "@sha256:" not in image:
            yield f"{where} {image!r} is not pinned by digest (a tag can be moved)"


def _requests(r: Resource, _: Mapping[str, Any]) -> Iterator[str]:
    spec = _pod_spec(r)
    for where, container in _containers(spec or {}):
        requests = _map(_get(container, "resources", "requests"))
        missing = [k for k in ("cpu", "memory") if not requests.get(k)]
        if missing:
            yield f"{where}: resources.requests lacks {', '.join(missing)} (the scheduler packs blind)"


# ------------------------------------------------------------------------------------------
# Cost and hygiene (advisory)
# ------------------------------------------------------------------------------------------

_OLD_FAMILIES = re.compile(r"^(db\.|cache\.)?(t1|t2|m1|m2|m3|m4|c1|c3|c4|r3|r4|i2|x1)\.")


def _log_retention(r: Resource, _: Mapping[str, Any]) -> Iterator[str]:
    if not _int(r.inputs.get("retentionInDays")):
        yield "retentionInDays is unset: logs are kept (and billed) forever"


def _current_generation(r: Resource, _: Mapping[str, Any]) -> Iterator[str]:
    candidates: list[tuple[str, Any]] = [
        (key, r.inputs.get(key)) for key in ("instanceType", "instanceClass", "nodeType") if key in r.inputs
    ]
    candidates += [(f"instanceTypes[{i}]", t) for i, t in enumerate(_list(r.inputs.get("instanceTypes")))]
    for key, value in candidates:
        if isinstance(value, str) and _OLD_FAMILIES.match(value):
            yield f"{key} {value!r} is a previous generation: newer ones cost less for more"


def _gp3(r: Resource, _: Mapping[str, Any]) -> Iterator[str]:
    volumes = [("", r.inputs)] if r.type == "aws:ebs/volume:Volume" else []
    volumes += [
        (f"blockDeviceMappings[{i}].ebs.", _get(m, "ebs"))
        for i, m in enumerate(_list(r.inputs.get("blockDeviceMappings")))
    ]
    for prefix, volume in volumes:
        kind = _get(volume, "volumeType") if isinstance(volume, Mapping) else None
        if kind in ("gp2", "standard", "io1"):
            yield f"{prefix}volumeType is {kind!r}: gp3 is cheaper at the same or better performance"


def _key_rotation(r: Resource, _: Mapping[str, Any]) -> Iterator[str]:
    spec = r.inputs.get("customerMasterKeySpec") or r.inputs.get("keySpec") or "SYMMETRIC_DEFAULT"
    if spec == "SYMMETRIC_DEFAULT" and not _true(r.inputs.get("enableKeyRotation")):
        yield "enableKeyRotation should be true"


def _described(r: Resource, _: Mapping[str, Any]) -> Iterator[str]:
    if r.type == "aws:ec2/securityGroup:SecurityGroup":
        description = r.inputs.get("description")
        if not description or description == "Managed by Pulumi":
            yield "the security group has no description of its purpose"
        for key in ("ingress", "egress"):
            for i, rule in enumerate(_list(r.inputs.get(key))):
                if not _get(rule, "description"):
                    yield f"{key}[{i}] has no description"
    elif not r.inputs.get("description"):
        yield "the rule has no description"


# ------------------------------------------------------------------------------------------
# Stack rules: relations between resources
# ------------------------------------------------------------------------------------------

_BUCKETS = ("aws:s3/bucket:Bucket", "aws:s3/bucketV2:BucketV2")


def _dependents(resources: Sequence[Resource], urn: str, patterns: Sequence[str]) -> list[Resource]:
    return [
        r
        for r in resources
        if urn in r.dependencies and any(fnmatch.fnmatchcase(r.type, p) for p in patterns)
    ]


def _buckets_locked_down(resources: Sequence[Resource], _: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    for bucket in (r for r in resources if r.type in _BUCKETS):
        if not _dependents(resources, bucket.urn, ["aws:s3/bucketPublicAccessBlock:*"]):
            yield bucket.urn, "has no BucketPublicAccessBlock"
        encrypted = _dependents(resources, bucket.urn, ["aws:s3/bucketServerSideEncryptionConfiguration*"])
        if not encrypted and not bucket.inputs.get("serverSideEncryptionConfiguration"):
            yield bucket.urn, "has no server-side encryption configuration"


_ATTACHES_GROUPS = (
    "aws:ec2/instance:*",
    "aws:ec2/launchTemplate:*",
    "aws:eks/*",
    "aws:rds/*",
    "aws:elasticache/*",
    "aws:lambda/function:*",
    "aws:ec2/networkInterface*",
)


def _world_ingress_on_load_balancers(
    resources: Sequence[Resource], _: Mapping[str, Any]
) -> Iterator[tuple[str, str]]:
    by_urn = {r.urn: r for r in resources}
    open_groups: set[str] = set()
    for r in resources:
        if any(p == "" for p in _world_ingress(r)):  # only 80/443 open (others are a resource violation)
            if r.type == "aws:ec2/securityGroup:SecurityGroup":
                open_groups.add(r.urn)
            else:
                open_groups.update(
                    d for d in r.dependencies if by_urn.get(d, r).type.endswith(":SecurityGroup")
                )
    for urn in sorted(open_groups):
        for user in _dependents(resources, urn, _ATTACHES_GROUPS):
            yield (
                urn,
                f"is open to the internet on 80/443 but attached to {user.type} {user.name!r}, "
                "not a load balancer",
            )


def _cloudflare_waf(resources: Sequence[Resource], _: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    proxied = [
        r
        for r in resources
        if r.type == "cloudflare:index/zone:Zone"
        or (
            r.type in ("cloudflare:index/dnsRecord:DnsRecord", "cloudflare:index/record:Record")
            and _true(r.inputs.get("proxied"))
        )
    ]
    waf = [
        r
        for r in resources
        if r.type == "cloudflare:index/ruleset:Ruleset" and r.inputs.get("phase") in _CDN_PHASES
    ]
    if proxied and not waf:
        for r in proxied:
            yield (
                r.urn,
                f"is served through Cloudflare without a WAF ruleset (phase {' or '.join(_CDN_PHASES)})",
            )


# ------------------------------------------------------------------------------------------
# The catalogue
# ------------------------------------------------------------------------------------------

_K8S_CONTAINERS = (*WORKLOAD_TYPES,)

RULES: tuple[Rule, ...] = (
    Rule(
        "rds-encrypted-at-rest",
        "RDS and Aurora storage is encrypted at rest.",
        "mandatory",
        ("aws:rds/cluster:Cluster", "aws:rds/instance:Instance", "aws:rds/globalCluster:GlobalCluster"),
        _rds_encrypted,
    ),
    Rule(
        "s3-encrypted-at-rest",
        "S3 default encryption uses SSE-KMS or SSE-S3.",
        "mandatory",
        ("aws:s3/bucketServerSideEncryptionConfiguration*",),
        _s3_encryption,
    ),
    Rule(
        "elasticache-encrypted",
        "ElastiCache encrypts data at rest and in transit.",
        "mandatory",
        ("aws:elasticache/replicationGroup:*", "aws:elasticache/cluster:*"),
        _elasticache_encrypted,
    ),
    Rule(
        "ebs-encrypted",
        "EBS volumes, launch templates and instances encrypt their disks.",
        "mandatory",
        ("aws:ebs/volume:Volume", "aws:ec2/launchTemplate:LaunchTemplate", "aws:ec2/instance:Instance"),
        _ebs_encrypted,
    ),
    Rule(
        "eks-secrets-encrypted",
        "EKS envelope-encrypts Kubernetes secrets with KMS.",
        "mandatory",
        ("aws:eks/cluster:Cluster",),
        _eks_secrets,
    ),
    Rule(
        "encryption-in-transit",
        "TLS only: databases, listeners, CDN viewers and origins, Cloudflare zones.",
        "mandatory",
        (
            "aws:rds/clusterParameterGroup:*",
            "aws:rds/parameterGroup:*",
            "aws:lb/listener:*",
            "aws:alb/listener:*",
            "aws:cloudfront/distribution:*",
            "cloudflare:index/zoneSetting:*",
        ),
        _in_transit,
    ),
    Rule(
        "s3-no-public-access",
        "No S3 bucket is public (access blocks, ACLs, bucket policies).",
        "mandatory",
        (
            "aws:s3/bucketPublicAccessBlock:*",
            "aws:s3/bucketAcl*",
            "aws:s3/bucketPolicy:*",
            "aws:s3/bucket:Bucket",
            "aws:s3/bucketV2:*",
        ),
        _no_public_bucket,
    ),
    Rule(
        "no-world-ingress",
        "Only TCP 80/443 may be open to 0.0.0.0/0 or ::/0.",
        "mandatory",
        (
            "aws:ec2/securityGroup:SecurityGroup",
            "aws:ec2/securityGroupRule:*",
            "aws:vpc/securityGroupIngressRule:*",
        ),
        _no_world_ingress,
    ),
    Rule(
        "cdn-has-waf",
        "Every CloudFront distribution has a WAFv2 web ACL.",
        "mandatory",
        ("aws:cloudfront/distribution:Distribution",),
        _cdn_waf,
    ),
    Rule(
        "database-protection",
        "Databases carry protect, deletion protection, backups and a final snapshot "
        "as the stack's policy config requires.",
        "mandatory",
        ("aws:rds/cluster:Cluster", "aws:rds/instance:Instance", "kubernetes:postgresql.cnpg.io/v1:Cluster"),
        _database_protection,
        _DB_SETTINGS,
    ),
    Rule(
        "imdsv2-required",
        "Nodes require IMDSv2 with a hop limit that keeps pods off the node's role.",
        "mandatory",
        ("aws:ec2/launchTemplate:LaunchTemplate", "aws:ec2/instance:Instance", "aws:eks/nodeGroup:NodeGroup"),
        _imdsv2,
        {
            "maxHopLimit": {
                "type": "integer",
                "minimum": 1,
                "maximum": 64,
                "default": 1,
                "description": "Largest allowed httpPutResponseHopLimit.",
            }
        },
    ),
    Rule(
        "pods-non-root",
        "Pods run as non-root, unprivileged, without privilege escalation.",
        "mandatory",
        _K8S_CONTAINERS,
        _non_root,
    ),
    Rule(
        "containers-have-limits",
        "Every container has resource limits.",
        "mandatory",
        _K8S_CONTAINERS,
        _limits,
        {
            "resources": {
                "type": "array",
                "items": {"enum": ["cpu", "memory", "ephemeral-storage"]},
                "default": ["memory"],
                "description": "Limits every container must set.",
            }
        },
    ),
    Rule(
        "containers-have-probes",
        "Long-running containers have readiness and liveness probes.",
        "mandatory",
        _K8S_CONTAINERS,
        _probes,
    ),
    Rule(
        "no-latest-image",
        "No image floats: no :latest, no missing tag (workloads, CNPG, Helm values).",
        "mandatory",
        (*_K8S_CONTAINERS, "kubernetes:postgresql.cnpg.io/v1:Cluster", "kubernetes:helm.sh/v3:Release"),
        _no_latest,
    ),
    Rule(
        "image-pinned-by-digest",
        "Workload images are pinned by digest.",
        "advisory",
        (*_K8S_CONTAINERS, "kubernetes:postgresql.cnpg.io/v1:Cluster"),
        _digest_pinned,
    ),
    Rule(
        "containers-have-requests",
        "Containers request CPU and memory.",
        "advisory",
        _K8S_CONTAINERS,
        _requests,
    ),
    Rule(
        "log-retention-set",
        "CloudWatch log groups expire their logs.",
        "advisory",
        ("aws:cloudwatch/logGroup:LogGroup",),
        _log_retention,
    ),
    Rule(
        "current-generation-instances",
        "EC2, RDS and ElastiCache use current-generation instance types.",
        "advisory",
        (
            "aws:ec2/launchTemplate:*",
            "aws:ec2/instance:*",
            "aws:eks/nodeGroup:*",
            "aws:rds/clusterInstance:*",
            "aws:rds/instance:*",
            "aws:elasticache/*",
        ),
        _current_generation,
    ),
    Rule(
        "gp3-volumes",
        "EBS volumes are gp3.",
        "advisory",
        ("aws:ebs/volume:Volume", "aws:ec2/launchTemplate:LaunchTemplate"),
        _gp3,
    ),
    Rule(
        "kms-key-rotation",
        "Symmetric KMS keys rotate yearly.",
        "advisory",
        ("aws:kms/key:Key",),
        _key_rotation,
    ),
    Rule(
        "security-groups-described",
        "Security groups and their rules say what they are for.",
        "advisory",
        (
            "aws:ec2/securityGroup:SecurityGroup",
            "aws:vpc/securityGroupIngressRule:*",
            "aws:vpc/securityGroupEgressRule:*",
            "aws:ec2/securityGroupRule:*",
        ),
        _described,
    ),
)

STACK_RULES: tuple[StackRule, ...] = (
    StackRule(
        "s3-buckets-locked-down",
        "Every bucket has a public access block and an encryption configuration.",
        "mandatory",
        _buckets_locked_down,
    ),
    StackRule(
        "world-ingress-only-on-load-balancers",
        "A security group open to the internet is attached to load balancers only.",
        "mandatory",
        _world_ingress_on_load_balancers,
    ),
    StackRule(
        "cloudflare-has-waf",
        "A stack serving through Cloudflare has a WAF ruleset.",
        "mandatory",
        _cloudflare_waf,
    ),
)


# ------------------------------------------------------------------------------------------
# Running the rules
# ------------------------------------------------------------------------------------------


def normalize_config(config: Mapping[str, Any]) -> dict[str, tuple[str | None, dict[str, Any]]]:
    """A policy-pack config (``{"all": level, "<rule>": level | {enforcementLevel, ...settings}}``)
    as ``{rule: (level or None, settings)}``, the way pulumi reads ``--policy-pack-config``."""
    result: dict[str, tuple[str | None, dict[str, Any]]] = {}
    for name, value in config.items():
        if isinstance(value, str):
            result[name] = (value, {})
        elif isinstance(value, Mapping):
            settings = {k: v for k, v in value.items() if k != "enforcementLevel"}
            result[name] = (value.get("enforcementLevel"), settings)
        else:
            raise ValueError(f"policy config {name!r}: expected a level or an object, got {_show(value)}")
    return result


def rule_settings(rule: Rule | StackRule, overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The rule's settings: schema defaults, then ``overrides``."""
    settings = {key: schema.get("default") for key, schema in rule.settings.items()}
    settings.update(overrides or {})
    return settings


def rule_level(rule: Rule | StackRule, config: Mapping[str, tuple[str | None, dict[str, Any]]]) -> str:
    own = config.get(rule.name, (None, {}))[0]
    return own or config.get("all", (None, {}))[0] or rule.level


def _is_unknown(exc: Exception) -> bool:
    # pulumi-policy's UnknownValueError must reach pulumi-policy (it turns it into a preview note).
    return type(exc).__name__ == "UnknownValueError"


def run_rule(rule: Rule, resource: Resource, settings: Mapping[str, Any]) -> list[str]:
    """The rule's messages for one resource; a rule that raises reports instead of crashing."""
    if not rule.applies_to(resource.type):
        return []
    try:
        return [str(m) for m in rule.check(resource, settings)]
    except Exception as exc:
        if _is_unknown(exc):
            raise
        return [f"could not evaluate the rule ({type(exc).__name__}: {exc}); the inputs are not as expected"]


def run_stack_rule(
    rule: StackRule, resources: Sequence[Resource], settings: Mapping[str, Any]
) -> list[tuple[str, str]]:
    try:
        return [(str(urn), str(m)) for urn, m in rule.check(resources, settings)]
    except Exception as exc:
        if _is_unknown(exc):
            raise
        return [("", f"could not evaluate the rule ({type(exc).__name__}: {exc})")]


def evaluate(resources: Sequence[Resource], config: Mapping[str, Any] | None = None) -> list[Violation]:
    """Every violation of every enabled rule over a stack's resources, with its enforcement level."""
    normalized = normalize_config(config or {})
    violations: list[Violation] = []
    for rule in RULES:
        level = rule_level(rule, normalized)
        if level == "disabled":
            continue
        settings = rule_settings(rule, normalized.get(rule.name, (None, {}))[1])
        for resource in resources:
            violations += [
                Violation(rule.name, level, resource.urn, m) for m in run_rule(rule, resource, settings)
            ]
    for stack_rule in STACK_RULES:
        level = rule_level(stack_rule, normalized)
        if level == "disabled":
            continue
        settings = rule_settings(stack_rule, normalized.get(stack_rule.name, (None, {}))[1])
        violations += [
            Violation(stack_rule.name, level, urn, m)
            for urn, m in run_stack_rule(stack_rule, resources, settings)
        ]
    return violations
