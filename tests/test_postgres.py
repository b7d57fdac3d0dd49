"""The database settings and the PostgresCluster component (Aurora and CloudNativePG) under mocks."""

from __future__ import annotations

import copy
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pulumi
import pytest
from pydantic import ValidationError

from components.config import PROTECTION
from components.database_settings import (
    DATABASE_SETTINGS,
    AuroraSettings,
    CloudNativePgSettings,
    check_database,
    check_spread,
    instance_zones,
)
from components.postgres import PostgresCluster, PostgresClusterArgs, render_cnpg_cluster
from synth.engine import Registration, Synthesis, synthesize
from tests.k8s_validation import assert_valid, validate_manifests

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
ZONES = ["eu-west-1a", "eu-west-1b", "eu-west-1c"]
ALLOWED_SG = "sg-0eks0cluster0000"
AURORA = {"engine": "aurora", "engineVersion": "16.6"}
CNPG = {"engine": "cloudnativepg"}
CLUSTER = "aws:rds/cluster:Cluster"
INSTANCE = "aws:rds/clusterInstance:ClusterInstance"
CNPG_CLUSTER = "kubernetes:postgresql.cnpg.io/v1:Cluster"


def aurora(**overrides: Any) -> AuroraSettings:
    return AuroraSettings.model_validate({**AURORA, **overrides})


def iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


# --------------------------------------------------------------------------------------------
# Settings
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("raw", [AURORA, CNPG], ids=["aurora", "cloudnativepg"])
def test_defaults_are_valid_for_every_engine(raw: dict[str, Any]) -> None:
    settings = DATABASE_SETTINGS.validate_python(raw)
    assert settings.engine == raw["engine"]
    check_database(settings, rules=PROTECTION["light"], availability_zones=2, now=NOW)


@pytest.mark.parametrize(
    ("raw", "key"),
    [
        ({**AURORA, "engineVersion": "16"}, "engineVersion"),
        ({**AURORA, "engineVersion": "13.9"}, "engineVersion"),
        ({**AURORA, "instanceClass": "r7g.large"}, "instanceClass"),
        ({**AURORA, "readers": 16}, "readers"),
        ({**AURORA, "backupRetentionDays": 0}, "backupRetentionDays"),
        ({**AURORA, "backupRetentionDays": 36}, "backupRetentionDays"),
        ({**AURORA, "preferredBackupWindow": "2:00-3:00"}, "preferredBackupWindow"),
        ({**AURORA, "preferredBackupWindow": "02:00-02:15"}, "preferredBackupWindow"),
        ({**AURORA, "preferredMaintenanceWindow": "sun:04:00-05:00"}, "preferredMaintenanceWindow"),
        ({**AURORA, "performanceInsightsRetentionDays": 30}, "performanceInsightsRetentionDays"),
        ({**AURORA, "performanceInsightsRetentionDays": 744}, "performanceInsightsRetentionDays"),
        ({**AURORA, "monitoringIntervalSeconds": 20}, "monitoringIntervalSeconds"),
        ({**AURORA, "databaseName": "App-DB"}, "databaseName"),
        ({**AURORA, "port": 80}, "port"),
        ({**AURORA, "maxConnections": 5}, "maxConnections"),
        ({**AURORA, "slowQueryMs": -1}, "slowQueryMs"),
        ({**AURORA, "restore": {"snapshotIdentifier": "s", "useLatestRestorableTime": True}}, "restore"),
        ({**AURORA, "restore": {"sourceClusterIdentifier": "prod"}}, "restore"),
        (
            {
                **AURORA,
                "restore": {"sourceClusterIdentifier": "prod", "restoreTime": "2026-11-20T08:00:00+02:00"},
            },
            "restore.restoreTime",
        ),
        ({**AURORA, "storageSize": "10Gi"}, "storageSize"),
        ({**CNPG, "instances": 1}, "instances"),
        ({**CNPG, "postgresVersion": 13}, "postgresVersion"),
        ({**CNPG, "storageSize": "10GB"}, "storageSize"),
        ({**CNPG, "readers": 2}, "readers"),
        ({**CNPG, "restore": {"targetTime": "2026-11-20T08:00:00Z"}}, "restore.backupName"),
    ],
)
def test_bad_setting_is_refused_naming_the_key(raw: dict[str, Any], key: str) -> None:
    with pytest.raises(ValidationError) as caught:
        DATABASE_SETTINGS.validate_python(raw)
    assert f"{raw['engine']}.{key}" in str(caught.value)


def test_unknown_engine_is_refused_listing_the_engines() -> None:
    with pytest.raises(ValidationError) as caught:
        DATABASE_SETTINGS.validate_python({"engine": "mysql"})
    message = str(caught.value)
    assert "'mysql'" in message and "'aurora', 'cloudnativepg'" in message


@pytest.mark.parametrize(
    ("settings", "level", "zones", "error"),
    [
        (aurora(readers=1, backupRetentionDays=14), "production", 3, "readers: "),
        (aurora(readers=0), "light", 2, "readers: "),
        (aurora(readers=2, backupRetentionDays=7), "production", 3, "backupRetentionDays: "),
        (aurora(readers=1), "light", 0, "readers: "),
        (
            aurora(restore={"sourceClusterIdentifier": "prod", "restoreTime": iso(NOW + timedelta(hours=1))}),
            "none",
            1,
            "restore.restoreTime: ",
        ),
        (
            aurora(
                backupRetentionDays=7,
                restore={"sourceClusterIdentifier": "prod", "restoreTime": iso(NOW - timedelta(days=8))},
            ),
            "none",
            1,
            "restore.restoreTime: ",
        ),
        (
            CloudNativePgSettings.model_validate(
                {**CNPG, "restore": {"backupName": "nightly", "targetTime": iso(NOW + timedelta(days=1))}}
            ),
            "none",
            1,
            "restore.targetTime: ",
        ),
    ],
    ids=[
        "prod-one-reader",
        "light-no-reader",
        "prod-short-retention",
        "no-zone",
        "restore-in-future",
        "restore-before-window",
        "cnpg-restore-in-future",
    ],
)
def test_stack_rules_refuse_with_the_key(
    settings: AuroraSettings | CloudNativePgSettings, level: str, zones: int, error: str
) -> None:
    with pytest.raises(ValueError, match=f"^{error}"):
        check_database(settings, rules=PROTECTION[level], availability_zones=zones, now=NOW)


def test_an_applied_restore_is_not_checked_against_the_moving_backup_window() -> None:
    # Created 40 days ago from a point then inside the window: still the cluster's definition.
    old = {"sourceClusterIdentifier": "prod", "restoreTime": iso(NOW - timedelta(days=40))}
    with pytest.raises(ValueError, match=r"^restore\.restoreTime: .* older than"):
        check_database(aurora(restore=old), rules=PROTECTION["none"], availability_zones=1, now=NOW)
    applied = aurora(restore={**old, "applied": True})
    check_database(applied, rules=PROTECTION["none"], availability_zones=1, now=NOW)
    future = aurora(restore={**old, "restoreTime": iso(NOW + timedelta(hours=1)), "applied": True})
    with pytest.raises(ValueError, match="in the future"):  # a typo is still a typo
        check_database(future, rules=PROTECTION["none"], availability_zones=1, now=NOW)


def test_each_restore_generation_gets_its_own_final_snapshot_name() -> None:
    from components.database_settings import AuroraRestore
    from components.postgres import final_snapshot_name

    names = {
        final_snapshot_name("c", None),
        final_snapshot_name("c", AuroraRestore(snapshot_identifier="prod-2026-11-01")),
        final_snapshot_name("c", AuroraRestore(snapshot_identifier="prod-2026-11-08")),
        final_snapshot_name(
            "c",
            AuroraRestore.model_validate({"sourceClusterIdentifier": "p", "useLatestRestorableTime": True}),
        ),
    }
    assert len(names) == 4 and "c-final" in names
    assert final_snapshot_name("c", AuroraRestore(snapshot_identifier="s")) == final_snapshot_name(
        "c", AuroraRestore(snapshot_identifier="s")
    )


def test_prod_settings_meet_production_rules() -> None:
    settings = aurora(
        readers=2,
        backupRetentionDays=35,
        restore={"sourceClusterIdentifier": "prod", "restoreTime": iso(NOW - timedelta(days=30))},
    )
    check_database(settings, rules=PROTECTION["production"], availability_zones=3, now=NOW)


@pytest.mark.parametrize(("readers", "covered"), [(0, 1), (1, 2), (2, 3), (5, 3)])
def test_instances_cover_as_many_zones_as_they_can(readers: int, covered: int) -> None:
    plan = instance_zones(readers, ZONES)
    assert len(set(plan.values())) == covered
    check_spread(plan, readers + 1, len(ZONES))


def test_spread_check_refuses_instances_stacked_in_one_zone() -> None:
    stacked = dict.fromkeys(instance_zones(2, ZONES), ZONES[0])
    with pytest.raises(ValueError, match=r"^readers: 3 instances must be spread over 3"):
        check_spread(stacked, 3, len(ZONES))


# --------------------------------------------------------------------------------------------
# Component under mocks
# --------------------------------------------------------------------------------------------


def synth_program(program: Callable[[], Any]) -> tuple[Synthesis, dict[str, list[str]]]:
    """Synthesize ``program``; also return each resource's dependencies, by resource name."""
    result = synthesize("test", program=program, config={}, secret_keys=[], project="platform")
    dependencies = {r.name: [urn.rsplit("::", 1)[-1] for urn in r.dependencies] for r in result.resources}
    return result, dependencies


def aurora_program(settings: AuroraSettings, level: str) -> Callable[[], dict[str, Any]]:
    def program() -> dict[str, Any]:
        import pulumi_aws as aws

        provider = aws.Provider("aws", region="eu-west-1")
        db = PostgresCluster(
            "db",
            PostgresClusterArgs(
                name="platform-test",
                settings=settings,
                rules=PROTECTION[level],
                vpc_id="vpc-0test",
                isolated_subnet_ids=[f"subnet-{z[-1]}" for z in ZONES],
                availability_zones=ZONES,
                allowed_security_group_ids=[ALLOWED_SG],
                account_id="111122223333",
                region="eu-west-1",
            ),
            opts=pulumi.ResourceOptions(providers={"aws": provider}),
        )
        return {
            "writer": db.writer_host,
            "reader": db.reader_host,
            "port": db.port,
            "database": db.database,
            "secret": db.master_secret_arn,
            "securityGroup": db.security_group_id,
            "engine": db.engine,
        }

    return program


@pytest.fixture(scope="module")
def prod_aurora() -> Synthesis:
    settings = aurora(readers=2, backupRetentionDays=14)
    return synth_program(aurora_program(settings, "production"))[0]


@pytest.fixture(scope="module")
def restored_aurora() -> Synthesis:
    settings = aurora(
        readers=0,
        monitoringIntervalSeconds=0,
        restore={"sourceClusterIdentifier": "platform-prod", "restoreTime": "2026-11-20T08:00:00Z"},
    )
    return synth_program(aurora_program(settings, "none"))[0]


@pytest.fixture(scope="module", params=["prod", "restored"])
def any_aurora(request: pytest.FixtureRequest) -> Synthesis:
    return request.getfixturevalue(f"{request.param}_aurora")


def one(synthesis: Synthesis, type_: str) -> Registration:
    (found,) = synthesis.by_type(type_)
    return found


def aurora_problems(resources: list[Registration]) -> list[str]:
    """Security invariants of an Aurora cluster; empty when all hold."""
    by_type: dict[str, list[Registration]] = {}
    for r in resources:
        by_type.setdefault(r.type, []).append(r)
    (key,) = by_type["aws:kms/key:Key"]
    (cluster,) = by_type[CLUSTER]
    (group,) = by_type["aws:ec2/securityGroup:SecurityGroup"]
    (params,) = by_type["aws:rds/clusterParameterGroup:ClusterParameterGroup"]
    key_arn, inputs = key.outputs["arn"], cluster.inputs
    problems = []
    if not key.inputs.get("enableKeyRotation"):
        problems.append("key does not rotate")
    if not (inputs.get("storageEncrypted") and inputs.get("kmsKeyId") == key_arn):
        problems.append("storage not encrypted with the CMK")
    if "masterPassword" in inputs or not inputs.get("manageMasterUserPassword"):
        problems.append("master password not managed by RDS")
    if inputs.get("masterUserSecretKmsKeyId") != key_arn:
        problems.append("master secret not encrypted with the CMK")
    if not inputs.get("iamDatabaseAuthenticationEnabled"):
        problems.append("IAM authentication off")
    if {p["name"]: p["value"] for p in params.inputs["parameters"]}.get("rds.force_ssl") != "1":
        problems.append("TLS not forced")
    expected_ingress = [
        {
            "protocol": "tcp",
            "fromPort": 5432,
            "toPort": 5432,
            "securityGroups": [ALLOWED_SG],
            "description": "PostgreSQL from the EKS cluster",
        }
    ]
    if group.inputs.get("ingress") != expected_ingress or group.inputs.get("egress") != []:
        problems.append(f"security group open beyond 5432 from {ALLOWED_SG}: {group.inputs}")
    for instance in by_type[INSTANCE]:
        if instance.inputs.get("publiclyAccessible") is not False:
            problems.append(f"{instance.name} publicly accessible")
        if instance.inputs.get("performanceInsightsKmsKeyId") != key_arn:
            problems.append(f"{instance.name} Performance Insights not encrypted with the CMK")
    return problems


def test_aurora_meets_security_invariants(any_aurora: Synthesis) -> None:
    assert aurora_problems(any_aurora.resources) == []


def _mutate(type_: str, change: Callable[[dict[str, Any]], None]) -> Callable[[list[Registration]], None]:
    def apply(resources: list[Registration]) -> None:
        for r in resources:
            if r.type == type_:
                change(r.inputs)

    return apply


@pytest.mark.parametrize(
    "mutation",
    [
        _mutate(CLUSTER, lambda i: i.update(storageEncrypted=False)),
        _mutate(CLUSTER, lambda i: i.update(kmsKeyId="alias/aws/rds")),
        _mutate(CLUSTER, lambda i: i.update(masterPassword="hunter2")),
        _mutate(CLUSTER, lambda i: i.pop("iamDatabaseAuthenticationEnabled")),
        _mutate(
            "aws:rds/clusterParameterGroup:ClusterParameterGroup",
            lambda i: i.update(parameters=[p for p in i["parameters"] if p["name"] != "rds.force_ssl"]),
        ),
        _mutate(
            "aws:ec2/securityGroup:SecurityGroup",
            lambda i: i["ingress"].append({"protocol": "tcp", "fromPort": 5432, "cidrBlocks": ["0.0.0.0/0"]}),
        ),
        _mutate(INSTANCE, lambda i: i.update(publiclyAccessible=True)),
    ],
    ids=["unencrypted", "aws-key", "password", "no-iam-auth", "no-force-ssl", "open-ingress", "public"],
)
def test_security_check_catches_a_broken_cluster(
    prod_aurora: Synthesis, mutation: Callable[[list[Registration]], None]
) -> None:
    broken = copy.deepcopy(prod_aurora.resources)
    mutation(broken)
    assert aurora_problems(broken) != []


def test_aurora_cluster_is_pinned_postgres_with_logs_and_backups(prod_aurora: Synthesis) -> None:
    inputs = one(prod_aurora, CLUSTER).inputs
    assert inputs["engine"] == "aurora-postgresql"
    assert inputs["engineVersion"] == "16.6"
    assert inputs["backupRetentionPeriod"] == 14
    assert inputs["preferredBackupWindow"] == "02:00-03:00"
    assert inputs["enabledCloudwatchLogsExports"] == ["postgresql"]
    assert inputs["copyTagsToSnapshot"] is True
    assert inputs["databaseName"] == "app"


def test_parameter_groups_follow_the_major_version_with_deliberate_settings(prod_aurora: Synthesis) -> None:
    params = one(prod_aurora, "aws:rds/clusterParameterGroup:ClusterParameterGroup").inputs
    assert params["family"] == "aurora-postgresql16"
    assert one(prod_aurora, "aws:rds/parameterGroup:ParameterGroup").inputs["family"] == "aurora-postgresql16"
    rows = {p["name"]: (p["value"], p["applyMethod"]) for p in params["parameters"]}
    assert rows == {
        "idle_in_transaction_session_timeout": ("60000", "immediate"),
        "log_connections": ("1", "immediate"),
        "log_disconnections": ("1", "immediate"),
        "log_min_duration_statement": ("500", "immediate"),
        "pg_stat_statements.track": ("all", "immediate"),
        "rds.force_ssl": ("1", "immediate"),
        "shared_preload_libraries": ("pg_stat_statements", "pending-reboot"),
    }


def test_prod_instances_survive_an_az_loss(prod_aurora: Synthesis) -> None:
    instances = sorted(prod_aurora.by_type(INSTANCE), key=lambda r: r.inputs["promotionTier"])
    assert [r.name for r in instances] == ["db-writer", "db-reader-1", "db-reader-2"]
    assert [r.inputs["promotionTier"] for r in instances] == [0, 1, 2]
    assert sorted(r.inputs["availabilityZone"] for r in instances) == ZONES
    role_arn = one(prod_aurora, "aws:iam/role:Role").outputs["arn"]
    for r in instances:
        assert r.inputs["monitoringInterval"] == 60
        assert r.inputs["monitoringRoleArn"] == role_arn
        assert r.inputs["autoMinorVersionUpgrade"] is False  # engineVersion is pinned
        assert r.inputs["performanceInsightsEnabled"] is True


def test_readers_wait_for_the_writer() -> None:
    _, dependencies = synth_program(aurora_program(aurora(readers=1), "light"))
    assert "db-writer" in dependencies["db-reader-1"]
    assert "db-writer" not in dependencies["db-writer"]


def test_enhanced_monitoring_role_is_trusted_by_rds_monitoring(prod_aurora: Synthesis) -> None:
    role = one(prod_aurora, "aws:iam/role:Role")
    assert "monitoring.rds.amazonaws.com" in role.inputs["assumeRolePolicy"]
    attachment = one(prod_aurora, "aws:iam/rolePolicyAttachment:RolePolicyAttachment")
    assert attachment.inputs["policyArn"].endswith("service-role/AmazonRDSEnhancedMonitoringRole")


@pytest.mark.parametrize(
    ("fixture", "deletion_protection", "skip_final_snapshot", "protect"),
    [("prod_aurora", True, False, True), ("restored_aurora", False, True, False)],
)
def test_protection_follows_the_rules(
    request: pytest.FixtureRequest,
    fixture: str,
    deletion_protection: bool,
    skip_final_snapshot: bool,
    protect: bool,
) -> None:
    synthesis: Synthesis = request.getfixturevalue(fixture)
    cluster = one(synthesis, CLUSTER)
    assert cluster.inputs["deletionProtection"] is deletion_protection
    assert cluster.inputs["skipFinalSnapshot"] is skip_final_snapshot
    assert cluster.inputs["finalSnapshotIdentifier"].startswith("platform-test-final")
    stateful = [cluster, one(synthesis, "aws:kms/key:Key"), *synthesis.by_type(INSTANCE)]
    assert {r.protect for r in stateful} == {protect}


def test_restore_inputs_reach_the_cluster(restored_aurora: Synthesis) -> None:
    inputs = one(restored_aurora, CLUSTER).inputs
    assert inputs["restoreToPointInTime"] == {
        "sourceClusterIdentifier": "platform-prod",
        "restoreToTime": "2026-11-20T08:00:00Z",
    }
    assert "snapshotIdentifier" not in inputs and "masterUsername" not in inputs


def test_snapshot_restore_reaches_the_cluster() -> None:
    settings = aurora(restore={"snapshotIdentifier": "platform-prod-nightly"})
    inputs = one(synth_program(aurora_program(settings, "standard"))[0], CLUSTER).inputs
    assert inputs["snapshotIdentifier"] == "platform-prod-nightly"
    assert "restoreToPointInTime" not in inputs and "databaseName" not in inputs


def test_a_new_cluster_restores_nothing(prod_aurora: Synthesis) -> None:
    inputs = one(prod_aurora, CLUSTER).inputs
    assert "restoreToPointInTime" not in inputs and "snapshotIdentifier" not in inputs
    assert inputs["masterUsername"] == "dbadmin"


def test_restored_single_instance_has_no_monitoring_role(restored_aurora: Synthesis) -> None:
    (writer,) = restored_aurora.by_type(INSTANCE)
    assert writer.inputs["monitoringInterval"] == 0 and "monitoringRoleArn" not in writer.inputs
    assert restored_aurora.by_type("aws:iam/role:Role") == []


def test_outputs_carry_endpoints_and_the_secret_arn_never_a_password(prod_aurora: Synthesis) -> None:
    out = prod_aurora.outputs
    assert out["writer"].startswith("platform-test.cluster-")
    assert out["reader"].startswith("platform-test.cluster-ro-")
    assert out["port"] == 5432 and out["database"] == "app" and out["engine"] == "aurora"
    assert out["secret"].startswith("arn:aws:secretsmanager:")
    assert out["securityGroup"].startswith("sg-")
    assert "password" not in repr(out).lower()


# --------------------------------------------------------------------------------------------
# CloudNativePG
# --------------------------------------------------------------------------------------------


def cnpg_program(settings: CloudNativePgSettings) -> Callable[[], dict[str, Any]]:
    def program() -> dict[str, Any]:
        import pulumi_kubernetes as k8s

        provider = k8s.Provider("k8s", kubeconfig="{}")
        db = PostgresCluster(
            "db",
            PostgresClusterArgs(
                name="platform-dev",
                settings=settings,
                rules=PROTECTION["none"],
                namespace="platform-data",
                storage_class="standard",
            ),
            opts=pulumi.ResourceOptions(providers={"kubernetes": provider}),
        )
        return {"writer": db.writer_host, "reader": db.reader_host, "port": db.port, "engine": db.engine}

    return program


@pytest.fixture(scope="module")
def cnpg() -> tuple[Synthesis, dict[str, list[str]]]:
    return synth_program(cnpg_program(CloudNativePgSettings.model_validate(CNPG)))


def cnpg_manifest(registration: Registration) -> dict[str, Any]:
    return {k: registration.inputs[k] for k in ("apiVersion", "kind", "metadata", "spec")}


def test_cnpg_cluster_is_highly_available_and_monitored(cnpg: tuple[Synthesis, Any]) -> None:
    spec = one(cnpg[0], CNPG_CLUSTER).inputs["spec"]
    assert spec["instances"] >= 2
    assert spec["enablePDB"] is True
    # The observability tier scrapes the instances; the operator's own PodMonitor would double them.
    assert spec["monitoring"] == {"enablePodMonitor": False}
    assert spec["imageName"] == "ghcr.io/cloudnative-pg/postgresql:16"
    assert spec["storage"] == {"size": "10Gi", "storageClass": "standard"}
    assert spec["bootstrap"] == {"initdb": {"database": "app", "owner": "app"}}
    assert spec["postgresql"]["parameters"]["pg_stat_statements.track"] == "all"
    assert spec["postgresql"]["pg_hba"] == ["hostnossl all all all reject"]


def test_cnpg_cluster_passes_the_crd_schema(cnpg: tuple[Synthesis, Any]) -> None:
    assert_valid([cnpg_manifest(one(cnpg[0], CNPG_CLUSTER))])


@pytest.mark.parametrize(
    "break_spec",
    [
        lambda spec: spec.update(instances=0),
        lambda spec: spec.update(enablePdb=True),
        lambda spec: spec["postgresql"].update(parameters={"max_connections": 100}),
    ],
    ids=["no-instances", "misspelt-field", "non-string-parameter"],
)
def test_crd_schema_check_catches_a_broken_cluster(
    cnpg: tuple[Synthesis, Any], break_spec: Callable[[dict[str, Any]], None]
) -> None:
    manifest = copy.deepcopy(cnpg_manifest(one(cnpg[0], CNPG_CLUSTER)))
    break_spec(manifest["spec"])
    assert validate_manifests([manifest]) != []


def test_cnpg_cluster_waits_for_the_pinned_operator(cnpg: tuple[Synthesis, dict[str, list[str]]]) -> None:
    synthesis, dependencies = cnpg
    release = one(synthesis, "kubernetes:helm.sh/v3:Release")
    assert release.inputs["namespace"] == "cnpg-system"
    assert release.inputs["version"] == "0.26.0"
    assert release.inputs["values"]["monitoring"]["podMonitorEnabled"] is False
    assert "db-operator" in dependencies["db-cluster"]
    assert release.provider is not None and release.provider.endswith("::k8s")
    assert one(synthesis, CNPG_CLUSTER).provider == release.provider


def test_cnpg_outputs_name_the_operator_services(cnpg: tuple[Synthesis, Any]) -> None:
    assert cnpg[0].outputs == {
        "writer": "platform-dev-rw.platform-data.svc.cluster.local",
        "reader": "platform-dev-ro.platform-data.svc.cluster.local",
        "port": 5432,
        "engine": "cloudnativepg",
    }


def test_cnpg_recovery_bootstrap_is_schema_valid() -> None:
    settings = CloudNativePgSettings.model_validate(
        {**CNPG, "instances": 3, "restore": {"backupName": "nightly", "targetTime": "2026-11-20T08:00:00Z"}}
    )
    manifest = render_cnpg_cluster(
        settings, name="platform-dev", namespace="platform-data", storage_class=None
    )
    assert manifest["spec"]["bootstrap"] == {
        "recovery": {
            "backup": {"name": "nightly"},
            "database": "app",
            "owner": "app",
            "recoveryTarget": {"targetTime": "2026-11-20T08:00:00Z"},
        }
    }
    assert "storageClass" not in manifest["spec"]["storage"]
    assert_valid([manifest])
