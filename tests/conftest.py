"""Shared fixtures: each stack is synthesized once per test session, under the same mocks as `synth`."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from synth.engine import ROOT, Synthesis, read_stack_config, stack_names, synthesize

STACKS = stack_names(ROOT)
AWS_STACKS = ["staging", "uat", "prod"]

_cache: dict[str, Synthesis] = {}


def synthesized(stack: str) -> Synthesis:
    """The stack's synthesis, computed on first use and shared by every test of the session."""
    if stack not in _cache:
        _cache[stack] = synthesize(stack)
    return _cache[stack]


@pytest.fixture(params=STACKS)
def any_stack(request: pytest.FixtureRequest) -> Synthesis:
    return synthesized(request.param)


@pytest.fixture(params=AWS_STACKS)
def aws_stack(request: pytest.FixtureRequest) -> Synthesis:
    return synthesized(request.param)


def stack_values(stack: str) -> dict[str, Any]:
    """The decoded `platform:` values of a stack file (keys without the namespace)."""
    _, config, _ = read_stack_config(stack, ROOT)
    values: dict[str, Any] = {}
    for key, text in config.items():
        if key.startswith("platform:"):
            try:
                values[key.removeprefix("platform:")] = json.loads(text)
            except ValueError:
                values[key.removeprefix("platform:")] = text
    return values


@pytest.fixture
def prod_values() -> Iterator[dict[str, Any]]:
    """A fresh, mutable copy of prod's config values."""
    yield copy.deepcopy(stack_values("prod"))


def encode(values: dict[str, Any]) -> dict[str, str]:
    """Config values as the engine passes them (objects as JSON text, namespaced keys)."""
    return {f"platform:{k}": v if isinstance(v, str) else json.dumps(v) for k, v in values.items()}


Mutation = Callable[[dict[str, Any]], None]
