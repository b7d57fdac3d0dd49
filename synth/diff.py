"""Compare two synthesized stacks and render the difference as a pull-request comment.

``python -m synth <stack> --out DIR`` writes ``DIR/resources.json``; running it on the base and
on the head of a pull request and diffing the two files shows reviewers what a change would do
to the infrastructure without a cloud account: which resources are added, removed or changed,
down to the property, and — loudly, at the top — every change that would delete or replace a
protected or stateful resource, or turn ``protect`` off.

Usage::

    python -m synth diff OLD.json NEW.json [--title TITLE] [--fail-on-danger]

Exit codes: 0 the diff was printed; 2 a file is missing or malformed (one-line message on
stderr); 3 with ``--fail-on-danger`` when the diff contains at least one danger (the Markdown
is still printed, so CI can post it and then fail the job).

Resources are matched by URN without its stack and project parts, so files from two different
stacks can be compared. A resource whose URN changes is, to Pulumi, a delete and a create; when
a removed and an added resource have the same type and identical inputs the pair is reported as
a likely rename, because an ``aliases`` option would turn it into a no-op.
"""

from __future__ import annotations

import argparse
import difflib
import fnmatch
import json
import re
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

__all__ = [
    "ABSENT",
    "EXIT_DANGER",
    "EXIT_INPUT_ERROR",
    "FORCES_REPLACEMENT",
    "STATEFUL_TYPES",
    "Danger",
    "DiffInputError",
    "PropertyChange",
    "Rename",
    "ResourceChange",
    "ResourceRef",
    "StackDiff",
    "diff_resources",
    "forces_replacement",
    "load_resources",
    "main",
    "render_markdown",
    "stateful_kind",
]

EXIT_INPUT_ERROR = 2
EXIT_DANGER = 3

SECRET = "[secret]"

# Types whose deletion or replacement loses data (or, for KMS keys, the ability to read it).
# Keys are fnmatch patterns over type tokens; values name the kind in warnings.
STATEFUL_TYPES: dict[str, str] = {
    "aws:rds/cluster:Cluster": "RDS/Aurora cluster",
    "aws:rds/instance:Instance": "RDS instance",
    "aws:rds/globalCluster:GlobalCluster": "Aurora global cluster",
    "aws:s3/bucket:Bucket": "S3 bucket",
    "aws:s3/bucketV2:BucketV2": "S3 bucket",
    "aws:kms/key:Key": "KMS key",
    "aws:kms/replicaKey:ReplicaKey": "KMS replica key",
    "aws:elasticache/replicationGroup:ReplicationGroup": "ElastiCache replication group",
    "aws:elasticache/cluster:Cluster": "ElastiCache cluster",
    "aws:elasticache/serverlessCache:ServerlessCache": "ElastiCache serverless cache",
    "aws:eks/cluster:Cluster": "EKS cluster",
    "aws:secretsmanager/secret:Secret": "Secrets Manager secret",
    "aws:efs/fileSystem:FileSystem": "EFS file system",
    "aws:dynamodb/table:Table": "DynamoDB table",
    "aws:ebs/volume:Volume": "EBS volume",
    "aws:route53/zone:Zone": "Route53 zone",
    # CloudTrail's log buckets are S3 buckets (above); the event data store holds events itself.
    "aws:cloudtrail/eventDataStore:EventDataStore": "CloudTrail event data store",
    "kubernetes:core/v1:PersistentVolumeClaim": "PersistentVolumeClaim",
    "kubernetes:core/v1:PersistentVolume": "PersistentVolume",
    "kubernetes:apps/v1:StatefulSet": "StatefulSet",
    "kubernetes:postgresql.cnpg.io/v1:Cluster": "CloudNativePG cluster",
}

# Input paths (camelCase, as in resources.json) whose change makes the provider replace the
# resource. Keys are fnmatch patterns over type tokens; every matching entry applies. AWS names
# are the pulumi-aws 7 input names (checked against the SDK by the tests); Kubernetes entries
# follow pulumi-kubernetes' force-new table and the fields the API server refuses to update.
FORCES_REPLACEMENT: dict[str, tuple[str, ...]] = {
    # pulumi-aws 7 moved the region onto each resource; changing it recreates the resource.
    "aws:*": ("region",),
    "aws:rds/cluster:Cluster": (
        "availabilityZones",
        "clusterIdentifier",
        "clusterIdentifierPrefix",
        "databaseName",
        "dbSubnetGroupName",
        "dbSystemId",
        "engine",
        "engineMode",
        "kmsKeyId",
        "masterUsername",
        "restoreToPointInTime",
        "s3Import",
        "snapshotIdentifier",
        "sourceRegion",
        "storageEncrypted",
    ),
    "aws:rds/instance:Instance": (
        "availabilityZone",
        "characterSetName",
        "customIamInstanceProfile",
        "dbName",
        "engine",
        "identifier",
        "identifierPrefix",
        "kmsKeyId",
        "ncharCharacterSetName",
        "restoreToPointInTime",
        "s3Import",
        "snapshotIdentifier",
        "storageEncrypted",
        "timezone",
        "username",
    ),
    "aws:rds/clusterInstance:ClusterInstance": (
        "availabilityZone",
        "clusterIdentifier",
        "customIamInstanceProfile",
        "dbSubnetGroupName",
        "engine",
        "identifier",
        "identifierPrefix",
    ),
    "aws:rds/globalCluster:GlobalCluster": (
        "databaseName",
        "engine",
        "globalClusterIdentifier",
        "sourceDbClusterIdentifier",
        "storageEncrypted",
    ),
    "aws:s3/bucket:Bucket": ("bucket", "bucketPrefix", "objectLockEnabled"),
    "aws:s3/bucketV2:BucketV2": ("bucket", "bucketPrefix", "objectLockEnabled"),
    "aws:kms/key:Key": ("customKeyStoreId", "customerMasterKeySpec", "keyUsage", "multiRegion", "xksKeyId"),
    "aws:kms/replicaKey:ReplicaKey": ("primaryKeyArn",),
    "aws:elasticache/replicationGroup:ReplicationGroup": (
        "atRestEncryptionEnabled",
        "dataTieringEnabled",
        "kmsKeyId",
        "replicationGroupId",
        "snapshotArns",
        "snapshotName",
        "subnetGroupName",
        # Replaces only on engine versions before 7.0.5; flagged always, to be safe.
        "transitEncryptionEnabled",
    ),
    "aws:elasticache/cluster:Cluster": (
        "availabilityZone",
        "clusterId",
        "replicationGroupId",
        "snapshotArns",
        "snapshotName",
        "subnetGroupName",
    ),
    "aws:elasticache/serverlessCache:ServerlessCache": ("kmsKeyId", "name", "snapshotArnsToRestores"),
    "aws:eks/cluster:Cluster": (
        "bootstrapSelfManagedAddons",
        "encryptionConfig",
        "kubernetesNetworkConfig.ipFamily",
        "kubernetesNetworkConfig.serviceIpv4Cidr",
        "name",
        "outpostConfig",
        "roleArn",
        "vpcConfig.subnetIds",
    ),
    "aws:secretsmanager/secret:Secret": ("name", "namePrefix"),
    "aws:efs/fileSystem:FileSystem": (
        "availabilityZoneName",
        "creationToken",
        "encrypted",
        "kmsKeyId",
        "performanceMode",
    ),
    "aws:dynamodb/table:Table": ("hashKey", "name", "rangeKey"),
    "aws:ebs/volume:Volume": ("availabilityZone", "encrypted", "kmsKeyId", "outpostArn", "snapshotId"),
    "aws:route53/zone:Zone": ("delegationSetId", "name"),
    "kubernetes:*": ("metadata.name", "metadata.namespace"),
    # pulumi-kubernetes replaces a claim on any spec change (storageClassName, size, …).
    "kubernetes:core/v1:PersistentVolumeClaim": ("spec",),
    "kubernetes:apps/v1:StatefulSet": (
        "spec.podManagementPolicy",
        "spec.selector",
        "spec.serviceName",
        "spec.volumeClaimTemplates",
    ),
}

# Display limits that keep a comment readable (GitHub caps comments at 65 536 characters).
VALUE_WIDTH = 80
MAX_PROPERTIES_PER_RESOURCE = 40
MAX_RESOURCES_PER_SECTION = 150
MAX_LIST_WITHOUT_DETAILS = 25

_URN = re.compile(r"^urn:pulumi:(?P<stack>[^:]+)::(?P<project>[^:]+)::(?P<type>.+)::(?P<name>.*)$", re.S)
_PLAIN_KEY = re.compile(r"^[A-Za-z_$][\w$-]*$")
_OPTION_KEYS = ("protect", "provider", "parent", "custom")


class DiffInputError(Exception):
    """A resources file (or list) that is not what ``python -m synth --out`` writes."""


class _Absent:
    """Marks a property missing on one side of a change."""

    _instance: _Absent | None = None

    def __new__(cls) -> _Absent:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "ABSENT"


ABSENT: Any = _Absent()


@dataclass(frozen=True)
class PropertyChange:
    """One changed value; ``old`` or ``new`` is ``ABSENT`` when the property was added or removed."""

    path: str
    old: Any
    new: Any

    def describe(self, width: int = VALUE_WIDTH) -> str:
        """One line: ``+ path: value``, ``- path: value`` or ``~ path: old → new``."""
        if self.old is ABSENT:
            return f"+ {self.path}: {_show(self.new, width)}"
        if self.new is ABSENT:
            return f"- {self.path}: {_show(self.old, width)}"
        old, new = _show_pair(self.old, self.new, width)
        return f"~ {self.path}: {old} → {new}"


@dataclass(frozen=True)
class ResourceRef:
    """An added or removed resource."""

    urn: str
    type: str
    name: str
    protect: bool
    stateful: str | None
    """The stateful kind (e.g. "S3 bucket"), or None."""


@dataclass(frozen=True)
class ResourceChange:
    """A resource present on both sides whose inputs or options differ."""

    urn: str
    type: str
    name: str
    inputs: tuple[PropertyChange, ...]
    options: tuple[PropertyChange, ...]
    """Changes of ``protect``, ``provider``, ``parent`` or ``custom``."""
    replace_paths: tuple[str, ...]
    """Changed input paths that force the provider to replace the resource."""
    stateful: str | None
    protect: bool
    """``protect`` on the old side (what guards the resource during this update)."""

    @property
    def replaces(self) -> bool:
        return bool(self.replace_paths)


@dataclass(frozen=True)
class Rename:
    """A removed and an added resource with the same type and identical inputs."""

    old: ResourceRef
    new: ResourceRef


@dataclass(frozen=True)
class Danger:
    """A change that can lose data or drop a safeguard."""

    kind: Literal["delete", "replace", "unprotect"]
    urn: str
    type: str
    name: str
    message: str
    """One Markdown sentence starting with its verb ("Deletes …", "Replaces …")."""


@dataclass(frozen=True)
class StackDiff:
    """Everything ``render_markdown`` needs; every sequence is sorted by URN."""

    added: tuple[ResourceRef, ...]
    removed: tuple[ResourceRef, ...]
    changed: tuple[ResourceChange, ...]
    renamed: tuple[Rename, ...]
    dangers: tuple[Danger, ...]
    unchanged: int
    old_stack: str | None
    new_stack: str | None

    @property
    def is_empty(self) -> bool:
        return not (self.added or self.removed or self.changed or self.renamed)


# --------------------------------------------------------------------------- loading


def load_resources(path: str | Path) -> list[dict[str, Any]]:
    """Read and validate a ``resources.json``; raise ``DiffInputError`` naming the file and problem."""
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DiffInputError(f"{source}: no such file") from None
    except (OSError, UnicodeDecodeError) as err:
        raise DiffInputError(f"{source}: cannot read: {err}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        raise DiffInputError(
            f"{source}: not valid JSON (line {err.lineno}, column {err.colno}: {err.msg})"
        ) from None
    _validate(data, source)
    return data


def _validate(data: object, source: str) -> None:
    if not isinstance(data, list):
        raise DiffInputError(
            f"{source}: expected a JSON array of resources (as written by `python -m synth --out`), "
            f"got {_json_kind(data)}"
        )
    first_index: dict[str, int] = {}
    stacks: set[tuple[str, str]] = set()
    for index, entry in enumerate(data):
        where = f"{source}: entry #{index}"
        if not isinstance(entry, dict):
            raise DiffInputError(f"{where}: expected a resource object, got {_json_kind(entry)}")
        missing = [key for key in ("urn", "type", "inputs") if key not in entry]
        if missing:
            raise DiffInputError(f"{where}: not a resource: missing {', '.join(map(repr, missing))}")
        urn, type_, inputs = entry["urn"], entry["type"], entry["inputs"]
        match = _URN.match(urn) if isinstance(urn, str) else None
        if match is None:
            raise DiffInputError(f"{where}: 'urn' is not a Pulumi URN: {_show(urn, VALUE_WIDTH)}")
        where = f"{source}: {urn}"
        if not isinstance(type_, str) or match["type"].split("$")[-1] != type_:
            raise DiffInputError(f"{where}: 'type' {_show(type_, VALUE_WIDTH)} does not match the URN")
        if not isinstance(inputs, dict):
            raise DiffInputError(f"{where}: 'inputs' must be an object, got {_json_kind(inputs)}")
        for key, kinds in (("name", str), ("custom", bool), ("protect", bool)):
            if key in entry and not isinstance(entry[key], kinds):
                raise DiffInputError(f"{where}: {key!r} must be {kinds.__name__}")
        for key in ("parent", "provider"):
            if entry.get(key) is not None and not isinstance(entry[key], str):
                raise DiffInputError(f"{where}: {key!r} must be a URN string or null")
        if urn in first_index:
            raise DiffInputError(f"{source}: duplicate URN {urn} (entries #{first_index[urn]} and #{index})")
        first_index[urn] = index
        stacks.add((match["stack"], match["project"]))
    if len(stacks) > 1:
        listed = ", ".join(f"{project}/{stack}" for stack, project in sorted(stacks))
        raise DiffInputError(f"{source}: mixes resources of several stacks ({listed})")


def _json_kind(value: object) -> str:
    names = {dict: "an object", list: "an array", str: "a string", bool: "a boolean", type(None): "null"}
    return names.get(type(value), "a number")


# --------------------------------------------------------------------------- diffing


def stateful_kind(type_: str) -> str | None:
    """The stateful kind of a type token (``"S3 bucket"``), or None."""
    for pattern, kind in STATEFUL_TYPES.items():
        if fnmatch.fnmatchcase(type_, pattern):
            return kind
    return None


def forces_replacement(type_: str, path: str) -> bool:
    """Whether a change at input ``path`` makes the provider replace a resource of ``type_``."""
    return any(
        _covers(key, path) or _covers(path, key)
        for pattern, keys in FORCES_REPLACEMENT.items()
        if fnmatch.fnmatchcase(type_, pattern)
        for key in keys
    )


def _covers(prefix: str, path: str) -> bool:
    return path == prefix or (path.startswith(prefix) and path[len(prefix)] in ".[ ")


def diff_resources(old: Sequence[Mapping[str, Any]], new: Sequence[Mapping[str, Any]]) -> StackDiff:
    """Compare two resource lists (``load_resources`` output or the same shape built in code)."""
    _validate(list(old), "old")
    _validate(list(new), "new")
    old_stack, new_stack = _stack_of(old), _stack_of(new)
    if old_stack and new_stack and old_stack.split("/")[0] != new_stack.split("/")[0]:
        raise DiffInputError(
            f"old is project {old_stack.split('/')[0]!r}, new is project {new_stack.split('/')[0]!r}: "
            "not two versions of one program"
        )
    old_by_key = {_match_key(r["urn"]): r for r in old}
    new_by_key = {_match_key(r["urn"]): r for r in new}

    changed: list[ResourceChange] = []
    unchanged = 0
    for key in sorted(old_by_key.keys() & new_by_key.keys()):
        change = _resource_change(old_by_key[key], new_by_key[key])
        if change is None:
            unchanged += 1
        else:
            changed.append(change)

    removed = [_ref(old_by_key[k]) for k in old_by_key.keys() - new_by_key.keys()]
    added = [_ref(new_by_key[k]) for k in new_by_key.keys() - old_by_key.keys()]
    renamed = _pair_renames(removed, added, old_by_key, new_by_key)
    paired_old = {r.old.urn for r in renamed}
    paired_new = {r.new.urn for r in renamed}
    removed = [r for r in removed if r.urn not in paired_old]
    added = [r for r in added if r.urn not in paired_new]

    changed.sort(key=lambda c: c.urn)
    return StackDiff(
        added=tuple(sorted(added, key=lambda r: r.urn)),
        removed=tuple(sorted(removed, key=lambda r: r.urn)),
        changed=tuple(changed),
        renamed=tuple(sorted(renamed, key=lambda r: (r.new.urn, r.old.urn))),
        dangers=_dangers(removed, changed, renamed),
        unchanged=unchanged,
        old_stack=old_stack,
        new_stack=new_stack,
    )


def _match_key(urn: str) -> str:
    # Stack and project are dropped so two stacks of one program can be compared.
    match = _URN.match(urn)
    assert match is not None
    return f"{match['type']}::{match['name']}"


def _stack_of(resources: Sequence[Mapping[str, Any]]) -> str | None:
    for resource in resources:
        match = _URN.match(resource["urn"])
        assert match is not None
        return f"{match['project']}/{match['stack']}"
    return None


def _ref(resource: Mapping[str, Any]) -> ResourceRef:
    return ResourceRef(
        urn=resource["urn"],
        type=resource["type"],
        name=_name(resource),
        protect=bool(resource.get("protect", False)),
        stateful=stateful_kind(resource["type"]),
    )


def _name(resource: Mapping[str, Any]) -> str:
    name = resource.get("name")
    return name if isinstance(name, str) else resource["urn"].rsplit("::", 1)[-1]


def _resource_change(old: Mapping[str, Any], new: Mapping[str, Any]) -> ResourceChange | None:
    inputs = tuple(_walk(old["inputs"], new["inputs"], ""))
    options = tuple(
        PropertyChange(key, old.get(key, ABSENT), new.get(key, ABSENT))
        for key in _OPTION_KEYS
        if old.get(key) != new.get(key) and not (key == "protect" and not old.get(key) and not new.get(key))
    )
    if not inputs and not options:
        return None
    type_ = new["type"]
    replace_paths = tuple(dict.fromkeys(c.path for c in inputs if forces_replacement(type_, c.path)))
    return ResourceChange(
        urn=new["urn"],
        type=type_,
        name=_name(new),
        inputs=inputs,
        options=options,
        replace_paths=replace_paths,
        stateful=stateful_kind(type_),
        protect=bool(old.get("protect", False)),
    )


def _walk(old: Any, new: Any, path: str) -> Iterable[PropertyChange]:
    """Yield the leaf-most changes between two JSON values, in key/index order."""
    if old == new and type(old) is type(new):
        return
    if isinstance(old, dict) and isinstance(new, dict):
        for key in sorted(old.keys() | new.keys()):
            yield from _walk(old.get(key, ABSENT), new.get(key, ABSENT), _join(path, key))
    elif isinstance(old, list) and isinstance(new, list):
        for index in range(max(len(old), len(new))):
            yield from _walk(
                old[index] if index < len(old) else ABSENT,
                new[index] if index < len(new) else ABSENT,
                f"{path}[{index}]",
            )
    elif isinstance(old, str) and isinstance(new, str) and ("\n" in old or "\n" in new):
        yield from _walk_lines(old, new, path)
    else:
        yield PropertyChange(path, old, new)


def _walk_lines(old: str, new: str, path: str) -> Iterable[PropertyChange]:
    # Config files carried in inputs (ConfigMap data, Helm values) read best line by line.
    old_lines, new_lines = old.splitlines(), new.splitlines()
    matcher = difflib.SequenceMatcher(None, old_lines, new_lines, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            continue
        for offset in range(max(i2 - i1, j2 - j1)):
            i, j = i1 + offset, j1 + offset
            before = old_lines[i] if i < i2 else ABSENT
            after = new_lines[j] if j < j2 else ABSENT
            line = j + 1 if after is not ABSENT else i + 1
            yield PropertyChange(f"{path} (line {line})", before, after)


def _join(path: str, key: str) -> str:
    segment = key if _PLAIN_KEY.match(key) else f"[{json.dumps(key, ensure_ascii=False)}]"
    if not path:
        return segment
    return f"{path}{segment}" if segment.startswith("[") else f"{path}.{segment}"


def _pair_renames(
    removed: list[ResourceRef],
    added: list[ResourceRef],
    old_by_key: Mapping[str, Mapping[str, Any]],
    new_by_key: Mapping[str, Mapping[str, Any]],
) -> list[Rename]:
    """Pair removed and added resources that share type and inputs, when the pairing is unambiguous."""

    def fingerprint(resource: Mapping[str, Any]) -> str:
        return json.dumps([resource["type"], resource["inputs"]], sort_keys=True)

    groups: dict[str, tuple[list[ResourceRef], list[ResourceRef]]] = {}
    for ref in removed:
        groups.setdefault(fingerprint(old_by_key[_match_key(ref.urn)]), ([], []))[0].append(ref)
    for ref in added:
        groups.setdefault(fingerprint(new_by_key[_match_key(ref.urn)]), ([], []))[1].append(ref)
    return [Rename(olds[0], news[0]) for olds, news in groups.values() if len(olds) == 1 and len(news) == 1]


def _dangers(
    removed: Sequence[ResourceRef], changed: Sequence[ResourceChange], renamed: Sequence[Rename]
) -> tuple[Danger, ...]:
    dangers: list[Danger] = []
    for ref in removed:
        if ref.protect or ref.stateful:
            dangers.append(Danger("delete", ref.urn, ref.type, ref.name, f"Deletes {_what(ref)}"))
    for rename in renamed:
        ref = rename.old
        if ref.protect or ref.stateful:
            message = (
                f"Deletes {_what(ref)} and creates it again as `{rename.new.urn}`: the URN changed "
                "(likely a rename: same type and inputs); add `aliases` to keep the resource"
            )
            dangers.append(Danger("delete", ref.urn, ref.type, ref.name, message))
    for change in changed:
        guarded = change.stateful or change.protect
        if change.replaces and guarded:
            paths = ", ".join(f"`{p}`" for p in change.replace_paths[:5])
            more = f" and {len(change.replace_paths) - 5} more" if len(change.replace_paths) > 5 else ""
            message = f"Replaces {_what(change)}: {paths}{more} cannot change in place"
            dangers.append(Danger("replace", change.urn, change.type, change.name, message))
        if any(o.path == "provider" for o in change.options) and guarded and not change.replaces:
            message = f"Moves {_what(change)} to another provider, which can replace it"
            dangers.append(Danger("replace", change.urn, change.type, change.name, message))
        if any(o.path == "protect" and o.old is True and o.new is not True for o in change.options):
            message = f"Turns `protect` off on {_what(change)}"
            dangers.append(Danger("unprotect", change.urn, change.type, change.name, message))
    order = {"delete": 0, "replace": 1, "unprotect": 2}
    return tuple(sorted(dangers, key=lambda d: (order[d.kind], d.urn)))


def _what(resource: ResourceRef | ResourceChange) -> str:
    adjectives = " ".join(
        word for word, on in (("protected", resource.protect), ("stateful", resource.stateful)) if on
    )
    kind = resource.stateful or "resource"
    return f"{adjectives} {kind} `{resource.name}` (`{resource.type}`)".strip()


# --------------------------------------------------------------------------- display of values


def _show(value: Any, width: int) -> str:
    if value is ABSENT:
        return "(absent)"
    if value == SECRET:
        return SECRET
    return _clip(_dump(value), width)


def _dump(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False)


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def _show_pair(old: Any, new: Any, width: int) -> tuple[str, str]:
    """Both sides of a change; long strings are shown around their first difference."""
    if SECRET in (old, new) or not (isinstance(old, str) and isinstance(new, str)):
        return _show(old, width), _show(new, width)
    old_text, new_text = _dump(old), _dump(new)
    if len(old_text) <= width and len(new_text) <= width:
        return old_text, new_text
    common = _common_prefix(old_text, new_text)
    start = max(0, common - width // 4)
    return _window(old_text, start, width), _window(new_text, start, width)


def _common_prefix(a: str, b: str) -> int:
    for index, (x, y) in enumerate(zip(a, b, strict=False)):
        if x != y:
            return index
    return min(len(a), len(b))


def _window(text: str, start: int, width: int) -> str:
    head = "…" if start > 0 else ""
    body = text[start : start + width - len(head)]
    tail = "…" if start + len(body) < len(text) else ""
    return head + body[: len(body) - len(tail)] + tail


# --------------------------------------------------------------------------- Markdown


def render_markdown(
    diff: StackDiff,
    title: str,
    *,
    max_properties: int = MAX_PROPERTIES_PER_RESOURCE,
    max_resources: int = MAX_RESOURCES_PER_SECTION,
) -> str:
    """A pull-request comment for ``diff``: dangers first, then a summary and one section per kind."""
    lines: list[str] = [f"## {title}", ""]
    if diff.dangers:
        count = len(diff.dangers)
        lines.append("> [!CAUTION]")
        lines.append(
            f"> **{count} dangerous change{'s' if count != 1 else ''}: data loss or a dropped safeguard. "
            "Review before merging.**"
        )
        lines.append(">")
        for danger in diff.dangers:
            verb, _, rest = danger.message.partition(" ")
            lines.append(f"> - **{verb}** {rest}  ")
            lines.append(f">   `{danger.urn}`")
        lines.append("")
    if diff.old_stack != diff.new_stack and diff.old_stack and diff.new_stack:
        lines += [f"Comparing stack `{diff.old_stack}` with `{diff.new_stack}`.", ""]
    lines += [_summary(diff), ""]
    if diff.is_empty:
        lines += ["No changes.", ""]
        return "\n".join(lines)

    if diff.added:
        lines += _ref_section("Added", diff.added, max_resources)
    if diff.removed:
        lines += _ref_section("Removed", diff.removed, max_resources)
    if diff.renamed:
        lines += [f"### Renamed ({len(diff.renamed)})", ""]
        lines += [
            "The URN changed, so Pulumi would delete and re-create each of these; identical type and inputs "
            "suggest a rename, which an `aliases` resource option turns into a no-op.",
            "",
        ]
        shown = diff.renamed[:max_resources]
        lines += [
            f"- `{r.new.type}`: `{r.old.name}` → `{r.new.name}`"
            + ("" if r.old.name != r.new.name else f" (from `{r.old.urn}`)")
            for r in shown
        ]
        lines += _more(len(diff.renamed) - len(shown), "resource")
        lines.append("")
    if diff.changed:
        lines += [f"### Changed ({len(diff.changed)})", ""]
        shown_changes = diff.changed[:max_resources]
        for change in shown_changes:
            lines += _change_block(change, max_properties)
        lines += _more(len(diff.changed) - len(shown_changes), "resource")
        lines.append("")
    return "\n".join(lines)


def _summary(diff: StackDiff) -> str:
    replaced = sum(1 for c in diff.changed if c.replaces)
    parts = [
        f"{len(diff.added)} to add",
        f"{len(diff.changed)} to change" + (f" ({replaced} replaced)" if replaced else ""),
        f"{len(diff.removed)} to delete",
    ]
    if diff.renamed:
        parts.append(f"{len(diff.renamed)} renamed")
    parts.append(f"{diff.unchanged} unchanged")
    danger = f" · **{len(diff.dangers)} dangerous**" if diff.dangers else ""
    return f"**Summary:** {', '.join(parts)}{danger}"


def _ref_section(heading: str, refs: Sequence[ResourceRef], limit: int) -> list[str]:
    shown = refs[:limit]
    items = [
        f"- `{r.name}` (`{r.type}`)" + (" · protected" if r.protect else "") + _stateful_note(r.stateful)
        for r in shown
    ]
    items += _more(len(refs) - len(shown), "resource")
    lines = [f"### {heading} ({len(refs)})", ""]
    if len(refs) > MAX_LIST_WITHOUT_DETAILS:
        lines += [f"<details><summary>{len(refs)} resources</summary>", "", *items, "", "</details>"]
    else:
        lines += items
    return [*lines, ""]


def _stateful_note(kind: str | None) -> str:
    return f" · stateful ({kind})" if kind else ""


def _change_block(change: ResourceChange, limit: int) -> list[str]:
    count = len(change.inputs) + len(change.options)
    notes = [f"{count} change{'s' if count != 1 else ''}"]
    if change.replaces:
        notes.append("<b>replace</b>")
    if change.stateful:
        notes.append(f"stateful ({_html(change.stateful)})")
    summary = f"<code>{_html(change.name)}</code> (<code>{_html(change.type)}</code>) — {', '.join(notes)}"
    body = [c.describe() for c in (*change.options, *change.inputs)]
    shown = body[:limit]
    if len(body) > limit:
        shown.append(f"… and {len(body) - limit} more")
    fence = "`" * max(3, _longest_backtick_run(shown) + 1)
    block = [f"<details><summary>{summary}</summary>", "", f"`{change.urn}`", ""]
    if change.replaces:
        block += ["Forces replacement: " + ", ".join(f"`{p}`" for p in change.replace_paths[:10]), ""]
    return [*block, f"{fence}diff", *shown, fence, "", "</details>", ""]


def _longest_backtick_run(lines: Iterable[str]) -> int:
    return max((len(run) for line in lines for run in re.findall(r"`+", line)), default=0)


def _html(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _more(hidden: int, noun: str) -> list[str]:
    return [f"- … and {hidden} more {noun}{'s' if hidden != 1 else ''}"] if hidden > 0 else []


# --------------------------------------------------------------------------- command line


class _UsageError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:  # argparse would print usage and exit; main returns 2 instead
        raise _UsageError(message)


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="python -m synth diff",
        description="Markdown for a pull-request comment comparing two resources.json files.",
        epilog=(
            "exit codes: 0 diff printed; 2 missing or malformed file, bad arguments; "
            "3 dangers found and --fail-on-danger given (the Markdown is still printed)"
        ),
    )
    parser.add_argument("old", metavar="OLD.json", help="resources.json of the base (e.g. main)")
    parser.add_argument("new", metavar="NEW.json", help="resources.json of the change")
    parser.add_argument("--title", help="heading of the comment (default names the stack)")
    parser.add_argument(
        "--fail-on-danger",
        action="store_true",
        help=f"exit {EXIT_DANGER} when a protected or stateful resource would be deleted or replaced, "
        "or protect turned off",
    )
    return parser


def main(argv: list[str]) -> int:
    """``diff OLD.json NEW.json [--title T] [--fail-on-danger]``: print Markdown, return the exit code."""
    args_list = argv[1:] if argv[:1] == ["diff"] else argv
    try:
        args = _parser().parse_args(args_list)
    except _UsageError as err:
        print(f"synth diff: error: {err}", file=sys.stderr)
        return EXIT_INPUT_ERROR
    except SystemExit as exit_:  # --help
        return int(exit_.code or 0)
    try:
        diff = diff_resources(load_resources(args.old), load_resources(args.new))
    except DiffInputError as err:
        print(f"synth diff: error: {err}", file=sys.stderr)
        return EXIT_INPUT_ERROR
    title = args.title or _default_title(diff)
    sys.stdout.write(render_markdown(diff, title))
    sys.stdout.flush()
    return EXIT_DANGER if args.fail_on_danger and diff.dangers else 0


def _default_title(diff: StackDiff) -> str:
    stacks = {s for s in (diff.old_stack, diff.new_stack) if s}
    return f"Infrastructure diff: `{stacks.pop()}`" if len(stacks) == 1 else "Infrastructure diff"
