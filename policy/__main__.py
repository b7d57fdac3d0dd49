"""The policy pack, as the Pulumi CLI runs it: ``pulumi preview --policy-pack policy``.

Every rule of ``rules.py`` becomes a pulumi-policy validation with its default enforcement
level; ``--policy-pack-config policy/config/<stack>.json`` sets each stack's levels and rule
settings. The rule functions are the ones the tests run offline over every synthesized stack.
"""

from __future__ import annotations

import sys
from pathlib import Path

from pulumi_policy import (
    EnforcementLevel,
    PolicyConfigSchema,
    PolicyPack,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)

try:  # `python -m policy` from the project root
    from policy import rules
except ImportError:  # the Pulumi CLI runs this file from inside policy/
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import rules  # type: ignore[no-redef,import-not-found]


def _schema(rule: rules.Rule | rules.StackRule) -> PolicyConfigSchema | None:
    return (
        PolicyConfigSchema(properties={k: dict(v) for k, v in rule.settings.items()})
        if rule.settings
        else None
    )


def resource_policy(rule: rules.Rule) -> ResourceValidationPolicy:
    """A pulumi-policy validation running ``rule`` on each resource of a matching type."""

    def validate(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
        if not rule.applies_to(args.resource_type):
            return
        resource = rules.Resource(
            type=args.resource_type,
            inputs=args.props,
            urn=args.urn,
            name=args.name,
            protect=bool(getattr(args.opts, "protect", False)),
        )
        for message in rules.run_rule(rule, resource, rules.rule_settings(rule, args.get_config())):
            report_violation(message, None)

    return ResourceValidationPolicy(
        name=rule.name,
        description=rule.description,
        validate=validate,
        enforcement_level=EnforcementLevel(rule.level),
        config_schema=_schema(rule),
    )


def stack_policy(rule: rules.StackRule) -> StackValidationPolicy:
    """A pulumi-policy stack validation running ``rule`` over all resources."""

    def validate(args: StackValidationArgs, report_violation: ReportViolation) -> None:
        resources = [
            rules.Resource(
                type=r.resource_type,
                inputs=r.props,
                urn=r.urn,
                name=r.name,
                protect=bool(getattr(r.opts, "protect", False)),
                dependencies=tuple(d.urn for d in r.dependencies or []),
            )
            for r in args.resources
        ]
        for urn, message in rules.run_stack_rule(
            rule, resources, rules.rule_settings(rule, args.get_config())
        ):
            report_violation(message, urn or None)

    return StackValidationPolicy(
        name=rule.name,
        description=rule.description,
        validate=validate,
        enforcement_level=EnforcementLevel(rule.level),
        config_schema=_schema(rule),
    )


def policies() -> list[ResourceValidationPolicy | StackValidationPolicy]:
    return [*(resource_policy(r) for r in rules.RULES), *(stack_policy(r) for r in rules.STACK_RULES)]


if __name__ == "__main__":
    PolicyPack(name="platform-policies", policies=policies())  # type: ignore[arg-type]
