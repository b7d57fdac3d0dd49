"""Roles, grants, default privileges and extensions inside the application database.

The design, one role per duty (names in :data:`components.endpoints.ROLES`):

- ``app_owner`` (NOLOGIN) owns the application schema and everything in it;
- ``app_migrator`` logs in, is a member of ``app_owner`` and switches to it at login, so every
  table a migration creates is owned by ``app_owner`` and picked up by the default privileges;
- ``app_rw`` reads and writes rows, ``app_ro`` only reads (and its transactions are read-only);
  neither can create, alter, drop or truncate anything;
- ``platform_monitor`` (postgres_exporter's login) holds ``pg_monitor`` and nothing else;
- CloudNativePG only: ``pgbouncer_auth`` can connect and call PgBouncer's ``SECURITY DEFINER`` lookup
  function, nothing else. On Aurora PgBouncer reads its logins from its ``auth_file`` instead (the
  lookup cannot read ``pg_shadow`` there), so neither exists and the script drops what an earlier
  version created;
- ``PUBLIC`` loses ``CONNECT`` on the database (and ``EXECUTE`` on the lookup function);
- ``pg_stat_statements`` is installed for query statistics.

:func:`render_roles_sql` renders all of it as one idempotent psql script (passwords read from
the environment with ``\\getenv``, never written into the script). The :class:`DatabaseRoles`
component applies it per ``platform:roles.mode``: a Kubernetes Job running that script (``job``),
or one pulumi-postgresql resource per role, grant and default privilege (``provider``).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import pulumi

from components.endpoints import ROLES, Credentials, RoleNames
from components.pgbouncer_config import DEFAULT_AUTH_FUNCTION, AuthLookupFunction, render_auth_function_sql
from components.roles_settings import RolesSettings

JOB_IMAGE = "postgres:16.6-alpine"
"""psql for the roles Job (psql 15+ for ``\\getenv``); the official image's `postgres` user is uid 70."""
AWS_CLI_IMAGE = "amazon/aws-cli:2.15.50"
"""Reads the RDS-managed master secret through EKS Pod Identity (CLI 2.15 and later support it)."""
POSTGRES_UID = 70
AWS_CLI_UID = 1000

MONITOR = "platform_monitor"
"""The metrics exporter's login: `pg_monitor` (statistics of every database), no table access."""
TABLE_RW = ("SELECT", "INSERT", "UPDATE", "DELETE")
SEQUENCE_RW = ("USAGE", "SELECT", "UPDATE")


@dataclass(frozen=True)
class RolesPlan:
    """What the SQL is rendered from: the database, the schema and the role names."""

    database: str
    schema: str = "app"
    statement_timeout_ms: int = 30_000
    roles: RoleNames = ROLES
    auth_function: AuthLookupFunction = DEFAULT_AUTH_FUNCTION
    monitor: str = MONITOR
    auth_lookup: bool = True
    """Create PgBouncer's ``auth_query`` role and lookup function (CloudNativePG). False on Aurora,
    where PgBouncer reads its logins from the ``auth_file``: neither is created, and a role, function
    and schema left by an earlier version are dropped."""

    @property
    def logins(self) -> tuple[str, ...]:
        """The database roles that log in (PgBouncer's exporter is a PgBouncer-only user, not one)."""
        r = self.roles
        lookup = (r.pgbouncer_auth,) if self.auth_lookup else ()
        return (r.read_write, r.read_only, r.migrations, *lookup, self.monitor)


def password_variable(role: str) -> str:
    """The psql variable holding a role's password (``app_rw`` → ``app_rw_password``)."""
    return f"{role}_password"


def password_env(role: str) -> str:
    """The environment variable the script reads a role's password from (``APP_RW_PASSWORD``)."""
    return f"{role.upper()}_PASSWORD"


def _ensure_role(role: str) -> str:
    return (
        "DO $$ BEGIN\n"
        f"  IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = '{role}') THEN\n"
        f"    CREATE ROLE {role};\n"
        "  END IF;\n"
        "END $$;\n"
    )


def _drop_auth_lookup(plan: RolesPlan) -> str:
    """Drops the lookup function, its schema and its role, where they exist (Aurora's script).

    The schema holds only the function (``RESTRICT``: anything else in it stops the script). The role's
    ``CONNECT`` is its last privilege once the schema is gone, so it is revoked before the role goes.
    """
    fn, role, db = plan.auth_function, plan.roles.pgbouncer_auth, plan.database
    return (
        f"DROP FUNCTION IF EXISTS {fn.signature};\n"
        f"DROP SCHEMA IF EXISTS {fn.schema} RESTRICT;\n"
        "DO $$ BEGIN\n"
        f"  IF EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = '{role}') THEN\n"
        f"    REVOKE ALL ON DATABASE {db} FROM {role};\n"
        f"    DROP ROLE {role};\n"
        "  END IF;\n"
        "END $$;"
    )


def render_roles_sql(plan: RolesPlan) -> str:
    """The whole role and grant design as one psql script, safe to apply any number of times.

    Run it connected to ``plan.database`` as a role that may create roles (a superuser, or the
    Aurora master user with ``rds_superuser``), with each login's password in the environment
    variable :func:`password_env` names. An unset variable leaves ``:'…'`` in the statement, a
    syntax error, so a missing password stops the script instead of setting a wrong one.
    """
    r, schema, db = plan.roles, plan.schema, plan.database
    rw_ro = f"{r.read_write}, {r.read_only}"
    out = ["\\set ON_ERROR_STOP on", "\\set QUIET on"]
    out += [f"\\getenv {password_variable(role)} {password_env(role)}" for role in plan.logins]
    out.append("BEGIN;")
    out += [_ensure_role(role) for role in (r.owner, *plan.logins)]
    # Attributes are set on every run, so drift is corrected. SUPERUSER, REPLICATION and BYPASSRLS
    # are never named: only a superuser may, and roles are created without them.
    out.append(f"ALTER ROLE {r.owner} NOLOGIN;")
    out += [f"ALTER ROLE {role} LOGIN PASSWORD :'{password_variable(role)}';" for role in plan.logins]
    out += [
        # The applying role must be able to SET ROLE to the owner (PostgreSQL 16 does not give a
        # CREATEROLE creator that right) to create the schema for it and set its default privileges.
        f"GRANT {r.owner} TO CURRENT_USER;",
        f"GRANT {r.owner} TO {r.migrations};",
        f"ALTER ROLE {r.migrations} SET role = '{r.owner}';",
        f"ALTER ROLE {r.migrations} SET search_path = {schema};",
        f"ALTER ROLE {r.read_write} SET search_path = {schema};",
        f"ALTER ROLE {r.read_only} SET search_path = {schema};",
        f"ALTER ROLE {r.read_only} SET default_transaction_read_only = on;",
        f"ALTER ROLE {r.read_write} SET statement_timeout = {plan.statement_timeout_ms};",
        f"ALTER ROLE {r.read_only} SET statement_timeout = {plan.statement_timeout_ms};",
        f"GRANT pg_monitor TO {plan.monitor};",
        f"ALTER ROLE {plan.monitor} SET default_transaction_read_only = on;",
        # Only the platform's logins may connect.
        f"REVOKE ALL ON DATABASE {db} FROM PUBLIC;",
        f"GRANT CONNECT ON DATABASE {db} TO {', '.join(plan.logins)};",
        "REVOKE CREATE ON SCHEMA public FROM PUBLIC;",
        f"CREATE SCHEMA IF NOT EXISTS {schema} AUTHORIZATION {r.owner};",
        f"ALTER SCHEMA {schema} OWNER TO {r.owner};",
        f"REVOKE ALL ON SCHEMA {schema} FROM PUBLIC;",
        f"GRANT USAGE ON SCHEMA {schema} TO {rw_ro};",
        f"GRANT {', '.join(TABLE_RW)} ON ALL TABLES IN SCHEMA {schema} TO {r.read_write};",
        f"GRANT {', '.join(SEQUENCE_RW)} ON ALL SEQUENCES IN SCHEMA {schema} TO {r.read_write};",
        f"GRANT SELECT ON ALL TABLES IN SCHEMA {schema} TO {r.read_only};",
        f"GRANT SELECT ON ALL SEQUENCES IN SCHEMA {schema} TO {r.read_only};",
        # Tables created later (by migrations, as the owner) get the same grants.
        f"ALTER DEFAULT PRIVILEGES FOR ROLE {r.owner} IN SCHEMA {schema} "
        f"GRANT {', '.join(TABLE_RW)} ON TABLES TO {r.read_write};",
        f"ALTER DEFAULT PRIVILEGES FOR ROLE {r.owner} IN SCHEMA {schema} "
        f"GRANT {', '.join(SEQUENCE_RW)} ON SEQUENCES TO {r.read_write};",
        f"ALTER DEFAULT PRIVILEGES FOR ROLE {r.owner} IN SCHEMA {schema} "
        f"GRANT SELECT ON TABLES TO {r.read_only};",
        f"ALTER DEFAULT PRIVILEGES FOR ROLE {r.owner} IN SCHEMA {schema} "
        f"GRANT SELECT ON SEQUENCES TO {r.read_only};",
        "CREATE EXTENSION IF NOT EXISTS pg_stat_statements;",
    ]
    if plan.auth_lookup:
        out.append(render_auth_function_sql(plan.auth_function, r.pgbouncer_auth).rstrip("\n"))
    else:
        out.append(_drop_auth_lookup(plan))
    out.append("COMMIT;")
    return "\n".join(out) + "\n"


def script_digest(sql: str) -> str:
    """A short content hash: the Job's name carries it, so a changed script runs again."""
    return hashlib.sha256(sql.encode()).hexdigest()[:10]


# -- the Job -------------------------------------------------------------------------------------

# RDS-managed master secrets are JSON {"username": ..., "password": ...}; a password may hold JSON
# escapes (\\ and \"), which the second sed undoes.
_EXTRACT = r"""field() {
  sed -nE "s/.*\"$1\" *: *\"(([^\"\\\\]|\\\\.)*)\".*/\1/p" /run/roles/master.json |
    sed -E 's/\\(.)/\1/g'
}
PGUSER=$(field username)
PGPASSWORD=$(field password)
export PGUSER PGPASSWORD
"""


def job_shell(master_from_file: bool) -> str:
    """The apply container's shell script."""
    head = "set -eu\n" + (_EXTRACT if master_from_file else "")
    return head + "exec psql -X -q -f /etc/platform-roles/roles.sql\n"


FETCH_SHELL = (
    "set -eu\n"
    'aws secretsmanager get-secret-value --region "$AWS_REGION" --secret-id "$MASTER_SECRET_ARN" '
    "--query SecretString --output text > /run/roles/master.json\n"
    'curl -fsS -o /run/roles/ca.pem "https://truststore.pki.rds.amazonaws.com/$AWS_REGION/$AWS_REGION-bundle.pem"\n'
)


def _restricted(uid: int) -> dict[str, Any]:
    return {
        "runAsNonRoot": True,
        "runAsUser": uid,
        "runAsGroup": uid,
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }


@dataclass(frozen=True)
class JobTarget:
    """Where the Job connects and where it finds the master credentials and the server's CA."""

    host: Any
    port: Any
    database: str
    sslmode: str
    master: Literal["aws-secret", "kubernetes-secret"]
    master_secret: Any
    """The RDS-managed secret's ARN (``aws-secret``) or the Kubernetes Secret's name."""
    ca_secret: str | None = None
    """Kubernetes Secret with the server CA as ``ca.crt`` (CloudNativePG); None downloads RDS's."""
    region: str | None = None


def render_roles_job(
    name: str,
    namespace: str,
    *,
    target: JobTarget,
    config_map: str,
    passwords_secret: str,
    service_account: str,
    plan: RolesPlan,
    digest: str,
) -> dict[str, Any]:
    """The Job applying the roles script, restricted-profile, retried while the database comes up."""
    env: list[dict[str, Any]] = [
        {"name": "PGHOST", "value": target.host},
        {"name": "PGPORT", "value": target.port},
        {"name": "PGDATABASE", "value": target.database},
        {"name": "PGSSLMODE", "value": target.sslmode},
        {"name": "PGCONNECT_TIMEOUT", "value": "10"},
        {"name": "PGAPPNAME", "value": "platform-roles"},
    ]
    env += [
        {
            "name": password_env(role),
            "valueFrom": {"secretKeyRef": {"name": passwords_secret, "key": role}},
        }
        for role in plan.logins
    ]
    volumes: list[dict[str, Any]] = [{"name": "sql", "configMap": {"name": config_map}}]
    mounts: list[dict[str, Any]] = [{"name": "sql", "mountPath": "/etc/platform-roles", "readOnly": True}]
    init: list[dict[str, Any]] = []
    if target.master == "aws-secret":
        env.append({"name": "PGSSLROOTCERT", "value": "/run/roles/ca.pem"})
        volumes.append({"name": "run", "emptyDir": {"medium": "Memory", "sizeLimit": "1Mi"}})
        mounts.append({"name": "run", "mountPath": "/run/roles"})
        init.append(
            {
                "name": "fetch-master-secret",
                "image": AWS_CLI_IMAGE,
                "command": ["/bin/sh", "-c", FETCH_SHELL],
                "env": [
                    {"name": "AWS_REGION", "value": target.region},
                    {"name": "MASTER_SECRET_ARN", "value": target.master_secret},
                    {"name": "HOME", "value": "/run/roles"},
                ],
                "volumeMounts": [{"name": "run", "mountPath": "/run/roles"}],
                "securityContext": _restricted(AWS_CLI_UID),
                "resources": {"requests": {"cpu": "50m", "memory": "128Mi"}, "limits": {"memory": "256Mi"}},
            }
        )
    else:
        env += [
            {"name": key, "valueFrom": {"secretKeyRef": {"name": target.master_secret, "key": field}}}
            for key, field in (("PGUSER", "username"), ("PGPASSWORD", "password"))
        ]
        if target.ca_secret is not None:
            env.append({"name": "PGSSLROOTCERT", "value": "/etc/platform-roles-ca/ca.crt"})
            volumes.append(
                {
                    "name": "ca",
                    "secret": {
                        "secretName": target.ca_secret,
                        "items": [{"key": "ca.crt", "path": "ca.crt"}],
                    },
                }
            )
            mounts.append({"name": "ca", "mountPath": "/etc/platform-roles-ca", "readOnly": True})
    labels = {"app.kubernetes.io/name": "database-roles", "app.kubernetes.io/component": "database-roles"}
    pod_spec: dict[str, Any] = {
        "serviceAccountName": service_account,
        "restartPolicy": "Never",
        "securityContext": {
            "runAsNonRoot": True,
            "fsGroup": POSTGRES_UID,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "containers": [
            {
                "name": "apply",
                "image": JOB_IMAGE,
                "command": ["/bin/sh", "-c", job_shell(target.master == "aws-secret")],
                "env": env,
                "volumeMounts": mounts,
                "securityContext": _restricted(POSTGRES_UID),
                "resources": {"requests": {"cpu": "50m", "memory": "64Mi"}, "limits": {"memory": "128Mi"}},
            }
        ],
        "volumes": volumes,
    }
    if init:
        pod_spec["initContainers"] = init
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": f"{name}-{digest}", "namespace": namespace, "labels": labels},
        "spec": {
            # The database may still be starting: retry with back-off for up to 15 minutes.
            "backoffLimit": 6,
            "activeDeadlineSeconds": 900,
            "template": {
                "metadata": {"labels": labels, "annotations": {"platform/roles-sql-sha256": digest}},
                "spec": pod_spec,
            },
        },
    }


def render_roles_config_map(name: str, namespace: str, sql: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": namespace},
        "data": {"roles.sql": sql},
    }


def secrets_manager_read_policy(secret_arn: str, region: str) -> str:
    """Read one secret; decrypt with its KMS key only through Secrets Manager."""
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Action": "secretsmanager:GetSecretValue", "Resource": secret_arn},
                {
                    "Effect": "Allow",
                    "Action": "kms:Decrypt",
                    "Resource": "*",
                    "Condition": {
                        "StringEquals": {"kms:ViaService": f"secretsmanager.{region}.amazonaws.com"}
                    },
                },
            ],
        },
        sort_keys=True,
    )


# -- the component --------------------------------------------------------------------------------


@dataclass(frozen=True)
class DatabaseRolesArgs:
    """What the roles need: the database endpoint, the master credentials' source, the passwords."""

    settings: RolesSettings
    engine: Literal["aurora", "cloudnativepg"]
    database: str
    host: pulumi.Input[str]
    port: pulumi.Input[int]
    credentials: Mapping[str, Credentials]
    """Passwords by role name (from :class:`components.credentials.DatabaseCredentials`)."""
    name: str
    """Physical name prefix, e.g. `platform-prod` (also the CloudNativePG cluster's name)."""
    namespace: str = "platform-data"
    master_secret_arn: pulumi.Input[str] | None = None
    """Aurora: the RDS-managed master user secret."""
    region: str | None = None
    eks_cluster_name: pulumi.Input[str] | None = None
    """Aurora + `job`: the EKS cluster, for the Job's Pod Identity association."""
    protect: bool = False


class DatabaseRoles(pulumi.ComponentResource):
    """Applies :func:`render_roles_sql`'s design with a Job or with pulumi-postgresql resources."""

    mode: str
    """`provider`, `job` or `none`."""
    sql: str
    """The rendered script (also what the Job runs)."""

    def __init__(
        self, name: str, args: DatabaseRolesArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("platform:data:DatabaseRoles", name, None, opts)
        settings = args.settings
        self.mode = settings.mode
        self.plan = RolesPlan(
            database=args.database,
            schema=settings.schema_name,
            statement_timeout_ms=settings.statement_timeout_ms,
            # Aurora's PgBouncer lists its logins in the auth_file: a lookup role would be unused.
            auth_lookup=args.engine == "cloudnativepg",
        )
        missing = [r for r in self.plan.logins if r not in args.credentials]
        if missing:
            raise ValueError(f"DatabaseRoles: no credentials for {missing}")
        self.sql = render_roles_sql(self.plan)
        if settings.mode == "job":
            self._via_job(name, args)
        elif settings.mode == "provider":
            self._via_provider(name, args)
        self.register_outputs({"mode": self.mode, "sqlSha256": script_digest(self.sql)})

    # -- job ---------------------------------------------------------------------------------

    def _via_job(self, name: str, args: DatabaseRolesArgs) -> None:
        from components.kube import apply

        child = pulumi.ResourceOptions(parent=self)
        ns, base = args.namespace, f"{args.name}-db-roles"
        digest = script_digest(self.sql)
        service_account = apply(
            f"{name}-sa",
            {
                "apiVersion": "v1",
                "kind": "ServiceAccount",
                "metadata": {"name": base, "namespace": ns},
                "automountServiceAccountToken": False,
            },
            child,
        )
        config_map = apply(f"{name}-sql", render_roles_config_map(base, ns, self.sql), child)
        passwords = apply(
            f"{name}-passwords",
            {
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": {"name": f"{base}-passwords", "namespace": ns},
                "type": "Opaque",
                "stringData": {
                    r: pulumi.Output.secret(args.credentials[r].password) for r in self.plan.logins
                },
            },
            child,
        )
        waits: list[pulumi.Resource] = [service_account, config_map, passwords]
        if args.engine == "aurora":
            if args.master_secret_arn is None or args.region is None or args.eks_cluster_name is None:
                raise ValueError(
                    "DatabaseRoles job on Aurora needs master_secret_arn, region and eks_cluster_name"
                )
            waits.append(self._pod_identity(name, args, base))
            target = JobTarget(
                host=args.host,
                port=pulumi.Output.from_input(args.port).apply(str),
                database=args.database,
                sslmode=args.settings.sslmode,
                master="aws-secret",
                master_secret=args.master_secret_arn,
                region=args.region,
            )
        else:
            target = JobTarget(
                host=args.host,
                port=pulumi.Output.from_input(args.port).apply(str),
                database=args.database,
                sslmode=args.settings.sslmode,
                master="kubernetes-secret",
                master_secret=f"{args.name}-superuser",
                ca_secret=f"{args.name}-ca",
            )
        manifest = render_roles_job(
            base,
            ns,
            target=target,
            config_map=base,
            passwords_secret=f"{base}-passwords",
            service_account=base,
            plan=self.plan,
            digest=digest,
        )
        apply(f"{name}-job", manifest, pulumi.ResourceOptions(parent=self, depends_on=waits))

    def _pod_identity(self, name: str, args: DatabaseRolesArgs, service_account: str) -> pulumi.Resource:
        import pulumi_aws as aws

        from components.iam import pod_identity_trust_policy

        child = pulumi.ResourceOptions(parent=self)
        role = aws.iam.Role(f"{name}-job", assume_role_policy=pod_identity_trust_policy(), opts=child)
        policy = aws.iam.RolePolicy(
            f"{name}-job",
            role=role.id,
            policy=pulumi.Output.from_input(args.master_secret_arn).apply(
                lambda arn: secrets_manager_read_policy(str(arn), args.region or "")
            ),
            opts=child,
        )
        return aws.eks.PodIdentityAssociation(
            f"{name}-job",
            cluster_name=args.eks_cluster_name,
            namespace=args.namespace,
            service_account=service_account,
            role_arn=role.arn,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[policy]),
        )

    # -- provider ----------------------------------------------------------------------------

    def _via_provider(self, name: str, args: DatabaseRolesArgs) -> None:
        import pulumi_aws as aws
        import pulumi_postgresql as pg

        if args.engine != "aurora" or args.master_secret_arn is None:
            raise ValueError("DatabaseRoles provider mode needs Aurora's master secret")
        settings, plan, r = args.settings, self.plan, self.plan.roles
        # Aurora only, so no PgBouncer lookup role, function or grant (see RolesPlan.auth_lookup); a
        # stack whose state still holds them deletes them from the database on its next `pulumi up`.
        secret = aws.secretsmanager.get_secret_version_output(
            secret_id=args.master_secret_arn, opts=pulumi.InvokeOutputOptions(parent=self)
        )
        master = pulumi.Output.secret(secret.secret_string).apply(lambda text: dict(json.loads(str(text))))
        provider = pg.Provider(
            f"{name}-postgresql",
            host=settings.provider_host or args.host,
            port=settings.provider_port or args.port,
            database=args.database,
            username=master.apply(lambda m: m["username"]),
            password=pulumi.Output.secret(master.apply(lambda m: m["password"])),
            sslmode=settings.sslmode,
            sslrootcert=settings.ssl_root_cert,
            # Aurora's master user holds rds_superuser, not SUPERUSER.
            superuser=False,
            connect_timeout=15,
            opts=pulumi.ResourceOptions(parent=self),
        )
        opts = pulumi.ResourceOptions(parent=self, provider=provider)
        stateful = pulumi.ResourceOptions(parent=self, provider=provider, protect=args.protect)

        def role_opts(*after: pulumi.Resource) -> pulumi.ResourceOptions:
            return pulumi.ResourceOptions(parent=self, provider=provider, depends_on=list(after))

        # Never drop the owner (that would take the data with it) when the resource goes.
        owner = pg.Role(
            f"{name}-{r.owner}",
            name=r.owner,
            login=False,
            skip_drop_role=True,
            skip_reassign_owned=True,
            opts=stateful,
        )
        timeout = plan.statement_timeout_ms
        logins = {
            r.read_write: pg.Role(
                f"{name}-{r.read_write}",
                name=r.read_write,
                login=True,
                password=args.credentials[r.read_write].password,
                search_paths=[plan.schema],
                statement_timeout=timeout,
                opts=opts,
            ),
            r.read_only: pg.Role(
                f"{name}-{r.read_only}",
                name=r.read_only,
                login=True,
                password=args.credentials[r.read_only].password,
                search_paths=[plan.schema],
                statement_timeout=timeout,
                opts=opts,
            ),
            r.migrations: pg.Role(
                f"{name}-{r.migrations}",
                name=r.migrations,
                login=True,
                password=args.credentials[r.migrations].password,
                roles=[r.owner],
                assume_role=r.owner,
                search_paths=[plan.schema],
                opts=role_opts(owner),
            ),
            plan.monitor: pg.Role(
                f"{name}-{plan.monitor}",
                name=plan.monitor,
                login=True,
                password=args.credentials[plan.monitor].password,
                roles=["pg_monitor"],
                opts=opts,
            ),
        }
        db = args.database
        pg.Grant(
            f"{name}-db-public", database=db, role="public", object_type="database", privileges=[], opts=opts
        )
        for role, resource in logins.items():
            pg.Grant(
                f"{name}-db-connect-{role}",
                database=db,
                role=role,
                object_type="database",
                privileges=["CONNECT"],
                opts=role_opts(resource),
            )
        schema = pg.Schema(
            f"{name}-schema",
            name=plan.schema,
            database=db,
            owner=r.owner,
            if_not_exists=True,
            opts=pulumi.ResourceOptions(
                parent=self, provider=provider, protect=args.protect, depends_on=[owner]
            ),
        )
        for role, tables, sequences in (
            (r.read_write, list(TABLE_RW), list(SEQUENCE_RW)),
            (r.read_only, ["SELECT"], ["SELECT"]),
        ):
            after = role_opts(logins[role], schema)
            pg.Grant(
                f"{name}-schema-{role}",
                database=db,
                schema=plan.schema,
                role=role,
                object_type="schema",
                privileges=["USAGE"],
                opts=after,
            )
            for object_type, privileges in (("table", tables), ("sequence", sequences)):
                pg.Grant(
                    f"{name}-{object_type}s-{role}",
                    database=db,
                    schema=plan.schema,
                    role=role,
                    object_type=object_type,
                    privileges=privileges,
                    opts=after,
                )
                pg.DefaultPrivileges(
                    f"{name}-default-{object_type}s-{role}",
                    database=db,
                    schema=plan.schema,
                    owner=r.owner,
                    role=role,
                    object_type=object_type,
                    privileges=privileges,
                    opts=after,
                )
        pg.Extension(f"{name}-pg-stat-statements", name="pg_stat_statements", database=db, opts=opts)
