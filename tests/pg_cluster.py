"""Local PostgreSQL primary + streaming replica + PgBouncer, for the real-tool tests and the benchmark.

:func:`local_stack` brings up, on free localhost ports inside one temporary directory owned by the
``postgres`` user:

- a self-signed CA and a ``localhost`` certificate (``openssl``), used by PostgreSQL and PgBouncer;
- a PostgreSQL primary with TLS-only TCP access (``hostssl`` + SCRAM), ``max_connections = 100``;
- a streaming replica made with ``pg_basebackup -R``;
- the application database, its role, the auth lookup role and the lookup function rendered by
  :func:`components.pgbouncer_config.render_auth_function_sql`;
- PgBouncer running the ini rendered by :func:`components.pgbouncer_config.render_pgbouncer_ini`,
  with only the endpoints (hosts, ports, file paths) and the credentials being local.

Everything is torn down when the context exits, also when bringing it up failed half way. PostgreSQL
and PgBouncer refuse to run as root, so when we are root every server process runs as ``postgres``.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg import sql

from components.pgbouncer_config import (
    DEFAULT_AUTH_FUNCTION,
    PgBouncerEndpoints,
    PgBouncerSettings,
    render_auth_function_sql,
    render_pgbouncer_ini,
    render_userlist,
    scram_sha256_verifier,
)

SERVER_USER = "postgres"
APP_DB = "appdb"
APP_USER = "app_user"
AUTH_USER = "pgbouncer_auth"
STATS_USER = "pgbouncer_stats"


def free_port() -> int:
    """A TCP port on localhost that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _as_server_user() -> dict[str, object]:
    """``subprocess`` arguments that run a child as ``postgres`` when we are root."""
    if os.geteuid() != 0:
        return {}
    return {"user": SERVER_USER, "group": SERVER_USER, "extra_groups": []}


def run(cmd: Sequence[str], *, as_server: bool = False, timeout: float = 60) -> str:
    """Run a command, returning stdout; raise with its output when it fails."""
    extra = _as_server_user() if as_server else {}
    proc = subprocess.run(list(cmd), capture_output=True, text=True, timeout=timeout, check=False, **extra)  # type: ignore[call-overload]
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc.stdout


def chown_to_server(path: Path) -> None:
    """Give ``path`` to the ``postgres`` user (no-op unless we are root)."""
    if os.geteuid() == 0:
        entry = pwd.getpwnam(SERVER_USER)
        os.chown(path, entry.pw_uid, entry.pw_gid)


def write_server_file(path: Path, text: str, mode: int = 0o600) -> Path:
    """Write a file the servers can read and nobody else can."""
    path.write_text(text)
    path.chmod(mode)
    chown_to_server(path)
    return path


@dataclass(frozen=True)
class TlsFiles:
    ca_cert: Path
    cert: Path
    key: Path


def make_tls(directory: Path) -> TlsFiles:
    """A throwaway CA and a certificate for ``localhost`` signed by it (EC P-256, valid 2 days)."""
    ca_key, ca_cert = directory / "ca.key", directory / "ca.crt"
    key, csr, cert = directory / "server.key", directory / "server.csr", directory / "server.crt"
    ext = directory / "server.ext"
    ext.write_text("subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n")
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    days = ["-days", "2"]
    run(
        [
            "openssl",
            "req",
            "-x509",
            *ec,
            *days,
            "-keyout",
            str(ca_key),
            "-out",
            str(ca_cert),
            "-subj",
            "/CN=test CA",
        ]
    )
    run(["openssl", "req", *ec, "-keyout", str(key), "-out", str(csr), "-subj", "/CN=localhost"])
    signer = ["-CA", str(ca_cert), "-CAkey", str(ca_key), "-CAcreateserial", "-extfile", str(ext)]
    run(["openssl", "x509", "-req", *signer, *days, "-in", str(csr), "-out", str(cert)])
    for path in (ca_cert, cert, key):
        path.chmod(0o600 if path == key else 0o644)
        chown_to_server(path)
    return TlsFiles(ca_cert=ca_cert, cert=cert, key=key)


def postgres_tool(name: str) -> str:
    """Path of a PostgreSQL server binary (Debian keeps them outside PATH)."""
    found = shutil.which(name)
    if found:
        return found
    versions = sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"), reverse=True)
    if not versions:
        raise FileNotFoundError(name)
    return str(versions[0])


@dataclass
class PostgresServer:
    """One PostgreSQL instance in ``datadir``, listening on localhost:``port`` and a private socket."""

    datadir: Path
    port: int
    socket_dir: Path
    log: Path

    def pg_ctl(self, *args: str, timeout: float = 60) -> None:
        run([postgres_tool("pg_ctl"), "-D", str(self.datadir), *args], as_server=True, timeout=timeout)

    def start(self) -> None:
        self.pg_ctl("start", "-w", "-t", "30", "-l", str(self.log))

    def restart(self, mode: str = "immediate") -> None:
        self.pg_ctl("restart", "-w", "-t", "30", "-m", mode, "-l", str(self.log))

    def stop(self) -> None:
        if (self.datadir / "postmaster.pid").exists():
            self.pg_ctl("stop", "-w", "-t", "30", "-m", "fast")


@dataclass
class PgBouncerProcess:
    """A foreground PgBouncer, logging to ``log``."""

    ini: Path
    log: Path
    port: int
    proc: subprocess.Popen[bytes] | None = None

    def spawn(self) -> subprocess.Popen[bytes]:
        """Start PgBouncer without waiting for it to listen."""
        binary = shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(  # type: ignore[call-overload]
                [binary, str(self.ini)], stdout=out, stderr=subprocess.STDOUT, **_as_server_user()
            )
        return self.proc

    def start(self) -> None:
        wait_for_port(self.port, self.spawn(), self.log)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def wait_for_port(port: int, proc: subprocess.Popen[bytes], log: Path, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode}:\n{log.read_text()}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return
        time.sleep(0.02)
    raise TimeoutError(f"nothing listens on port {port} after {timeout}s:\n{log.read_text()}")


@dataclass
class LocalStack:
    """What :func:`local_stack` brought up, with the credentials to use it."""

    root: Path
    tls: TlsFiles
    primary: PostgresServer
    replica: PostgresServer
    pgbouncer: PgBouncerProcess
    settings: PgBouncerSettings
    endpoints: PgBouncerEndpoints
    ini_text: str
    superuser_password: str
    app_password: str
    auth_password: str
    stats_password: str

    def conninfo(self, *, port: int, user: str, password: str, dbname: str = APP_DB, **extra: str) -> str:
        """A libpq connection string over TLS to localhost:``port``, checking the test CA."""
        params = {
            "host": "localhost",
            "port": str(port),
            "user": user,
            "password": password,
            "dbname": dbname,
            "sslmode": "verify-full",
            "sslrootcert": str(self.tls.ca_cert),
            "connect_timeout": "10",
            **extra,
        }
        return psycopg.conninfo.make_conninfo(**params)

    def pooled(self, *, read_only: bool = False, **extra: str) -> str:
        """The application user through PgBouncer's read-write (or read-only) pool."""
        db = self.endpoints.read_only_database if read_only else self.endpoints.database
        return self.conninfo(
            port=self.pgbouncer.port, user=APP_USER, password=self.app_password, dbname=db, **extra
        )

    def direct(self, server: PostgresServer | None = None, *, superuser: bool = False, **extra: str) -> str:
        """A direct connection to the primary (or ``server``), as the app user or the superuser."""
        target = server or self.primary
        if superuser:
            return self.conninfo(
                port=target.port, user=SERVER_USER, password=self.superuser_password, **extra
            )
        return self.conninfo(port=target.port, user=APP_USER, password=self.app_password, **extra)


def _init_primary(
    root: Path, tls: TlsFiles, password: str, max_connections: int, cleanup: contextlib.ExitStack
) -> PostgresServer:
    datadir, socket_dir = root / "primary", root / "sock-primary"
    socket_dir.mkdir()
    chown_to_server(socket_dir)
    pwfile = write_server_file(root / "pwfile", password + "\n")
    auth = ["--auth-local=peer", "--auth-host=scram-sha-256", "-U", SERVER_USER]
    options = ["-E", "UTF8", "--locale=C", "-N", *auth]
    run([postgres_tool("initdb"), *options, f"--pwfile={pwfile}", "-D", str(datadir)], as_server=True)
    pwfile.unlink()
    server = PostgresServer(datadir, free_port(), socket_dir, root / "primary.log")
    conf = {
        "port": str(server.port),
        "listen_addresses": "'localhost'",
        "unix_socket_directories": f"'{socket_dir}'",
        "max_connections": str(max_connections),
        "password_encryption": "'scram-sha-256'",
        "ssl": "on",
        "ssl_cert_file": f"'{tls.cert}'",
        "ssl_key_file": f"'{tls.key}'",
        "ssl_ca_file": f"'{tls.ca_cert}'",
        "wal_level": "replica",
        "max_wal_senders": "5",
        "shared_buffers": "64MB",
        "log_min_messages": "warning",
    }
    with (datadir / "postgresql.conf").open("a") as out:
        out.writelines(f"{key} = {value}\n" for key, value in conf.items())
    # TCP is TLS-only; plain TCP is refused outright. The socket (peer) is for the server user's own
    # tools such as pg_basebackup.
    hba = (
        "local all postgres peer\n"
        "local replication postgres peer\n"
        "hostnossl all all all reject\n"
        "hostssl all all 127.0.0.1/32 scram-sha-256\n"
        "hostssl all all ::1/128 scram-sha-256\n"
    )
    write_server_file(datadir / "pg_hba.conf", hba)
    cleanup.callback(server.stop)  # before start: a start that times out may leave a server running
    server.start()
    return server


def _make_replica(root: Path, primary: PostgresServer, cleanup: contextlib.ExitStack) -> PostgresServer:
    datadir, socket_dir = root / "replica", root / "sock-replica"
    socket_dir.mkdir()
    chown_to_server(socket_dir)
    # WAL fetched at the end of the backup takes half the time of a second, streaming connection.
    options = ["-R", "-X", "fetch", "-c", "fast", "-N", "-U", SERVER_USER, "-h", str(primary.socket_dir)]
    run(
        [postgres_tool("pg_basebackup"), *options, "-p", str(primary.port), "-D", str(datadir)],
        as_server=True,
    )
    replica = PostgresServer(datadir, free_port(), socket_dir, root / "replica.log")
    with (datadir / "postgresql.conf").open("a") as out:
        out.write(f"port = {replica.port}\nunix_socket_directories = '{socket_dir}'\n")
        # Starting from a base backup is crash recovery, which first fsyncs the whole data directory
        # (~1 s here). The replica is rebuilt on every run and its durability is not under test.
        out.write("fsync = off\n")
    cleanup.callback(replica.stop)
    replica.start()
    return replica


def wait_for_replay(primary_conninfo: str, replica_conninfo: str, timeout: float = 15) -> None:
    """Wait until the replica has replayed all the primary had written when this was called."""
    with psycopg.connect(primary_conninfo, autocommit=True) as conn:
        lsn = conn.execute("SELECT pg_current_wal_lsn()::text").fetchone()[0]  # type: ignore[index]
    deadline = time.monotonic() + timeout
    with psycopg.connect(replica_conninfo, autocommit=True) as conn:
        while time.monotonic() < deadline:
            row = conn.execute("SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn", (lsn,)).fetchone()
            if row and row[0]:
                return
            time.sleep(0.02)
    raise TimeoutError(f"replica did not replay up to {lsn} within {timeout}s")


def _provision(stack_conninfo: str, app_password: str, auth_password: str) -> None:
    """Roles, the application database and the auth lookup function (rendered, not hand-written)."""
    with psycopg.connect(stack_conninfo, autocommit=True) as conn:
        for role, password in ((APP_USER, app_password), (AUTH_USER, auth_password)):
            conn.execute(
                sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(
                    sql.Identifier(role), sql.Literal(password)
                )
            )
        conn.execute(
            sql.SQL("CREATE DATABASE {} OWNER {}").format(sql.Identifier(APP_DB), sql.Identifier(APP_USER))
        )
    app_db = psycopg.conninfo.make_conninfo(stack_conninfo, dbname=APP_DB)
    with psycopg.connect(app_db, autocommit=True) as conn:
        conn.execute(sql.SQL(render_auth_function_sql(DEFAULT_AUTH_FUNCTION, AUTH_USER)))  # type: ignore[arg-type]


@contextlib.contextmanager
def local_stack(
    settings: PgBouncerSettings, *, max_connections: int = 100, lookup: bool = True
) -> Iterator[LocalStack]:
    """Bring up primary, replica and PgBouncer; tear everything down on exit or on failure.

    ``lookup`` False renders PgBouncer as on Aurora (userlist mode): no ``auth_user``/``auth_query``,
    the application login's password in the ``auth_file``.
    """
    with contextlib.ExitStack() as cleanup:
        root = Path(tempfile.mkdtemp(prefix="pgbouncer-real-"))
        cleanup.callback(shutil.rmtree, root, ignore_errors=True)
        root.chmod(0o700)
        chown_to_server(root)
        tls = make_tls(root)
        superuser_password, app_password = secrets.token_urlsafe(18), secrets.token_urlsafe(18)
        auth_password, stats_password = secrets.token_urlsafe(18), secrets.token_urlsafe(18)

        primary = _init_primary(root, tls, superuser_password, max_connections, cleanup)
        replica = _make_replica(root, primary, cleanup)

        superuser = psycopg.conninfo.make_conninfo(
            host="localhost",
            port=str(primary.port),
            user=SERVER_USER,
            password=superuser_password,
            dbname="postgres",
            sslmode="verify-full",
            sslrootcert=str(tls.ca_cert),
        )
        _provision(superuser, app_password, auth_password)
        # PgBouncer must not look for the database on the replica before it exists there: a failed
        # server login would hold the read-only pool back for server_login_retry.
        wait_for_replay(superuser, psycopg.conninfo.make_conninfo(superuser, port=str(replica.port)))

        # The auth user's entry is its password: PgBouncer logs in as it on its own (see
        # render_userlist). The stats user only logs into PgBouncer's console: a verifier is enough.
        auth_file = write_server_file(
            root / "userlist.txt",
            render_userlist(
                {
                    **({AUTH_USER: auth_password} if lookup else {APP_USER: app_password}),
                    STATS_USER: scram_sha256_verifier(stats_password, salt=secrets.token_bytes(16)),
                }
            ),
        )
        listen_port = free_port()
        endpoints = PgBouncerEndpoints(
            writer_host="localhost",
            reader_host="localhost",
            port=primary.port,
            reader_port=replica.port,
            database=APP_DB,
            auth_user=AUTH_USER if lookup else None,
            server_ca_file=str(tls.ca_cert),
            listen_addr="127.0.0.1",
            listen_port=listen_port,
            auth_file=str(auth_file),
            client_tls_cert_file=str(tls.cert),
            client_tls_key_file=str(tls.key),
            stats_users=(STATS_USER,),
        )
        ini_text = render_pgbouncer_ini(settings, endpoints)
        ini = write_server_file(root / "pgbouncer.ini", ini_text)
        bouncer = PgBouncerProcess(ini=ini, log=root / "pgbouncer.log", port=listen_port)
        cleanup.callback(bouncer.stop)
        bouncer.start()

        yield LocalStack(
            root=root,
            tls=tls,
            primary=primary,
            replica=replica,
            pgbouncer=bouncer,
            settings=settings,
            endpoints=endpoints,
            ini_text=ini_text,
            superuser_password=superuser_password,
            app_password=app_password,
            auth_password=auth_password,
            stats_password=stats_password,
        )
