"""What a synthesis is written as: a tree for people, files for tools.

Everything here is deterministic: sorted keys, sorted resources, no timestamps, so that two
runs give byte-identical files and a diff shows only real changes.
"""

from __future__ import annotations

import json
import re
import shutil
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import yaml

from synth.engine import Registration, Synthesis

HELM_RELEASE = "kubernetes:helm.sh/v3:Release"


def _short_type(type_: str) -> str:
    return type_.rsplit(":", 1)[-1]


def _children(synthesis: Synthesis) -> dict[str | None, list[Registration]]:
    children: dict[str | None, list[Registration]] = defaultdict(list)
    urns = {r.urn for r in synthesis.resources}
    for resource in synthesis.resources:
        parent = resource.parent if resource.parent in urns else None
        children[parent].append(resource)
    return children


def render_tree(synthesis: Synthesis) -> str:
    """A readable resource tree (components and what they hold), then counts per type."""
    children = _children(synthesis)
    lines = [f"stack {synthesis.stack} ({synthesis.project}): {len(synthesis.resources)} resources"]

    def walk(parent: str | None, depth: int) -> None:
        for resource in sorted(children.get(parent, []), key=lambda r: (r.custom, r.type, r.name)):
            flag = " [protected]" if resource.protect else ""
            lines.append(f"{'  ' * depth}- {resource.type} {resource.name}{flag}")
            walk(resource.urn, depth + 1)

    walk(None, 1)
    lines.append("")
    lines.append("resources by type:")
    for type_, count in sorted(Counter(r.type for r in synthesis.resources).items()):
        lines.append(f"  {count:4d}  {type_}")
    return "\n".join(lines)


def resources_json(synthesis: Synthesis) -> str:
    return json.dumps([r.as_export() for r in synthesis.resources], indent=2, sort_keys=True) + "\n"


def manifest(resource: Registration) -> dict[str, Any] | None:
    """The Kubernetes object a resource applies, or None for anything else (Helm releases, providers)."""
    if not resource.type.startswith("kubernetes:") or resource.type == HELM_RELEASE:
        return None
    _, group_version, kind = resource.type.split(":")
    group, version = group_version.rsplit("/", 1)
    inputs = dict(resource.export_inputs())
    api_version = inputs.pop("apiVersion", version if group == "core" else f"{group}/{version}")
    kind = inputs.pop("kind", kind)
    metadata = dict(inputs.pop("metadata", {}) or {})
    metadata.setdefault("name", resource.name)
    return {"apiVersion": api_version, "kind": kind, "metadata": metadata, **inputs}


def manifests(synthesis: Synthesis) -> list[dict[str, Any]]:
    """Every Kubernetes object of the stack, in URN order."""
    return [m for r in synthesis.resources if (m := manifest(r)) is not None]


def mermaid_graph(synthesis: Synthesis) -> str:
    """A Mermaid flowchart of the component tree, each component with its resource count."""
    components = [
        r for r in synthesis.resources if not r.custom and not r.type.startswith("pulumi:providers:")
    ]
    ids = {r.urn: f"c{i}" for i, r in enumerate(components)}
    counts: Counter[str] = Counter(r.parent or "" for r in synthesis.resources if r.custom)
    lines = ["flowchart TD", f'  stack(["stack {synthesis.stack}"])']
    for resource in components:
        label = f"{_short_type(resource.type)} {resource.name}<br/>{counts[resource.urn]} resources"
        lines.append(f'  {ids[resource.urn]}["{label}"]')
    for resource in components:
        parent = ids.get(resource.parent or "", "stack")
        lines.append(f"  {parent} --> {ids[resource.urn]}")
    return "\n".join(lines) + "\n"


def _file_name(obj: dict[str, Any]) -> str:
    metadata = obj["metadata"]
    parts = [obj["kind"].lower(), metadata.get("namespace") or "cluster", str(metadata["name"])]
    return re.sub(r"[^a-z0-9._-]+", "-", "_".join(parts).lower()) + ".yaml"


def write_outputs(synthesis: Synthesis, out: Path) -> int:
    """Write resources.json, manifests/ and graph.mmd; return the number of manifests."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "resources.json").write_text(resources_json(synthesis))
    (out / "graph.mmd").write_text(mermaid_graph(synthesis))
    manifest_dir = out / "manifests"
    if manifest_dir.exists():
        shutil.rmtree(manifest_dir)
    manifest_dir.mkdir()
    objects = manifests(synthesis)
    for obj in objects:
        (manifest_dir / _file_name(obj)).write_text(yaml.safe_dump(obj, sort_keys=True))
    return len(objects)
