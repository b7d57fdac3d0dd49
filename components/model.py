"""Base class for every typed settings model of the platform.

Config keys are camelCase in the stack files (``maxClientConn``) and snake_case in Python
(``max_client_conn``). Models are immutable and refuse unknown fields, so a typo in a stack
file is an error instead of a silently ignored setting.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel


class Model(BaseModel):
    """Frozen, strict, camelCase-aliased pydantic model."""

    model_config = ConfigDict(
        frozen=True,
        extra="forbid",
        alias_generator=to_camel,
        populate_by_name=True,
        validate_default=True,
    )
