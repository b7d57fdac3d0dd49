"""What one tier hands to another: typed endpoints and credentials, never a reach into a component.

The data tier yields a `DatabaseAccess` (PgBouncer's pools plus a direct writer route for
migrations) and a `RedisEndpoint`; the API tier consumes both. Each carries a `Backend`, so the
consumer can write a NetworkPolicy egress rule to exactly that peer and port.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi


@dataclass(frozen=True)
class Peer:
    """A NetworkPolicy peer: pods (optionally in other namespaces) or an IP range."""

    pod_labels: dict[str, str] | None = None
    namespace_labels: dict[str, str] | None = None
    cidr: str | None = None

    def __post_init__(self) -> None:
        if self.cidr is not None and (self.pod_labels is not None or self.namespace_labels is not None):
            raise ValueError("a Peer is either an IP range or label selectors, not both")
        if self.cidr is None and self.pod_labels is None and self.namespace_labels is None:
            raise ValueError("a Peer needs pod labels, namespace labels or a CIDR")

    def render(self) -> dict[str, Any]:
        """The NetworkPolicyPeer dict."""
        if self.cidr is not None:
            return {"ipBlock": {"cidr": self.cidr}}
        peer: dict[str, Any] = {}
        if self.namespace_labels is not None:
            peer["namespaceSelector"] = {"matchLabels": dict(self.namespace_labels)}
        if self.pod_labels is not None:
            peer["podSelector"] = {"matchLabels": dict(self.pod_labels)}
        return peer


def namespace_peer(namespace: str, pod_labels: dict[str, str] | None = None) -> Peer:
    """Pods in one namespace, selected by the label Kubernetes puts on every namespace."""
    return Peer(pod_labels=pod_labels, namespace_labels={"kubernetes.io/metadata.name": namespace})


@dataclass(frozen=True)
class Backend:
    """A TCP service a workload calls (PgBouncer, Redis): where it is and its port."""

    peer: Peer
    port: int


@dataclass(frozen=True)
class RoleNames:
    """The database roles the platform manages, shared by the roles, PgBouncer and the API."""

    owner: str = "app_owner"
    """Owns the schema objects; nobody logs in as it (migrations `SET ROLE` to it)."""
    read_write: str = "app_rw"
    read_only: str = "app_ro"
    migrations: str = "app_migrator"
    pgbouncer_auth: str = "pgbouncer_auth"
    """PgBouncer's `auth_query` lookup role."""
    exporter: str = "pgbouncer_exporter"
    """The metrics exporter's login to PgBouncer's admin console (stats only)."""


ROLES = RoleNames()


@dataclass(frozen=True)
class Credentials:
    """A login: the user name and its password (a Pulumi secret)."""

    username: str
    password: pulumi.Output[str]


@dataclass(frozen=True)
class DatabaseAccess:
    """How workloads reach PostgreSQL: through PgBouncer's pools, and directly for migrations."""

    pooler_host: str
    """In-cluster DNS name of the PgBouncer Service."""
    pooler_port: int
    read_write_database: str
    """Database name clients use for the read-write pool."""
    read_only_database: str
    """Database name clients use for the read-only pool."""
    pooler: Backend
    """The PgBouncer pods, for egress rules."""
    writer_host: pulumi.Input[str]
    """The primary's own endpoint: DDL must not go through a transaction pooler."""
    writer_port: int
    writer: Backend
    """The database itself, for the migration Job's egress rule."""


@dataclass(frozen=True)
class RedisEndpoint:
    """Where Redis listens, whether it speaks TLS, and its AUTH token (a Pulumi secret) if any."""

    host: pulumi.Input[str]
    port: int
    tls: bool
    backend: Backend
    auth_token: pulumi.Output[str] | None = None

    def url(self) -> pulumi.Output[str]:
        """`redis://` or `rediss://` URL with the token, as a secret Output."""
        scheme = "rediss" if self.tls else "redis"
        if self.auth_token is None:
            return pulumi.Output.from_input(self.host).apply(lambda h: f"{scheme}://{h}:{self.port}/0")
        return pulumi.Output.secret(
            pulumi.Output.all(self.host, self.auth_token).apply(
                lambda v: f"{scheme}://:{v[1]}@{v[0]}:{self.port}/0"
            )
        )


@dataclass(frozen=True)
class ScrapeTarget:
    """Something Prometheus scrapes: the observability tier makes it a ServiceMonitor or PodMonitor."""

    name: str
    namespace: str
    selector: dict[str, str]
    """Labels of the Service (``kind="service"``) or of the pods (``kind="pod"``)."""
    port: str
    """Name of the metrics port."""
    path: str = "/metrics"
    kind: str = "service"
    honor_labels: bool = False
    """Keep the target's own `job`/`namespace` labels (exporters that speak for other things)."""
    interval: str = "30s"
    target_labels: tuple[str, ...] = ()
    """Labels of the Service (or pod) copied onto every series, e.g. which database endpoint an
    exporter watches (Prometheus writes `-` and `/` in the name as `_`)."""
