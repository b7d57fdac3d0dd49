"""Run the policy pack's rules over a synthesized stack, without the Pulumi CLI.

    python -m policy.offline <stack>     violations of <stack>, under policy/config/<stack>.json

Exit status: 0 no mandatory violation, 1 at least one, 2 invalid stack or policy config. The
tests run the same functions over every stack; ``pulumi preview --policy-pack policy`` runs the
same rules against the real engine.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from policy.rules import RULES, STACK_RULES, Resource, Rule, StackRule, Violation, evaluate

CONFIG_DIR = Path(__file__).resolve().parent / "config"


class PolicyConfigError(Exception):
    """A policy config file that is missing, malformed or names an unknown rule or setting."""


def load_config(stack: str, directory: Path = CONFIG_DIR) -> dict[str, Any]:
    """The policy-pack config of a stack (``policy/config/<stack>.json``), validated."""
    path = directory / f"{stack}.json"
    try:
        config = json.loads(path.read_text())
    except FileNotFoundError:
        raise PolicyConfigError(f"{path}: no policy config for stack {stack!r}") from None
    except ValueError as exc:
        raise PolicyConfigError(f"{path}: not valid JSON: {exc}") from None
    problems = config_problems(config)
    if problems:
        raise PolicyConfigError(f"{path}: " + "; ".join(problems))
    return config


def config_problems(config: Any) -> list[str]:
    """What is wrong with a policy-pack config: unknown rules, levels or settings, wrong types."""
    import jsonschema  # type: ignore[import-untyped]

    if not isinstance(config, Mapping):
        return ["the policy config must be a JSON object"]
    every: list[Rule | StackRule] = [*RULES, *STACK_RULES]
    rules = {r.name: r for r in every}
    levels = ("advisory", "mandatory", "disabled")
    problems = []
    for name, value in config.items():
        rule = rules.get(name)
        if rule is None and name != "all":
            problems.append(f"unknown rule {name!r} (rules: {', '.join(sorted(rules))})")
            continue
        settings = value if isinstance(value, Mapping) else {"enforcementLevel": value}
        level = settings.get("enforcementLevel")
        if level is not None and level not in levels:
            problems.append(f"{name}: enforcementLevel {level!r} is not one of {', '.join(levels)}")
        schema_properties = dict(rule.settings) if rule is not None else {}
        for key, setting in settings.items():
            if key == "enforcementLevel":
                continue
            if key not in schema_properties:
                problems.append(
                    f"{name}: unknown setting {key!r} (settings: {', '.join(schema_properties) or 'none'})"
                )
                continue
            try:
                jsonschema.validate(setting, schema_properties[key])
            except jsonschema.ValidationError as exc:
                problems.append(f"{name}.{key}: {exc.message}")
    return problems


def resources_of(synthesis: Any) -> list[Resource]:
    """The custom resources of a ``synth.engine.Synthesis`` as rule inputs (secrets masked)."""
    return [
        Resource(
            type=r.type,
            inputs=r.export_inputs(),
            urn=r.urn,
            name=r.name,
            protect=r.protect,
            dependencies=tuple(r.dependencies),
        )
        for r in synthesis.resources
        if r.custom
    ]


def check(synthesis: Any, config: Mapping[str, Any]) -> list[Violation]:
    return evaluate(resources_of(synthesis), config)


def render(violations: Iterable[Violation]) -> str:
    lines = [str(v) for v in sorted(violations, key=lambda v: (v.level != "mandatory", v.rule, v.urn))]
    return "\n".join(lines) if lines else "no violations"


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 1:
        print("usage: python -m policy.offline <stack>", file=sys.stderr)
        return 2
    from components.config import ConfigError
    from synth.engine import StackFileError, synthesize

    try:
        config = load_config(args[0])
        synthesis = synthesize(args[0])
    except (PolicyConfigError, ConfigError, StackFileError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    violations = check(synthesis, config)
    print(render(violations))
    return 1 if any(v.level == "mandatory" for v in violations) else 0


if __name__ == "__main__":
    sys.exit(main())
