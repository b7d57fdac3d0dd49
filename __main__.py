"""Entry point: load the stack's config, build the Platform, export its outputs."""

from __future__ import annotations

import pulumi

from components.config import load
from components.platform import Platform, PlatformArgs


def main() -> None:
    config = load()  # a ConfigError stops here, before any resource is registered
    platform = Platform(
        "platform", PlatformArgs(config=config, project=pulumi.get_project(), stack=pulumi.get_stack())
    )
    for key, value in platform.outputs.items():
        pulumi.export(key, value)


if __name__ == "__main__":
    main()
