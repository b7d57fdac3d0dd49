"""Check every resource's inputs against the provider SDK's input types, offline.

``python -m synth <stack> --check`` synthesizes the stack and walks each resource's recorded
inputs (the wire names the engine would send) along the SDK's ``@pulumi.input_type`` Args
classes: every key must be a property of its type, nested objects, lists and maps are followed,
and properties the SDK declares required must be present. It reports

- unknown keys (a typo: the SDK passes nested dicts through untouched, so ``pulumi up`` fails),
- keys left in snake_case where the wire name is camelCase (``http_tokens`` for ``httpTokens``),
- missing required properties,

each with the resource's URN and the property path. AWS, random, postgresql and cloudflare
resources are walked to the leaves; Kubernetes objects are checked at the top level only (the
Kubernetes and CRD JSON schemas in the tests are stricter below it). Component resources have
no provider inputs and are skipped.
"""

from __future__ import annotations

import collections.abc
import difflib
import importlib
import re
import sys
import typing
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any, Literal

__all__ = ["InputProblem", "args_class", "check_inputs", "check_resources", "render_problems"]

_PACKAGES = {
    "aws": "pulumi_aws",
    "random": "pulumi_random",
    "postgresql": "pulumi_postgresql",
    "cloudflare": "pulumi_cloudflare",
    "kubernetes": "pulumi_kubernetes",
}
# Top-level fields a Kubernetes custom resource (``apiextensions.CustomResource``) carries.
_CUSTOM_RESOURCE_FIELDS = frozenset({"apiVersion", "kind", "metadata", "spec"})


@dataclass(frozen=True)
class InputProblem:
    """One input that the provider would refuse or silently ignore."""

    urn: str
    type: str
    path: str
    kind: Literal["unknown", "snake_case", "missing"]
    message: str

    def __str__(self) -> str:
        return f"{self.urn}: {self.path}: {self.message}"


# ------------------------------------------------------------------------------------------
# The SDK's input types
# ------------------------------------------------------------------------------------------


def _module_path(package: str, module: str) -> list[str] | None:
    """Attribute path from the SDK's top package to the module holding the type's classes."""
    if package == "kubernetes":
        group, _, version = module.partition("/")
        return [group.split(".")[0], version] if version else None
    name = module.split("/", maxsplit=1)[0]
    return [] if name == "index" else [name]


@cache
def args_class(type_token: str) -> type | None:
    """The SDK's ``...Args`` input type of a resource type token, or None when there is none."""
    parts = type_token.split(":")
    if len(parts) != 3:
        return None
    package, module, name = parts
    path: list[str] | None
    if package == "pulumi" and module == "providers" and name in _PACKAGES:
        root, path, name = _PACKAGES[name], [], "Provider"
    elif package in _PACKAGES:
        root, path = _PACKAGES[package], _module_path(package, module)
    else:
        return None
    if path is None:
        return None
    # Attribute access keeps the SDKs' lazy loading: importing a whole module costs seconds.
    try:
        resource: Any = importlib.import_module(root)
        for attribute in [*path, name]:
            resource = getattr(resource, attribute)
    except (ImportError, AttributeError):
        return None
    # The resource's own module holds its input type; where a nested type has the same name, the
    # SDK calls the resource's one `<Name>InitArgs`.
    module_of = sys.modules.get(getattr(resource, "__module__", ""))
    for candidate in (f"{name}InitArgs", f"{name}Args"):
        found = getattr(module_of, candidate, None)
        if _is_input_type(found):
            return found
    return None


def _is_input_type(cls: Any) -> bool:
    from pulumi import _types

    return isinstance(cls, type) and _types.is_input_type(cls)


Shape = tuple[str, Any]
"""("object", Args class) | ("list", Shape) | ("map", Shape) | ("leaf", None)."""


def _shape(hint: Any) -> Shape:
    from pulumi import _types

    hint = _types.unwrap_type(hint)
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (list, collections.abc.Sequence) and args:
        return ("list", _shape(args[0]))
    if origin in (dict, collections.abc.Mapping) and len(args) == 2:
        return ("map", _shape(args[1]))
    if _is_input_type(hint):
        return ("object", hint)
    if origin is typing.Union or str(origin) == "<class 'types.UnionType'>":
        for candidate in args:
            shape = _shape(candidate)
            if shape[0] != "leaf":
                return shape
    return ("leaf", None)


@cache
def _properties(cls: type) -> tuple[dict[str, Shape], frozenset[str]]:
    """(wire name → shape, required wire names) of an input type."""
    from pulumi import _types

    shapes = {name: _shape(hint) for name, hint in _types.input_type_types(cls).items()}
    return shapes, _types._required_property_names(cls)


# ------------------------------------------------------------------------------------------
# Walking the inputs
# ------------------------------------------------------------------------------------------


def _camel(key: str) -> str:
    head, *rest = key.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


_SNAKE = re.compile(r"^[a-z0-9]+(_[a-z0-9]+)+$")


def _walk_object(
    value: Mapping[str, Any], cls: type, path: str, found: list[tuple[str, str, str]], deep: bool
) -> None:
    shapes, required = _properties(cls)
    for key, item in value.items():
        where = f"{path}.{key}" if path else key
        if key not in shapes:
            camel = _camel(key)
            if _SNAKE.match(key) and camel in shapes:
                found.append(("snake_case", where, f"key left in snake_case: the wire name is {camel!r}"))
            else:
                close = difflib.get_close_matches(key, list(shapes), n=1)
                hint = f"; did you mean {close[0]!r}?" if close else ""
                found.append(("unknown", where, f"unknown property of {cls.__name__}{hint}"))
            continue
        if deep:
            _walk(item, shapes[key], where, found)
    for name in sorted(required - set(value)):
        where = f"{path}.{name}" if path else name
        found.append(("missing", where, f"required property of {cls.__name__} is missing"))


def _walk(value: Any, shape: Shape, path: str, found: list[tuple[str, str, str]]) -> None:
    kind, inner = shape
    if kind == "object" and isinstance(value, Mapping):
        _walk_object(value, inner, path, found, deep=True)
    elif kind == "list" and isinstance(value, list):
        for i, item in enumerate(value):
            _walk(item, inner, f"{path}[{i}]", found)
    elif kind == "map" and isinstance(value, Mapping):
        for key, item in value.items():
            _walk(item, inner, f"{path}.{key}", found)


def check_inputs(type_token: str, inputs: Mapping[str, Any], urn: str = "") -> list[InputProblem]:
    """Problems of one resource's inputs (wire names) against its SDK input type."""
    found: list[tuple[str, str, str]] = []
    cls = args_class(type_token)
    if type_token.startswith("kubernetes:") and not type_token.startswith("kubernetes:helm.sh/"):
        if cls is None:  # a custom resource: only its envelope is fixed
            for key in sorted(set(inputs) - _CUSTOM_RESOURCE_FIELDS):
                found.append(("unknown", key, "unknown top-level field of a custom resource"))
        else:
            _walk_object(inputs, cls, "", found, deep=False)
    elif cls is not None:
        deep = not type_token.startswith("pulumi:providers:")  # provider inputs travel as JSON text
        _walk_object(inputs, cls, "", found, deep=deep)
    return [InputProblem(urn, type_token, path, kind, message) for kind, path, message in found]  # type: ignore[arg-type]


def check_resources(resources: Iterable[Any]) -> list[InputProblem]:
    """Problems of every custom resource of a synthesis (``synth.engine.Registration`` objects)."""
    problems: list[InputProblem] = []
    for resource in resources:
        if resource.custom:
            problems += check_inputs(resource.type, resource.inputs, resource.urn)
    return problems


def unchecked_types(resources: Iterable[Any]) -> list[str]:
    """Custom resource types with no SDK input type to check against (reported, not failed)."""
    return sorted(
        {
            r.type
            for r in resources
            if r.custom and args_class(r.type) is None and not r.type.startswith("kubernetes:")
        }
    )


def render_problems(problems: Iterable[InputProblem]) -> str:
    lines = [str(p) for p in sorted(problems, key=lambda p: (p.urn, p.path))]
    return "\n".join(lines)
