"""PgBouncer as rendered for Aurora (userlist mode), in front of a real PostgreSQL primary and replica.

Aurora's `rds_superuser` cannot read `pg_shadow`, so no `auth_query` lookup function can work there:
the ini has no `auth_user`/`auth_query`, and the pooled login's password is in the `auth_file`. These
tests prove that configuration serves both pools and still refuses a wrong password.
"""

from __future__ import annotations

import os
import pwd
import secrets
from collections.abc import Iterator

import psycopg
import pytest
from psycopg import errors

from components.pgbouncer_config import PgBouncerSettings
from tests.pg_cluster import APP_USER, SERVER_USER, LocalStack, local_stack, wait_for_replay
from tests.tools import need, postgres_bin, require_tool

pytestmark = pytest.mark.xdist_group("pgbouncer_real_userlist")


@pytest.fixture(scope="module")
def stack() -> Iterator[LocalStack]:
    for tool in ("initdb", "pg_ctl", "pg_basebackup"):
        postgres_bin(tool)
    require_tool("pgbouncer", "/usr/sbin/pgbouncer")
    require_tool("openssl")
    if os.geteuid() == 0:
        try:
            pwd.getpwnam(SERVER_USER)
        except KeyError:
            need(False, f"running as root needs a `{SERVER_USER}` user to run the servers as")
    with local_stack(PgBouncerSettings(), lookup=False) as local:
        with psycopg.connect(local.direct(), autocommit=True) as conn:
            conn.execute("CREATE TABLE notes (id bigserial PRIMARY KEY, body text NOT NULL)")
        yield local


def test_the_ini_looks_nothing_up(stack: LocalStack) -> None:
    assert "auth_query" not in stack.ini_text and "auth_user" not in stack.ini_text
    assert "auth_type = scram-sha-256" in stack.ini_text


def test_both_pools_serve_the_listed_login(stack: LocalStack) -> None:
    body = secrets.token_hex(8)
    with psycopg.connect(stack.pooled(), autocommit=True) as conn:
        conn.execute("INSERT INTO notes (body) VALUES (%s)", (body,))
    wait_for_replay(stack.direct(superuser=True), stack.direct(stack.replica, superuser=True))
    with psycopg.connect(stack.pooled(read_only=True), autocommit=True) as conn:
        row = conn.execute("SELECT body, pg_is_in_recovery() FROM notes WHERE body = %s", (body,)).fetchone()
    assert row == (body, True)  # read back from the replica


def test_a_wrong_password_or_an_unlisted_user_is_refused(stack: LocalStack) -> None:
    wrong = stack.conninfo(port=stack.pgbouncer.port, user=APP_USER, password="not-it")
    with pytest.raises(psycopg.OperationalError, match="authentication failed"):
        psycopg.connect(wrong)
    # The superuser exists in PostgreSQL but not in the auth_file: PgBouncer knows no such login.
    unlisted = stack.conninfo(port=stack.pgbouncer.port, user=SERVER_USER, password=stack.superuser_password)
    with pytest.raises(psycopg.OperationalError, match="authentication failed"):
        psycopg.connect(unlisted)


def test_the_read_only_pool_refuses_writes(stack: LocalStack) -> None:
    with (
        psycopg.connect(stack.pooled(read_only=True), autocommit=True) as conn,
        pytest.raises(errors.ReadOnlySqlTransaction),
    ):
        conn.execute("INSERT INTO notes (body) VALUES ('x')")
