"""PgBouncer on Kubernetes: a read-write and a read-only pool in front of Aurora or CloudNativePG.

Creates, in the data namespace: a ConfigMap with ``pgbouncer.ini`` (no secret in it), a Secret with
the ``auth_file`` (the auth_query role's password, or on Aurora the pooled logins' passwords, and the
exporter's SCRAM verifier) and the exporter's password, a ServiceAccount without an API token, a
Deployment of PgBouncer with the Prometheus pgbouncer_exporter as a sidecar (its pod template carries
hashes of the ini and the ``auth_file``, so a change of either rolls the pods), a Service, a
PodDisruptionBudget, a CPU-based HorizontalPodAutoscaler, a NetworkPolicy (clients from the API
namespace, scrapes from the monitoring namespace; out only to the database and DNS) and, with an
issuer, a cert-manager Certificate for client TLS.

Server TLS is ``verify-full`` against the database's CA: CloudNativePG's ``<cluster>-ca`` Secret, or
for Aurora the regional RDS bundle, fetched over HTTPS by an init container into a memory volume when
a pod starts. The bundle is public, changes on AWS's schedule (CA rotations) and cannot be fetched at
synth time: fetching it at start keeps each pod current without a reviewed change for every rotation.
That pod alone may reach public addresses on 443 (never private ranges).

Every manifest comes from the pure functions below; :class:`PgBouncer` registers them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pulumi

from components.endpoints import Backend, Credentials, Peer, ScrapeTarget, namespace_peer
from components.kube import apply
from components.pgbouncer_config import (
    PgBouncerEndpoints,
    PgBouncerSettings,
    render_pgbouncer_ini,
    render_userlist,
    scram_sha256_verifier,
)

__all__ = [
    "EXPORTER_IMAGE",
    "PGBOUNCER_IMAGE",
    "AuroraCa",
    "CnpgCa",
    "PgBouncer",
    "PgBouncerArgs",
    "PgBouncerLayout",
    "deployed_endpoints",
    "exporter_verifier",
    "rds_ca_bundle_url",
    "render_auth_secret",
    "render_certificate",
    "render_config_map",
    "render_workload",
]

# CloudNativePG's PgBouncer image (its operator's default): Debian, runs as uid 998/gid 996, with the
# binary at /usr/bin/pgbouncer (the pod runs it directly, see `_pgbouncer_container`).
PGBOUNCER_IMAGE = "ghcr.io/cloudnative-pg/pgbouncer:1.25.1"
PGBOUNCER_UID, PGBOUNCER_GID = 998, 996
EXPORTER_IMAGE = "quay.io/prometheuscommunity/pgbouncer-exporter:v0.11.0"
EXPORTER_UID = 65534  # `nobody`, the image's user
CA_FETCH_IMAGE = "curlimages/curl:8.11.1"
CA_FETCH_UID = 100  # `curl_user`, the image's user

POOLER_PORT = 6432
METRICS_PORT = 9127
DNS_PORT = 53
HTTPS_PORT = 443
PRIVATE_RANGES = ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "169.254.0.0/16")
CONFIG_CHECKSUM = "platform/config-checksum"
AUTH_FILE_CHECKSUM = "platform/auth-file-checksum"
USERLIST_KEY = "userlist.txt"
EXPORTER_PASSWORD_KEY = "exporter-password"


@dataclass(frozen=True)
class CnpgCa:
    """Server CA of a CloudNativePG cluster: the operator's ``<cluster>-ca`` Secret."""

    cluster: str

    @property
    def secret(self) -> str:
        return f"{self.cluster}-ca"


@dataclass(frozen=True)
class AuroraCa:
    """Server CA of Aurora: AWS's regional RDS certificate bundle."""

    region: str


def rds_ca_bundle_url(region: str) -> str:
    """AWS's documented location of a region's RDS CA bundle."""
    return f"https://truststore.pki.rds.amazonaws.com/{region}/{region}-bundle.pem"


@dataclass(frozen=True)
class PgBouncerLayout:
    """Names of the objects and paths inside the pod: one place, shared by every render."""

    namespace: str = "platform-data"
    name: str = "pgbouncer"
    config_dir: str = "/etc/pgbouncer"
    auth_dir: str = "/var/run/pgbouncer-auth"
    server_ca_dir: str = "/var/run/pgbouncer-server-ca"
    tls_dir: str = "/var/run/pgbouncer-tls"

    @property
    def labels(self) -> dict[str, str]:
        """Labels of the pods (and the Service's selector)."""
        return {"app.kubernetes.io/name": self.name, "app.kubernetes.io/component": "pooler"}

    @property
    def host(self) -> str:
        """In-cluster DNS name of the Service."""
        return f"{self.name}.{self.namespace}.svc.cluster.local"

    @property
    def config_map(self) -> str:
        return f"{self.name}-config"

    @property
    def auth_secret(self) -> str:
        return f"{self.name}-auth"

    @property
    def tls_secret(self) -> str:
        return f"{self.name}-tls"

    @property
    def dns_names(self) -> list[str]:
        short = f"{self.name}.{self.namespace}"
        return [self.name, short, f"{short}.svc", self.host]


def deployed_endpoints(
    layout: PgBouncerLayout,
    *,
    writer_host: str,
    reader_host: str,
    port: int,
    database: str,
    auth_user: str | None,
    stats_user: str,
    client_tls: bool,
) -> PgBouncerEndpoints:
    """The endpoints of the ini as deployed: the pod's paths, the database's hosts."""
    return PgBouncerEndpoints(
        writer_host=writer_host,
        reader_host=reader_host,
        port=port,
        database=database,
        auth_user=auth_user,
        server_ca_file=f"{layout.server_ca_dir}/ca.crt",
        listen_port=POOLER_PORT,
        auth_file=f"{layout.auth_dir}/{USERLIST_KEY}",
        client_tls_cert_file=f"{layout.tls_dir}/tls.crt" if client_tls else None,
        client_tls_key_file=f"{layout.tls_dir}/tls.key" if client_tls else None,
        stats_users=(stats_user,),
    )


def exporter_verifier(username: str, password: str) -> str:
    """The exporter's SCRAM verifier, with a salt derived from the login so that it is stable.

    A random salt would change the Secret on every run; the passwords are random and unique per
    stack, so a derived salt is still unique per verifier.
    """
    salt = hashlib.sha256(f"pgbouncer-auth-file:{username}:{password}".encode()).digest()[:16]
    return scram_sha256_verifier(password, salt=salt)


def _metadata(layout: PgBouncerLayout, name: str, **extra: Any) -> dict[str, Any]:
    return {"name": name, "namespace": layout.namespace, "labels": dict(layout.labels), **extra}


def render_config_map(layout: PgBouncerLayout, ini: pulumi.Input[str]) -> dict[str, Any]:
    """The ConfigMap holding ``pgbouncer.ini``."""
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": _metadata(layout, layout.config_map),
        "data": {"pgbouncer.ini": ini},
    }


def render_auth_secret(
    layout: PgBouncerLayout, userlist: pulumi.Input[str], exporter_password: pulumi.Input[str]
) -> dict[str, Any]:
    """The Secret with PgBouncer's ``auth_file`` and the exporter's password."""
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": _metadata(layout, layout.auth_secret),
        "type": "Opaque",
        "stringData": {USERLIST_KEY: userlist, EXPORTER_PASSWORD_KEY: exporter_password},
    }


def render_certificate(layout: PgBouncerLayout, issuer: str) -> dict[str, Any]:
    """cert-manager Certificate for PgBouncer's client-facing TLS, from a ClusterIssuer."""
    return {
        "apiVersion": "cert-manager.io/v1",
        "kind": "Certificate",
        "metadata": _metadata(layout, layout.tls_secret),
        "spec": {
            "secretName": layout.tls_secret,
            "issuerRef": {"name": issuer, "kind": "ClusterIssuer", "group": "cert-manager.io"},
            "dnsNames": layout.dns_names,
            "duration": "2160h",
            "renewBefore": "720h",
            "privateKey": {"algorithm": "ECDSA", "size": 256, "rotationPolicy": "Always"},
            "usages": ["server auth", "digital signature"],
        },
    }


_DROP_ALL = {
    "allowPrivilegeEscalation": False,
    "readOnlyRootFilesystem": True,
    "runAsNonRoot": True,
    "capabilities": {"drop": ["ALL"]},
    "seccompProfile": {"type": "RuntimeDefault"},
}


def _security(uid: int, gid: int) -> dict[str, Any]:
    return {**_DROP_ALL, "runAsUser": uid, "runAsGroup": gid}


def _pgbouncer_container(layout: PgBouncerLayout, client_tls: bool) -> dict[str, Any]:
    mounts = [
        {"name": "config", "mountPath": layout.config_dir, "readOnly": True},
        {"name": "auth", "mountPath": layout.auth_dir, "readOnly": True},
        {"name": "server-ca", "mountPath": layout.server_ca_dir, "readOnly": True},
        {"name": "tmp", "mountPath": "/tmp"},
    ]
    if client_tls:
        mounts.append({"name": "tls", "mountPath": layout.tls_dir, "readOnly": True})
    probe = {"tcpSocket": {"port": "postgres"}, "periodSeconds": 10, "timeoutSeconds": 3}
    return {
        "name": "pgbouncer",
        "image": PGBOUNCER_IMAGE,
        "imagePullPolicy": "IfNotPresent",
        # PgBouncer as PID 1 (the image's entrypoint is a shell script that does not `exec`), so SIGTERM
        # reaches it and it finishes running transactions instead of being killed at the grace period.
        "command": ["/usr/bin/pgbouncer", f"{layout.config_dir}/pgbouncer.ini"],
        "ports": [{"name": "postgres", "containerPort": POOLER_PORT, "protocol": "TCP"}],
        "readinessProbe": {**probe, "failureThreshold": 2},
        "livenessProbe": {**probe, "initialDelaySeconds": 10, "failureThreshold": 6},
        # Leave the Service's endpoints before SIGTERM, so no new client lands on a closing pod.
        "lifecycle": {"preStop": {"exec": {"command": ["sleep", "10"]}}},
        # One event loop: PgBouncer never uses more than one core.
        "resources": {
            "requests": {"cpu": "100m", "memory": "64Mi"},
            "limits": {"cpu": "1", "memory": "256Mi"},
        },
        "securityContext": _security(PGBOUNCER_UID, PGBOUNCER_GID),
        "volumeMounts": mounts,
    }


def _exporter_container(layout: PgBouncerLayout, stats_user: str, client_tls: bool) -> dict[str, Any]:
    sslmode = "require" if client_tls else "disable"
    # Kubernetes expands $(VAR) from the container's env, so the password never appears in the spec.
    dsn = (
        f"postgres://{stats_user}:$(PGBOUNCER_EXPORTER_PASSWORD)@127.0.0.1:{POOLER_PORT}/pgbouncer"
        f"?sslmode={sslmode}&connect_timeout=5"
    )
    probe = {"httpGet": {"path": "/", "port": "metrics"}, "periodSeconds": 15, "timeoutSeconds": 3}
    return {
        "name": "exporter",
        "image": EXPORTER_IMAGE,
        "imagePullPolicy": "IfNotPresent",
        "args": [
            f"--web.listen-address=:{METRICS_PORT}",
            "--web.telemetry-path=/metrics",
            f"--pgBouncer.connectionString={dsn}",
        ],
        "env": [
            {
                "name": "PGBOUNCER_EXPORTER_PASSWORD",
                "valueFrom": {"secretKeyRef": {"name": layout.auth_secret, "key": EXPORTER_PASSWORD_KEY}},
            }
        ],
        "ports": [{"name": "metrics", "containerPort": METRICS_PORT, "protocol": "TCP"}],
        "readinessProbe": probe,
        "livenessProbe": {**probe, "failureThreshold": 4},
        "resources": {"requests": {"cpu": "10m", "memory": "24Mi"}, "limits": {"memory": "64Mi"}},
        "securityContext": _security(EXPORTER_UID, EXPORTER_UID),
    }


def _ca_fetch_container(layout: PgBouncerLayout, region: str) -> dict[str, Any]:
    return {
        "name": "fetch-rds-ca",
        "image": CA_FETCH_IMAGE,
        "imagePullPolicy": "IfNotPresent",
        "command": ["curl"],
        "args": [
            "--fail",
            "--silent",
            "--show-error",
            "--location",
            "--proto",
            "=https",
            "--tlsv1.2",
            "--retry",
            "5",
            "--max-time",
            "30",
            "--output",
            f"{layout.server_ca_dir}/ca.crt",
            rds_ca_bundle_url(region),
        ],
        "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}, "limits": {"memory": "64Mi"}},
        "securityContext": _security(CA_FETCH_UID, PGBOUNCER_GID),
        "volumeMounts": [{"name": "server-ca", "mountPath": layout.server_ca_dir}],
    }


def _volumes(layout: PgBouncerLayout, server_ca: CnpgCa | AuroraCa, client_tls: bool) -> list[dict[str, Any]]:
    read_only = 0o440
    ca: dict[str, Any]
    if isinstance(server_ca, CnpgCa):
        ca = {"secret": {"secretName": server_ca.secret, "items": [{"key": "ca.crt", "path": "ca.crt"}]}}
    else:
        ca = {"emptyDir": {"medium": "Memory", "sizeLimit": "1Mi"}}
    volumes = [
        {"name": "config", "configMap": {"name": layout.config_map, "defaultMode": read_only}},
        {
            "name": "auth",
            "secret": {
                "secretName": layout.auth_secret,
                "items": [{"key": USERLIST_KEY, "path": USERLIST_KEY}],
                "defaultMode": read_only,
            },
        },
        {"name": "server-ca", **ca},
        {"name": "tmp", "emptyDir": {"medium": "Memory", "sizeLimit": "16Mi"}},
    ]
    if client_tls:
        secret = {"secretName": layout.tls_secret, "defaultMode": read_only}
        volumes.append({"name": "tls", "secret": secret})
    return volumes


def render_workload(
    settings: PgBouncerSettings,
    layout: PgBouncerLayout,
    *,
    server_ca: CnpgCa | AuroraCa,
    database: Peer,
    database_port: int,
    stats_user: str,
    client_tls: bool,
    zone_spread_required: bool,
    config_checksum: pulumi.Input[str],
    auth_file_checksum: pulumi.Input[str],
    client_namespaces: Sequence[str] = ("platform-api",),
    monitoring_namespace: str = "platform-monitoring",
) -> dict[str, dict[str, Any]]:
    """ServiceAccount, Deployment, Service, PodDisruptionBudget, HPA and NetworkPolicy, by role."""
    selector = {"matchLabels": dict(layout.labels)}
    spread = [
        {
            "maxSkew": 1,
            "topologyKey": "topology.kubernetes.io/zone",
            "whenUnsatisfiable": "DoNotSchedule" if zone_spread_required else "ScheduleAnyway",
            "labelSelector": selector,
        },
        {
            "maxSkew": 1,
            "topologyKey": "kubernetes.io/hostname",
            "whenUnsatisfiable": "ScheduleAnyway",
            "labelSelector": selector,
        },
    ]
    pod_spec: dict[str, Any] = {
        "serviceAccountName": layout.name,
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        # PgBouncer finishes running transactions on SIGTERM; give them time after preStop.
        "terminationGracePeriodSeconds": 60,
        "securityContext": {
            "runAsNonRoot": True,
            "fsGroup": PGBOUNCER_GID,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "topologySpreadConstraints": spread,
        "containers": [
            _pgbouncer_container(layout, client_tls),
            _exporter_container(layout, stats_user, client_tls),
        ],
        "volumes": _volumes(layout, server_ca, client_tls),
    }
    if isinstance(server_ca, AuroraCa):
        pod_spec["initContainers"] = [_ca_fetch_container(layout, server_ca.region)]
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": _metadata(layout, layout.name),
        "spec": {
            # No `replicas`: the HPA owns the field (minReplicas = settings.replicas); setting it here too
            # would make every later apply fight the autoscaler under server-side apply.
            "revisionHistoryLimit": 5,
            "selector": selector,
            # Never below the current capacity while a new version rolls out.
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}},
            "template": {
                "metadata": {
                    "labels": dict(layout.labels),
                    # A new ini or auth_file changes the template, so the pods roll and load it:
                    # PgBouncer reads both only when it starts (or on RELOAD, which nothing sends).
                    "annotations": {CONFIG_CHECKSUM: config_checksum, AUTH_FILE_CHECKSUM: auth_file_checksum},
                },
                "spec": pod_spec,
            },
        },
    }
    tcp = "TCP"
    dns_peer = namespace_peer("kube-system", {"k8s-app": "kube-dns"}).render()
    egress: list[dict[str, Any]] = [
        {"to": [database.render()], "ports": [{"protocol": tcp, "port": database_port}]},
        {
            "to": [dns_peer],
            "ports": [{"protocol": "UDP", "port": DNS_PORT}, {"protocol": tcp, "port": DNS_PORT}],
        },
    ]
    if isinstance(server_ca, AuroraCa):
        public = {"ipBlock": {"cidr": "0.0.0.0/0", "except": list(PRIVATE_RANGES)}}
        egress.append({"to": [public], "ports": [{"protocol": tcp, "port": HTTPS_PORT}]})
    network_policy = {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": _metadata(layout, layout.name),
        "spec": {
            "podSelector": selector,
            "policyTypes": ["Ingress", "Egress"],
            "ingress": [
                {
                    "from": [namespace_peer(ns).render() for ns in client_namespaces],
                    "ports": [{"protocol": tcp, "port": POOLER_PORT}],
                },
                {
                    "from": [namespace_peer(monitoring_namespace).render()],
                    "ports": [{"protocol": tcp, "port": METRICS_PORT}],
                },
            ],
            "egress": egress,
        },
    }
    return {
        "serviceaccount": {
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": _metadata(layout, layout.name),
            "automountServiceAccountToken": False,
        },
        "deployment": deployment,
        "service": {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": _metadata(layout, layout.name),
            "spec": {
                "type": "ClusterIP",
                "selector": dict(layout.labels),
                "ports": [
                    {"name": "postgres", "port": POOLER_PORT, "targetPort": "postgres", "protocol": tcp},
                    {"name": "metrics", "port": METRICS_PORT, "targetPort": "metrics", "protocol": tcp},
                ],
            },
        },
        "pdb": {
            "apiVersion": "policy/v1",
            "kind": "PodDisruptionBudget",
            "metadata": _metadata(layout, layout.name),
            "spec": {"maxUnavailable": 1, "selector": selector},
        },
        "hpa": {
            "apiVersion": "autoscaling/v2",
            "kind": "HorizontalPodAutoscaler",
            "metadata": _metadata(layout, layout.name),
            "spec": {
                "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": layout.name},
                "minReplicas": settings.replicas,
                "maxReplicas": settings.max_replicas,
                "metrics": [
                    {
                        "type": "Resource",
                        "resource": {
                            "name": "cpu",
                            "target": {
                                "type": "Utilization",
                                "averageUtilization": settings.target_cpu_utilization_percent,
                            },
                        },
                    }
                ],
                # Scaling in drops client connections: do it slowly.
                "behavior": {"scaleDown": {"stabilizationWindowSeconds": 300}},
            },
        },
        "networkpolicy": network_policy,
    }


def config_checksum(ini: str, server_ca: CnpgCa | AuroraCa) -> str:
    """What the pods' configuration depends on, hashed."""
    return hashlib.sha256(f"{ini}\n{server_ca!r}".encode()).hexdigest()


def auth_file_checksum(userlist: str) -> str:
    """The ``auth_file``, hashed: a changed password in it changes the pod template.

    The exporter's password (also in the Secret) is covered too: its SCRAM verifier is in the file.
    """
    return hashlib.sha256(userlist.encode()).hexdigest()


# --------------------------------------------------------------------------------------------
# The component
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AuthLookup:
    """`auth_query` mode (CloudNativePG): PgBouncer logs in as ``login`` (its password in the
    auth_file) and looks every other client up through the database's lookup function."""

    login: Credentials


@dataclass(frozen=True)
class PooledLogins:
    """Userlist mode (Aurora: `rds_superuser` cannot read `pg_shadow`, so no lookup function can):
    these logins' passwords go into the auth_file and PgBouncer looks nothing up."""

    logins: Sequence[Credentials]


@dataclass(frozen=True)
class PgBouncerArgs:
    """What PgBouncer needs from the data tier and the stack."""

    settings: PgBouncerSettings
    writer_host: pulumi.Input[str]
    reader_host: pulumi.Input[str]
    port: int
    """The database's port (both endpoints)."""
    database: str
    auth: AuthLookup | PooledLogins
    """How PgBouncer authenticates clients: a lookup through a dedicated login, or a userlist."""
    exporter: Credentials
    """The metrics exporter's console login (its SCRAM verifier goes into the auth_file)."""
    server_ca: CnpgCa | AuroraCa
    database_peer: Peer
    """Where the database is, for the egress rule."""
    zone_spread_required: bool
    """Refuse to schedule a pod that would unbalance the zones (production)."""
    client_tls_issuer: str | None = None
    issuer_ready: Sequence[pulumi.Resource] = ()
    """What the client Certificate waits for: cert-manager's release and the issuer."""
    """ClusterIssuer of the client-facing certificate; None serves clients without TLS."""
    layout: PgBouncerLayout = PgBouncerLayout()
    client_namespaces: Sequence[str] = ("platform-api",)
    monitoring_namespace: str = "platform-monitoring"


class PgBouncer(pulumi.ComponentResource):
    """PgBouncer's pools, its exporter, and what keeps them available and fenced in."""

    host: str
    """In-cluster DNS name of the Service."""
    port: int
    """The pooler's port (Service and pods)."""
    read_write_database: str
    """Database name of the read-write pool."""
    read_only_database: str
    """Database name of the read-only pool."""
    backend: Backend
    """The PgBouncer pods and port, for clients' egress rules."""
    scrape_target: ScrapeTarget
    """The exporter, for Prometheus."""

    def __init__(self, name: str, args: PgBouncerArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("platform:data:PgBouncer", name, None, opts)
        settings, layout = args.settings, args.layout
        client_tls = args.client_tls_issuer is not None
        if not client_tls and settings.client_tls_sslmode != "disable":
            settings = settings.model_copy(update={"client_tls_sslmode": "disable"})
            pulumi.log.warn("PgBouncer serves clients without TLS: no issuer for its certificate", self)

        def ini_for(hosts: Sequence[str]) -> str:
            endpoints = deployed_endpoints(
                layout,
                writer_host=hosts[0],
                reader_host=hosts[1],
                port=args.port,
                database=args.database,
                auth_user=args.auth.login.username if isinstance(args.auth, AuthLookup) else None,
                stats_user=args.exporter.username,
                client_tls=client_tls,
            )
            return render_pgbouncer_ini(settings, endpoints)

        ini = pulumi.Output.all(args.writer_host, args.reader_host).apply(ini_for)
        # The exporter's verifier, then the auth user's password (lookup) or the pooled logins' (userlist).
        logins = [args.auth.login] if isinstance(args.auth, AuthLookup) else list(args.auth.logins)
        userlist: pulumi.Output[str] = pulumi.Output.secret(
            pulumi.Output.all(args.exporter.password, *[login.password for login in logins]).apply(
                lambda p: render_userlist(
                    {
                        args.exporter.username: exporter_verifier(args.exporter.username, p[0]),
                        **{login.username: password for login, password in zip(logins, p[1:], strict=True)},
                    }
                )
            )
        )
        child = pulumi.ResourceOptions(parent=self)
        config_map = apply(f"{name}-config", render_config_map(layout, ini), child)
        secret = apply(
            f"{name}-auth",
            render_auth_secret(layout, userlist, pulumi.Output.secret(args.exporter.password)),
            child,
        )
        mounted: list[pulumi.Resource] = [config_map, secret]
        if args.client_tls_issuer is not None:
            after_issuer = pulumi.ResourceOptions(parent=self, depends_on=list(args.issuer_ready))
            certificate = render_certificate(layout, args.client_tls_issuer)
            mounted.append(apply(f"{name}-tls", certificate, after_issuer))
        objects = render_workload(
            settings,
            layout,
            server_ca=args.server_ca,
            database=args.database_peer,
            database_port=args.port,
            stats_user=args.exporter.username,
            client_tls=client_tls,
            zone_spread_required=args.zone_spread_required,
            config_checksum=ini.apply(lambda text: config_checksum(text, args.server_ca)),
            # The digest is published in the clear: the file's secrets are the generated 40-character
            # random passwords (and a SCRAM verifier of one), so its SHA-256 can be neither inverted
            # nor guessed. Left secret, it would make the Deployment's whole spec secret, hiding its diffs.
            auth_file_checksum=pulumi.Output.unsecret(userlist.apply(auth_file_checksum)),
            client_namespaces=args.client_namespaces,
            monitoring_namespace=args.monitoring_namespace,
        )
        after_files = pulumi.ResourceOptions(parent=self, depends_on=mounted)
        for role, manifest in objects.items():
            apply(f"{name}-{role}", manifest, after_files if role == "deployment" else child)

        self.host = layout.host
        self.port = POOLER_PORT
        self.read_write_database = args.database
        self.read_only_database = f"{args.database}_ro"
        self.backend = Backend(peer=namespace_peer(layout.namespace, layout.labels), port=POOLER_PORT)
        self.scrape_target = ScrapeTarget(
            name=layout.name,
            namespace=layout.namespace,
            selector=dict(layout.labels),
            port="metrics",
            honor_labels=False,
        )
        self.register_outputs(
            {
                "host": self.host,
                "port": self.port,
                "read_write_database": self.read_write_database,
                "read_only_database": self.read_only_database,
                "config_map": config_map.id,
            }
        )
