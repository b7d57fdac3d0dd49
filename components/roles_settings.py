"""The ``platform:roles`` block: how the database's roles, grants and extensions are managed.

Three modes, chosen per stack:

- ``job``: a Kubernetes Job in the data namespace applies the rendered SQL with the master
  credentials it reads at run time (Aurora: the RDS-managed secret through EKS Pod Identity;
  CloudNativePG: the operator's superuser secret). Needs no network path from the deployer.
- ``provider``: pulumi-postgresql manages each role, grant and default privilege as a resource.
  ``pulumi up`` must reach the database (a runner inside the VPC, or a tunnel whose local end is
  ``providerHost``/``providerPort``).
- ``none``: the platform leaves the database's roles alone.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, StringConstraints, model_validator

from components.model import Model

SchemaName = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,62}$")]
HostName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9]([A-Za-z0-9.-]{0,252}[A-Za-z0-9])?$")]

RolesMode = Literal["provider", "job", "none"]


class RolesSettings(Model):
    """Roles, grants, default privileges and extensions inside the application database."""

    mode: RolesMode = Field(
        default="none",
        description="`job` (a Kubernetes Job applies the SQL), `provider` (pulumi-postgresql from the "
        "deployer) or `none`.",
    )
    schema_name: SchemaName = Field(
        default="app", description="Schema owned by `app_owner` that holds the application's tables."
    )
    sslmode: Literal["verify-full", "require"] = Field(
        default="verify-full",
        description="libpq `sslmode` of the management connection: `verify-full` checks the server "
        "certificate and host name, `require` only encrypts (for tunnels ending on localhost).",
    )
    provider_host: HostName | None = Field(
        default=None,
        description="`provider` mode: host to connect to instead of the writer endpoint (a tunnel's local "
        "end, e.g. `localhost`).",
    )
    provider_port: int | None = Field(
        default=None, ge=1, le=65535, description="`provider` mode: port of that host (the tunnel's)."
    )
    ssl_root_cert: str | None = Field(
        default=None,
        pattern=r"^/[^\s]+$",
        description="`provider` mode with `verify-full`: path, on the machine running `pulumi up`, of the "
        "CA bundle the database's certificate chains to (on Aurora the region's RDS bundle, "
        "https://truststore.pki.rds.amazonaws.com/<region>/<region>-bundle.pem): RDS's CAs are not in the "
        "system trust store, so without it the provider's TLS check fails.",
    )
    statement_timeout_ms: int = Field(
        default=30_000,
        ge=0,
        le=3_600_000,
        description="`statement_timeout` of the application roles `app_rw` and `app_ro` (0 disables).",
    )

    @model_validator(mode="after")
    def _provider_only(self) -> RolesSettings:
        overrides = [
            k for k, v in (("providerHost", self.provider_host), ("providerPort", self.provider_port)) if v
        ]
        if overrides and self.mode != "provider":
            raise ValueError(
                f"{' and '.join(overrides)} only apply to mode `provider`, mode is `{self.mode}`"
            )
        if self.mode == "provider" and self.sslmode == "verify-full" and self.ssl_root_cert is None:
            raise ValueError(
                "mode `provider` with sslmode `verify-full` needs sslRootCert: the path of the database's CA "
                "bundle on the deploying machine (RDS: the region's bundle, truststore.pki.rds.amazonaws.com)"
            )
        return self
