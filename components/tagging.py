"""Tags on every taggable AWS resource and labels on every Kubernetes object, in one place.

A resource transformation set on the Platform component runs for each of its descendants
before registration (in the SDK, so also under mocks): it merges the platform's tags into any
resource whose SDK class has a ``tags`` property, and its labels into any Kubernetes object's
``metadata.labels``. Values a component set itself win over the defaults.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pulumi

MANAGED_BY = "pulumi"
PART_OF = "platform"
ENVIRONMENT_LABEL = "platform/environment"
NAME_LABEL = "app.kubernetes.io/name"
REQUIRED_LABELS = (NAME_LABEL, "app.kubernetes.io/part-of", "app.kubernetes.io/managed-by", ENVIRONMENT_LABEL)


def base_tags(project: str, environment: str, stack: str, extra: Mapping[str, str]) -> dict[str, str]:
    """The tags every taggable AWS resource carries."""
    return {**extra, "Project": project, "Environment": environment, "Stack": stack, "ManagedBy": MANAGED_BY}


def base_labels(environment: str) -> dict[str, str]:
    """The labels every Kubernetes object carries (plus its own `app.kubernetes.io/name`)."""
    return {
        "app.kubernetes.io/part-of": PART_OF,
        "app.kubernetes.io/managed-by": MANAGED_BY,
        ENVIRONMENT_LABEL: environment,
    }


def _merge_tags(current: Any, tags: Mapping[str, str]) -> Any:
    if current is None:
        return dict(tags)
    if isinstance(current, Mapping):
        return {**tags, **current}
    return pulumi.Output.from_input(current).apply(lambda c: {**tags, **(c or {})})


def _merge_labels(metadata: Any, labels: Mapping[str, str], default_name: str) -> Any:
    if metadata is None:
        metadata = {}
    if not isinstance(metadata, Mapping):
        raise TypeError(
            "Kubernetes metadata must be given as a dict so that platform labels can be merged in"
        )
    own = dict(metadata.get("labels") or {})
    own.setdefault(NAME_LABEL, default_name)
    return {**metadata, "labels": {**labels, **own}}


def tagging_transformation(
    tags: Mapping[str, str], labels: Mapping[str, str]
) -> pulumi.ResourceTransformation:
    """A transformation adding ``tags`` to AWS resources and ``labels`` to Kubernetes objects."""

    def transform(args: pulumi.ResourceTransformationArgs) -> pulumi.ResourceTransformationResult | None:
        props = args.props
        if args.type_.startswith("aws:") and "tags" in props:
            props = {**props, "tags": _merge_tags(props.get("tags"), tags)}
        elif args.type_.startswith("kubernetes:") and "metadata" in props:
            props = {**props, "metadata": _merge_labels(props.get("metadata"), labels, args.name)}
        else:
            return None
        return pulumi.ResourceTransformationResult(props=props, opts=args.opts)

    return transform
