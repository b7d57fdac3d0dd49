"""The rendered roles script on a real PostgreSQL, applied with psql exactly as the roles Job does.

One server per module (``pg_stat_statements`` preloaded, SCRAM on a private socket). The tests
prove least privilege: what each role can do, and that it cannot do more.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import json
import os
import secrets
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import errors

from components.config import ConfigError, validate
from components.database_roles import (
    MONITOR,
    JobTarget,
    RolesPlan,
    job_shell,
    password_env,
    password_variable,
    render_roles_job,
    render_roles_sql,
    script_digest,
)
from components.endpoints import ROLES
from components.pgbouncer_config import DEFAULT_AUTH_FUNCTION
from synth.engine import SECRET, Registration
from synth.output import manifest
from tests.conftest import stack_values, synthesized
from tests.invariants import unprovided
from tests.k8s_validation import validate_manifests
from tests.pg_cluster import (
    SERVER_USER,
    PostgresServer,
    chown_to_server,
    free_port,
    postgres_tool,
    run,
    write_server_file,
)
from tests.tools import find_tool, need

pytestmark = pytest.mark.xdist_group("database_roles_real")

DB = "appdb"
PLAN = RolesPlan(database=DB, schema="app")


@dataclass
class Server:
    server: PostgresServer
    superuser_password: str
    passwords: dict[str, str]
    psql: str

    def conninfo(self, user: str, password: str | None = None, dbname: str = DB) -> str:
        return psycopg.conninfo.make_conninfo(
            host=str(self.server.socket_dir),
            port=str(self.server.port),
            user=user,
            password=password if password is not None else self.passwords[user],
            dbname=dbname,
        )

    def apply(self, sql_text: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        """Run the script through psql as the superuser, with the passwords in the environment."""
        environment = {
            **os.environ,
            "PGHOST": str(self.server.socket_dir),
            "PGPORT": str(self.server.port),
            "PGUSER": SERVER_USER,
            "PGPASSWORD": self.superuser_password,
            "PGDATABASE": DB,
            **{password_env(role): pw for role, pw in self.passwords.items()},
            **(env or {}),
        }
        return subprocess.run(
            [self.psql, "-X", "-q", "-v", "ON_ERROR_STOP=1"],
            input=sql_text,
            capture_output=True,
            text=True,
            env=environment,
            timeout=30,
            check=False,
        )


@pytest.fixture(scope="module")
def pg() -> Iterator[Server]:
    initdb = find_tool("initdb", "/usr/lib/postgresql/*/bin/initdb")
    psql = find_tool("psql", "/usr/lib/postgresql/*/bin/psql")
    need(initdb and psql, "PostgreSQL (initdb, psql) is not installed")
    with contextlib.ExitStack() as cleanup:
        root = Path(tempfile.mkdtemp(prefix="roles-real-"))
        cleanup.callback(shutil.rmtree, root, ignore_errors=True)
        root.chmod(0o755)
        chown_to_server(root)
        password = secrets.token_urlsafe(18)
        pwfile = write_server_file(root / "pwfile", password + "\n")
        datadir, sockets = root / "data", root / "sock"
        sockets.mkdir()
        sockets.chmod(0o755)
        chown_to_server(sockets)
        options = ["-E", "UTF8", "--locale=C", "-N", "--auth=scram-sha-256", "-U", SERVER_USER]
        run([postgres_tool("initdb"), *options, f"--pwfile={pwfile}", "-D", str(datadir)], as_server=True)
        server = PostgresServer(datadir, free_port(), sockets, root / "server.log")
        with (datadir / "postgresql.conf").open("a") as conf:
            conf.write(
                f"port = {server.port}\nlisten_addresses = ''\nunix_socket_directories = '{sockets}'\n"
                "shared_preload_libraries = 'pg_stat_statements'\nfsync = off\n"
                "password_encryption = 'scram-sha-256'\n"
            )
        cleanup.callback(server.stop)
        server.start()
        passwords = {role: secrets.token_urlsafe(24) for role in PLAN.logins}
        pg = Server(server, password, passwords, str(psql))
        with psycopg.connect(pg.conninfo(SERVER_USER, password, "postgres"), autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {DB}")
        result = pg.apply(render_roles_sql(PLAN))
        assert result.returncode == 0, result.stderr
        yield pg


def _connect(pg: Server, role: str) -> psycopg.Connection:
    return psycopg.connect(pg.conninfo(role), autocommit=True)


@pytest.fixture(scope="module")
def migrated(pg: Server) -> Server:
    """A table and a sequence created after the grants, by the migrator (as a migration would)."""
    with _connect(pg, ROLES.migrations) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS widgets (id bigserial PRIMARY KEY, name text NOT NULL)")
    return pg


def test_applying_the_script_twice_changes_nothing_and_succeeds(pg: Server) -> None:
    def snapshot() -> list[tuple[object, ...]]:
        with psycopg.connect(pg.conninfo(SERVER_USER, pg.superuser_password)) as conn:
            return (
                conn.execute(
                    "SELECT r.rolname, r.rolcanlogin, r.rolconfig::text, "
                    "(SELECT array_agg(b.rolname ORDER BY b.rolname) FROM pg_auth_members m "
                    " JOIN pg_roles b ON b.oid = m.roleid WHERE m.member = r.oid)::text "
                    "FROM pg_roles r "
                    "WHERE r.rolname LIKE 'app_%' OR r.rolname IN ('pgbouncer_auth', 'platform_monitor') "
                    "ORDER BY 1"
                ).fetchall()
                + conn.execute(
                    "SELECT nspname, nspacl::text FROM pg_namespace WHERE nspname IN ('app', 'pgbouncer') "
                    "UNION ALL SELECT defaclrole::regrole::text, defaclacl::text FROM pg_default_acl "
                    "ORDER BY 1, 2"
                ).fetchall()
            )

    before = snapshot()
    result = pg.apply(render_roles_sql(PLAN))
    assert result.returncode == 0, result.stderr
    assert snapshot() == before


def test_a_missing_password_stops_the_script(pg: Server) -> None:
    # Without its \\getenv line the variable is unset, as when the Job's Secret lacks the key.
    getenv = f"\\getenv app_ro_password {password_env(ROLES.read_only)}\n"
    script = render_roles_sql(PLAN)
    assert getenv in script
    result = pg.apply(script.replace(getenv, ""))
    assert result.returncode != 0
    assert "syntax error" in result.stderr
    with _connect(pg, ROLES.read_only) as conn:  # the old password still works: nothing was committed
        assert conn.execute("SELECT 1").fetchone() == (1,)


def test_read_write_role_reads_and_writes_tables_created_later(migrated: Server) -> None:
    with _connect(migrated, ROLES.read_write) as conn:
        conn.execute("INSERT INTO widgets (name) VALUES ('a')")
        conn.execute("UPDATE widgets SET name = 'b' WHERE name = 'a'")
        assert conn.execute("SELECT count(*) FROM widgets WHERE name = 'b'").fetchone()[0] >= 1  # type: ignore[index]
        conn.execute("DELETE FROM widgets WHERE name = 'b'")


@pytest.mark.parametrize(
    "statement",
    [
        "CREATE TABLE app.intruder (id int)",
        "CREATE TABLE public.intruder (id int)",
        "DROP TABLE widgets",
        "TRUNCATE widgets",
        "ALTER TABLE widgets ADD COLUMN extra int",
        "CREATE SCHEMA intruder",
    ],
)
def test_read_write_role_cannot_change_the_schema(migrated: Server, statement: str) -> None:
    with _connect(migrated, ROLES.read_write) as conn, pytest.raises(errors.InsufficientPrivilege):
        conn.execute(statement)


WRITES = ("INSERT INTO widgets (name) VALUES ('x')", "UPDATE widgets SET name = 'x'", "DELETE FROM widgets")


def granted_writes(pg: Server, role: str, dbname: str = DB) -> list[str]:
    """The writes ``role`` may run on ``widgets`` by its grants (read-only transactions switched off)."""
    allowed = []
    with psycopg.connect(pg.conninfo(role, dbname=dbname), autocommit=True) as conn:
        conn.execute("SET default_transaction_read_only = off")
        for statement in WRITES:
            try:
                with conn.transaction(force_rollback=True):
                    conn.execute(statement)
                allowed.append(statement)
            except errors.InsufficientPrivilege:
                pass
    return allowed


@pytest.mark.parametrize("statement", WRITES)
def test_read_only_role_sessions_refuse_writes(migrated: Server, statement: str) -> None:
    with _connect(migrated, ROLES.read_only) as conn:
        assert conn.execute("SELECT count(*) FROM widgets").fetchone() is not None
        with pytest.raises(errors.ReadOnlySqlTransaction):
            conn.execute(statement)


def test_read_only_role_has_no_write_grant(migrated: Server) -> None:
    assert granted_writes(migrated, ROLES.read_only) == []
    assert granted_writes(migrated, ROLES.read_write) == list(WRITES)


def test_write_grant_check_catches_a_leaky_default_privilege(pg: Server) -> None:
    broken_db = "leakydb"
    with psycopg.connect(
        pg.conninfo(SERVER_USER, pg.superuser_password, "postgres"), autocommit=True
    ) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {broken_db}")
        conn.execute(f"CREATE DATABASE {broken_db}")
    leak = (
        f"ALTER DEFAULT PRIVILEGES FOR ROLE {ROLES.owner} IN SCHEMA app "
        f"GRANT INSERT ON TABLES TO {ROLES.read_only};"
    )
    script = render_roles_sql(RolesPlan(database=broken_db)).replace("COMMIT;", f"{leak}\nCOMMIT;")
    result = pg.apply(script, {"PGDATABASE": broken_db})
    assert result.returncode == 0, result.stderr
    with psycopg.connect(pg.conninfo(ROLES.migrations, dbname=broken_db), autocommit=True) as conn:
        conn.execute("CREATE TABLE widgets (id int, name text)")
    assert granted_writes(pg, ROLES.read_only, broken_db) == [WRITES[0]]


def test_migrator_runs_ddl_and_its_objects_belong_to_the_owner(migrated: Server) -> None:
    with _connect(migrated, ROLES.migrations) as conn:
        conn.execute("CREATE TABLE gadgets (id int)")
        conn.execute("ALTER TABLE gadgets ADD COLUMN name text")
        owner = conn.execute("SELECT tableowner FROM pg_tables WHERE tablename = 'gadgets'").fetchone()
        conn.execute("DROP TABLE gadgets")
    assert owner == (ROLES.owner,)


def test_owner_role_cannot_log_in(pg: Server) -> None:
    with psycopg.connect(pg.conninfo(SERVER_USER, pg.superuser_password)) as conn:
        row = conn.execute("SELECT rolcanlogin FROM pg_roles WHERE rolname = %s", (ROLES.owner,)).fetchone()
    assert row == (False,)


def test_pgbouncer_auth_only_calls_the_lookup_function(migrated: Server) -> None:
    with _connect(migrated, ROLES.pgbouncer_auth) as conn:
        row = conn.execute(
            "SELECT usename, passwd FROM pgbouncer.get_auth(%s)", (ROLES.read_write,)
        ).fetchone()
        assert row is not None and row[1].startswith("SCRAM-SHA-256$")
        assert conn.execute("SELECT * FROM pgbouncer.get_auth(%s)", (SERVER_USER,)).fetchall() == []
        for statement in ("SELECT * FROM app.widgets", "SELECT passwd FROM pg_catalog.pg_shadow"):
            with pytest.raises(errors.InsufficientPrivilege):
                conn.execute(statement)


@pytest.mark.parametrize("role", [ROLES.read_write, ROLES.read_only, ROLES.migrations])
def test_other_roles_cannot_call_the_lookup_function(pg: Server, role: str) -> None:
    with _connect(pg, role) as conn, pytest.raises(errors.InsufficientPrivilege):
        conn.execute("SELECT * FROM pgbouncer.get_auth('app_rw')")


def test_public_cannot_connect_to_the_database(pg: Server) -> None:
    with psycopg.connect(pg.conninfo(SERVER_USER, pg.superuser_password), autocommit=True) as conn:
        conn.execute("DROP ROLE IF EXISTS stranger")
        conn.execute("CREATE ROLE stranger LOGIN PASSWORD 'stranger-password'")
    with pytest.raises(psycopg.OperationalError, match="permission denied for database"):
        psycopg.connect(pg.conninfo("stranger", "stranger-password"))


def test_monitor_reads_every_statistic_but_no_table(migrated: Server) -> None:
    with _connect(migrated, MONITOR) as conn:
        users = {u for (u,) in conn.execute("SELECT DISTINCT userid::regrole::text FROM pg_stat_statements")}
        # Other roles' statements are visible (migrations run as the owner they switch to).
        assert {ROLES.owner, ROLES.read_write} <= users
        with pytest.raises(errors.InsufficientPrivilege):
            conn.execute("SELECT * FROM app.widgets")


def test_pg_stat_statements_is_installed_and_collecting(migrated: Server) -> None:
    with psycopg.connect(migrated.conninfo(SERVER_USER, migrated.superuser_password)) as conn:
        assert conn.execute("SELECT count(*) FROM pg_stat_statements").fetchone()[0] > 0  # type: ignore[index]


def test_the_job_runs_the_same_script_it_mounts() -> None:
    target = JobTarget(
        host="db",
        port="5432",
        database=DB,
        sslmode="verify-full",
        master="kubernetes-secret",
        master_secret="db-superuser",
        ca_secret="db-ca",
    )
    job = render_roles_job(
        "roles",
        "platform-data",
        target=target,
        config_map="roles",
        passwords_secret="pw",
        service_account="roles",
        plan=PLAN,
        digest="abc",
    )
    container = job["spec"]["template"]["spec"]["containers"][0]
    assert container["command"][-1] == job_shell(False)
    assert "/etc/platform-roles/roles.sql" in job_shell(False)
    env = {e["name"] for e in container["env"]}
    assert {password_env(r) for r in PLAN.logins} <= env
    assert {"PGUSER", "PGPASSWORD", "PGSSLROOTCERT"} <= env


# -- the component in each stack -------------------------------------------------------------------

JOB = "kubernetes:batch/v1:Job"


def _roles_children(stack: str) -> list[Registration]:
    synthesis = synthesized(stack)
    (component,) = [r for r in synthesis.resources if r.type == "platform:data:DatabaseRoles"]
    return [r for r in synthesis.resources if r.parent == component.urn]


@pytest.mark.parametrize(
    ("stack", "mode"), [("dev", "job"), ("staging", "provider"), ("uat", "job"), ("prod", "job")]
)
def test_each_stack_manages_roles_the_way_its_config_says(stack: str, mode: str) -> None:
    assert validate(stack_values(stack)).roles.mode == mode
    assert synthesized(stack).outputs["databaseRolesMode"] == mode
    children = _roles_children(stack)
    jobs = [r for r in children if r.type == JOB]
    postgres = [r for r in children if r.type.startswith("postgresql:")]
    assert (len(jobs), bool(postgres)) == ((1, False) if mode == "job" else (0, True))


@pytest.mark.parametrize("stack", ["dev", "uat", "prod"])
def test_roles_job_is_restricted_valid_and_runs_the_rendered_script(stack: str) -> None:
    children = _roles_children(stack)
    objects = {m["kind"]: m for r in children if (m := manifest(r)) is not None}
    job = objects["Job"]
    assert validate_manifests([o for o in objects.values() if o["kind"] != "Secret"]) == []
    pod = job["spec"]["template"]["spec"]
    for container in pod["containers"] + pod.get("initContainers", []):
        context = container["securityContext"]
        assert context["runAsNonRoot"] and not context["allowPrivilegeEscalation"]
        assert context["capabilities"] == {"drop": ["ALL"]}
    sql_text = objects["ConfigMap"]["data"]["roles.sql"]
    # PgBouncer looks logins up on CloudNativePG (dev) only.
    plan = RolesPlan(database="app", schema="app", auth_lookup=stack == "dev")
    assert sql_text == render_roles_sql(plan)
    assert job["metadata"]["name"].endswith(script_digest(sql_text))
    env = {e["name"]: e for e in pod["containers"][0]["env"]}
    assert env["PGSSLMODE"]["value"] == "verify-full" and "PGSSLROOTCERT" in env
    assert all("value" not in env[password_env(r)] for r in plan.logins)  # from the Secret only


def test_aurora_job_reads_only_the_master_secret_through_pod_identity() -> None:
    children = _roles_children("prod")
    (policy,) = [r for r in children if r.type == "aws:iam/rolePolicy:RolePolicy"]
    statements = json.loads(policy.inputs["policy"])["Statement"]
    read = next(s for s in statements if s["Action"] == "secretsmanager:GetSecretValue")
    assert read["Resource"].startswith("arn:aws:secretsmanager:") and "*" not in read["Resource"]
    decrypt = next(s for s in statements if s["Action"] == "kms:Decrypt")
    assert decrypt["Condition"]["StringEquals"]["kms:ViaService"] == "secretsmanager.eu-west-1.amazonaws.com"
    (association,) = [
        r for r in children if r.type == "aws:eks/podIdentityAssociation:PodIdentityAssociation"
    ]
    assert (association.inputs["namespace"], association.inputs["serviceAccount"]) == (
        "platform-data",
        "platform-prod-db-roles",
    )


def test_provider_mode_connects_over_verified_tls_without_superuser() -> None:
    staging = synthesized("staging")
    (provider,) = staging.by_type("pulumi:providers:postgresql")
    inputs = provider.export_inputs()
    assert inputs["sslmode"] == "verify-full"
    assert inputs["superuser"] in (False, "false")
    assert inputs["password"] == SECRET
    assert unprovided(staging.resources, "postgresql") == []
    roles = {r.inputs["name"]: r for r in staging.by_type("postgresql:index/role:Role")}
    aurora = RolesPlan(database="app", auth_lookup=False)
    assert set(roles) == {ROLES.owner, *aurora.logins}
    assert roles[ROLES.owner].inputs["login"] is False and roles[ROLES.owner].inputs["skipDropRole"] is True
    assert roles[ROLES.migrations].inputs["assumeRole"] == ROLES.owner
    assert all(roles[r].export_inputs()["password"] == SECRET for r in aurora.logins)


def test_provider_check_catches_a_postgresql_resource_on_a_default_provider() -> None:
    (role,) = [
        r for r in synthesized("staging").by_type("postgresql:index/role:Role") if r.name.endswith("app_rw")
    ]
    assert unprovided([dataclasses.replace(role, provider=None)], "postgresql") == [role.urn]


@pytest.mark.parametrize(
    ("stack", "roles", "message"),
    [
        (
            "dev",
            {"mode": "provider", "sslmode": "require"},
            r"^platform:roles.mode: `provider` reads Aurora's master secret",
        ),
        (
            "staging",
            {"mode": "provider"},
            r"^platform:roles: mode `provider` with sslmode `verify-full` needs sslRootCert",
        ),
        ("prod", {"mode": "job", "providerHost": "localhost"}, r"^platform:roles: providerHost only apply"),
        ("prod", {"mode": "sometimes"}, r"^platform:roles.mode: Input should be 'provider', 'job' or 'none'"),
        (
            "prod",
            {"sslmode": "disable"},
            r"^platform:roles.sslmode: Input should be 'verify-full' or 'require'",
        ),
    ],
)
def test_roles_config_errors_name_the_key(stack: str, roles: dict[str, Any], message: str) -> None:
    values = copy.deepcopy(stack_values(stack))
    values["roles"] = roles
    with pytest.raises(ConfigError, match=message):
        validate(values)


def test_provider_host_override_is_for_tunnels() -> None:
    values = copy.deepcopy(stack_values("staging"))
    values["roles"] = {
        "mode": "provider",
        "providerHost": "localhost",
        "providerPort": 15432,
        "sslmode": "require",
    }
    roles = validate(values).roles
    assert (roles.provider_host, roles.provider_port, roles.sslmode) == ("localhost", 15432, "require")


# -- PgBouncer's lookup role and function: CloudNativePG only ----------------------------------------


def auth_lookup_statements(sql_text: str, auth_user: str = ROLES.pgbouncer_auth) -> list[str]:
    """Lines of a roles script that create, log in, grant to or feed PgBouncer's lookup role or function."""
    return [
        line
        for line in sql_text.splitlines()
        if f"CREATE ROLE {auth_user}" in line
        or f"ALTER ROLE {auth_user} " in line
        or f"\\getenv {password_variable(auth_user)} " in line
        or line.startswith("CREATE OR REPLACE FUNCTION")
        or (line.startswith("GRANT") and line.rstrip(";").endswith(auth_user))
        or (line.startswith("GRANT CONNECT") and f" {auth_user}," in line)
    ]


def test_lookup_check_catches_each_kind_of_lookup_statement() -> None:
    found = auth_lookup_statements(render_roles_sql(PLAN))
    kinds = ("\\getenv", "    CREATE ROLE", "ALTER ROLE", "GRANT CONNECT", "GRANT USAGE", "CREATE OR REPLACE")
    assert [k for k in (*kinds, "GRANT EXECUTE") if not any(s.startswith(k) for s in found)] == []


def test_aurora_plan_renders_no_lookup_role_function_or_grant() -> None:
    aurora = RolesPlan(database=DB, schema="app", auth_lookup=False)
    assert ROLES.pgbouncer_auth not in aurora.logins
    assert auth_lookup_statements(render_roles_sql(aurora)) == []
    assert ROLES.pgbouncer_auth in PLAN.logins


@pytest.mark.parametrize(("stack", "lookup"), [("dev", True), ("uat", False), ("prod", False)])
def test_only_cloudnativepg_stacks_create_the_lookup_role_and_function(stack: str, lookup: bool) -> None:
    objects = {m["kind"]: m for r in _roles_children(stack) if (m := manifest(r)) is not None}
    sql_text = objects["ConfigMap"]["data"]["roles.sql"]
    assert bool(auth_lookup_statements(sql_text)) is lookup
    # The lookup role's password is neither in the Job's Secret nor in its environment on Aurora.
    assert (ROLES.pgbouncer_auth in objects["Secret"]["stringData"]) is lookup
    env = {e["name"] for e in objects["Job"]["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert (password_env(ROLES.pgbouncer_auth) in env) is lookup


@pytest.mark.parametrize(("stack", "lookup"), [("dev", True), ("staging", False), ("prod", False)])
def test_only_cloudnativepg_stacks_generate_a_password_for_the_lookup_role(stack: str, lookup: bool) -> None:
    passwords = [
        r.name for r in synthesized(stack).resources if r.type == "random:index/randomPassword:RandomPassword"
    ]
    assert any(ROLES.read_write in name for name in passwords)  # the check finds what it looks for
    assert any(ROLES.pgbouncer_auth in name for name in passwords) is lookup


def test_provider_mode_on_aurora_registers_no_lookup_role_function_or_grant() -> None:
    staging = synthesized("staging")

    def names(resource: Registration) -> set[Any]:
        """What a resource names: the role, schema or function it is, or a grant's grantee and schema."""
        return {resource.inputs.get(key) for key in ("name", "role", "schema")}

    postgres = [r for r in staging.resources if r.type.startswith("postgresql:")]
    lookup = {ROLES.pgbouncer_auth, DEFAULT_AUTH_FUNCTION.schema, DEFAULT_AUTH_FUNCTION.name}
    assert [r.name for r in postgres if names(r) & lookup] == []
    assert [r.name for r in postgres if r.type == "postgresql:index/function:Function"] == []
    # The check sees what it looks for: app_rw's role and its grants are found by the same names.
    assert len([r for r in postgres if ROLES.read_write in names(r)]) > 3


def test_aurora_script_drops_the_lookup_role_function_and_schema_an_earlier_script_left(pg: Server) -> None:
    # Its own database and lookup role name, so the module's `pgbouncer_auth` stays as it is.
    db, auth_user = "retiredb", "retired_auth"
    earlier = RolesPlan(database=db, roles=dataclasses.replace(ROLES, pgbouncer_auth=auth_user))
    aurora = dataclasses.replace(earlier, auth_lookup=False)
    # As on Aurora, the scripts run as a master user that is no superuser: it may create roles and
    # databases, and owns the application database.
    master, master_password = "retired_master", secrets.token_urlsafe(24)
    superuser = pg.conninfo(SERVER_USER, pg.superuser_password, "postgres")
    with psycopg.connect(superuser, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {db}")
        conn.execute(f"DROP ROLE IF EXISTS {master}")
        conn.execute(f"CREATE ROLE {master} LOGIN CREATEROLE CREATEDB PASSWORD '{master_password}'")
        conn.execute(f"CREATE DATABASE {db} OWNER {master}")
    with psycopg.connect(pg.conninfo(SERVER_USER, pg.superuser_password, db), autocommit=True) as conn:
        # Aurora's rds_superuser may create this extension; a plain CREATEROLE user may not.
        conn.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
    env = {
        "PGDATABASE": db,
        "PGUSER": master,
        "PGPASSWORD": master_password,
        password_env(auth_user): secrets.token_urlsafe(24),
    }

    def lookup_objects() -> tuple[object, ...] | None:
        with psycopg.connect(pg.conninfo(SERVER_USER, pg.superuser_password, db)) as conn:
            return conn.execute(
                "SELECT (SELECT count(*) FROM pg_catalog.pg_roles WHERE rolname = %s), "
                "(SELECT count(*) FROM pg_catalog.pg_namespace WHERE nspname = %s), "
                "to_regprocedure(%s) IS NOT NULL",
                (auth_user, aurora.auth_function.schema, aurora.auth_function.signature),
            ).fetchone()

    result = pg.apply(render_roles_sql(earlier), env)
    assert result.returncode == 0, result.stderr
    assert lookup_objects() == (1, 1, True)
    for _ in range(2):  # and running it again changes nothing
        result = pg.apply(render_roles_sql(aurora), env)
        assert result.returncode == 0, result.stderr
        assert lookup_objects() == (0, 0, False)
    with psycopg.connect(pg.conninfo(ROLES.read_write, dbname=db)) as conn:
        assert conn.execute("SELECT current_user").fetchone() == (ROLES.read_write,)
