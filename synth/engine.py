"""Run the real Pulumi program for one stack under mocks and record what it would deploy.

No Pulumi CLI, provider plugin, credential or network is needed: the stack's config is read
from ``Pulumi.yaml`` and ``Pulumi.<stack>.yaml`` (``secure:`` values are masked, never
decrypted), the program runs against a recording mock monitor, and every registration is kept
with its URN, parent, provider, ``protect`` flag and inputs. The tests use the same engine.
"""

from __future__ import annotations

import asyncio
import gc
import json
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from synth.mocks import DEFAULT_ACCOUNT, DEFAULT_REGION, PlatformMocks
from synth.paths import ROOT

SECRET = "[secret]"
SECRET_SIG = "4dabf18193072939515e22adb298388d"
SECRET_VALUE = "1b47061264138c4ac30d75fd1eb44270"


class StackFileError(Exception):
    """The project or stack file is missing or malformed."""


@dataclass
class Registration:
    """One resource as the engine would record it."""

    urn: str
    type: str
    name: str
    custom: bool
    parent: str | None
    provider: str | None
    protect: bool
    inputs: dict[str, Any]
    outputs: dict[str, Any] = field(default_factory=dict)
    dependencies: list[str] = field(default_factory=list)
    """URNs this resource waits for (explicit `depends_on` and input references)."""

    def export_inputs(self) -> dict[str, Any]:
        """Inputs with secrets masked."""
        return mask_secrets(self.inputs)

    def as_export(self) -> dict[str, Any]:
        """The shape of a resource in `pulumi stack export`, secrets masked."""
        return {
            "urn": self.urn,
            "type": self.type,
            "name": self.name,
            "custom": self.custom,
            "parent": self.parent,
            "provider": self.provider,
            "protect": self.protect,
            "inputs": self.export_inputs(),
        }


@dataclass
class Synthesis:
    """Everything one stack registered."""

    project: str
    stack: str
    resources: list[Registration]
    outputs: dict[str, Any]

    def by_type(self, type_: str) -> list[Registration]:
        return [r for r in self.resources if r.type == type_]

    def custom(self) -> list[Registration]:
        return [r for r in self.resources if r.custom]


# ------------------------------------------------------------------------------------------
# Stack files
# ------------------------------------------------------------------------------------------


# libyaml's safe loader when PyYAML was built with it (the wheels are): the same documents, faster.
_SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        data = yaml.load(path.read_text(), Loader=_SAFE_LOADER)
    except FileNotFoundError:
        raise StackFileError(f"{path.name} not found in {path.parent}") from None
    except yaml.YAMLError as exc:
        raise StackFileError(f"{path.name} is not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise StackFileError(f"{path.name} must be a YAML mapping")
    return data


def read_project(root: Path = ROOT) -> dict[str, Any]:
    return _read_yaml(root / "Pulumi.yaml")


def stack_names(root: Path = ROOT) -> list[str]:
    return sorted(p.name[len("Pulumi.") : -len(".yaml")] for p in root.glob("Pulumi.*.yaml"))


def read_stack_config(stack: str, root: Path = ROOT) -> tuple[str, dict[str, str], list[str]]:
    """Return (project name, config as the engine passes it, secret keys).

    Object and list values become JSON text, as the engine hands them to the program; values
    declared ``secure:`` become a masked placeholder and are listed as secret keys.
    """
    project = read_project(root)
    name = project.get("name")
    if not isinstance(name, str):
        raise StackFileError("Pulumi.yaml has no project name")
    stack_file = root / f"Pulumi.{stack}.yaml"
    if not stack_file.exists():
        known = ", ".join(stack_names(root)) or "none"
        raise StackFileError(f"no stack named {stack!r} (Pulumi.{stack}.yaml is missing; stacks: {known})")
    values: dict[str, Any] = {}
    for key, decl in (project.get("config") or {}).items():
        if isinstance(decl, dict) and "default" in decl:
            values[_qualify(key, name)] = decl["default"]
    for key, value in (_read_yaml(stack_file).get("config") or {}).items():
        values[_qualify(key, name)] = value
    config: dict[str, str] = {}
    secret_keys: list[str] = []
    for key, value in values.items():
        if _is_secure(value):
            config[key] = SECRET
            secret_keys.append(key)
        else:
            config[key] = value if isinstance(value, str) else json.dumps(_mask_secure(value))
    return name, config, secret_keys


def _qualify(key: str, project: str) -> str:
    return key if ":" in key else f"{project}:{key}"


def _is_secure(value: Any) -> bool:
    return isinstance(value, dict) and set(value) == {"secure"}


def _mask_secure(value: Any) -> Any:
    if _is_secure(value):
        return SECRET
    if isinstance(value, dict):
        return {k: _mask_secure(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_mask_secure(v) for v in value]
    return value


def _mask_leaves(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _mask_leaves(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_mask_leaves(v) for v in value]
    return SECRET


def mask_secrets(value: Any) -> Any:
    """Replace the SDK's secret envelopes by ``"[secret]"``, recursively.

    A secret map (a Kubernetes Secret's ``stringData``) keeps its keys, which name what it holds, and
    masks every value: the object keeps its shape for schema validation and review.
    """
    if isinstance(value, dict):
        if value.get(SECRET_SIG) == SECRET_VALUE:
            return _mask_leaves(value.get("value"))
        return {k: mask_secrets(v) for k, v in value.items()}
    if isinstance(value, list):
        return [mask_secrets(v) for v in value]
    return value


# ------------------------------------------------------------------------------------------
# The recording monitor
# ------------------------------------------------------------------------------------------


def _recording_monitor(mocks: PlatformMocks, sink: list[Registration]) -> Any:
    from pulumi.runtime import rpc
    from pulumi.runtime.mocks import MockMonitor

    class RecordingMonitor(MockMonitor):
        """A mock monitor that also keeps what the engine would store: parent, provider, protect."""

        def RegisterResource(self, request: Any) -> Any:
            response = super().RegisterResource(request)
            if request.type != "pulumi:pulumi:Stack":
                inputs = rpc.deserialize_properties(request.object, keep_unknowns=True)
                provider = request.provider.split("::")[:-1] if request.provider else None
                sink.append(
                    Registration(
                        urn=response.urn,
                        type=request.type,
                        name=request.name,
                        custom=bool(request.custom),
                        parent=request.parent or None,
                        provider="::".join(provider) if provider else None,
                        protect=bool(request.protect),
                        inputs=_plain(inputs),
                        outputs=self.resources[response.urn].state if response.urn in self.resources else {},
                        dependencies=sorted(request.dependencies),
                    )
                )
            return response

    return RecordingMonitor(mocks)


def _plain(value: Any) -> Any:
    """Deserialized inputs as plain JSON values (unknowns shown as a marker)."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items() if v is not None}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    return "[unknown]"


def _skip_stack_traces() -> Callable[[], None]:
    """Stop the SDK capturing a stack trace at each registration; returns what undoes it.

    The trace gives the engine source positions for `pulumi up`'s messages; the mocks discard it,
    and capturing it (every frame of a deep asyncio stack, with its source line) cost ~0.3 s of a
    prod synth. Should the SDK rename the private hook, nothing is patched and a synth is only slower.
    """
    from pulumi.runtime import resource

    original = getattr(resource, "_get_stack_trace", None)
    if original is None:
        return lambda: None
    from pulumi.runtime.proto import source_pb2

    empty = source_pb2.StackTrace()
    resource._get_stack_trace = lambda: empty  # type: ignore[attr-defined]

    def restore() -> None:
        resource._get_stack_trace = original  # type: ignore[attr-defined]

    return restore


def synthesize(
    stack: str,
    *,
    program: Callable[[], Any] | None = None,
    config: Mapping[str, str] | None = None,
    secret_keys: list[str] | None = None,
    project: str | None = None,
    root: Path = ROOT,
    record: list[Registration] | None = None,
) -> Synthesis:
    """Run ``program`` (the project's ``__main__`` by default) for ``stack`` under mocks.

    ``config`` replaces the stack file's config (tests use it for invalid inputs); ``record``
    receives each registration as it happens (so a failed run still shows what was registered).
    Raises the program's ConfigError untouched, so callers can report it.
    """
    import pulumi
    from pulumi.runtime import mocks as pulumi_mocks
    from pulumi.runtime import settings
    from pulumi.runtime.stack import run_pulumi_func

    if config is None:
        project, config, secret_keys = read_stack_config(stack, root)
    project = project or "platform"

    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    sink: list[Registration] = record if record is not None else []
    outputs: dict[str, Any] = {}
    cloud = _decoded(config.get(f"{project}:cloud"))
    mocks = PlatformMocks(
        project=project,
        stack=stack,
        region=cloud.get("region", DEFAULT_REGION),
        account=cloud.get("accountId", DEFAULT_ACCOUNT),
    )
    settings.reset_options()
    pulumi.runtime.set_all_config(dict(config), list(secret_keys or []))
    pulumi_mocks.set_mocks(
        mocks, project=project, stack=stack, preview=False, monitor=_recording_monitor(mocks, sink)
    )
    stack_resource = settings.get_root_resource()

    def run() -> None:
        result = (program or _main_program(ROOT))()
        if isinstance(result, Mapping):
            for key, value in result.items():
                pulumi.export(key, value)

    # The cyclic garbage collector is paused while the program runs: loading the provider SDKs
    # creates tens of thousands of classes and typing objects, and the collections they trigger
    # cost ~25 % of a synth (prod: 3.4 s → 2.5 s) for ~2 MB less peak memory. Nothing here depends
    # on collection; it resumes afterwards.
    collecting = gc.isenabled()
    gc.disable()
    restore_stack_traces = _skip_stack_traces()
    try:
        loop.run_until_complete(run_pulumi_func(run))
        if stack_resource is not None:
            for key, value in getattr(stack_resource, "outputs", {}).items():
                output = pulumi.Output.from_input(value)
                secret = loop.run_until_complete(output.is_secret())
                outputs[key] = SECRET if secret else mask_secrets(loop.run_until_complete(output.future()))
    finally:
        restore_stack_traces()
        if collecting:
            gc.enable()
        settings.reset_options()
        loop.close()
        asyncio.set_event_loop(None)
    sink.sort(key=lambda r: r.urn)
    return Synthesis(project=project, stack=stack, resources=sink, outputs=outputs)


def _decoded(text: str | None) -> dict[str, Any]:
    try:
        value = json.loads(text) if text else {}
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _main_program(root: Path) -> Callable[[], Any]:
    """The project's ``__main__.py`` as a callable (imported once, its ``main`` function)."""
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))
    import importlib.util

    spec = importlib.util.spec_from_file_location("platform_main", root / "__main__.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.main
