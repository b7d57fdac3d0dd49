"""The ApiService component and the image registry under mocks, the `platform:api` config rules,
and the API tier of every synthesized stack.

Each invariant is a function returning problems (empty = holds) and is shown to fail on a
deliberately broken resource or manifest.
"""

from __future__ import annotations

import copy
import ipaddress
import json
import re
from functools import cache
from typing import Any

import pulumi
import pytest

from components.api_manifests import (
    ALB_SSL_POLICY,
    API_SECRET_KEYS,
    SECRET_CHECKSUM_ANNOTATION,
    WAIT_FOR_ANNOTATION,
    ApiSettings,
    RegistrySettings,
)
from components.api_service import (
    ApiService,
    ApiServiceArgs,
    AwsLoadBalancing,
    LocalIngress,
    ecr_repository_name,
    secret_checksum,
)
from components.charts import ARGO_ROLLOUTS, INGRESS_NGINX
from components.config import ConfigError, validate
from components.endpoints import (
    ROLES,
    Backend,
    Credentials,
    DatabaseAccess,
    Peer,
    RedisEndpoint,
    namespace_peer,
)
from components.image_registry import LAYER_DOWNLOAD, lifecycle_policy, repository_policy
from components.network import plan_subnets
from synth.engine import SECRET, Registration, Synthesis, synthesize
from synth.output import manifest
from tests.conftest import stack_values, synthesized
from tests.invariants import plaintext_secrets
from tests.k8s_validation import validate_manifests

ACCOUNT = "111122223333"
IMAGE = {"repository": f"{ACCOUNT}.dkr.ecr.eu-west-1.amazonaws.com/platform/api", "tag": "1.4.2"}
NODE_ROLES = [f"arn:aws:iam::{ACCOUNT}:role/cluster-node-*"]
CERTIFICATE = f"arn:aws:acm:eu-west-1:{ACCOUNT}:certificate/0b1c"
POOLER = Backend(namespace_peer("platform-data", {"app.kubernetes.io/name": "pgbouncer"}), 6432)
WRITER = Backend(Peer(cidr="10.40.96.0/20"), 5432)
REDIS = Backend(Peer(cidr="10.40.112.0/20"), 6379)
VPC_CIDR = "10.40.0.0/16"
ZONES = ["eu-west-1a", "eu-west-1b", "eu-west-1c"]
# prod's public subnets (plan_subnets of 10.40.0.0/16 over three zones), where the ALB's interfaces are.
PUBLIC_SUBNETS = ["10.40.224.0/23", "10.40.226.0/23", "10.40.228.0/23"]
PROD_ALB_PEERS = [{"ipBlock": {"cidr": c}} for c in PUBLIC_SUBNETS]
CANARY = {
    "type": "canary",
    "steps": [{"setWeight": 10, "pauseSeconds": 60}, {"setWeight": 50, "pauseSeconds": 60}],
}
API = "platform:api:ApiService"
ECR = "aws:ecr/repository:Repository"


# ----------------------------------------------------------------------------------------------
# The component, standalone


def api_program(
    strategy: dict[str, Any],
    *,
    aws: bool,
    rotation: int = 0,
    migrations: dict[str, Any] | None = None,
    extra_versions: list[dict[str, Any]] | None = None,
) -> Any:
    def program() -> dict[str, Any]:
        settings = ApiSettings.model_validate(
            {
                "image": IMAGE,
                "strategy": strategy,
                "secretsRotation": rotation,
                "replicas": 3,
                "migrations": migrations or {},
                "extraVersions": extra_versions or [],
            }
        )
        password = pulumi.Output.secret("pw0123456789")
        credentials = {
            role: Credentials(role, password)
            for role in (ROLES.read_write, ROLES.read_only, ROLES.migrations)
        }
        database = DatabaseAccess(
            pooler_host="pgbouncer.platform-data.svc",
            pooler_port=6432,
            read_write_database="app",
            read_only_database="app_ro",
            pooler=POOLER,
            writer_host=pulumi.Output.from_input("writer.cluster.eu-west-1.rds.amazonaws.com"),
            writer_port=5432,
            writer=WRITER,
        )
        redis = RedisEndpoint("master.redis.cache.amazonaws.com", 6379, True, REDIS, password)
        load_balancing: AwsLoadBalancing | LocalIngress = (
            AwsLoadBalancing(
                cluster_name="platform-test",
                account_id=ACCOUNT,
                vpc_cidr=VPC_CIDR,
                public_subnet_cidrs=PUBLIC_SUBNETS,
                certificate_arn=pulumi.Output.from_input(CERTIFICATE),
                node_role_arn_patterns=NODE_ROLES,
                deletion_protection=True,
            )
            if aws
            else LocalIngress(ingress_class="nginx", cluster_issuer="public")
        )
        service = ApiService(
            "api",
            ApiServiceArgs(
                prefix="platform-test",
                settings=settings,
                environment="test",
                namespace="platform-api",
                hostname="api.example.com",
                database=database,
                database_name="app",
                credentials=credentials,
                redis=redis,
                load_balancing=load_balancing,
                protect=aws,
            ),
        )
        return {"origin": service.api_origin_hostname}

    return program


@cache
def component(case: str) -> Synthesis:
    programs = {
        "aws-canary": api_program(CANARY, aws=True),
        "aws-canary-rotated": api_program(CANARY, aws=True, rotation=1),
        "local-rolling": api_program({"type": "rolling"}, aws=False),
        "aws-canary-schema-rollback": api_program(
            CANARY,
            aws=True,
            migrations={"downImage": {**IMAGE, "tag": "9.9.9"}},
            extra_versions=[{"pathPrefix": "/v1", "image": {**IMAGE, "tag": "0.9.0"}, "replicas": 2}],
        ),
    }
    return synthesize("test", program=programs[case], config={})


def api_manifests(synthesis: Synthesis) -> list[dict[str, Any]]:
    return [m for r in synthesis.resources if API in r.urn and (m := manifest(r)) is not None]


def one(resources: list[Registration], type_: str, suffix: str = "") -> Registration:
    found = [r for r in resources if r.type == type_ and r.name.endswith(suffix)]
    assert len(found) == 1, [r.name for r in found]
    return found[0]


def find(manifests: list[dict[str, Any]], kind: str, name: str | None = None) -> dict[str, Any]:
    found = [m for m in manifests if m["kind"] == kind and name in (None, m["metadata"]["name"])]
    assert len(found) == 1, [m["metadata"]["name"] for m in found]
    return found[0]


def test_component_registers_only_valid_manifests_and_no_plaintext_secret() -> None:
    for case in ("aws-canary", "local-rolling"):
        synthesis = component(case)
        assert validate_manifests(api_manifests(synthesis)) == []
        assert plaintext_secrets(synthesis.resources) == []


def test_api_secrets_are_pulumi_secrets_and_rotate_with_the_counter() -> None:
    synthesis = component("aws-canary")
    secrets = [r for r in synthesis.resources if r.type == "kubernetes:core/v1:Secret"]
    assert sorted(r.inputs["metadata"]["name"] for r in secrets) == ["api-env", "api-migrations"]
    assert [set(r.export_inputs()["stringData"].values()) for r in secrets] == [{SECRET}, {SECRET}]
    assert set(secrets[0].export_inputs()["stringData"]) == set(API_SECRET_KEYS)
    passwords = synthesis.by_type("random:index/randomPassword:RandomPassword")
    assert sorted(p.name for p in passwords) == ["api-jwt-signing-key", "api-refresh-token-secret"]
    assert {p.inputs["keepers"]["rotation"] for p in passwords} == {"0"}
    rotated = component("aws-canary-rotated").by_type("random:index/randomPassword:RandomPassword")
    assert {p.inputs["keepers"]["rotation"] for p in rotated} == {"1"}


def _pod_annotations(case: str) -> dict[str, dict[str, Any]]:
    """Each workload's pod-template annotations, as the export shows them (secrets masked)."""
    return {
        r.inputs["metadata"]["name"]: r.export_inputs()["spec"]["template"]["metadata"]["annotations"]
        for r in component(case).resources
        if r.type in {"kubernetes:apps/v1:Deployment", "kubernetes:argoproj.io/v1alpha1:Rollout"}
    }


def test_a_changed_secret_rolls_every_workload_and_the_checksum_reveals_nothing() -> None:
    base, rotated = _pod_annotations("aws-canary"), _pod_annotations("aws-canary-rotated")
    assert set(base) == {"api"}
    checksums = {name: a[SECRET_CHECKSUM_ANNOTATION] for name, a in base.items()}
    # A plain digest: the workloads stay readable in the diff, and no value of the Secret shows.
    assert all(re.fullmatch(r"[0-9a-f]{64}", c) for c in checksums.values()), checksums
    assert "pw0123456789" not in json.dumps(base)
    # An extra version reads the same Secret, so it carries the same checksum.
    with_extra = _pod_annotations("aws-canary-schema-rollback")
    assert set(with_extra) == {"api", "api-v1"}
    assert with_extra["api-v1"][SECRET_CHECKSUM_ANNOTATION] == with_extra["api"][SECRET_CHECKSUM_ANNOTATION]
    for name, pod in rotated.items():
        assert pod[SECRET_CHECKSUM_ANNOTATION] != checksums[name]


def test_every_api_workload_of_every_stack_carries_the_secret_checksum(any_stack: Synthesis) -> None:
    workloads = [
        r
        for r in any_stack.resources
        if r.type in {"kubernetes:apps/v1:Deployment", "kubernetes:argoproj.io/v1alpha1:Rollout"}
        and r.inputs["metadata"].get("namespace") == "platform-api"
    ]
    assert workloads
    for workload in workloads:
        annotations = workload.export_inputs()["spec"]["template"]["metadata"]["annotations"]
        assert re.fullmatch(r"[0-9a-f]{64}", annotations[SECRET_CHECKSUM_ANNOTATION]), workload.name


def test_secret_checksum_follows_every_value() -> None:
    def digest(values: dict[str, str]) -> str:
        holder: dict[str, str] = {}

        def program() -> None:
            secret_checksum({k: pulumi.Output.secret(v) for k, v in values.items()}).apply(
                lambda d: holder.update(d=d)
            )

        synthesize("test", program=program, config={})
        return holder["d"]

    base = {"DATABASE_URL": "postgresql://app_rw:a@h/app", "REDIS_URL": "rediss://:t@r:6379"}
    assert digest(base) == digest(dict(reversed(base.items())))  # order does not matter
    assert digest(base) != digest({**base, "DATABASE_URL": "postgresql://app_rw:b@h/app"})
    assert digest(base) != digest({**base, "REDIS_URL": "rediss://:u@r:6379"})


def test_api_secret_carries_pooled_urls_and_the_migration_secret_a_direct_tls_url() -> None:
    secrets = {
        r.inputs["metadata"]["name"]: r.inputs["stringData"]
        for r in component("aws-canary").resources
        if r.type == "kubernetes:core/v1:Secret"
    }

    def value(v: Any) -> Any:
        return v["value"] if isinstance(v, dict) else v

    api = {k: value(v) for k, v in value(secrets["api-env"]).items()}
    assert api["DATABASE_URL"] == "postgresql://app_rw:pw0123456789@pgbouncer.platform-data.svc:6432/app"
    assert api["DATABASE_READ_URL"].endswith("@pgbouncer.platform-data.svc:6432/app_ro")
    assert api["REDIS_URL"].startswith("rediss://")
    assert len(api["JWT_SIGNING_KEY"]) == 64
    migration = value(value(secrets["api-migrations"])["DATABASE_URL"])
    assert migration.startswith("postgresql://app_migrator:")
    assert migration.endswith("@writer.cluster.eu-west-1.rds.amazonaws.com:5432/app?sslmode=require")


def test_workload_waits_for_the_migration_job_which_waits_for_its_secret() -> None:
    resources = component("aws-canary").resources
    by_urn = {r.urn: r for r in resources}
    rollout = one(resources, "kubernetes:argoproj.io/v1alpha1:Rollout")
    job = one(resources, "kubernetes:batch/v1:Job")
    release = one(resources, "kubernetes:helm.sh/v3:Release", "argo-rollouts")
    assert {job.urn, release.urn} <= set(rollout.dependencies)
    assert job.inputs["metadata"]["name"].startswith("api-migrate-")
    job_needs = {by_urn[u].inputs.get("metadata", {}).get("name") for u in job.dependencies}
    assert "api-migrations" in job_needs


def test_a_schema_rollback_is_held_after_the_workload_and_runs_no_forward_migration() -> None:
    resources = component("aws-canary-schema-rollback").resources
    rollout = one(resources, "kubernetes:argoproj.io/v1alpha1:Rollout")
    held = one(resources, "kubernetes:batch/v1:CronJob")
    assert held.inputs["metadata"]["name"].startswith("api-migrate-down-")
    assert held.inputs["spec"]["suspend"] is True
    assert rollout.urn in held.dependencies
    assert [r for r in resources if r.type == "kubernetes:batch/v1:Job"] == []


def test_aws_identity_is_pod_identity_with_a_least_privilege_policy() -> None:
    resources = component("aws-canary").resources
    role = one(resources, "aws:iam/role:Role")
    assert json.loads(role.inputs["assumeRolePolicy"])["Statement"][0]["Principal"] == {
        "Service": "pods.eks.amazonaws.com"
    }
    policy = json.loads(one(resources, "aws:iam/rolePolicy:RolePolicy").inputs["policy"])
    assert [s["Action"] for s in policy["Statement"]] == [["cloudwatch:PutMetricData"]]
    assert policy["Statement"][0]["Condition"] == {
        "StringEquals": {"cloudwatch:namespace": "platform-test/api"}
    }
    association = one(resources, "aws:eks/podIdentityAssociation:PodIdentityAssociation")
    assert (association.inputs["namespace"], association.inputs["serviceAccount"]) == ("platform-api", "api")


def test_alb_ingress_gets_the_certificate_and_reports_its_dns_name() -> None:
    synthesis = component("aws-canary")
    ingress = find(api_manifests(synthesis), "Ingress")
    annotations = ingress["metadata"]["annotations"]
    assert annotations["alb.ingress.kubernetes.io/certificate-arn"] == CERTIFICATE
    assert annotations["alb.ingress.kubernetes.io/ssl-policy"] == ALB_SSL_POLICY
    assert annotations["alb.ingress.kubernetes.io/load-balancer-attributes"] == (
        "deletion_protection.enabled=true"
    )
    assert synthesis.outputs["origin"].endswith(".eu-west-1.elb.amazonaws.com")


def test_local_cluster_gets_ingress_nginx_and_a_cert_manager_certificate() -> None:
    synthesis = component("local-rolling")
    assert [r for r in synthesis.resources if r.type.startswith("aws:")] == []
    (release,) = synthesis.by_type("kubernetes:helm.sh/v3:Release")
    assert (release.inputs["chart"], release.inputs["version"]) == (INGRESS_NGINX.name, INGRESS_NGINX.version)
    assert release.inputs["namespace"] == "ingress-nginx"
    namespace = one(synthesis.resources, "kubernetes:core/v1:Namespace")
    # The controller binds hostPorts 80/443; Pod Security's `baseline` level refuses any hostPort.
    assert release.inputs["values"]["controller"]["hostPort"]["enabled"] is True
    assert namespace.inputs["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "privileged"
    ingress = find(api_manifests(synthesis), "Ingress")
    assert ingress["metadata"]["annotations"]["cert-manager.io/cluster-issuer"] == "public"
    assert ingress["spec"]["tls"][0]["secretName"] == "api-tls"
    assert synthesis.outputs["origin"] == "localhost"


# ----------------------------------------------------------------------------------------------
# The image registry


def registry_problems(resources: list[Registration]) -> list[str]:
    """ECR repositories that are mutable, unscanned, not KMS-encrypted, or pullable by anyone."""
    problems: list[str] = []
    for repo in (r for r in resources if r.type == ECR):
        name = repo.inputs.get("name")
        if repo.inputs.get("imageTagMutability") != "IMMUTABLE":
            problems.append(f"{name}: tags are mutable")
        if not (repo.inputs.get("imageScanningConfiguration") or {}).get("scanOnPush"):
            problems.append(f"{name}: images are not scanned on push")
        if [e.get("encryptionType") for e in repo.inputs.get("encryptionConfigurations", [])] != ["KMS"]:
            problems.append(f"{name}: not encrypted with KMS")
        siblings = [r for r in resources if r.parent == repo.parent]
        lifecycle = [r for r in siblings if r.type == "aws:ecr/lifecyclePolicy:LifecyclePolicy"]
        if not lifecycle:
            problems.append(f"{name}: no lifecycle policy")
        policies = [r for r in siblings if r.type == "aws:ecr/repositoryPolicy:RepositoryPolicy"]
        denies = [
            s
            for p in policies
            for s in json.loads(p.inputs["policy"])["Statement"]
            if s["Effect"] == "Deny" and s["Principal"] == "*" and LAYER_DOWNLOAD in s["Action"]
        ]
        if not denies:
            problems.append(f"{name}: no policy denies pulls to principals other than the nodes")
        # A push needs these (AWS: "IAM permissions for pushing an image"); a Deny on any stops CI.
        push = {"ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:PutImage", "ecr:UploadLayerPart"}
        if any(push & set(s["Action"]) for s in denies):
            problems.append(f"{name}: the deny also blocks pushes")
    return problems


def test_registry_is_immutable_scanned_encrypted_expiring_and_node_only() -> None:
    resources = component("aws-canary").resources
    repo = one(resources, ECR)
    assert repo.inputs["name"] == "platform/api"
    assert repo.protect
    assert registry_problems(resources) == []


@pytest.mark.parametrize(
    ("field", "broken", "problem"),
    [
        ("imageTagMutability", "MUTABLE", "mutable"),
        ("imageScanningConfiguration", {"scanOnPush": False}, "not scanned"),
        ("encryptionConfigurations", [{"encryptionType": "AES256"}], "KMS"),
    ],
)
def test_registry_check_catches_a_weakened_repository(field: str, broken: Any, problem: str) -> None:
    resources = component("aws-canary").resources
    repo = one(resources, ECR)
    weakened = copy.copy(repo)
    weakened.inputs = {**repo.inputs, field: broken}
    assert any(problem in p for p in registry_problems([weakened if r is repo else r for r in resources]))


def test_registry_check_catches_a_deny_that_blocks_pushes() -> None:
    resources = component("aws-canary").resources
    policy = next(r for r in resources if r.type == "aws:ecr/repositoryPolicy:RepositoryPolicy")
    document = json.loads(policy.inputs["policy"])
    for statement in document["Statement"]:
        if statement["Effect"] == "Deny":
            statement["Action"] = [*statement["Action"], "ecr:BatchGetImage"]
    broken = copy.copy(policy)
    broken.inputs = {**policy.inputs, "policy": json.dumps(document)}
    assert registry_problems([broken if r is policy else r for r in resources]) == [
        "platform/api: the deny also blocks pushes"
    ]


def test_registry_check_catches_a_missing_deny() -> None:
    resources = component("aws-canary").resources
    without_policy = [r for r in resources if r.type != "aws:ecr/repositoryPolicy:RepositoryPolicy"]
    assert registry_problems(without_policy) == [
        "platform/api: no policy denies pulls to principals other than the nodes"
    ]


def test_repository_policy_allows_the_nodes_and_denies_every_other_principal() -> None:
    statements = {s["Sid"]: s for s in json.loads(repository_policy(NODE_ROLES))["Statement"]}
    allow, deny = statements["ClusterNodesPull"], statements["NobodyElsePulls"]
    assert allow["Condition"] == {"ArnLike": {"aws:PrincipalArn": NODE_ROLES}}
    assert allow["Principal"] == {"AWS": [f"arn:aws:iam::{ACCOUNT}:root"]}
    assert deny["Condition"] == {"ArnNotLike": {"aws:PrincipalArn": NODE_ROLES}}
    assert deny["Action"] == ["ecr:GetDownloadUrlForLayer"]
    with pytest.raises(ValueError, match="at least one principal"):
        repository_policy([])


def test_lifecycle_policy_expires_untagged_images_and_keeps_the_newest_tagged() -> None:
    rules = json.loads(lifecycle_policy(RegistrySettings(keep_images=30, untagged_expiry_days=3)))["rules"]
    assert [r["selection"]["tagStatus"] for r in rules] == ["untagged", "tagged"]
    assert rules[0]["selection"]["countNumber"] == 3
    assert rules[1]["selection"] | {"tagPatternList": None} == {
        "tagStatus": "tagged",
        "tagPatternList": None,
        "countType": "imageCountMoreThan",
        "countNumber": 30,
    }


@pytest.mark.parametrize(
    ("repository", "expected"),
    [
        (f"{ACCOUNT}.dkr.ecr.eu-west-1.amazonaws.com/platform/api", "platform/api"),
        ("999988887777.dkr.ecr.eu-west-1.amazonaws.com/platform/api", None),
        ("ghcr.io/example/api", None),
    ],
)
def test_only_an_image_in_the_accounts_ecr_gets_a_repository(repository: str, expected: str | None) -> None:
    settings = ApiSettings.model_validate({"image": {"repository": repository, "tag": "1"}})
    assert ecr_repository_name(settings, ACCOUNT) == expected


# ----------------------------------------------------------------------------------------------
# `platform:api` in the stack config


@pytest.mark.parametrize(
    ("stack", "mutate", "message"),
    [
        (
            "prod",
            lambda api: api.update(strategy={"type": "rolling"}),
            "platform:api.strategy.type: protection level 'production': 'rolling' has no analysis",
        ),
        (
            "uat",
            lambda api: api["strategy"].update(autoPromotion=True, prePromotionAnalysis=False),
            "platform:api.strategy.prePromotionAnalysis: protection level 'standard'",
        ),
        (
            "prod",
            lambda api: api["strategy"].update(backgroundAnalysis=False),
            "platform:api.strategy.backgroundAnalysis:",
        ),
        (
            "prod",
            lambda api: api["image"].update(repository="ghcr.io/example/api"),
            "platform:api.image.repository: nodes pull only from the stack's own registry",
        ),
        (
            "prod",
            lambda api: api.update(replicas=2, pdbMinAvailable=1),
            "platform:api.replicas: protection level",
        ),
        (
            "prod",
            lambda api: api["image"].update(tag="latest"),
            "platform:api.image.tag: tag 'latest' is mutable",
        ),
        ("dev", lambda api: api["image"].update(tag=""), "platform:api.image.tag: tag is empty"),
        (
            "prod",
            lambda api: api["strategy"]["steps"][1].update(setWeight=5),
            r"platform:api.strategy: steps\[1\].setWeight=5 must be greater .*\(value: \{",
        ),
        ("staging", lambda api: api["analysis"].update(successRate=1.5), "platform:api.analysis.successRate"),
        (
            "dev",
            lambda api: api.update(replicas=1, pdbMinAvailable=1),
            "replicas=1 must be at least pdbMinAvailable",
        ),
    ],
)
def test_bad_api_config_is_refused_with_the_key_and_value(stack: str, mutate: Any, message: str) -> None:
    values = copy.deepcopy(stack_values(stack))
    mutate(values["api"])
    with pytest.raises(ConfigError, match=message):
        validate(values)


def test_local_api_needs_the_ingress_class_its_controller_serves() -> None:
    values = copy.deepcopy(stack_values("dev"))
    values["cloud"]["ingressClass"] = "traefik"
    with pytest.raises(ConfigError, match=r"platform:cloud\.ingressClass: .*\(value: \"traefik\"\)"):
        validate(values)


def test_manual_blue_green_is_allowed_without_analysis_where_analysis_is_required() -> None:
    values = copy.deepcopy(stack_values("uat"))
    values["api"]["strategy"]["prePromotionAnalysis"] = False
    assert validate(values).api is not None


def test_aws_api_needs_a_dns_provider_for_its_certificate() -> None:
    values = copy.deepcopy(stack_values("staging"))
    del values["domain"]["dns"]
    values.pop("edge", None)
    values["tls"] = {"publicIssuer": "self-signed"}
    with pytest.raises(ConfigError, match=r"platform:domain\.dns: the API's load balancer serves HTTPS only"):
        validate(values)


# ----------------------------------------------------------------------------------------------
# The API tier of every stack


def stack_api(stack: str) -> list[dict[str, Any]]:
    objects = api_manifests(synthesized(stack))
    assert objects, f"{stack} deploys no API"
    return objects


def rollout_problems(objects: list[dict[str, Any]]) -> list[str]:
    """A self-promoting Rollout that `pulumi up` would not wait for, or one without analysis."""
    problems = []
    for rollout in (m for m in objects if m["kind"] == "Rollout"):
        strategy = rollout["spec"]["strategy"]
        annotations = rollout["metadata"].get("annotations") or {}
        automatic = strategy.get("blueGreen", {}).get("autoPromotionEnabled", True) and not any(
            step.get("pause") == {} for step in strategy.get("canary", {}).get("steps", [])
        )
        if automatic and annotations.get(WAIT_FOR_ANNOTATION) != "jsonpath={.status.phase}=Healthy":
            problems.append(f"{rollout['metadata']['name']}: promotes itself but pulumi up does not wait")
        gate = strategy.get("blueGreen", {}).get("prePromotionAnalysis") or strategy.get("canary", {}).get(
            "analysis"
        )
        if automatic and not gate:
            problems.append(f"{rollout['metadata']['name']}: promotes itself without analysis")
    return problems


def test_prod_canary_shifts_traffic_through_the_alb_in_steps_with_analysis() -> None:
    objects = stack_api("prod")
    rollout = find(objects, "Rollout")
    canary = rollout["spec"]["strategy"]["canary"]
    assert [s["setWeight"] for s in canary["steps"] if "setWeight" in s] == [10, 25, 50, 100]
    assert canary["trafficRouting"]["alb"]["ingress"] == "api"
    assert canary["analysis"]["templates"] == [{"templateName": "api-analysis"}]
    template = find(objects, "AnalysisTemplate")
    assert {m["provider"]["prometheus"]["address"] for m in template["spec"]["metrics"]} == {
        "http://prometheus-operated.platform-monitoring.svc:9090"
    }
    assert "result[0] >= 0.995" in template["spec"]["metrics"][0]["successCondition"]
    assert rollout_problems(objects) == []
    ingress = find(objects, "Ingress")
    assert ingress["metadata"]["annotations"]["alb.ingress.kubernetes.io/certificate-arn"].startswith(
        "arn:aws:acm:eu-west-1:210000000003:"
    )
    assert synthesized("prod").outputs["apiOriginHostname"].endswith(".elb.amazonaws.com")


@pytest.mark.parametrize(("stack", "auto"), [("staging", True), ("uat", False)])
def test_blue_green_promotes_by_itself_only_where_configured(stack: str, auto: bool) -> None:
    objects = stack_api(stack)
    rollout = find(objects, "Rollout")
    blue_green = rollout["spec"]["strategy"]["blueGreen"]
    assert blue_green["autoPromotionEnabled"] is auto
    assert blue_green["prePromotionAnalysis"]["templates"] == [{"templateName": "api-analysis"}]
    assert (WAIT_FOR_ANNOTATION in (rollout["metadata"].get("annotations") or {})) is auto
    assert {find(objects, "Service", n)["metadata"]["name"] for n in ("api", "api-preview")} == {
        "api",
        "api-preview",
    }
    assert rollout_problems(objects) == []


def test_rollout_check_catches_a_self_promoting_rollout_nobody_waits_for() -> None:
    objects = copy.deepcopy(stack_api("staging"))
    find(objects, "Rollout")["metadata"]["annotations"].pop(WAIT_FOR_ANNOTATION)
    assert rollout_problems(objects) == ["api: promotes itself but pulumi up does not wait"]


def test_dev_rolls_a_deployment_behind_ingress_nginx_without_argo() -> None:
    dev = synthesized("dev")
    objects = stack_api("dev")
    deployment = find(objects, "Deployment")
    assert deployment["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    assert find(objects, "Ingress")["spec"]["ingressClassName"] == "nginx"
    charts = {r.inputs["chart"]: r.inputs["version"] for r in dev.by_type("kubernetes:helm.sh/v3:Release")}
    assert charts.get(INGRESS_NGINX.name) == INGRESS_NGINX.version
    assert ARGO_ROLLOUTS.name not in charts


@pytest.mark.parametrize("stack", ["staging", "uat", "prod"])
def test_argo_rollouts_is_pinned_with_metrics_where_a_rollout_needs_it(stack: str) -> None:
    releases = [
        r
        for r in synthesized(stack).by_type("kubernetes:helm.sh/v3:Release")
        if r.inputs["chart"] == "argo-rollouts"
    ]
    assert [(r.inputs["version"], r.inputs["namespace"]) for r in releases] == [
        (ARGO_ROLLOUTS.version, "argo-rollouts")
    ]
    assert releases[0].inputs["values"]["controller"]["metrics"]["enabled"] is True


def network_problems(objects: list[dict[str, Any]], ingress_peers: list[dict[str, Any]]) -> list[str]:
    """API NetworkPolicies that do not deny by default or that allow more than the needed peers."""
    policies = {m["metadata"]["name"]: m["spec"] for m in objects if m["kind"] == "NetworkPolicy"}
    problems = []
    deny = policies.get("default-deny-all")
    if deny != {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}:
        problems.append("no default deny of all ingress and egress")
    api = policies.get("api-api", {})
    sources = [peer for rule in api.get("ingress", []) for peer in rule.get("from", [])]
    if sources != [
        *ingress_peers,
        {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "platform-monitoring"}}},
    ]:
        problems.append(f"API ingress from {sources}")
    # Pods and nodes live in the private subnets: an IP range admitting them bypasses the load balancer.
    private = [
        ipaddress.ip_network(p.private) for p in plan_subnets(ipaddress.ip_network(VPC_CIDR), ZONES).values()
    ]
    for peer in sources:
        cidr = peer.get("ipBlock", {}).get("cidr")
        if cidr and any(ipaddress.ip_network(cidr).overlaps(p) for p in private):
            problems.append(f"API ingress from {cidr} admits pods and nodes around the load balancer")
    ports = sorted(p["port"] for rule in api.get("egress", []) for p in rule.get("ports", []))
    if len(api.get("egress", [])) != 3 or any(not rule.get("to") for rule in api.get("egress", [])):
        problems.append(f"API egress beyond DNS, PgBouncer and Redis: ports {ports}")
    return problems


@pytest.mark.parametrize(
    ("stack", "ingress_peer"),
    [
        ("dev", [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "ingress-nginx"}}}]),
        ("prod", PROD_ALB_PEERS),
    ],
)
def test_api_network_policies_deny_by_default_and_allow_only_needed_peers(
    stack: str, ingress_peer: list[dict[str, Any]]
) -> None:
    assert network_problems(stack_api(stack), ingress_peer) == []


def test_network_check_catches_an_ingress_range_that_admits_the_pods() -> None:
    objects = copy.deepcopy(stack_api("prod"))
    policy = find(objects, "NetworkPolicy", "api-api")["spec"]
    policy["ingress"][0]["from"] = [{"ipBlock": {"cidr": VPC_CIDR}}]
    problems = network_problems(objects, [{"ipBlock": {"cidr": VPC_CIDR}}])
    assert problems == [f"API ingress from {VPC_CIDR} admits pods and nodes around the load balancer"]


def test_network_check_catches_an_open_egress() -> None:
    objects = copy.deepcopy(stack_api("prod"))
    find(objects, "NetworkPolicy", "api-api")["spec"]["egress"].append({"ports": [{"port": 443}]})
    assert network_problems(objects, PROD_ALB_PEERS) != []


@pytest.mark.parametrize("stack", ["dev", "staging", "uat", "prod"])
def test_every_stack_api_object_is_schema_valid_and_its_secrets_are_secret(stack: str) -> None:
    objects = stack_api(stack)
    assert validate_manifests(objects) == []
    assert {v for m in objects if m["kind"] == "Secret" for v in m["stringData"].values()} == {SECRET}


def unrouted_annotation_backends(objects: list[dict[str, Any]]) -> list[str]:
    """Ingress backends on port `use-annotation` that nothing fills in: the ALB controller builds no ALB.

    The action comes from the Ingress's own `alb.ingress.kubernetes.io/actions.<service>` annotation, or
    from a canary Rollout whose ALB traffic routing names that service (Argo Rollouts writes it).
    """
    routed = set()
    for rollout in (m for m in objects if m["kind"] == "Rollout"):
        canary = rollout["spec"]["strategy"].get("canary", {})
        alb = canary.get("trafficRouting", {}).get("alb")
        if alb:
            routed.add(alb.get("rootService") or canary.get("stableService"))
    problems = []
    for ingress in (m for m in objects if m["kind"] == "Ingress"):
        annotations = ingress["metadata"].get("annotations") or {}
        for rule in ingress["spec"].get("rules", []):
            for path in rule.get("http", {}).get("paths", []):
                service = path["backend"].get("service") or {}
                if service.get("port", {}).get("name") != "use-annotation":
                    continue
                name = service["name"]
                if f"alb.ingress.kubernetes.io/actions.{name}" not in annotations and name not in routed:
                    problems.append(f"{ingress['metadata']['name']}: {path['path']} -> {name} has no action")
    return problems


@pytest.mark.parametrize("stack", ["dev", "staging", "uat", "prod"])
def test_every_use_annotation_backend_has_an_action(stack: str) -> None:
    assert unrouted_annotation_backends(stack_api(stack)) == []


@pytest.mark.parametrize("stack", ["staging", "uat"])
def test_blue_green_ingress_routes_to_the_active_service_by_port(stack: str) -> None:
    objects = stack_api(stack)
    root = find(objects, "Ingress")["spec"]["rules"][0]["http"]["paths"][-1]
    assert root["backend"]["service"] == {"name": "api", "port": {"number": 80}}
    assert "trafficRouting" not in find(objects, "Rollout")["spec"]["strategy"]["blueGreen"]


def test_annotation_check_catches_a_blue_green_ingress_waiting_for_a_canary_action() -> None:
    objects = copy.deepcopy(stack_api("staging"))
    root = find(objects, "Ingress")["spec"]["rules"][0]["http"]["paths"][-1]
    root["backend"]["service"]["port"] = {"name": "use-annotation"}
    assert unrouted_annotation_backends(objects) == ["api: / -> api has no action"]


def local_controller_problems(values: dict[str, Any]) -> list[str]:
    """ingress-nginx values that leave a local cluster's atomic release waiting for a load balancer."""
    controller = values.get("controller", {})
    problems = []
    if controller.get("service", {}).get("type", "LoadBalancer") == "LoadBalancer":
        problems.append("controller Service is a LoadBalancer: no address on a local cluster")
    if not controller.get("hostPort", {}).get("enabled"):
        problems.append("controller does not bind the node's ports 80/443")
    if controller.get("publishService", {}).get("enabled", True):
        problems.append("Ingress status is published from the controller Service")
    if controller.get("extraArgs", {}).get("report-node-internal-ip-address") != "true":
        problems.append("Ingress status does not report the node's address")
    return problems


def test_dev_ingress_nginx_serves_on_node_ports_without_a_load_balancer() -> None:
    releases = synthesized("dev").by_type("kubernetes:helm.sh/v3:Release")
    nginx = [r for r in releases if r.inputs["chart"] == INGRESS_NGINX.name]
    assert len(nginx) == 1
    assert local_controller_problems(nginx[0].inputs["values"]) == []


def test_local_controller_check_catches_a_load_balancer_service() -> None:
    releases = synthesized("dev").by_type("kubernetes:helm.sh/v3:Release")
    nginx = next(r.inputs["values"] for r in releases if r.inputs["chart"] == INGRESS_NGINX.name)
    broken = copy.deepcopy(nginx)
    broken["controller"]["service"] = {"type": "LoadBalancer"}
    assert local_controller_problems(broken) == [
        "controller Service is a LoadBalancer: no address on a local cluster"
    ]


def test_annotation_check_catches_a_canary_ingress_whose_rollout_lost_its_alb_routing() -> None:
    objects = copy.deepcopy(stack_api("prod"))
    assert unrouted_annotation_backends(objects) == []
    del find(objects, "Rollout")["spec"]["strategy"]["canary"]["trafficRouting"]
    assert unrouted_annotation_backends(objects) == ["api: / -> api has no action"]


# -- nothing bypasses the CDN --------------------------------------------------------------------


def cdn_bypasses(resources: list[Registration]) -> list[str]:
    """Internet-facing ALB Ingresses that admit more than the CDN in front of them."""
    from components.edge_render import CLOUDFLARE_IPV4

    groups = {r.outputs.get("id"): r for r in resources if r.type == "aws:ec2/securityGroup:SecurityGroup"}
    problems = []
    for r in resources:
        if r.type != "kubernetes:networking.k8s.io/v1:Ingress":
            continue
        notes = r.inputs["metadata"].get("annotations", {})
        if notes.get("alb.ingress.kubernetes.io/scheme") != "internet-facing":
            continue
        cidrs = notes.get("alb.ingress.kubernetes.io/inbound-cidrs")
        group = groups.get(notes.get("alb.ingress.kubernetes.io/security-groups"))
        if cidrs is not None:
            if sorted(cidrs.split(",")) != sorted(CLOUDFLARE_IPV4):
                problems.append(f"{r.urn}: inbound CIDRs {cidrs} are not the CDN's")
        elif group is not None:
            rules = group.inputs.get("ingress", [])
            if any(rule.get("cidrBlocks") or rule.get("ipv6CidrBlocks") for rule in rules) or not rules:
                problems.append(
                    f"{r.urn}: its security group admits addresses, not only the CDN's prefix list"
                )
        else:
            problems.append(f"{r.urn}: an internet-facing ALB open to everyone")
    return problems


@pytest.mark.parametrize("stack", ["staging", "uat", "prod"])
def test_the_api_load_balancer_admits_only_the_cdn(stack: str) -> None:
    resources = synthesized(stack).resources
    assert cdn_bypasses(resources) == []
    ingress = next(
        r
        for r in resources
        if r.type == "kubernetes:networking.k8s.io/v1:Ingress" and r.name.startswith("api-")
    )
    notes = ingress.inputs["metadata"]["annotations"]
    if stack == "uat":  # Cloudflare
        assert "alb.ingress.kubernetes.io/inbound-cidrs" in notes
    else:  # CloudFront: HTTPS from its origin-facing prefix list only
        group = next(r for r in resources if r.name == "api-alb-from-cloudfront")
        (rule,) = group.inputs["ingress"]
        assert (rule["fromPort"], rule["toPort"], rule["prefixListIds"]) == (
            443,
            443,
            [rule["prefixListIds"][0]],
        )
        assert notes["alb.ingress.kubernetes.io/security-groups"] == group.outputs["id"]


def test_cdn_bypass_check_catches_an_open_load_balancer() -> None:
    resources = synthesized("prod").resources
    ingress = next(
        r
        for r in resources
        if r.type == "kubernetes:networking.k8s.io/v1:Ingress" and r.name.startswith("api-")
    )
    metadata = copy.deepcopy(ingress.inputs["metadata"])
    del metadata["annotations"]["alb.ingress.kubernetes.io/security-groups"]
    broken = Registration(**{**ingress.__dict__, "inputs": {**ingress.inputs, "metadata": metadata}})
    assert cdn_bypasses([broken]) == [f"{ingress.urn}: an internet-facing ALB open to everyone"]
