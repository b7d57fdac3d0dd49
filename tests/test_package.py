"""The package exports every component, one per module, with its typed args."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from types import ModuleType

import pulumi

import components


def _components_of(module: ModuleType) -> list[str]:
    return [
        name
        for name, value in vars(module).items()
        if inspect.isclass(value)
        and issubclass(value, pulumi.ComponentResource)
        and value.__module__ == module.__name__
    ]


def unexported(modules: list[ModuleType], exported: list[str]) -> list[str]:
    """Components defined in ``modules`` that the package does not export."""
    return sorted(name for m in modules for name in _components_of(m) if name not in exported)


def _modules() -> list[ModuleType]:
    names = [m.name for m in pkgutil.iter_modules(components.__path__)]
    return [importlib.import_module(f"components.{name}") for name in names]


def test_every_component_is_exported_and_resolves() -> None:
    assert unexported(_modules(), components.__all__) == []
    for name in components.__all__:
        assert getattr(components, name).__name__ == name


def test_one_component_per_module() -> None:
    crowded = {m.__name__: c for m in _modules() if len(c := _components_of(m)) > 1}
    assert crowded == {}


def test_export_check_catches_a_missing_component() -> None:
    assert unexported(_modules(), [n for n in components.__all__ if n != "Redis"]) == ["Redis"]
