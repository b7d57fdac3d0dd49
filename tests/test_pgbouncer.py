"""PgBouncer on Kubernetes: the connection budget rule, the rendered manifests, and every stack's pooler.

Stack-level assertions use the session's synthesized stacks; render-level ones call the pure
functions directly, including deliberately broken inputs each check must catch.
"""

from __future__ import annotations

import configparser
import copy
import json
import re
from collections.abc import Callable, Mapping
from typing import Any

import pulumi
import pytest

from components.config import ConfigError, validate
from components.endpoints import ROLES, Credentials, Peer
from components.pgbouncer import (
    AUTH_FILE_CHECKSUM,
    EXPORTER_IMAGE,
    PGBOUNCER_IMAGE,
    AuroraCa,
    CnpgCa,
    PgBouncer,
    PgBouncerArgs,
    PgBouncerLayout,
    PooledLogins,
    deployed_endpoints,
    exporter_verifier,
    render_certificate,
    render_workload,
)
from components.pgbouncer_config import (
    PgBouncerEndpoints,
    PgBouncerSettings,
    aurora_default_max_connections,
    render_pgbouncer_ini,
)
from synth.engine import SECRET, Registration, Synthesis, synthesize
from tests.conftest import stack_values, synthesized
from tests.k8s_validation import validate_manifests
from tests.test_pgbouncer_config import secrets_in_ini

LAYOUT = PgBouncerLayout()


def _pgbouncer(synthesis: Synthesis, type_: str, suffix: str) -> Registration:
    (found,) = [r for r in synthesis.by_type(type_) if r.name == f"pgbouncer-{suffix}"]
    return found


def _deployment(stack: str) -> dict[str, Any]:
    return _pgbouncer(synthesized(stack), "kubernetes:apps/v1:Deployment", "deployment").inputs


def _ini(stack: str) -> configparser.RawConfigParser:
    config_map = _pgbouncer(synthesized(stack), "kubernetes:core/v1:ConfigMap", "config")
    parser = configparser.RawConfigParser(delimiters=("=",), comment_prefixes=(";",))
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string(config_map.inputs["data"]["pgbouncer.ini"])
    return parser


# -- the connection budget ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("instance_class", "expected"),
    [("db.r7g.large", 1678), ("db.r7g.xlarge", 3357), ("db.t4g.medium", 419), ("db.r6g.16xlarge", 5000)],
)
def test_aurora_default_connection_limit_follows_the_documented_formula(
    instance_class: str, expected: int
) -> None:
    assert aurora_default_max_connections(instance_class) == expected


def test_aurora_default_is_unknown_for_classes_outside_the_table() -> None:
    assert aurora_default_max_connections("db.serverless") is None


def test_every_stack_config_fits_its_database_connection_limit() -> None:
    for stack in ("dev", "staging", "uat", "prod"):
        validate(stack_values(stack))


@pytest.mark.parametrize(
    ("change", "numbers"),
    [
        # 8 replicas x (40 + 5) x 3 pools = 1080 (+15) > 1000
        (
            {
                "pgbouncer": {"replicas": 3, "maxReplicas": 8, "defaultPoolSize": 40},
                "database.maxConnections": 1000,
            },
            "1080",
        ),
        # db.t4g.medium: 419 connections; 4 x 75 = 300 on each host fits, the ceiling of 6 does not.
        ({"pgbouncer": {"replicas": 3, "maxReplicas": 6}, "database.instanceClass": "db.t4g.medium"}, "450"),
    ],
)
def test_pools_over_the_database_connection_limit_are_refused_with_the_numbers(
    prod_values: dict[str, Any], change: dict[str, Any], numbers: str
) -> None:
    values = copy.deepcopy(prod_values)
    for key, value in change.items():
        if key.startswith("database."):
            values["database"][key.removeprefix("database.")] = value
        else:
            values[key] = value
    with pytest.raises(ConfigError) as caught:
        validate(values)
    message = str(caught.value)
    assert message.startswith("platform:pgbouncer: ")
    assert numbers in message and "connection limit" in message and "maxReplicas" in message


def test_pools_that_fit_the_same_limit_are_accepted(prod_values: dict[str, Any]) -> None:
    prod_values["pgbouncer"] = {
        "replicas": 3,
        "maxReplicas": 8,
        "defaultPoolSize": 40,
        "maxDbConnections": 100,
    }
    prod_values["database"]["maxConnections"] = 1000
    assert validate(prod_values).pgbouncer.max_server_connections(2) == 800


def test_without_readers_both_pools_count_against_the_writer() -> None:
    staging = stack_values("staging")
    staging["database"]["maxConnections"] = 300
    staging["pgbouncer"] = {"replicas": 2, "maxReplicas": 2}  # 2 x 75 = 150 (+15) on each host
    validate(staging)
    staging["database"]["readers"] = 0
    staging["protection"] = "none"
    with pytest.raises(ConfigError, match=r"300 server connections to the writer"):
        validate(staging)


def test_unknown_aurora_class_without_max_connections_is_refused(prod_values: dict[str, Any]) -> None:
    prod_values["database"]["instanceClass"] = "db.m5.large"
    with pytest.raises(ConfigError, match=r"platform:database.maxConnections: .*db.m5.large"):
        validate(prod_values)


def test_production_needs_a_pgbouncer_replica_per_zone(prod_values: dict[str, Any]) -> None:
    prod_values["pgbouncer"]["replicas"] = 2
    with pytest.raises(ConfigError, match=r"platform:pgbouncer.replicas: .*at least 3 .*got 2"):
        validate(prod_values)


# -- the stacks ------------------------------------------------------------------------------


@pytest.mark.parametrize(("stack", "replicas", "ceiling"), [("dev", 2, 2), ("staging", 2, 4), ("prod", 3, 6)])
def test_pooler_runs_replicas_with_a_disruption_budget_and_autoscaling(
    stack: str, replicas: int, ceiling: int
) -> None:
    synthesis = synthesized(stack)
    # The autoscaler owns the replica count (from `replicas` up to `maxReplicas`); the Deployment leaves it.
    assert "replicas" not in _deployment(stack)["spec"] and replicas >= 2
    pdb = _pgbouncer(synthesis, "kubernetes:policy/v1:PodDisruptionBudget", "pdb").inputs["spec"]
    assert pdb["maxUnavailable"] == 1
    hpa = _pgbouncer(synthesis, "kubernetes:autoscaling/v2:HorizontalPodAutoscaler", "hpa").inputs["spec"]
    assert (hpa["minReplicas"], hpa["maxReplicas"]) == (replicas, ceiling)
    assert hpa["metrics"][0]["resource"]["name"] == "cpu"


@pytest.mark.parametrize(("stack", "rule"), [("prod", "DoNotSchedule"), ("staging", "ScheduleAnyway")])
def test_only_production_refuses_to_stack_pods_in_one_zone(stack: str, rule: str) -> None:
    spread = _deployment(stack)["spec"]["template"]["spec"]["topologySpreadConstraints"]
    by_key = {c["topologyKey"]: c["whenUnsatisfiable"] for c in spread}
    assert by_key["topology.kubernetes.io/zone"] == rule


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_config_map_holds_no_password(stack: str) -> None:
    config_map = _pgbouncer(synthesized(stack), "kubernetes:core/v1:ConfigMap", "config")
    # secrets_in_ini is shown to flag a smuggled password in tests/test_pgbouncer_config.py.
    assert secrets_in_ini(config_map.inputs["data"]["pgbouncer.ini"]) == []


def clear_secret_values(secret: Registration) -> list[str]:
    """Keys of a Secret's data whose value is not masked as a Pulumi secret."""
    masked = secret.export_inputs()["stringData"]
    if masked == "[secret]":
        return []
    return sorted(k for k, v in masked.items() if v != "[secret]")


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_userlist_secret_data_is_a_pulumi_secret(stack: str) -> None:
    assert clear_secret_values(_pgbouncer(synthesized(stack), "kubernetes:core/v1:Secret", "auth")) == []


def test_secret_check_catches_clear_userlist_data() -> None:
    secret = _pgbouncer(synthesized("dev"), "kubernetes:core/v1:Secret", "auth")
    clear = Registration(
        secret.urn,
        secret.type,
        secret.name,
        True,
        None,
        None,
        False,
        {"stringData": {"userlist.txt": '"pgbouncer_auth" "hunter2"'}},
    )
    assert clear_secret_values(clear) == ["userlist.txt"]


@pytest.mark.parametrize(
    ("stack", "ca_path"),
    [("dev", "/var/run/pgbouncer-server-ca/ca.crt"), ("prod", "/var/run/pgbouncer-server-ca/ca.crt")],
)
def test_server_tls_is_verify_full_against_the_mounted_ca(stack: str, ca_path: str) -> None:
    ini = _ini(stack)
    assert ini["pgbouncer"]["server_tls_sslmode"] == "verify-full"
    assert ini["pgbouncer"]["server_tls_ca_file"] == ca_path
    volumes = {v["name"]: v for v in _deployment(stack)["spec"]["template"]["spec"]["volumes"]}
    if stack == "dev":
        assert volumes["server-ca"]["secret"]["secretName"] == "platform-dev-ca"
    else:
        init = _deployment(stack)["spec"]["template"]["spec"]["initContainers"][0]
        assert init["args"][-1] == "https://truststore.pki.rds.amazonaws.com/eu-west-1/eu-west-1-bundle.pem"


def test_pools_go_to_the_writer_and_reader_endpoints() -> None:
    databases = _ini("prod")["databases"]
    assert ".cluster-" in databases["app"] and ".cluster-ro-" in databases["app_ro"]
    dev = _ini("dev")["databases"]
    assert "platform-dev-rw." in dev["app"] and "platform-dev-ro." in dev["app_ro"]


def test_config_change_rolls_the_pods() -> None:
    annotations = _deployment("prod")["spec"]["template"]["metadata"]["annotations"]
    assert len(annotations["platform/config-checksum"]) == 64
    assert re.fullmatch(r"[0-9a-f]{64}", annotations[AUTH_FILE_CHECKSUM])
    assert annotations != _deployment("staging")["spec"]["template"]["metadata"]["annotations"]


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_network_policy_admits_the_api_and_prometheus_and_reaches_only_database_and_dns(stack: str) -> None:
    policy = _pgbouncer(synthesized(stack), "kubernetes:networking.k8s.io/v1:NetworkPolicy", "networkpolicy")
    spec = policy.inputs["spec"]
    sources = {
        rule["from"][0]["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"]: rule["ports"][0][
            "port"
        ]
        for rule in spec["ingress"]
    }
    assert sources == {"platform-api": 6432, "platform-monitoring": 9127}
    database = spec["egress"][0]
    if stack == "dev":
        assert database["to"] == [{"podSelector": {"matchLabels": {"cnpg.io/cluster": "platform-dev"}}}]
    else:
        assert database["to"] == [{"ipBlock": {"cidr": "10.40.0.0/16"}}]
    assert {p["port"] for r in spec["egress"][1:] for p in r["ports"]} <= {53, 443}


def test_exporter_and_pooler_images_are_pinned_by_tag() -> None:
    images = [c["image"] for c in _deployment("prod")["spec"]["template"]["spec"]["containers"]]
    assert images == [PGBOUNCER_IMAGE, EXPORTER_IMAGE]
    assert all(":" in i and not i.endswith(":latest") for i in images)


# -- renders ---------------------------------------------------------------------------------


def _workload(**overrides: Any) -> dict[str, dict[str, Any]]:
    args: dict[str, Any] = {
        "server_ca": CnpgCa("platform-dev"),
        "database": Peer(pod_labels={"cnpg.io/cluster": "platform-dev"}),
        "database_port": 5432,
        "stats_user": ROLES.exporter,
        "client_tls": True,
        "zone_spread_required": True,
        "config_checksum": "0" * 64,
        "auth_file_checksum": "1" * 64,
    }
    return render_workload(PgBouncerSettings(), LAYOUT, **{**args, **overrides})


@pytest.mark.parametrize("server_ca", [CnpgCa("platform-dev"), AuroraCa("eu-west-1")])
def test_rendered_objects_are_schema_valid(server_ca: CnpgCa | AuroraCa) -> None:
    objects = [*_workload(server_ca=server_ca).values(), render_certificate(LAYOUT, "platform-internal-ca")]
    assert validate_manifests(objects) == []


def test_schema_check_catches_a_misspelled_field() -> None:
    broken = _workload()["deployment"]
    broken["spec"]["template"]["spec"]["topologySpreadConstraint"] = []
    assert validate_manifests([broken]) != []


def test_every_container_meets_the_restricted_profile() -> None:
    pod = _workload(server_ca=AuroraCa("eu-west-1"))["deployment"]["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    for container in [*pod["containers"], *pod["initContainers"]]:
        context = container["securityContext"]
        assert context["readOnlyRootFilesystem"] is True and context["allowPrivilegeEscalation"] is False
        assert context["capabilities"] == {"drop": ["ALL"]}
        assert context["seccompProfile"] == {"type": "RuntimeDefault"}
        assert container["resources"]["requests"] and container["resources"]["limits"]["memory"]


def test_only_aurora_pods_may_reach_public_https_and_never_private_ranges() -> None:
    assert len(_workload()["networkpolicy"]["spec"]["egress"]) == 2
    aurora = _workload(server_ca=AuroraCa("eu-west-1"))["networkpolicy"]["spec"]["egress"][-1]
    assert aurora["ports"] == [{"protocol": "TCP", "port": 443}]
    assert "10.0.0.0/8" in aurora["to"][0]["ipBlock"]["except"]


def test_exporter_password_comes_from_the_secret_not_the_spec() -> None:
    exporter = _workload()["deployment"]["spec"]["template"]["spec"]["containers"][1]
    assert "$(PGBOUNCER_EXPORTER_PASSWORD)" in exporter["args"][-1]
    assert exporter["env"][0]["valueFrom"]["secretKeyRef"]["name"] == LAYOUT.auth_secret


def test_exporter_verifier_is_stable_and_differs_per_password() -> None:
    one = exporter_verifier("pgbouncer_exporter", "a" * 40)
    assert one == exporter_verifier("pgbouncer_exporter", "a" * 40)
    assert one != exporter_verifier("pgbouncer_exporter", "b" * 40)
    assert one.startswith("SCRAM-SHA-256$4096:")


# The directives that may differ between the deployed ini and the one the real-tool tests run:
# where things are (hosts, ports, file paths), nothing about how PgBouncer behaves.
LOCATION_KEYS = {"listen_addr", "listen_port", "auth_file", "server_tls_ca_file"}
LOCATION_KEYS |= {"client_tls_cert_file", "client_tls_key_file"}


def _as_in_real_tests() -> PgBouncerEndpoints:
    """The endpoints `tests/pg_cluster.py` renders with (temporary paths, localhost ports)."""
    return PgBouncerEndpoints(
        writer_host="localhost",
        reader_host="localhost",
        port=15432,
        reader_port=15433,
        database="app",
        auth_user=ROLES.pgbouncer_auth,
        server_ca_file="/tmp/x/ca.crt",
        listen_addr="127.0.0.1",
        listen_port=16432,
        auth_file="/tmp/x/userlist.txt",
        client_tls_cert_file="/tmp/x/server.crt",
        client_tls_key_file="/tmp/x/server.key",
        stats_users=(ROLES.exporter,),
    )


def _parse(text: str) -> configparser.RawConfigParser:
    parser = configparser.RawConfigParser(delimiters=("=",), comment_prefixes=(";",))
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string(text)
    return parser


def _behaviour(text: str) -> dict[str, str]:
    return {k: v for k, v in _parse(text)["pgbouncer"].items() if k not in LOCATION_KEYS}


def test_deployed_ini_is_the_render_the_real_tests_run_with_only_locations_swapped() -> None:
    settings = validate(stack_values("prod")).pgbouncer
    deployed = deployed_endpoints(
        LAYOUT,
        writer_host="w.example",
        reader_host="r.example",
        port=5432,
        database="app",
        auth_user=ROLES.pgbouncer_auth,
        stats_user=ROLES.exporter,
        client_tls=True,
    )
    assert _behaviour(render_pgbouncer_ini(settings, deployed)) == _behaviour(
        render_pgbouncer_ini(settings, _as_in_real_tests())
    )


def test_behaviour_comparison_catches_a_changed_directive() -> None:
    settings = PgBouncerSettings()
    real = render_pgbouncer_ini(settings, _as_in_real_tests())
    assert _behaviour(real.replace("auth_type = scram-sha-256", "auth_type = md5")) != _behaviour(real)


def test_stack_config_map_is_exactly_the_deployed_render() -> None:
    settings = validate(stack_values("dev")).pgbouncer
    endpoints = deployed_endpoints(
        LAYOUT,
        writer_host="platform-dev-rw.platform-data.svc.cluster.local",
        reader_host="platform-dev-ro.platform-data.svc.cluster.local",
        port=5432,
        database="app",
        auth_user=ROLES.pgbouncer_auth,
        stats_user=ROLES.exporter,
        client_tls=True,
    )
    config_map = _pgbouncer(synthesized("dev"), "kubernetes:core/v1:ConfigMap", "config")
    assert config_map.inputs["data"]["pgbouncer.ini"] == render_pgbouncer_ini(settings, endpoints)


def lookup_problems(ini: configparser.RawConfigParser, engine: str) -> list[str]:
    """Aurora cannot serve `auth_query` (its rds_superuser cannot read pg_shadow); CloudNativePG does."""
    looks_up = ini.has_option("pgbouncer", "auth_query")
    if engine == "aurora" and looks_up:
        return ["aurora: auth_query needs pg_shadow, which rds_superuser cannot read"]
    if engine == "cloudnativepg" and not looks_up:
        return ["cloudnativepg: no auth_query, so application logins are unknown to PgBouncer"]
    return []


@pytest.mark.parametrize(
    ("stack", "engine"), [("dev", "cloudnativepg"), ("staging", "aurora"), ("prod", "aurora")]
)
def test_pgbouncer_looks_logins_up_only_where_the_engine_allows(stack: str, engine: str) -> None:
    assert lookup_problems(_ini(stack), engine) == []


def test_lookup_check_catches_an_aurora_ini_with_auth_query() -> None:
    ini = _ini("prod")
    ini.set("pgbouncer", "auth_query", "SELECT 1")
    assert lookup_problems(ini, "aurora") != []
    ini = _ini("dev")
    ini.remove_option("pgbouncer", "auth_query")
    assert lookup_problems(ini, "cloudnativepg") != []


# -- the auth_file rolls the pods --------------------------------------------------------------------

POOLED = (ROLES.read_write, ROLES.read_only)
LOGINS = (*POOLED, ROLES.exporter)
PASSWORDS = {role: f"{role}-Qx7pLm2Vt9Rb4Kw8Nz3Hs6Jd1Fg5Yc0Ea" for role in LOGINS}


def _aurora_pooler(passwords: Mapping[str, str]) -> Callable[[], None]:
    """A program with only PgBouncer in userlist mode, its logins' passwords Pulumi secrets."""

    def login(role: str) -> Credentials:
        return Credentials(username=role, password=pulumi.Output.secret(passwords[role]))

    def program() -> None:
        PgBouncer(
            "pgbouncer",
            PgBouncerArgs(
                settings=PgBouncerSettings(),
                writer_host="writer.example",
                reader_host="reader.example",
                port=5432,
                database="app",
                auth=PooledLogins([login(role) for role in POOLED]),
                exporter=login(ROLES.exporter),
                server_ca=AuroraCa("eu-west-1"),
                database_peer=Peer(cidr="10.40.0.0/16"),
                zone_spread_required=False,
                client_tls_issuer="platform-internal-ca",
            ),
        )

    return program


def _pooler_deployment(passwords: Mapping[str, str]) -> Registration:
    program = _aurora_pooler(passwords)
    synthesis = synthesize("test", program=program, config={}, secret_keys=[], project="platform")
    return _pgbouncer(synthesis, "kubernetes:apps/v1:Deployment", "deployment")


def _template_annotations(deployment: Registration) -> dict[str, Any]:
    return dict(deployment.export_inputs()["spec"]["template"]["metadata"]["annotations"])


def test_a_changed_auth_file_rolls_the_pods_and_the_same_one_does_not() -> None:
    rotated = {**PASSWORDS, ROLES.read_write: "app_rw-Zr5Tn8Wq2Lp7Mx4Kv9Bc3Hd6Js1Gf0"}
    first, again, after = (_pooler_deployment(p) for p in (PASSWORDS, PASSWORDS, rotated))
    assert _template_annotations(first) == _template_annotations(again)
    assert _template_annotations(first) != _template_annotations(after)
    exporter_rotated = {**PASSWORDS, ROLES.exporter: "exporter-Ty6Rm3Wn8Kp1Lz4Vx7Bq2Hc9Jf5"}
    assert _template_annotations(first) != _template_annotations(_pooler_deployment(exporter_rotated))


def test_auth_file_checksum_is_a_plain_digest_that_holds_no_password() -> None:
    deployment = _pooler_deployment(PASSWORDS)
    annotations = _template_annotations(deployment)
    assert re.fullmatch(r"[0-9a-f]{64}", annotations[AUTH_FILE_CHECKSUM]), annotations
    # Not a Pulumi secret: nothing in the Deployment is masked, so its diffs stay readable.
    assert SECRET not in json.dumps(deployment.export_inputs())
    recorded = json.dumps(deployment.inputs)
    assert [role for role, password in PASSWORDS.items() if password in recorded] == []
