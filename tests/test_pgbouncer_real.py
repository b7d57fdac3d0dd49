"""The rendered pgbouncer.ini in a real PgBouncer, in front of a real PostgreSQL primary and replica.

One stack per module (see ``tests/pg_cluster.py``): TLS everywhere, ``max_connections = 100`` on
PostgreSQL, application users authenticated through the rendered auth lookup function. The tests prove
what the pooler is for: routing (writes to the primary, reads from the replica), authentication, many
more clients than PostgreSQL allows, TLS to the servers, and recovery after a primary restart.
"""

from __future__ import annotations

import os
import pwd
import re
import secrets
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import psycopg
import pytest
from psycopg import errors, sql

from components.pgbouncer_config import PgBouncerSettings, scram_sha256_verifier
from tests.pg_cluster import (
    APP_USER,
    AUTH_USER,
    SERVER_USER,
    STATS_USER,
    LocalStack,
    local_stack,
    wait_for_replay,
)
from tests.tools import need, postgres_bin, require_tool

# The module's tests share one stack; keep them on one worker under pytest-xdist's loadgroup mode.
pytestmark = pytest.mark.xdist_group("pgbouncer_real")

MAX_CONNECTIONS = 100
CLIENTS = 500
SETTINGS = PgBouncerSettings(
    default_pool_size=20,
    reserve_pool_size=5,
    reserve_pool_timeout_seconds=1,
    max_db_connections=30,
    max_client_conn=1000,
    query_wait_timeout_seconds=30,
    # The restart test waits at least this long once a login fails while the primary is down.
    server_login_retry_seconds=1,
)


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
    with local_stack(SETTINGS, max_connections=MAX_CONNECTIONS) as local:
        with psycopg.connect(local.direct(), autocommit=True) as conn:
            conn.execute("CREATE TABLE orders (id bigserial PRIMARY KEY, note text NOT NULL)")
        yield local


def test_write_through_read_write_pool_is_read_back_from_replica(stack: LocalStack) -> None:
    note = f"order-{secrets.token_hex(4)}"
    with psycopg.connect(stack.pooled(), autocommit=True) as rw:
        in_recovery, order_id = rw.execute(
            "INSERT INTO orders (note) VALUES (%s) RETURNING pg_is_in_recovery(), id", (note,)
        ).fetchone()  # type: ignore[misc]
    assert in_recovery is False
    wait_for_replay(stack.pooled(), stack.pooled(read_only=True))
    with psycopg.connect(stack.pooled(read_only=True), autocommit=True) as ro:
        row = ro.execute(
            "SELECT pg_is_in_recovery(), current_setting('port')::int, note FROM orders WHERE id = %s",
            (order_id,),
        ).fetchone()
    assert row == (True, stack.replica.port, note)


def test_read_only_pool_refuses_writes(stack: LocalStack) -> None:
    with (
        psycopg.connect(stack.pooled(read_only=True), autocommit=True) as ro,
        pytest.raises(errors.ReadOnlySqlTransaction, match="read-only transaction"),
    ):
        ro.execute("INSERT INTO orders (note) VALUES ('must not land')")


@pytest.mark.parametrize(
    ("user", "password_of", "message"),
    [
        pytest.param(APP_USER, None, "SASL authentication failed", id="wrong-password"),
        pytest.param("no_such_user", None, "no such user", id="unknown-user"),
        # The lookup function never returns superusers, so even the right password does not help.
        pytest.param(SERVER_USER, "superuser_password", "no such user", id="superuser-with-right-password"),
    ],
)
@pytest.mark.parametrize("read_only", [False, True], ids=["rw", "ro"])
def test_pooler_refuses_bad_logins(
    stack: LocalStack, user: str, password_of: str | None, message: str, read_only: bool
) -> None:
    password = getattr(stack, password_of) if password_of else "not-the-password"
    db = stack.endpoints.read_only_database if read_only else stack.endpoints.database
    with pytest.raises(psycopg.OperationalError, match=message):
        psycopg.connect(stack.conninfo(port=stack.pgbouncer.port, user=user, password=password, dbname=db))


def test_right_password_is_accepted_in_both_pools(stack: LocalStack) -> None:
    """The counterpart of the refusals above: the same path accepts the real credentials."""
    for read_only in (False, True):
        with psycopg.connect(stack.pooled(read_only=read_only)) as conn:
            assert conn.execute("SELECT current_user").fetchone() == (APP_USER,)


def test_auth_user_reads_verifiers_only_through_the_lookup_function(stack: LocalStack) -> None:
    as_auth = stack.conninfo(port=stack.primary.port, user=AUTH_USER, password=stack.auth_password)
    with psycopg.connect(as_auth, autocommit=True) as conn:
        secret = conn.execute("SELECT passwd FROM pgbouncer.get_auth(%s)", (APP_USER,)).fetchone()
        assert secret is not None
        assert secret[0].startswith("SCRAM-SHA-256$4096:")
        with pytest.raises(errors.InsufficientPrivilege):
            conn.execute("SELECT passwd FROM pg_catalog.pg_shadow")
    # Any other role is refused the function (REVOKE ... FROM PUBLIC).
    with (
        psycopg.connect(stack.direct(), autocommit=True) as conn,
        pytest.raises(errors.InsufficientPrivilege),
    ):
        conn.execute("SELECT passwd FROM pgbouncer.get_auth(%s)", (APP_USER,))


def test_scram_verifier_rendered_here_is_accepted_by_postgres(stack: LocalStack) -> None:
    password, role = secrets.token_urlsafe(12), f"verifier_{secrets.token_hex(3)}"
    verifier = scram_sha256_verifier(password, salt=secrets.token_bytes(16))
    with psycopg.connect(stack.direct(superuser=True), autocommit=True) as conn:
        conn.execute(
            sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(sql.Identifier(role), sql.Literal(verifier))
        )
        stored = conn.execute("SELECT rolpassword FROM pg_authid WHERE rolname = %s", (role,)).fetchone()
    assert stored == (verifier,)
    with psycopg.connect(stack.conninfo(port=stack.primary.port, user=role, password=password)) as conn:
        assert conn.execute("SELECT current_user").fetchone() == (role,)
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        psycopg.connect(stack.conninfo(port=stack.primary.port, user=role, password=password + "x"))


def test_stats_user_reads_the_console_with_a_verifier_in_the_auth_file(stack: LocalStack) -> None:
    console = stack.conninfo(
        port=stack.pgbouncer.port, user=STATS_USER, password=stack.stats_password, dbname="pgbouncer"
    )
    with psycopg.connect(console, autocommit=True, cursor_factory=psycopg.ClientCursor) as conn:
        databases = {row[0] for row in conn.execute("SHOW POOLS").fetchall()}
        assert {stack.endpoints.database, stack.endpoints.read_only_database} <= databases
        # Stats users may only read: admin commands are refused.
        with pytest.raises(psycopg.Error, match="admin access needed"):
            conn.execute("PAUSE")


@dataclass
class ClientRun:
    connected: int
    refused: list[str]
    served: int
    backend_pids: set[int]


def hold_clients(conninfo: str, clients: int, timeout: float = 40) -> ClientRun:
    """Open ``clients`` connections, all held open at once, then run one query on each.

    Threads rather than asyncio: libpq's TLS and SCRAM work then runs on both cores.
    """

    def connect() -> psycopg.Connection | str:
        try:
            return psycopg.connect(conninfo, autocommit=True)
        except psycopg.OperationalError as exc:
            return str(exc)

    def query(conn: psycopg.Connection) -> int:
        row = conn.execute("SELECT pg_backend_pid() FROM pg_sleep(0.01)").fetchone()
        assert row is not None
        return int(row[0])

    with ThreadPoolExecutor(max_workers=4) as connectors:
        outcomes = list(connectors.map(lambda _: connect(), range(clients), timeout=timeout))
    conns = [c for c in outcomes if isinstance(c, psycopg.Connection)]
    refused = [c for c in outcomes if isinstance(c, str)]
    try:
        # More queries in flight than the pool has server connections: clients queue in PgBouncer.
        with ThreadPoolExecutor(max_workers=60) as queriers:
            pids = list(queriers.map(query, conns, timeout=timeout))
    finally:
        for conn in conns:
            conn.close()
    return ClientRun(connected=len(conns), refused=refused, served=len(pids), backend_pids=set(pids))


def test_500_clients_are_all_served_through_pgbouncer(stack: LocalStack) -> None:
    result = hold_clients(stack.pooled(), CLIENTS)
    assert result.refused == []
    assert (result.connected, result.served) == (CLIENTS, CLIENTS)
    # They shared at most what the pool may open on one database host.
    assert len(result.backend_pids) <= SETTINGS.server_connections_per_replica(app_users=1)


def test_500_clients_direct_to_postgres_run_out_of_connections(stack: LocalStack) -> None:
    """Without the pooler the same load fails: the reason PgBouncer is there."""
    result = hold_clients(stack.direct(), CLIENTS)
    assert result.connected <= MAX_CONNECTIONS
    assert len(result.refused) >= CLIENTS - MAX_CONNECTIONS
    # PostgreSQL says "too many clients" or, once only the superuser slots are left, that those are
    # reserved: both mean the connection limit refused the client.
    limit = re.compile(r"too many clients|remaining connection slots are reserved")
    assert all(limit.search(message) for message in result.refused), result.refused[:3]


def test_server_connections_from_pgbouncer_use_tls(stack: LocalStack) -> None:
    for read_only, server in ((False, stack.primary), (True, stack.replica)):
        with psycopg.connect(stack.pooled(read_only=read_only)) as conn:
            assert conn.pgconn.ssl_in_use  # client to PgBouncer
            row = conn.execute("SELECT ssl, version FROM pg_stat_ssl WHERE pid = pg_backend_pid()").fetchone()
            assert row is not None
            assert row[0] is True, f"PgBouncer -> {server.port} is not TLS"
        # Every server connection PgBouncer holds, seen from the server itself.
        with psycopg.connect(stack.direct(server, superuser=True)) as conn:
            rows = conn.execute(
                "SELECT a.usename, s.ssl FROM pg_stat_activity a JOIN pg_stat_ssl s USING (pid)"
                " WHERE a.usename IN (%s, %s) AND a.pid <> pg_backend_pid()",
                (APP_USER, AUTH_USER),
            ).fetchall()
        assert rows, "PgBouncer holds no server connection to inspect"
        assert all(ssl for _, ssl in rows), rows


def test_pgbouncer_serves_again_after_primary_restart_without_losing_committed_rows(
    stack: LocalStack,
) -> None:
    with psycopg.connect(stack.pooled(), autocommit=True) as rw:
        committed = {
            rw.execute(
                "INSERT INTO orders (note) VALUES (%s) RETURNING id", (f"pre-restart-{i}",)
            ).fetchone()[0]  # type: ignore[index]
            for i in range(20)
        }
    # A client connected through PgBouncer before the crash-like restart keeps its connection.
    survivor = psycopg.connect(stack.pooled(), autocommit=True)
    try:
        stack.primary.restart(mode="immediate")
        deadline, last_error = time.monotonic() + 15, ""
        while time.monotonic() < deadline:
            try:
                found = {
                    r[0]
                    for r in survivor.execute("SELECT id FROM orders WHERE id = ANY(%s)", (list(committed),))
                }
                break
            except psycopg.OperationalError as exc:
                last_error = str(exc)
                time.sleep(0.2)
        else:
            raise AssertionError(f"PgBouncer did not serve again within 15s: {last_error}")
        assert found == committed
        new_id = survivor.execute("INSERT INTO orders (note) VALUES ('post-restart') RETURNING id").fetchone()
        assert new_id is not None
    finally:
        survivor.close()
