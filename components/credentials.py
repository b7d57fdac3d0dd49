"""Generated logins for the database roles: one random password per role, secret from birth.

Passwords are generated here rather than configured, so none is ever typed into a stack file.
They live in the state only as Pulumi secrets (encrypted by the stack's secrets provider).
They are URL-safe (letters and digits only) because they are embedded in connection URLs.
"""

from __future__ import annotations

from collections.abc import Iterable

import pulumi
import pulumi_random as random

from components.endpoints import Credentials


class DatabaseCredentials(pulumi.ComponentResource):
    """A secret password per role name."""

    logins: dict[str, Credentials]
    """Credentials by role name."""

    def __init__(self, name: str, roles: Iterable[str], opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("platform:data:DatabaseCredentials", name, None, opts)
        self.logins = {}
        for role in roles:
            password = random.RandomPassword(
                f"{name}-{role}",
                length=40,
                special=False,
                min_lower=4,
                min_upper=4,
                min_numeric=4,
                opts=pulumi.ResourceOptions(parent=self),
            )
            self.logins[role] = Credentials(username=role, password=pulumi.Output.secret(password.result))
        self.register_outputs({})
