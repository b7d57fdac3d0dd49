"""pgbench through the rendered PgBouncer config and directly against PostgreSQL, as a Markdown table.

Brings up the same local stack as the real-tool tests (``tests/pg_cluster.py``: TLS-only PostgreSQL
primary with ``max_connections = 100``, a streaming replica, PgBouncer running the ini rendered from
the default ``platform:pgbouncer`` settings), initialises pgbench tables as the application user and
runs each workload once through PgBouncer's read-write pool and once directly against the primary.
Every connection uses TLS with certificate verification, as in production.

Usage (as root, the servers run as ``postgres``; or as any user that may run them)::

    .venv/bin/python bench/pgbouncer_bench.py [--clients 50] [--duration 20] [--scale 10]

The total run time is about ``3 * 2 * duration`` seconds plus ~15 s of setup.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from components.pgbouncer_config import PgBouncerSettings  # noqa: E402
from tests.pg_cluster import APP_DB, APP_USER, LocalStack, local_stack  # noqa: E402


@dataclass(frozen=True)
class Workload:
    name: str
    args: tuple[str, ...]


WORKLOADS = (
    Workload("select-only", ("-S",)),
    Workload("TPC-B-like", ("-b", "tpcb-like")),
    Workload("select-only, new connection per transaction", ("-S", "-C")),
)


@dataclass(frozen=True)
class Result:
    workload: str
    target: str
    tps: float
    latency_ms: float
    failed: int


def pgbench_env(stack: LocalStack) -> dict[str, str]:
    return os.environ | {
        "PGHOST": "localhost",
        "PGUSER": APP_USER,
        "PGPASSWORD": stack.app_password,
        "PGSSLMODE": "verify-full",
        "PGSSLROOTCERT": str(stack.tls.ca_cert),
    }


def pgbench(stack: LocalStack, port: int, dbname: str, *args: str, timeout: float = 600) -> str:
    proc = subprocess.run(
        ["pgbench", "-p", str(port), *args, dbname],
        env=pgbench_env(stack),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"pgbench {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}")
    return proc.stdout


def parse(output: str, workload: str, target: str) -> Result:
    def number(pattern: str) -> float:
        match = re.search(pattern, output, re.MULTILINE)
        if match is None:
            raise ValueError(f"no {pattern!r} in pgbench output:\n{output}")
        return float(match.group(1))

    failed = re.search(r"^number of failed transactions: (\d+)", output, re.MULTILINE)
    return Result(
        workload=workload,
        target=target,
        tps=number(r"^tps = ([\d.]+)"),
        latency_ms=number(r"^latency average = ([\d.]+) ms"),
        failed=int(failed.group(1)) if failed else 0,
    )


def machine() -> str:
    model = "unknown CPU"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        found = re.search(r"^model name\s*:\s*(.+)$", cpuinfo.read_text(), re.MULTILINE)
        model = found.group(1) if found else model
    pgbouncer = subprocess.run(
        [shutil.which("pgbouncer") or "/usr/sbin/pgbouncer", "--version"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.splitlines()[0]
    pg = subprocess.run(["pgbench", "--version"], capture_output=True, text=True, check=False).stdout.strip()
    return f"{os.cpu_count()} cores ({model}), {platform.system()} {platform.release()}; {pg}; {pgbouncer}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--jobs", type=int, default=2, help="pgbench threads")
    parser.add_argument("--duration", type=int, default=20, help="seconds per run")
    parser.add_argument("--scale", type=int, default=10, help="pgbench scale factor")
    options = parser.parse_args()
    if shutil.which("pgbench") is None:
        print("pgbench is not installed (Debian package postgresql-client)", file=sys.stderr)
        return 1

    settings = PgBouncerSettings()
    results: list[Result] = []
    with local_stack(settings) as stack:
        pgbench(stack, stack.primary.port, APP_DB, "-i", "-q", "-s", str(options.scale))
        common = ("-n", "-c", str(options.clients), "-j", str(options.jobs), "-T", str(options.duration))
        targets = (
            ("PgBouncer (transaction pool)", stack.pgbouncer.port),
            ("PostgreSQL direct", stack.primary.port),
        )
        for workload in WORKLOADS:
            for target, port in targets:
                output = pgbench(stack, port, APP_DB, *common, *workload.args)
                results.append(parse(output, workload.name, target))
                print(f"done: {workload.name} / {target}", file=sys.stderr)

    print(f"Machine: {machine()}\n")
    print(
        f"pgbench scale {options.scale}, {options.clients} clients, {options.jobs} threads, "
        f"{options.duration} s per run; PgBouncer settings: poolMode={settings.pool_mode}, "
        f"defaultPoolSize={settings.default_pool_size}, reservePoolSize={settings.reserve_pool_size}; "
        "TLS (verify-full) on every connection.\n"
    )
    print("| workload | path | TPS | avg latency (ms) | failed |")
    print("|---|---|---:|---:|---:|")
    for r in results:
        print(f"| {r.workload} | {r.target} | {r.tps:,.0f} | {r.latency_ms:.2f} | {r.failed} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
