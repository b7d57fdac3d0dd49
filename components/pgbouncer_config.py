"""PgBouncer configuration: the ``platform:pgbouncer`` settings and the files rendered from them.

PgBouncer sits between the API tier and PostgreSQL (Aurora or CloudNativePG) so that thousands of
short-lived client connections share a few dozen server connections. It exposes two pools:
``<database>`` goes to the writer and ``<database>_ro`` to the reader endpoint.

Clients log in with SCRAM-SHA-256, in one of two ways:

- **lookup** (CloudNativePG): PgBouncer fetches each user's SCRAM verifier through ``auth_query``,
  which calls a ``SECURITY DEFINER`` lookup function (:class:`AuthLookupFunction`) as a dedicated,
  unprivileged ``auth_user``; SCRAM pass-through then lets PgBouncer log into PostgreSQL as that user
  with the keys the client proved. No application password is in PgBouncer's files.
- **userlist** (Aurora, whose ``rds_superuser`` cannot read ``pg_shadow``, so no lookup function can):
  the ``auth_file`` holds the pooled logins' passwords, and PgBouncer logs into PostgreSQL with them.

Either way the secrets are only in the ``auth_file`` (a Kubernetes Secret, never a ConfigMap), next
to the verifiers of the admin/stats users of the metrics exporter.

Everything here is pure and deterministic, so the rendered files can be checked by a real PgBouncer in
front of a real PostgreSQL (``tests/test_pgbouncer_real.py``) without Pulumi.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Literal, Self

from pydantic import Field, model_validator

from components.model import Model

__all__ = [
    "DEFAULT_AUTH_FUNCTION",
    "POSTGRES_DEFAULT_MAX_CONNECTIONS",
    "AuthLookupFunction",
    "ConnectionBudget",
    "PgBouncerEndpoints",
    "PgBouncerSettings",
    "aurora_default_max_connections",
    "connection_budgets",
    "render_auth_function_sql",
    "render_pgbouncer_ini",
    "render_userlist",
    "scram_sha256_verifier",
]

Seconds = Annotated[int, Field(ge=0, le=86_400)]

# SQL identifiers and PgBouncer database names are only accepted in their plain, unquoted form,
# so the renderers never have to quote (and nothing can be smuggled into the SQL or the ini).
_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
# A host in a PgBouncer connection string: DNS name or IP literal, no spaces or quotes.
_HOST = re.compile(r"^[A-Za-z0-9_.:\-]{1,253}$")
# A path inside the container; spaces would need quoting in the ini.
_PATH = re.compile(r"^/[A-Za-z0-9_.\-/]+$")


class PgBouncerSettings(Model):
    """The ``platform:pgbouncer`` config block: pooling mode, pool sizes, timeouts and replicas."""

    pool_mode: Literal["session", "transaction", "statement"] = Field(
        default="transaction",
        description="When a server connection returns to the pool: after the client session, "
        "transaction or statement. Transaction pooling is what lets many clients share few servers.",
    )
    default_pool_size: int = Field(
        default=20, ge=1, le=1000, description="Server connections per user/database pair."
    )
    min_pool_size: int = Field(
        default=0,
        ge=0,
        le=1000,
        description="Server connections kept open per pool even when idle (0 disables).",
    )
    reserve_pool_size: int = Field(
        default=5,
        ge=0,
        le=1000,
        description="Extra connections a pool may open when clients waited reservePoolTimeoutSeconds.",
    )
    reserve_pool_timeout_seconds: Seconds = Field(
        default=3, description="Wait after which a client may use the reserve pool (0 disables it)."
    )
    max_client_conn: int = Field(
        default=2000, ge=1, le=100_000, description="Client connections one PgBouncer replica accepts."
    )
    max_db_connections: int = Field(
        default=0,
        ge=0,
        le=10_000,
        description="Cap on server connections per PgBouncer database across all users (0: no cap).",
    )
    server_idle_timeout_seconds: Seconds = Field(
        default=600, description="Close a server connection idle this long (0 disables)."
    )
    server_lifetime_seconds: Seconds = Field(
        default=3600,
        description="Close an unused server connection older than this, so connections are "
        "rebalanced after a failover or a reader scale-out.",
    )
    query_wait_timeout_seconds: Seconds = Field(
        default=120,
        description="Disconnect a client whose query waited this long for a server connection (0: forever).",
    )
    client_idle_timeout_seconds: Seconds = Field(
        default=0, description="Close client connections idle this long (0 disables)."
    )
    server_connect_timeout_seconds: int = Field(
        default=5, ge=1, le=600, description="Time allowed for connecting and logging into PostgreSQL."
    )
    server_login_retry_seconds: int = Field(
        default=3,
        ge=1,
        le=600,
        description="After a failed server login, clients get an error for this long before PgBouncer "
        "tries again; short, so a failover or restart is over quickly for clients.",
    )
    idle_transaction_timeout_seconds: Seconds = Field(
        default=60,
        description="Disconnect a client idle inside a transaction this long, so it cannot pin a "
        "server connection (0 disables).",
    )
    replicas: int = Field(default=2, ge=2, le=100, description="PgBouncer pods; at least 2 for HA.")
    max_replicas: int = Field(
        default=4, ge=2, le=100, description="Autoscaling ceiling of PgBouncer pods (>= replicas)."
    )
    server_tls_sslmode: Literal["require", "verify-ca", "verify-full"] = Field(
        default="verify-full",
        description="TLS towards PostgreSQL; verify-full checks the CA and the host name.",
    )
    client_tls_sslmode: Literal["disable", "allow", "prefer", "require"] = Field(
        default="require",
        description="TLS from clients to PgBouncer; anything but disable needs the TLS cert/key files.",
    )
    log_connections: bool = Field(default=True, description="Log successful client logins.")
    log_disconnections: bool = Field(default=True, description="Log disconnections with reasons.")
    stats_period_seconds: int = Field(
        default=60, ge=1, le=3600, description="Period of the aggregated statistics PgBouncer logs."
    )
    target_cpu_utilization_percent: int = Field(
        default=70,
        ge=10,
        le=95,
        description="Average CPU utilisation (of the requests) the autoscaler keeps PgBouncer pods at.",
    )
    direct_connections_reserve: int = Field(
        default=15,
        ge=0,
        le=1000,
        description="Server connections kept free on each database host for logins that bypass the "
        "pooler: migrations, superusers and cloud automation, monitoring.",
    )

    @model_validator(mode="after")
    def _cross_field_rules(self) -> Self:
        if self.min_pool_size > self.default_pool_size:
            raise ValueError(
                f"minPoolSize ({self.min_pool_size}) must not exceed defaultPoolSize "
                f"({self.default_pool_size})"
            )
        if self.max_replicas < self.replicas:
            raise ValueError(f"maxReplicas ({self.max_replicas}) must be at least replicas ({self.replicas})")
        if 0 < self.max_db_connections < self.default_pool_size:
            raise ValueError(
                f"maxDbConnections ({self.max_db_connections}) must be 0 (no cap) or at least "
                f"defaultPoolSize ({self.default_pool_size}), or the pool can never fill"
            )
        if (
            self.reserve_pool_size > 0
            and self.query_wait_timeout_seconds > 0
            and self.reserve_pool_timeout_seconds >= self.query_wait_timeout_seconds
        ):
            raise ValueError(
                f"reservePoolTimeoutSeconds ({self.reserve_pool_timeout_seconds}) must be shorter than "
                f"queryWaitTimeoutSeconds ({self.query_wait_timeout_seconds}), or clients are "
                "disconnected before the reserve pool is ever used"
            )
        return self

    def server_connections_per_replica(self, app_users: int = 1) -> int:
        """Most server connections one PgBouncer replica can open to one database host.

        Each PgBouncer database (``<db>`` on the writer, ``<db>_ro`` on the reader) keeps one pool per
        user: the ``app_users`` application roles plus the auth user's own pool for ``auth_query``.
        ``max_db_connections`` caps a database across all its users.
        """
        if app_users < 1:
            raise ValueError(f"app_users must be at least 1, got {app_users}")
        uncapped = (self.default_pool_size + self.reserve_pool_size) * (app_users + 1)
        if self.max_db_connections:
            return min(uncapped, self.max_db_connections)
        return uncapped

    def max_server_connections(self, app_users: int = 1) -> int:
        """Most server connections all replicas together can open to one database host.

        Counted at ``maxReplicas``: autoscaling may reach it, and the database must still have room.
        """
        return self.server_connections_per_replica(app_users) * self.max_replicas


# PostgreSQL's own default for `max_connections` (CloudNativePG keeps it unless told otherwise).
POSTGRES_DEFAULT_MAX_CONNECTIONS = 100
# Aurora PostgreSQL's default is LEAST({DBInstanceClassMemory/9531392}, 5000). The memory per vCPU of
# the families Aurora PostgreSQL offers, and the burstable classes by name, in GiB.
_AURORA_DIVISOR = 9_531_392
_AURORA_CAP = 5000
_GIB_PER_VCPU = {"r5": 8, "r6g": 8, "r6i": 8, "r7g": 8, "r7i": 8, "r8g": 8, "x2g": 16}
_BURSTABLE_GIB = {
    "db.t3.medium": 4,
    "db.t3.large": 8,
    "db.t4g.medium": 4,
    "db.t4g.large": 8,
}
_SIZE = re.compile(r"^(?:(\d+)?xlarge|large)$")


def aurora_default_max_connections(instance_class: str) -> int | None:
    """Aurora PostgreSQL's default ``max_connections`` for an instance class, or None if unknown.

    AWS documents the default as ``LEAST({DBInstanceClassMemory/9531392}, 5000)`` and works its example
    (db.r4.large, 15.25 GiB → 1600) with the class's nominal memory in units of 10^9 bytes; so does this.
    """
    memory_gib: float | None = _BURSTABLE_GIB.get(instance_class)
    if memory_gib is None:
        parts = instance_class.split(".")
        match = _SIZE.match(parts[2]) if len(parts) == 3 else None
        per_vcpu = _GIB_PER_VCPU.get(parts[1]) if len(parts) == 3 else None
        if match is None or per_vcpu is None:
            return None
        vcpus = 2 if parts[2] == "large" else 4 * int(match.group(1) or 1)
        memory_gib = vcpus * per_vcpu
    return min(int(memory_gib * 1e9 // _AURORA_DIVISOR), _AURORA_CAP)


@dataclass(frozen=True)
class ConnectionBudget:
    """Server connections PgBouncer may open to one database host, against that host's limit."""

    host: Literal["writer", "reader"]
    pooled: int
    """Most server connections all PgBouncer replicas together can open to this host."""
    reserve: int
    """Connections kept free for direct logins (``directConnectionsReserve``)."""
    limit: int
    """The host's ``max_connections``."""

    @property
    def fits(self) -> bool:
        return self.pooled + self.reserve <= self.limit


def connection_budgets(
    settings: PgBouncerSettings, *, limit: int, app_users: int, reader_is_writer: bool
) -> list[ConnectionBudget]:
    """The writer's and the reader's budget (one each; readers share the writer's instance class).

    ``reader_is_writer``: with no reader instance the read-only pool lands on the writer too.
    """
    pool = settings.max_server_connections(app_users)
    reserve = settings.direct_connections_reserve
    if reader_is_writer:
        return [ConnectionBudget("writer", 2 * pool, reserve, limit)]
    return [
        ConnectionBudget("writer", pool, reserve, limit),
        ConnectionBudget("reader", pool, reserve, limit),
    ]


@dataclass(frozen=True)
class AuthLookupFunction:
    """The ``SECURITY DEFINER`` function PgBouncer's ``auth_query`` calls, as data.

    The parts are kept apart (schema, name, argument, return type, body) so that each is validated and
    the ``auth_query`` can name the function; :func:`render_auth_function_sql` gives the complete DDL.

    The body reads ``pg_shadow``, which only a superuser may read: the function must be created (and
    so owned) by a superuser, as on CloudNativePG. Aurora/RDS has none, and its ``rds_superuser`` may
    not read ``pg_shadow`` either: there PgBouncer runs in userlist mode instead (no ``auth_user``), and
    the roles script creates neither this function nor its role.
    Superusers are never returned: nobody logs in as a superuser through the pooler.
    """

    schema: str = "pgbouncer"
    name: str = "get_auth"
    arg_name: str = "p_usename"
    arg_type: str = "text"
    returns: str = "TABLE(usename text, passwd text)"
    language: str = "sql"
    body: str = (
        "SELECT s.usename::text, s.passwd::text\n"
        "  FROM pg_catalog.pg_shadow AS s\n"
        " WHERE s.usename = p_usename\n"
        "   AND NOT s.usesuper\n"
        "   AND (s.valuntil IS NULL OR s.valuntil > pg_catalog.now())"
    )
    security_definer: bool = True
    # Only pg_catalog: a SECURITY DEFINER function must not resolve names through a schema that the
    # calling role could create objects in.
    search_path: str = "pg_catalog"
    volatility: Literal["STABLE", "VOLATILE", "IMMUTABLE"] = "STABLE"

    def __post_init__(self) -> None:
        for label, value in (("schema", self.schema), ("name", self.name), ("arg_name", self.arg_name)):
            if not _IDENTIFIER.match(value):
                raise ValueError(f"AuthLookupFunction.{label} {value!r} is not a plain lowercase identifier")
        if "$fn$" in self.body:
            raise ValueError("AuthLookupFunction.body must not contain the $fn$ quote marker")

    @property
    def qualified_name(self) -> str:
        """``schema.name``."""
        return f"{self.schema}.{self.name}"

    @property
    def signature(self) -> str:
        """``schema.name(argtype)``, as GRANT and REVOKE name the function."""
        return f"{self.qualified_name}({self.arg_type})"

    @property
    def auth_query(self) -> str:
        """The ``auth_query`` PgBouncer runs in the target database, ``$1`` being the user name."""
        return f"SELECT usename, passwd FROM {self.qualified_name}($1)"


DEFAULT_AUTH_FUNCTION = AuthLookupFunction()


def render_auth_function_sql(fn: AuthLookupFunction, auth_user: str) -> str:
    """Complete DDL for the lookup function, executable to be granted to ``auth_user`` only.

    Run it in every database PgBouncer serves (``auth_query`` runs in the target database), as the
    role that is to own the function (see :class:`AuthLookupFunction`).
    """
    if not _IDENTIFIER.match(auth_user):
        raise ValueError(f"auth_user {auth_user!r} is not a plain lowercase identifier")
    security = "SECURITY DEFINER" if fn.security_definer else "SECURITY INVOKER"
    return (
        f"CREATE SCHEMA IF NOT EXISTS {fn.schema};\n"
        f"REVOKE ALL ON SCHEMA {fn.schema} FROM PUBLIC;\n"
        f"GRANT USAGE ON SCHEMA {fn.schema} TO {auth_user};\n"
        f"CREATE OR REPLACE FUNCTION {fn.qualified_name}({fn.arg_name} {fn.arg_type})\n"
        f"RETURNS {fn.returns}\n"
        f"LANGUAGE {fn.language}\n"
        f"{fn.volatility}\n"
        f"{security}\n"
        f"SET search_path = {fn.search_path}\n"
        f"AS $fn$\n{fn.body}\n$fn$;\n"
        # Functions are executable by PUBLIC by default; only the auth user may look up verifiers.
        f"REVOKE ALL ON FUNCTION {fn.signature} FROM PUBLIC;\n"
        f"GRANT EXECUTE ON FUNCTION {fn.signature} TO {auth_user};\n"
    )


@dataclass(frozen=True)
class PgBouncerEndpoints:
    """Where PgBouncer listens, what it connects to, and where its mounted files are."""

    writer_host: str
    reader_host: str
    database: str
    auth_user: str | None
    """The ``auth_query`` login; ``None`` for userlist mode (every login in the ``auth_file``)."""
    server_ca_file: str
    port: int = 5432
    reader_port: int | None = None
    """Port of the reader; ``None`` means the same as ``port`` (Aurora serves both on one port)."""
    listen_addr: str = "*"
    listen_port: int = 6432
    auth_file: str = "/etc/pgbouncer/auth/userlist.txt"
    client_tls_cert_file: str | None = None
    client_tls_key_file: str | None = None
    admin_users: tuple[str, ...] = ()
    stats_users: tuple[str, ...] = ("pgbouncer_exporter",)
    """Users of the metrics exporter. They must be in the ``auth_file``: the admin console cannot use
    ``auth_query`` (PgBouncer 1.18 leaves such a console login hanging until the client gives up)."""

    def __post_init__(self) -> None:
        for label, host in (("writer_host", self.writer_host), ("reader_host", self.reader_host)):
            if not _HOST.match(host):
                raise ValueError(f"{label} {host!r} is not a host name or IP address")
        if self.listen_addr != "*" and not _HOST.match(self.listen_addr):
            raise ValueError(f"listen_addr {self.listen_addr!r} is not '*' or an address")
        for label, name in (("database", self.database), ("auth_user", self.auth_user or "none")):
            if not _IDENTIFIER.match(name):
                raise ValueError(f"{label} {name!r} is not a plain lowercase identifier")
        for user in (*self.admin_users, *self.stats_users):
            if not _IDENTIFIER.match(user):
                raise ValueError(f"admin/stats user {user!r} is not a plain lowercase identifier")
        for label, port in (
            ("port", self.port),
            ("reader_port", self.reader_port),
            ("listen_port", self.listen_port),
        ):
            if port is not None and not 1 <= port <= 65535:
                raise ValueError(f"{label} {port} is not a TCP port")
        for label, path in (
            ("server_ca_file", self.server_ca_file),
            ("auth_file", self.auth_file),
            ("client_tls_cert_file", self.client_tls_cert_file),
            ("client_tls_key_file", self.client_tls_key_file),
        ):
            if path is not None and not _PATH.match(path):
                raise ValueError(f"{label} {path!r} is not an absolute path without spaces")
        if (self.client_tls_cert_file is None) != (self.client_tls_key_file is None):
            raise ValueError("client_tls_cert_file and client_tls_key_file go together")

    @property
    def read_only_database(self) -> str:
        """Name clients use for the read-only pool."""
        return f"{self.database}_ro"


def _flag(value: bool) -> str:
    return "1" if value else "0"


def render_pgbouncer_ini(
    settings: PgBouncerSettings,
    endpoints: PgBouncerEndpoints,
    auth_function: AuthLookupFunction = DEFAULT_AUTH_FUNCTION,
) -> str:
    """A complete ``pgbouncer.ini`` with a read-write and a read-only pool.

    No password appears in it: application users are looked up with ``auth_query`` (or, without an
    ``auth_user``, listed in the ``auth_file``); every secret lives in the Secret-mounted ``auth_file``.
    """
    has_client_tls = endpoints.client_tls_cert_file is not None
    if settings.client_tls_sslmode != "disable" and not has_client_tls:
        raise ValueError(
            f"clientTlsSslmode {settings.client_tls_sslmode!r} needs client_tls_cert_file and "
            "client_tls_key_file in the endpoints"
        )
    reader_port = endpoints.reader_port if endpoints.reader_port is not None else endpoints.port
    db = endpoints.database
    # No user= in the pool definitions: SCRAM pass-through needs each client to log in as itself.
    databases = [
        (db, f"host={endpoints.writer_host} port={endpoints.port} dbname={db}"),
        (endpoints.read_only_database, f"host={endpoints.reader_host} port={reader_port} dbname={db}"),
    ]
    console_users = (("admin_users", endpoints.admin_users), ("stats_users", endpoints.stats_users))
    pgbouncer: list[tuple[str, str]] = [
        ("listen_addr", endpoints.listen_addr),
        ("listen_port", str(endpoints.listen_port)),
        # Clients come over TCP only; no socket file means a read-only root filesystem is fine.
        ("unix_socket_dir", ""),
        ("pool_mode", settings.pool_mode),
        ("max_client_conn", str(settings.max_client_conn)),
        ("default_pool_size", str(settings.default_pool_size)),
        ("min_pool_size", str(settings.min_pool_size)),
        ("reserve_pool_size", str(settings.reserve_pool_size)),
        ("reserve_pool_timeout", str(settings.reserve_pool_timeout_seconds)),
        ("max_db_connections", str(settings.max_db_connections)),
        ("server_idle_timeout", str(settings.server_idle_timeout_seconds)),
        ("server_lifetime", str(settings.server_lifetime_seconds)),
        ("server_connect_timeout", str(settings.server_connect_timeout_seconds)),
        ("server_login_retry", str(settings.server_login_retry_seconds)),
        ("query_wait_timeout", str(settings.query_wait_timeout_seconds)),
        ("client_idle_timeout", str(settings.client_idle_timeout_seconds)),
        ("idle_transaction_timeout", str(settings.idle_transaction_timeout_seconds)),
        ("auth_type", "scram-sha-256"),
        ("auth_file", endpoints.auth_file),
    ]
    if endpoints.auth_user is not None:
        pgbouncer += [("auth_user", endpoints.auth_user), ("auth_query", auth_function.auth_query)]
    pgbouncer += [(key, ",".join(users)) for key, users in console_users if users]
    pgbouncer += [
        ("server_tls_sslmode", settings.server_tls_sslmode),
        ("server_tls_ca_file", endpoints.server_ca_file),
        ("server_tls_protocols", "secure"),
        ("client_tls_sslmode", settings.client_tls_sslmode),
    ]
    if has_client_tls:
        pgbouncer += [
            ("client_tls_cert_file", str(endpoints.client_tls_cert_file)),
            ("client_tls_key_file", str(endpoints.client_tls_key_file)),
            ("client_tls_protocols", "secure"),
        ]
    pgbouncer += [
        # libpq-based drivers send these at startup; PgBouncer refuses unknown startup parameters.
        ("ignore_startup_parameters", "extra_float_digits,options"),
        # Logs go to stderr, which the container runtime collects.
        ("log_connections", _flag(settings.log_connections)),
        ("log_disconnections", _flag(settings.log_disconnections)),
        ("log_pooler_errors", "1"),
        ("log_stats", "1"),
        ("stats_period", str(settings.stats_period_seconds)),
    ]
    lines = ["; Rendered by components/pgbouncer_config.py; edit the settings, not this file.", ""]
    lines.append("[databases]")
    lines += [f"{name} = {conn}" for name, conn in databases]
    lines += ["", "[pgbouncer]"]
    lines += [f"{key} = {value}".rstrip() for key, value in pgbouncer]
    return "\n".join(lines) + "\n"


def _auth_file_field(value: str, what: str) -> str:
    if not value or any(ch in value for ch in "\n\r\0"):
        raise ValueError(f"auth_file {what} must be non-empty and on one line")
    return '"' + value.replace('"', '""') + '"'


def render_userlist(entries: Mapping[str, str]) -> str:
    """The ``auth_file``: one ``"user" "secret"`` line per user, sorted, double quotes doubled.

    A secret may be a SCRAM verifier (:func:`scram_sha256_verifier`), an md5 hash or a plain password.
    The auth user's entry must be its password, not a verifier: PgBouncer logs into PostgreSQL as the
    auth user by itself, and a SCRAM verifier cannot be turned back into login credentials.
    """
    return "".join(
        f"{_auth_file_field(user, 'user name')} {_auth_file_field(secret, 'secret')}\n"
        for user, secret in sorted(entries.items())
    )


def scram_sha256_verifier(password: str, *, salt: bytes, iterations: int = 4096) -> str:
    """The SCRAM-SHA-256 verifier PostgreSQL stores for ``password`` (RFC 5802/7677 format).

    ``salt`` is an argument so the result is deterministic; use 16 random bytes per user. Passwords
    are limited to printable ASCII, for which SASLprep (which PostgreSQL applies) changes nothing.
    """
    if not password or not all(" " <= ch <= "~" for ch in password):
        raise ValueError("password must be non-empty printable ASCII")
    if len(salt) < 8 or iterations < 4096:
        raise ValueError("salt must be at least 8 bytes and iterations at least 4096")
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations)
    client_key = hmac.digest(salted, b"Client Key", "sha256")
    stored_key = hashlib.sha256(client_key).digest()
    server_key = hmac.digest(salted, b"Server Key", "sha256")

    def b64(raw: bytes) -> str:
        return base64.b64encode(raw).decode()

    return f"SCRAM-SHA-256${iterations}:{b64(salt)}${b64(stored_key)}:{b64(server_key)}"
