"""PgBouncer settings model and renderers: defaults, bounds, cross-field rules, rendered files.

The rendered ini is also loaded by the real ``pgbouncer`` binary (which has no check-only mode: it is
started and must come up), next to deliberately broken inis that it must refuse.
"""

from __future__ import annotations

import base64
import configparser
import hashlib
import hmac
import re
import shutil
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from components.pgbouncer_config import (
    DEFAULT_AUTH_FUNCTION,
    AuthLookupFunction,
    PgBouncerEndpoints,
    PgBouncerSettings,
    render_auth_function_sql,
    render_pgbouncer_ini,
    render_userlist,
    scram_sha256_verifier,
)
from tests.pg_cluster import (
    PgBouncerProcess,
    TlsFiles,
    chown_to_server,
    free_port,
    make_tls,
    write_server_file,
)
from tests.tools import require_tool

ENDPOINTS = PgBouncerEndpoints(
    writer_host="app.cluster-abc.eu-west-1.rds.amazonaws.com",
    reader_host="app.cluster-ro-abc.eu-west-1.rds.amazonaws.com",
    database="app",
    auth_user="pgbouncer_auth",
    server_ca_file="/etc/pgbouncer/ca/ca.crt",
    client_tls_cert_file="/etc/pgbouncer/tls/tls.crt",
    client_tls_key_file="/etc/pgbouncer/tls/tls.key",
)


def parse_ini(text: str) -> configparser.RawConfigParser:
    parser = configparser.RawConfigParser(strict=True, delimiters=("=",), comment_prefixes=(";", "#"))
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string(text)
    return parser


def conn_params(conn: str) -> dict[str, str]:
    return dict(part.split("=", 1) for part in conn.split())


def secrets_in_ini(text: str) -> list[str]:
    """Anything in an ini that carries a password: a ``password=`` in a pool, or a password key."""
    ini = parse_ini(text)
    found = [
        f"[databases] {name}" for name, conn in ini["databases"].items() if "password" in conn_params(conn)
    ]
    found += [f"[pgbouncer] {key}" for key in ini["pgbouncer"] if "password" in key]
    return found


# --- settings ---------------------------------------------------------------------------------


def test_defaults_are_transaction_pooling_with_verified_tls_and_two_replicas() -> None:
    settings = PgBouncerSettings()
    assert settings.pool_mode == "transaction"
    assert settings.server_tls_sslmode == "verify-full"
    assert settings.client_tls_sslmode == "require"
    assert (settings.replicas, settings.max_replicas) == (2, 4)
    assert (settings.default_pool_size, settings.min_pool_size, settings.reserve_pool_size) == (20, 0, 5)


def test_settings_load_from_camel_case_config_keys() -> None:
    raw = {"poolMode": "session", "defaultPoolSize": 40, "maxReplicas": 6, "serverTlsSslmode": "verify-ca"}
    settings = PgBouncerSettings.model_validate(raw)
    assert (settings.pool_mode, settings.default_pool_size, settings.max_replicas) == ("session", 40, 6)
    assert settings.model_dump(by_alias=True)["serverTlsSslmode"] == "verify-ca"


@pytest.mark.parametrize(
    ("raw", "key", "message"),
    [
        ({"replicas": 1}, "replicas", "greater than or equal to 2"),
        ({"poolMode": "connection"}, "poolMode", "'session', 'transaction' or 'statement'"),
        ({"serverTlsSslmode": "disable"}, "serverTlsSslmode", "'require', 'verify-ca' or 'verify-full'"),
        ({"defaultPoolSize": 0}, "defaultPoolSize", "greater than or equal to 1"),
        ({"maxClientConn": 1_000_000}, "maxClientConn", "less than or equal to 100000"),
        ({"serverLifetimeSeconds": -1}, "serverLifetimeSeconds", "greater than or equal to 0"),
        ({"defaultPoolSize": "twenty"}, "defaultPoolSize", "valid integer"),
        ({"poolSize": 10}, "poolSize", "Extra inputs are not permitted"),
    ],
)
def test_out_of_bounds_values_are_refused_naming_the_key(raw: dict[str, Any], key: str, message: str) -> None:
    with pytest.raises(ValidationError) as caught:
        PgBouncerSettings.model_validate(raw)
    (error,) = caught.value.errors()
    assert error["loc"] == (key,)
    assert message in error["msg"]


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"minPoolSize": 21, "defaultPoolSize": 20}, "minPoolSize (21) must not exceed defaultPoolSize (20)"),
        ({"replicas": 5, "maxReplicas": 4}, "maxReplicas (4) must be at least replicas (5)"),
        (
            {"maxDbConnections": 10, "defaultPoolSize": 20},
            "maxDbConnections (10) must be 0 (no cap) or at least",
        ),
        (
            {"reservePoolTimeoutSeconds": 30, "queryWaitTimeoutSeconds": 30},
            "reservePoolTimeoutSeconds (30) must be shorter than queryWaitTimeoutSeconds (30)",
        ),
    ],
)
def test_cross_field_rules_refuse_inconsistent_settings(raw: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=re.escape(message)):
        PgBouncerSettings.model_validate(raw)


@pytest.mark.parametrize(
    "raw",
    [
        {"minPoolSize": 20, "defaultPoolSize": 20},
        {"replicas": 4, "maxReplicas": 4},
        {"maxDbConnections": 20, "defaultPoolSize": 20},
        {"maxDbConnections": 0},
        {"reservePoolTimeoutSeconds": 30, "queryWaitTimeoutSeconds": 0},
        {"reservePoolTimeoutSeconds": 30, "queryWaitTimeoutSeconds": 20, "reservePoolSize": 0},
    ],
)
def test_cross_field_rules_accept_their_boundaries(raw: dict[str, Any]) -> None:
    PgBouncerSettings.model_validate(raw)


@pytest.mark.parametrize(
    ("raw", "app_users", "per_replica", "total"),
    [
        ({}, 1, (20 + 5) * 2, (20 + 5) * 2 * 4),
        ({"defaultPoolSize": 10, "reservePoolSize": 0, "maxReplicas": 3}, 3, 10 * 4, 10 * 4 * 3),
        ({"maxDbConnections": 30}, 1, 30, 30 * 4),
        ({"maxDbConnections": 100}, 1, 50, 50 * 4),
    ],
)
def test_server_connections_count_every_pool_and_the_autoscaling_ceiling(
    raw: dict[str, Any], app_users: int, per_replica: int, total: int
) -> None:
    settings = PgBouncerSettings.model_validate(raw)
    assert settings.server_connections_per_replica(app_users) == per_replica
    assert settings.max_server_connections(app_users) == total


def test_server_connections_need_at_least_one_application_user() -> None:
    with pytest.raises(ValueError, match="app_users must be at least 1"):
        PgBouncerSettings().server_connections_per_replica(0)


# --- endpoints --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"writer_host": "db host"}, "writer_host 'db host' is not a host name"),
        ({"reader_host": "r;h"}, "reader_host"),
        ({"database": "app-db"}, "database 'app-db' is not a plain lowercase identifier"),
        ({"auth_user": "Auth"}, "auth_user"),
        ({"server_ca_file": "ca.crt"}, "server_ca_file 'ca.crt' is not an absolute path"),
        ({"client_tls_key_file": None}, "go together"),
        ({"listen_port": 0}, "listen_port 0 is not a TCP port"),
        ({"stats_users": ("exporter user",)}, "admin/stats user"),
    ],
)
def test_endpoints_refuse_values_that_would_need_quoting(change: dict[str, Any], message: str) -> None:
    fields = {**ENDPOINTS.__dict__, **change}
    with pytest.raises(ValueError, match=re.escape(message)):
        PgBouncerEndpoints(**fields)


# --- pgbouncer.ini ----------------------------------------------------------------------------


def test_rendered_ini_routes_read_write_to_writer_and_read_only_to_reader() -> None:
    ini = parse_ini(render_pgbouncer_ini(PgBouncerSettings(), ENDPOINTS))
    assert set(ini.sections()) == {"databases", "pgbouncer"}
    assert dict(ini["databases"]) == {
        "app": f"host={ENDPOINTS.writer_host} port=5432 dbname=app",
        "app_ro": f"host={ENDPOINTS.reader_host} port=5432 dbname=app",
    }


def test_reader_port_overrides_the_port_for_the_read_only_pool_only() -> None:
    endpoints = PgBouncerEndpoints(**{**ENDPOINTS.__dict__, "port": 5433, "reader_port": 5434})
    databases = parse_ini(render_pgbouncer_ini(PgBouncerSettings(), endpoints))["databases"]
    assert conn_params(databases["app"])["port"] == "5433"
    assert conn_params(databases["app_ro"])["port"] == "5434"


def test_rendered_ini_authenticates_with_scram_through_the_lookup_function() -> None:
    section = parse_ini(render_pgbouncer_ini(PgBouncerSettings(), ENDPOINTS))["pgbouncer"]
    assert section["auth_type"] == "scram-sha-256"
    assert section["auth_user"] == "pgbouncer_auth"
    assert section["auth_query"] == "SELECT usename, passwd FROM pgbouncer.get_auth($1)"
    assert section["auth_query"] == DEFAULT_AUTH_FUNCTION.auth_query
    assert section["auth_file"] == ENDPOINTS.auth_file
    assert section["stats_users"] == "pgbouncer_exporter"
    assert "admin_users" not in section
    assert section["ignore_startup_parameters"] == "extra_float_digits,options"


def test_rendered_ini_verifies_server_tls_and_terminates_client_tls() -> None:
    section = parse_ini(render_pgbouncer_ini(PgBouncerSettings(), ENDPOINTS))["pgbouncer"]
    assert section["server_tls_sslmode"] == "verify-full"
    assert section["server_tls_ca_file"] == "/etc/pgbouncer/ca/ca.crt"
    assert section["client_tls_sslmode"] == "require"
    assert (section["client_tls_cert_file"], section["client_tls_key_file"]) == (
        "/etc/pgbouncer/tls/tls.crt",
        "/etc/pgbouncer/tls/tls.key",
    )


@pytest.mark.parametrize(
    ("raw", "key", "value"),
    [
        ({"poolMode": "statement"}, "pool_mode", "statement"),
        ({"defaultPoolSize": 33}, "default_pool_size", "33"),
        ({"minPoolSize": 4}, "min_pool_size", "4"),
        ({"reservePoolSize": 7}, "reserve_pool_size", "7"),
        ({"reservePoolTimeoutSeconds": 2}, "reserve_pool_timeout", "2"),
        ({"maxClientConn": 5000}, "max_client_conn", "5000"),
        ({"maxDbConnections": 90}, "max_db_connections", "90"),
        ({"serverIdleTimeoutSeconds": 30}, "server_idle_timeout", "30"),
        ({"serverLifetimeSeconds": 900}, "server_lifetime", "900"),
        ({"queryWaitTimeoutSeconds": 15}, "query_wait_timeout", "15"),
        ({"clientIdleTimeoutSeconds": 300}, "client_idle_timeout", "300"),
        ({"serverConnectTimeoutSeconds": 2}, "server_connect_timeout", "2"),
        ({"serverLoginRetrySeconds": 1}, "server_login_retry", "1"),
        ({"idleTransactionTimeoutSeconds": 10}, "idle_transaction_timeout", "10"),
        ({"serverTlsSslmode": "verify-ca"}, "server_tls_sslmode", "verify-ca"),
        ({"logConnections": False}, "log_connections", "0"),
        ({"logDisconnections": False}, "log_disconnections", "0"),
        ({"statsPeriodSeconds": 15}, "stats_period", "15"),
    ],
)
def test_each_setting_reaches_its_pgbouncer_directive(raw: dict[str, Any], key: str, value: str) -> None:
    section = parse_ini(render_pgbouncer_ini(PgBouncerSettings.model_validate(raw), ENDPOINTS))["pgbouncer"]
    assert section[key] == value


def test_render_is_deterministic() -> None:
    settings = PgBouncerSettings(pool_mode="session", max_db_connections=50)
    assert render_pgbouncer_ini(settings, ENDPOINTS) == render_pgbouncer_ini(settings, ENDPOINTS)


def test_no_password_appears_in_the_rendered_ini() -> None:
    text = render_pgbouncer_ini(PgBouncerSettings(), ENDPOINTS)
    assert secrets_in_ini(text) == []


@pytest.mark.parametrize(
    ("mutation", "expected"),
    [
        (("dbname=app\n", "dbname=app password=hunter2\n"), "[databases] app"),
        (("[pgbouncer]\n", "[pgbouncer]\nauth_password = hunter2\n"), "[pgbouncer] auth_password"),
    ],
)
def test_password_check_flags_a_password_smuggled_into_the_ini(
    mutation: tuple[str, str], expected: str
) -> None:
    text = render_pgbouncer_ini(PgBouncerSettings(), ENDPOINTS).replace(*mutation, 1)
    assert expected in secrets_in_ini(text)


def test_client_tls_needs_certificate_files_unless_disabled() -> None:
    plain = PgBouncerEndpoints(
        **{**ENDPOINTS.__dict__, "client_tls_cert_file": None, "client_tls_key_file": None}
    )
    with pytest.raises(ValueError, match="clientTlsSslmode 'require' needs client_tls_cert_file"):
        render_pgbouncer_ini(PgBouncerSettings(), plain)
    section = parse_ini(render_pgbouncer_ini(PgBouncerSettings(client_tls_sslmode="disable"), plain))[
        "pgbouncer"
    ]
    assert section["client_tls_sslmode"] == "disable"
    assert "client_tls_cert_file" not in section


# --- auth_file --------------------------------------------------------------------------------


def test_userlist_quotes_fields_doubles_quotes_and_sorts_users() -> None:
    text = render_userlist({"zed": "SCRAM-SHA-256$4096:abc$def:ghi", 'we"ird': 'pa"ss""word'})
    assert text == '"we""ird" "pa""ss""""word"\n"zed" "SCRAM-SHA-256$4096:abc$def:ghi"\n'


def test_userlist_fields_read_back_as_written() -> None:
    entries = {'a"b': '"', "plain": "x y z", "c": 'SCRAM-SHA-256$4096:s$k:"q"'}
    field = re.compile(r'"((?:[^"]|"")*)"')
    parsed = {}
    for line in render_userlist(entries).splitlines():
        user, secret = (m.replace('""', '"') for m in field.findall(line))
        parsed[user] = secret
    assert parsed == entries


@pytest.mark.parametrize("entries", [{"user": ""}, {"": "secret"}, {"user": "line\nbreak"}])
def test_userlist_refuses_empty_or_multi_line_fields(entries: dict[str, str]) -> None:
    with pytest.raises(ValueError, match="non-empty and on one line"):
        render_userlist(entries)


# --- SCRAM verifier ---------------------------------------------------------------------------


def test_scram_verifier_reproduces_the_rfc_7677_server_signature() -> None:
    """RFC 7677's exchange for user "user", password "pencil": the verifier must yield its v= value."""
    salt = base64.b64decode("W22ZaJ0SNY7soEsUEjb6gQ==")
    verifier = scram_sha256_verifier("pencil", salt=salt, iterations=4096)
    match = re.fullmatch(r"SCRAM-SHA-256\$4096:([^$]+)\$([^:]+):(.+)", verifier)
    assert match is not None
    assert match.group(1) == "W22ZaJ0SNY7soEsUEjb6gQ=="
    nonce = "rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0"
    auth_message = (
        f"n=user,r=rOprNGfwEbeRWgbNEkqO,r={nonce},s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096,c=biws,r={nonce}"
    )
    server_key = base64.b64decode(match.group(3))
    signature = hmac.digest(server_key, auth_message.encode(), hashlib.sha256)
    assert base64.b64encode(signature).decode() == "6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="
    # A different password gives a verifier that does not reproduce it.
    other = scram_sha256_verifier("pencil2", salt=salt).rsplit(":", 1)[1]
    assert hmac.digest(base64.b64decode(other), auth_message.encode(), hashlib.sha256) != signature


@pytest.mark.parametrize(
    ("password", "salt", "iterations"),
    [("", b"0123456789abcdef", 4096), ("pässword", b"0123456789abcdef", 4096), ("pw", b"short", 4096)],
)
def test_scram_verifier_refuses_unsupported_input(password: str, salt: bytes, iterations: int) -> None:
    with pytest.raises(ValueError):
        scram_sha256_verifier(password, salt=salt, iterations=iterations)


# --- auth lookup function ---------------------------------------------------------------------


def test_auth_function_sql_is_a_locked_down_security_definer() -> None:
    ddl = render_auth_function_sql(DEFAULT_AUTH_FUNCTION, "pgbouncer_auth")
    assert ddl.startswith("CREATE SCHEMA IF NOT EXISTS pgbouncer;\n")
    assert "CREATE OR REPLACE FUNCTION pgbouncer.get_auth(p_usename text)\n" in ddl
    assert "RETURNS TABLE(usename text, passwd text)\n" in ddl
    assert "\nSECURITY DEFINER\nSET search_path = pg_catalog\n" in ddl
    assert f"AS $fn$\n{DEFAULT_AUTH_FUNCTION.body}\n$fn$;\n" in ddl
    assert ddl.endswith(
        "REVOKE ALL ON FUNCTION pgbouncer.get_auth(text) FROM PUBLIC;\n"
        "GRANT EXECUTE ON FUNCTION pgbouncer.get_auth(text) TO pgbouncer_auth;\n"
    )
    assert "NOT s.usesuper" in DEFAULT_AUTH_FUNCTION.body


def test_auth_function_parts_stay_separately_accessible_and_shape_the_auth_query() -> None:
    fn = AuthLookupFunction(schema="pooler", name="lookup")
    assert (fn.qualified_name, fn.signature) == ("pooler.lookup", "pooler.lookup(text)")
    assert fn.auth_query == "SELECT usename, passwd FROM pooler.lookup($1)"
    ini = parse_ini(render_pgbouncer_ini(PgBouncerSettings(), ENDPOINTS, fn))
    assert ini["pgbouncer"]["auth_query"] == fn.auth_query


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: AuthLookupFunction(schema="pg bouncer"), "schema 'pg bouncer'"),
        (lambda: AuthLookupFunction(name="get_auth; DROP"), "name"),
        (lambda: AuthLookupFunction(body="SELECT 1 $fn$"), "$fn$"),
        (lambda: render_auth_function_sql(DEFAULT_AUTH_FUNCTION, "auth user"), "auth_user 'auth user'"),
    ],
)
def test_auth_function_refuses_names_that_would_need_quoting(make: Any, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        make()


# --- the real pgbouncer loads the rendered ini ------------------------------------------------


@dataclass(frozen=True)
class CheckFiles:
    root: Path
    tls: TlsFiles
    auth_file: Path


@pytest.fixture(scope="module")
def check_files() -> Iterator[CheckFiles]:
    """A directory the server user owns, with TLS files and an auth_file for PgBouncer to load."""
    require_tool("pgbouncer", "/usr/sbin/pgbouncer")
    require_tool("openssl")
    root = Path(tempfile.mkdtemp(prefix="pgbouncer-check-"))
    try:
        root.chmod(0o700)
        chown_to_server(root)
        auth_file = write_server_file(root / "userlist.txt", render_userlist({"pgbouncer_auth": "x"}))
        yield CheckFiles(root=root, tls=make_tls(root), auth_file=auth_file)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def pgbouncer_loads(ini_text: str, root: Path, timeout: float = 5) -> tuple[bool, str]:
    """Start the real PgBouncer on ``ini_text``: True once it is up, False when it exits on the config."""
    log = root / "check.log"
    log.write_text("")
    bouncer = PgBouncerProcess(ini=write_server_file(root / "check.ini", ini_text), log=log, port=0)
    proc = bouncer.spawn()
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            text = log.read_text()
            if "process up" in text:
                return True, text
            if proc.poll() is not None:
                return False, log.read_text()
            time.sleep(0.01)
        raise AssertionError(f"PgBouncer neither came up nor exited:\n{log.read_text()}")
    finally:
        bouncer.stop()


def local_endpoints(files: CheckFiles, **change: Any) -> PgBouncerEndpoints:
    local: dict[str, Any] = {
        "listen_addr": "127.0.0.1",
        "listen_port": free_port(),
        "server_ca_file": str(files.tls.ca_cert),
        "auth_file": str(files.auth_file),
        "client_tls_cert_file": str(files.tls.cert),
        "client_tls_key_file": str(files.tls.key),
    }
    return PgBouncerEndpoints(**{**ENDPOINTS.__dict__, **local, **change})


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param({}, id="defaults"),
        pytest.param({"poolMode": "session", "minPoolSize": 5, "maxDbConnections": 40}, id="session"),
        pytest.param({"poolMode": "statement", "serverTlsSslmode": "require"}, id="statement"),
        pytest.param({"clientTlsSslmode": "disable"}, id="no-client-tls"),
    ],
)
def test_real_pgbouncer_loads_the_rendered_ini(raw: dict[str, Any], check_files: CheckFiles) -> None:
    settings = PgBouncerSettings.model_validate(raw)
    endpoints = local_endpoints(check_files)
    if settings.client_tls_sslmode == "disable":
        endpoints = local_endpoints(check_files, client_tls_cert_file=None, client_tls_key_file=None)
    loaded, log = pgbouncer_loads(render_pgbouncer_ini(settings, endpoints), check_files.root)
    assert loaded, log
    assert not re.search(r"\b(WARNING|ERROR|FATAL)\b", log), log


@pytest.mark.parametrize(
    ("mutation", "complaint"),
    [
        (("pool_mode = transaction", "pool_mode = transactions"), 'invalid value "transactions"'),
        (("auth_type = scram-sha-256", "auth_typ = scram-sha-256"), "unknown parameter: pgbouncer/auth_typ"),
        (("server_tls_sslmode = verify-full", "server_tls_sslmode = verify"), 'invalid value "verify"'),
    ],
)
def test_real_pgbouncer_refuses_a_broken_ini(
    mutation: tuple[str, str], complaint: str, check_files: CheckFiles
) -> None:
    text = render_pgbouncer_ini(PgBouncerSettings(), local_endpoints(check_files))
    assert mutation[0] in text
    loaded, log = pgbouncer_loads(text.replace(*mutation), check_files.root)
    assert not loaded
    assert complaint in log
