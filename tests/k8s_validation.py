"""Validate rendered Kubernetes manifests against the real schemas, the way kubeconform does.

Built-in kinds go through the strict OpenAPI-derived JSON schemas that ``kubernetes-validate``
ships for one pinned Kubernetes version (strict: an unknown or misspelled field is an error).
Custom resources go through their operator's CRD schema in
``SCHEMAS_DIR/crds/<group>/<kind lowercased>_<version>.json``. CRD schemas leave ``metadata``
open and some embed a whole pod template, so those parts are also checked against the core
``ObjectMeta`` / ``PodTemplateSpec`` schemas of the pinned version.

Validators are built once per (apiVersion, kind, version) and cached: loading the shared
``_definitions.json`` costs far more than validating one object.

    errors = validate_manifests(manifests)  # [] when every manifest is valid
    assert_valid(manifests)                 # skips/fails (tests.tools.need) when schemas are missing
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
from referencing import Registry, Resource

from tests.tools import SCHEMAS_DIR, need

# The clusters' version (`cluster.version` in Pulumi.<stack>.yaml): manifests must be valid for
# the API server they go to, not for a newer one. EKS also offers 1.34 and 1.35 and
# kubernetes-validate 1.37 ships schemas up to 1.37: bump this together with the stacks.
KUBERNETES_VERSION = "1.33"

CRDS_DIR = SCHEMAS_DIR / "crds"
_DEFINITIONS_URI = "https://kubernetes.io/api/_definitions.json"

# Custom resources that embed a pod template, by (group, kind): where the template sits.
_EMBEDDED_POD_TEMPLATES: dict[tuple[str, str], tuple[str, ...]] = {
    ("argoproj.io", "Rollout"): ("spec", "template"),
}

# metadata.name rules of the API server (RFC 1123 subdomain; labels and label keys).
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_LABEL_NAME = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$")


def _kubernetes_schema_dir(version: str) -> Path:
    import kubernetes_validate

    root = Path(kubernetes_validate.__file__).parent / "kubernetes-json-schema"
    path = root / f"v{version}.0-local-strict"
    if not path.is_dir():
        shipped = sorted(p.name for p in root.iterdir())
        raise ValueError(f"kubernetes-validate ships no strict schemas for {version}: {shipped}")
    return path


@cache
def _core_registry(version: str) -> Registry:
    definitions = json.loads((_kubernetes_schema_dir(version) / "_definitions.json").read_text())
    return Resource.from_contents(definitions) @ Registry()


def _split_api_version(api_version: str) -> tuple[str, str]:
    group, _, version = api_version.rpartition("/")
    return group, version


def _core_schema_path(api_version: str, kind: str, version: str) -> Path:
    # Same file naming as kubernetes_validate.validate: "rbac.authorization.k8s.io/v1" -> "rbac-v1".
    short = re.sub(r"^([^./]*)(?:\.[^/]*)?/", r"\1-", api_version)
    return _kubernetes_schema_dir(version) / f"{kind.lower()}-{short}.json"


def _crd_schema_path(api_version: str, kind: str) -> Path:
    group, version = _split_api_version(api_version)
    return CRDS_DIR / group / f"{kind.lower()}_{version}.json"


@cache
def _validator(api_version: str, kind: str, version: str) -> jsonschema.protocols.Validator | None:
    """A validator for one kind, or None when no schema knows it. CRD schemas win over core ones."""
    crd_path = _crd_schema_path(api_version, kind)
    if crd_path.is_file():
        schema = json.loads(crd_path.read_text())
        cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft7Validator)
        return cls(schema)
    core_path = _core_schema_path(api_version, kind, version)
    if core_path.is_file():
        schema = json.loads(core_path.read_text())
        return jsonschema.Draft202012Validator(schema, registry=_core_registry(version))
    return None


@cache
def _definition_validator(definition: str, version: str) -> jsonschema.protocols.Validator:
    schema = {"$ref": f"{_DEFINITIONS_URI}#/$defs/{definition}"}
    return jsonschema.Draft202012Validator(schema, registry=_core_registry(version))


def _errors(
    validator: jsonschema.protocols.Validator, instance: object, where: str, prefix: str
) -> list[str]:
    found = []
    for error in sorted(validator.iter_errors(instance), key=lambda e: list(map(str, e.absolute_path))):
        path = ".".join(str(part) for part in error.absolute_path)
        location = f"{prefix}.{path}" if prefix and path else (prefix or path or "<root>")
        found.append(f"{where}: {location}: {error.message}")
    return found


def _metadata_errors(metadata: Mapping[str, Any], where: str) -> list[str]:
    found = []
    name = metadata.get("name")
    if not isinstance(name, str) or not name:
        found.append(f"{where}: metadata.name is missing")
    elif len(name) > 253 or not _DNS_SUBDOMAIN.match(name):
        found.append(f"{where}: metadata.name {name!r} is not a valid DNS subdomain")
    for key, value in (metadata.get("labels") or {}).items():
        prefix, _, label = str(key).rpartition("/")
        if not label or len(label) > 63 or not _LABEL_NAME.match(label) or len(prefix) > 253:
            found.append(f"{where}: label key {key!r} is not valid")
        if not isinstance(value, str) or len(value) > 63 or not _LABEL_NAME.match(value):
            found.append(f"{where}: label {key}={value!r} has an invalid value")
    return found


def _dig(obj: Any, path: Iterable[str]) -> Any:
    for part in path:
        if not isinstance(obj, Mapping):
            return None
        obj = obj.get(part)
    return obj


def validate_manifest(manifest: Mapping[str, Any], version: str = KUBERNETES_VERSION) -> list[str]:
    """Every schema error of one manifest, as ``"<Kind>/<name>: <path>: <message>"`` strings."""
    api_version, kind = manifest.get("apiVersion"), manifest.get("kind")
    metadata = manifest.get("metadata")
    name = metadata.get("name") if isinstance(metadata, Mapping) else None
    where = f"{kind}/{name}"
    if not isinstance(api_version, str) or not isinstance(kind, str):
        return [f"{where}: apiVersion and kind must be strings"]
    if not isinstance(metadata, Mapping):
        return [f"{where}: metadata is missing"]
    validator = _validator(api_version, kind, version)
    if validator is None:
        return [
            f"{where}: no schema for {api_version} {kind} in Kubernetes {version} "
            f"nor in {_crd_schema_path(api_version, kind)}"
        ]
    found = _errors(validator, manifest, where, "")
    found += _metadata_errors(metadata, where)
    group, _ = _split_api_version(api_version)
    if _crd_schema_path(api_version, kind).is_file():
        # CRD schemas accept any metadata and any apiVersion/kind strings.
        meta = _definition_validator("io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta", version)
        found += _errors(meta, metadata, where, "metadata")
        template_path = _EMBEDDED_POD_TEMPLATES.get((group, kind))
        if template_path is not None:
            template = _dig(manifest, template_path)
            if template is not None:
                pod = _definition_validator("io.k8s.api.core.v1.PodTemplateSpec", version)
                found += _errors(pod, template, where, ".".join(template_path))
    # The CRD and core schemas can report the same embedded-template error twice.
    return list(dict.fromkeys(found))


def validate_manifests(
    manifests: Iterable[Mapping[str, Any]], version: str = KUBERNETES_VERSION
) -> list[str]:
    """Every schema error of every manifest; also flags two objects with the same kind and name."""
    found: list[str] = []
    seen: set[tuple[str, str, str]] = set()
    for manifest in manifests:
        found += validate_manifest(manifest, version)
        metadata = manifest.get("metadata") or {}
        key = (str(manifest.get("kind")), str(metadata.get("namespace")), str(metadata.get("name")))
        if key in seen:
            found.append(f"{key[0]}/{key[2]}: rendered twice in namespace {key[1]}")
        seen.add(key)
    return found


def schemas_available() -> bool:
    """Whether the CRD schema folder is present (kubernetes-validate is a Python dependency)."""
    return CRDS_DIR.is_dir()


def assert_valid(manifests: Iterable[Mapping[str, Any]], version: str = KUBERNETES_VERSION) -> None:
    """Fail the calling test with every schema error; skip (or fail in CI) without the schemas."""
    need(schemas_available(), f"CRD schemas not found in {CRDS_DIR}")
    errors = validate_manifests(list(manifests), version)
    assert not errors, "invalid manifests:\n" + "\n".join(errors)


def pod_lifecycle_handler_fields(version: str = KUBERNETES_VERSION) -> set[str]:
    """The handler kinds (exec, httpGet, sleep, …) a container lifecycle hook accepts in ``version``."""
    definitions = json.loads((_kubernetes_schema_dir(version) / "_definitions.json").read_text())
    return set(definitions["$defs"]["io.k8s.api.core.v1.LifecycleHandler"]["properties"])
