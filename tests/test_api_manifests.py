"""The API tier's manifests: settings validation, each release strategy, and real schema checks.

Every rendered object goes through ``tests/k8s_validation.py`` (strict Kubernetes schemas of the
pinned version, CRD schemas for Argo Rollouts), and the checks are shown to fail on broken input.
"""

from __future__ import annotations

import copy
import subprocess
from decimal import Decimal
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from components.api_manifests import (
    ALB_SSL_POLICY,
    API_SECRET_KEYS,
    WAIT_FOR_ANNOTATION,
    ApiContext,
    ApiImage,
    ApiSettings,
    Backend,
    CanaryStep,
    Peer,
    argo_rollouts_values,
    canary_weights,
    environment_problem,
    image_hash,
    ingress_nginx_values,
    parse_quantity,
    render_api_manifests,
    render_down_migration_job,
    render_migration_job,
    render_secret,
    rollout_timeout_seconds,
    validate_for_environment,
)
from tests.k8s_validation import (
    KUBERNETES_VERSION,
    assert_valid,
    pod_lifecycle_handler_fields,
    schemas_available,
    validate_manifests,
)
from tests.tools import need, require_tool

IMAGE = {"repository": "123456789012.dkr.ecr.eu-west-1.amazonaws.com/api", "tag": "1.4.2"}
DIGEST = "sha256:" + "a" * 64
VPC = Peer(cidr="10.0.0.0/16")
MONITORING = Peer(namespace_labels={"kubernetes.io/metadata.name": "monitoring"})
PGBOUNCER = Backend(Peer(pod_labels={"app.kubernetes.io/name": "pgbouncer"}), 5432)
REDIS = Backend(Peer(cidr="10.0.64.0/20"), 6379)


def make_ctx(**overrides: Any) -> ApiContext:
    fields: dict[str, Any] = {
        "namespace": "api",
        "name": "api",
        "environment": "prod",
        "labels": {"app.kubernetes.io/part-of": "platform", "platform/environment": "prod"},
        "service_account_name": "api",
        "secret_name": "api-env",
        "migration_secret_name": "api-migrations",
        "ingress_class": "alb",
        "hostname": "api.example.com",
        "certificate_arn": "arn:aws:acm:eu-west-1:123456789012:certificate/0b1c",
        "pgbouncer": PGBOUNCER,
        "redis": REDIS,
        "ingress_from": VPC,
        "prometheus_from": MONITORING,
        "prometheus_address": "http://prometheus-operated.monitoring.svc:9090",
        "service_account_annotations": {"eks.amazonaws.com/role-arn": "arn:aws:iam::123456789012:role/api"},
    }
    return ApiContext(**{**fields, **overrides})


NGINX = {
    "ingress_class": "nginx",
    "certificate_arn": None,
    "tls_secret_name": "api-tls",
    "ingress_from": Peer(namespace_labels={"kubernetes.io/metadata.name": "ingress-nginx"}),
    "service_account_annotations": {},
}

CANARY = {
    "type": "canary",
    "steps": [
        {"setWeight": 10, "pauseSeconds": 300},
        {"setWeight": 25, "pauseSeconds": 300},
        {"setWeight": 50, "pauseUntilPromoted": True},
    ],
}

# name -> (strategy block, ApiContext overrides)
CASES: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
    "rolling": ({"type": "rolling", "maxSurge": 1}, NGINX),
    "blue-green-auto": ({"type": "blueGreen", "autoPromotionSeconds": 120, "scaleDownDelaySeconds": 45}, {}),
    "blue-green-manual": ({"type": "blueGreen", "autoPromotion": False, "prePromotionAnalysis": False}, {}),
    "canary-alb": (CANARY, {"alb_traffic_routing": True}),
    "canary-no-routing": (CANARY, NGINX),
}


def make_settings(strategy: dict[str, Any] | None = None, **overrides: Any) -> ApiSettings:
    data: dict[str, Any] = {
        "image": IMAGE,
        "replicas": 3,
        "maxReplicas": 9,
        "pdbMinAvailable": 2,
        "analysis": {"successRate": 0.995, "latencyP99Seconds": 0.25, "count": 4, "failureLimit": 1},
        "extraVersions": [{"pathPrefix": "/v1", "image": {**IMAGE, "tag": "0.9.0"}}],
        **({"strategy": strategy} if strategy else {}),
        **overrides,
    }
    return ApiSettings.model_validate(data)


def render_case(case: str) -> list[dict[str, Any]]:
    strategy, ctx_overrides = CASES[case]
    return render_api_manifests(make_settings(strategy), make_ctx(**ctx_overrides))


def one(manifests: list[dict[str, Any]], kind: str, name: str | None = None) -> dict[str, Any]:
    found = [m for m in manifests if m["kind"] == kind and (name is None or m["metadata"]["name"] == name)]
    assert len(found) == 1, f"expected one {kind}/{name}, found {[m['metadata']['name'] for m in found]}"
    return found[0]


def kinds(manifests: list[dict[str, Any]]) -> set[str]:
    return {m["kind"] for m in manifests}


@pytest.fixture(scope="module")
def crd_schemas() -> None:
    """Tests that validate custom resources need the shared CRD schemas."""
    need(schemas_available(), "CRD schemas (SCHEMAS_DIR/crds) are missing")


# ----------------------------------------------------------------------------------------------
# Schema validation of everything rendered


@pytest.mark.parametrize("case", CASES)
def test_every_rendered_manifest_validates_strictly(case: str) -> None:
    strategy, ctx_overrides = CASES[case]
    settings_ = make_settings(strategy)
    ctx = make_ctx(**ctx_overrides)
    other_image = ApiImage(repository=IMAGE["repository"], digest=DIGEST)
    assert_valid(
        [*render_api_manifests(settings_, ctx), render_down_migration_job(settings_, ctx, other_image)]
    )


@pytest.mark.parametrize(
    ("kind", "mutate", "expected"),
    [
        ("Deployment", lambda m: m["spec"].update(replica=3), "'replica' was unexpected"),
        (
            "Deployment",
            lambda m: m["spec"]["template"]["spec"]["containers"][0].update(readOnlyRootFileSystem=True),
            "'readOnlyRootFileSystem' was unexpected",
        ),
        ("Rollout", lambda m: m["spec"]["strategy"]["canary"].update(stepz=[]), "'stepz' was unexpected"),
        (
            "Rollout",
            lambda m: m["spec"]["template"]["spec"]["containers"][0]["securityContext"].update(
                runAsNonroot=True
            ),
            "'runAsNonroot' was unexpected",
        ),
        ("Rollout", lambda m: m["metadata"].update(label={}), "'label' was unexpected"),
        (
            "AnalysisTemplate",
            lambda m: m["spec"]["metrics"][0].update(sucessCondition="true"),
            "'sucessCondition' was unexpected",
        ),
        ("HorizontalPodAutoscaler", lambda m: m["spec"].update(minReplicas="3"), "is not of type"),
        ("Service", lambda m: m["metadata"].update(name="Api_Service"), "not a valid DNS subdomain"),
        ("NetworkPolicy", lambda m: m.update(apiVersion="networking.k8s.io/v2"), "no schema"),
    ],
)
def test_validator_catches_broken_manifests(kind: str, mutate: Any, expected: str, crd_schemas: None) -> None:
    manifests = render_case("canary-alb") + render_case("rolling")
    broken = copy.deepcopy(next(m for m in manifests if m["kind"] == kind))
    assert validate_manifests([broken]) == []
    mutate(broken)
    errors = validate_manifests([broken])
    assert any(expected in error for error in errors), errors


def test_validator_flags_an_object_rendered_twice() -> None:
    service = one(render_case("rolling"), "Service", "api")
    assert any("rendered twice" in error for error in validate_manifests([service, service]))


def test_pre_stop_uses_native_sleep_which_the_pinned_version_supports() -> None:
    assert "sleep" in pod_lifecycle_handler_fields(KUBERNETES_VERSION)
    pod = one(render_case("rolling"), "Deployment", "api")["spec"]["template"]["spec"]
    assert pod["containers"][0]["lifecycle"] == {"preStop": {"sleep": {"seconds": 5}}}
    # Kubernetes 1.28 predates the sleep action: the same manifest fails there.
    assert "sleep" not in pod_lifecycle_handler_fields("1.28")
    assert any(
        "'sleep' was unexpected" in e
        for e in validate_manifests([one(render_case("rolling"), "Deployment", "api")], "1.28")
    )


# ----------------------------------------------------------------------------------------------
# Strategies


def test_rolling_renders_a_deployment_that_never_removes_a_ready_pod_first() -> None:
    manifests = render_case("rolling")
    assert "Rollout" not in kinds(manifests)
    assert "AnalysisTemplate" not in kinds(manifests)
    deployment = one(manifests, "Deployment", "api")
    assert deployment["spec"]["strategy"] == {
        "type": "RollingUpdate",
        "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0},
    }
    assert "replicas" not in deployment["spec"]  # the HPA owns the count
    hpa = one(manifests, "HorizontalPodAutoscaler")
    assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "api"}
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (3, 9)


@pytest.mark.parametrize(
    ("case", "auto", "seconds", "analysis"),
    [("blue-green-auto", True, 120, True), ("blue-green-manual", False, None, False)],
)
def test_blue_green_rollout(case: str, auto: bool, seconds: int | None, analysis: bool) -> None:
    manifests = render_case(case)
    assert "Deployment" not in {m["kind"] for m in manifests if m["metadata"]["name"] == "api"}
    blue_green = one(manifests, "Rollout", "api")["spec"]["strategy"]["blueGreen"]
    assert blue_green["activeService"] == "api"
    assert blue_green["previewService"] == "api-preview"
    assert blue_green["autoPromotionEnabled"] is auto
    assert blue_green.get("autoPromotionSeconds") == seconds
    assert blue_green["scaleDownDelaySeconds"] == (45 if auto else 30)
    assert ("prePromotionAnalysis" in blue_green) is analysis
    one(manifests, "Service", "api-preview")
    hpa = one(manifests, "HorizontalPodAutoscaler")
    assert hpa["spec"]["scaleTargetRef"] == {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Rollout",
        "name": "api",
    }
    if analysis:
        assert blue_green["prePromotionAnalysis"]["templates"] == [{"templateName": "api-analysis"}]
        # A pre-promotion analysis must end, so its measurements are counted.
        metrics = one(manifests, "AnalysisTemplate")["spec"]["metrics"]
        assert {m["count"] for m in metrics} == {4}


@pytest.mark.parametrize("case", ["canary-alb", "canary-no-routing"])
def test_canary_rollout_steps_services_and_background_analysis(case: str) -> None:
    manifests = render_case(case)
    canary = one(manifests, "Rollout", "api")["spec"]["strategy"]["canary"]
    assert canary["steps"] == [
        {"setWeight": 10},
        {"pause": {"duration": 300}},
        {"setWeight": 25},
        {"pause": {"duration": 300}},
        {"setWeight": 50},
        {"pause": {}},
        {"setWeight": 100},
    ]
    assert (canary["stableService"], canary["canaryService"]) == ("api-stable", "api-canary")
    assert canary["maxUnavailable"] == 0
    assert canary["analysis"]["templates"] == [{"templateName": "api-analysis"}]
    assert canary["analysis"]["args"] == [
        {"name": "pod-template-hash", "valueFrom": {"podTemplateHashValue": "Latest"}}
    ]
    # Background analysis watches the whole canary: no count.
    assert all("count" not in m for m in one(manifests, "AnalysisTemplate")["spec"]["metrics"])
    for service in ("api", "api-stable", "api-canary"):
        one(manifests, "Service", service)


def test_canary_on_alb_routes_traffic_through_weighted_target_groups() -> None:
    manifests = render_case("canary-alb")
    canary = one(manifests, "Rollout")["spec"]["strategy"]["canary"]
    assert canary["trafficRouting"] == {"alb": {"ingress": "api", "rootService": "api", "servicePort": 80}}
    paths = one(manifests, "Ingress", "api")["spec"]["rules"][0]["http"]["paths"]
    root = next(p for p in paths if p["path"] == "/")
    assert root["backend"] == {"service": {"name": "api", "port": {"name": "use-annotation"}}}


def test_canary_without_alb_splits_by_replicas_through_the_root_service() -> None:
    manifests = render_case("canary-no-routing")
    assert "trafficRouting" not in one(manifests, "Rollout")["spec"]["strategy"]["canary"]
    paths = one(manifests, "Ingress", "api")["spec"]["rules"][0]["http"]["paths"]
    assert next(p for p in paths if p["path"] == "/")["backend"]["service"] == {
        "name": "api",
        "port": {"number": 80},
    }


def test_analysis_queries_carry_the_configured_thresholds() -> None:
    template = one(render_case("canary-alb"), "AnalysisTemplate", "api-analysis")
    metrics = {m["name"]: m for m in template["spec"]["metrics"]}
    success, latency = metrics["success-rate"], metrics["latency-p99"]
    assert success["successCondition"].endswith("result[0] >= 0.995")
    assert latency["successCondition"].endswith("result[0] <= 0.25")
    assert 'status!~"5.*"' in success["provider"]["prometheus"]["query"]
    assert "histogram_quantile(0.99," in latency["provider"]["prometheus"]["query"]
    for metric in metrics.values():
        assert metric["failureLimit"] == 1
        assert metric["interval"] == "1m"
        query = metric["provider"]["prometheus"]["query"]
        assert 'pod=~"api-{{args.pod-template-hash}}-.*"' in query
        assert metric["provider"]["prometheus"]["address"] == "http://prometheus-operated.monitoring.svc:9090"


# ----------------------------------------------------------------------------------------------
# Pod spec, policies, ingress, jobs


def pod_spec(case: str = "canary-alb") -> dict[str, Any]:
    workload = next(m for m in render_case(case) if m["kind"] in ("Deployment", "Rollout"))
    return workload["spec"]["template"]["spec"]


def test_pod_runs_restricted_with_probes_on_the_configured_paths() -> None:
    spec = pod_spec()
    container = spec["containers"][0]
    assert container["securityContext"] == {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "runAsNonRoot": True,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    assert spec["securityContext"]["runAsNonRoot"] is True
    assert {"name": "tmp", "mountPath": "/tmp"} in container["volumeMounts"]
    assert {
        p: container[p]["httpGet"]["path"] for p in ("startupProbe", "readinessProbe", "livenessProbe")
    } == {
        "startupProbe": "/healthz",
        "readinessProbe": "/readyz",
        "livenessProbe": "/healthz",
    }
    assert container["ports"] == [{"name": "http", "containerPort": 8000, "protocol": "TCP"}]
    assert container["resources"] == {
        "requests": {"cpu": "250m", "memory": "256Mi"},
        "limits": {"cpu": "1", "memory": "512Mi"},
    }
    assert {t["topologyKey"] for t in spec["topologySpreadConstraints"]} == {
        "topology.kubernetes.io/zone",
        "kubernetes.io/hostname",
    }
    secret_env = {e["name"] for e in container["env"] if "valueFrom" in e}
    assert secret_env == set(API_SECRET_KEYS)
    plain_env = {e["name"]: e["value"] for e in container["env"] if "value" in e}
    assert plain_env["RATE_LIMIT_REQUESTS_PER_MINUTE"] == "600"
    assert spec["terminationGracePeriodSeconds"] == 30


def test_configured_paths_and_port_reach_probes_and_the_health_check() -> None:
    settings_ = make_settings(
        {"type": "rolling"},
        containerPort=9000,
        paths={"readiness": "/ready", "liveness": "/live", "startup": "/up"},
    )
    manifests = render_api_manifests(settings_, make_ctx())
    container = one(manifests, "Deployment", "api")["spec"]["template"]["spec"]["containers"][0]
    assert container["readinessProbe"]["httpGet"]["path"] == "/ready"
    assert container["livenessProbe"]["httpGet"]["path"] == "/live"
    assert container["startupProbe"]["httpGet"]["path"] == "/up"
    annotations = one(manifests, "Ingress")["metadata"]["annotations"]
    assert annotations["alb.ingress.kubernetes.io/healthcheck-path"] == "/ready"
    policy = one(manifests, "NetworkPolicy", "api-api")
    assert policy["spec"]["ingress"][0]["ports"] == [{"protocol": "TCP", "port": 9000}]


@pytest.mark.parametrize("case", CASES)
def test_every_object_carries_the_common_labels(case: str) -> None:
    for manifest in render_case(case):
        labels = manifest["metadata"]["labels"]
        assert labels["app.kubernetes.io/part-of"] == "platform", manifest["kind"]
        assert labels["app.kubernetes.io/name"] == "api"
        assert labels["app.kubernetes.io/component"]
        assert manifest["metadata"]["namespace"] == "api"


def test_network_policies_deny_by_default_and_allow_only_the_needed_peers() -> None:
    manifests = render_case("canary-alb")
    deny = one(manifests, "NetworkPolicy", "default-deny-all")["spec"]
    assert deny == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}
    api = one(manifests, "NetworkPolicy", "api-api")["spec"]
    assert [rule["from"] for rule in api["ingress"]] == [
        [{"ipBlock": {"cidr": "10.0.0.0/16"}}],
        [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}],
    ]
    egress = {(rule["ports"][0]["port"], str(rule["to"])) for rule in api["egress"]}
    assert egress == {
        (
            53,
            str(
                [
                    {
                        "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}},
                        "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}},
                    }
                ]
            ),
        ),
        (5432, str([{"podSelector": {"matchLabels": {"app.kubernetes.io/name": "pgbouncer"}}}])),
        (6379, str([{"ipBlock": {"cidr": "10.0.64.0/20"}}])),
    }
    dns = next(rule for rule in api["egress"] if rule["ports"][0]["port"] == 53)
    assert {p["protocol"] for p in dns["ports"]} == {"UDP", "TCP"}
    # The API's policy must select the API pods (and not the migration pods).
    template_labels = one(manifests, "Rollout")["spec"]["template"]["metadata"]["labels"]
    assert api["podSelector"]["matchLabels"].items() <= template_labels.items()
    job_labels = one(manifests, "Job")["spec"]["template"]["metadata"]["labels"]
    assert not api["podSelector"]["matchLabels"].items() <= job_labels.items()
    migration = one(manifests, "NetworkPolicy", "api-migration")["spec"]
    assert migration["podSelector"]["matchLabels"].items() <= job_labels.items()


def test_pdb_protects_the_configured_minimum() -> None:
    manifests = render_case("blue-green-auto")
    pdb = one(manifests, "PodDisruptionBudget", "api")["spec"]
    assert pdb["minAvailable"] == 2
    rollout = one(manifests, "Rollout")
    assert pdb["selector"] == rollout["spec"]["selector"]


def test_alb_ingress_is_https_only_with_a_tls13_policy() -> None:
    ingress = one(render_case("blue-green-auto"), "Ingress", "api")
    annotations = ingress["metadata"]["annotations"]
    assert annotations["alb.ingress.kubernetes.io/scheme"] == "internet-facing"
    assert annotations["alb.ingress.kubernetes.io/target-type"] == "ip"
    assert annotations["alb.ingress.kubernetes.io/ssl-redirect"] == "443"
    assert annotations["alb.ingress.kubernetes.io/ssl-policy"] == ALB_SSL_POLICY
    assert ALB_SSL_POLICY.startswith("ELBSecurityPolicy-TLS13-")
    assert annotations["alb.ingress.kubernetes.io/certificate-arn"].startswith("arn:aws:acm:")
    assert ingress["spec"]["ingressClassName"] == "alb"
    paths = {p["path"]: p["backend"]["service"] for p in ingress["spec"]["rules"][0]["http"]["paths"]}
    assert paths["/v1"] == {"name": "api-v1", "port": {"number": 80}}
    assert paths["/"] == {"name": "api", "port": {"number": 80}}
    assert paths["/metrics"]["name"] == "block-metrics"


def test_nginx_ingress_uses_the_cert_manager_secret() -> None:
    ingress = one(render_case("rolling"), "Ingress", "api")
    assert ingress["spec"]["ingressClassName"] == "nginx"
    assert ingress["spec"]["tls"] == [{"hosts": ["api.example.com"], "secretName": "api-tls"}]


def test_extra_versions_run_beside_the_main_one_without_sharing_its_services() -> None:
    manifests = render_case("canary-alb")
    v1 = one(manifests, "Deployment", "api-v1")
    assert v1["spec"]["template"]["spec"]["containers"][0]["image"].endswith(":0.9.0")
    main_selector = one(manifests, "Service", "api")["spec"]["selector"]
    v1_labels = v1["spec"]["template"]["metadata"]["labels"]
    assert not main_selector.items() <= v1_labels.items()
    assert one(manifests, "Service", "api-v1")["spec"]["selector"].items() <= v1_labels.items()


def test_service_account_carries_the_workload_identity_annotation() -> None:
    with_irsa = one(render_case("canary-alb"), "ServiceAccount", "api")
    assert with_irsa["metadata"]["annotations"] == {
        "eks.amazonaws.com/role-arn": "arn:aws:iam::123456789012:role/api"
    }
    pod_identity = one(render_case("rolling"), "ServiceAccount", "api")
    assert "annotations" not in pod_identity["metadata"]


def test_migration_job_is_named_after_the_image_and_uses_migration_credentials() -> None:
    settings_ = make_settings()
    ctx = make_ctx()
    job = render_migration_job(settings_, ctx)
    assert job["metadata"]["name"] == f"api-migrate-{image_hash(settings_.image)}"
    newer = make_settings(image={**IMAGE, "tag": "1.4.3"})
    assert render_migration_job(newer, ctx)["metadata"]["name"] != job["metadata"]["name"]
    container = job["spec"]["template"]["spec"]["containers"][0]
    assert container["command"] == ["alembic", "upgrade", "head"]
    assert container["envFrom"] == [{"secretRef": {"name": "api-migrations"}}]
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert job in render_api_manifests(settings_, ctx)


def test_down_migration_job_runs_the_down_command_from_the_given_image() -> None:
    image = ApiImage(repository=IMAGE["repository"], tag="1.4.1", digest=DIGEST)
    job = render_down_migration_job(make_settings(CASES["rolling"][0]), make_ctx(), image)
    assert job["kind"] == "Job"
    assert job["metadata"]["name"] == f"api-migrate-down-{image_hash(image)}"
    container = job["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == f"{IMAGE['repository']}:1.4.1@{DIGEST}"
    assert container["command"] == ["alembic", "downgrade", "-1"]
    no_down = make_settings(migrations={"downCommand": None})
    with pytest.raises(ValueError, match="downCommand"):
        render_down_migration_job(no_down, make_ctx(), image)


@pytest.mark.parametrize("case", ["blue-green-auto", "blue-green-manual", "canary-alb"])
def test_under_argo_rollouts_the_down_migration_is_held_until_the_pipeline_starts_it(case: str) -> None:
    """`pulumi up` cannot tell when a Rollout is stable again (its status still shows the previous
    revision's `Healthy` right after the update), so nothing it creates may run the downgrade: a
    suspended CronJob holds the same Job for `kubectl create job --from=cronjob/…`."""
    strategy, ctx_overrides = CASES[case]
    settings_, ctx = make_settings(strategy), make_ctx(**ctx_overrides)
    image = ApiImage(repository=IMAGE["repository"], tag="1.4.1", digest=DIGEST)
    held = render_down_migration_job(settings_, ctx, image)
    assert held["kind"] == "CronJob" and held["spec"]["suspend"] is True
    assert held["spec"]["concurrencyPolicy"] == "Forbid"
    assert held["spec"]["schedule"] == "0 0 30 2 *"  # 30 February: never, even if unsuspended
    rolling = render_down_migration_job(make_settings(CASES["rolling"][0]), ctx, image)
    assert held["metadata"] == rolling["metadata"]
    assert held["spec"]["jobTemplate"]["spec"] == rolling["spec"]
    # The created Job keeps the migration labels (NetworkPolicy, runbook selectors).
    assert held["spec"]["jobTemplate"]["metadata"]["labels"] == rolling["metadata"]["labels"]
    manifests = render_api_manifests(make_settings(strategy, migrations={"downImage": image}), ctx)
    assert not [m for m in manifests if m["kind"] == "Job"]
    assert [m["kind"] for m in manifests if "migrate-down" in m["metadata"]["name"]] == ["CronJob"]


def test_rendering_is_deterministic() -> None:
    assert render_case("canary-alb") == render_case("canary-alb")


# ----------------------------------------------------------------------------------------------
# Settings validation


@pytest.mark.parametrize(
    ("image", "message"),
    [
        ({"repository": "reg.example.com/api", "tag": "latest"}, "tag 'latest' is mutable"),
        ({"repository": "reg.example.com/api", "tag": "LATEST"}, "is mutable"),
        ({"repository": "reg.example.com/api", "tag": ""}, "tag is empty"),
        ({"repository": "reg.example.com/api"}, "needs a `tag` or a `digest`"),
        ({"repository": "reg.example.com/api", "tag": "-bad"}, "tag '-bad' is malformed"),
        ({"repository": "reg.example.com/API", "tag": "1"}, "is not a valid image reference"),
        ({"repository": "reg.example.com/api:1.0", "tag": "1"}, "must not contain a tag"),
        ({"repository": "reg.example.com/api", "digest": "sha256:abc"}, "digest 'sha256:abc' is malformed"),
    ],
)
def test_image_refuses_mutable_empty_or_malformed_references(image: dict[str, str], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        make_settings(image=image)


@pytest.mark.parametrize(
    ("image", "reference"),
    [
        (
            {"repository": "reg.example.com:5000/team/api", "tag": "2026.11.1"},
            "reg.example.com:5000/team/api:2026.11.1",
        ),
        ({"repository": "api", "digest": DIGEST}, f"api@{DIGEST}"),
    ],
)
def test_image_accepts_pinned_references(image: dict[str, str], reference: str) -> None:
    assert make_settings(image=image).image.reference == reference


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"replicas": 2, "pdbMinAvailable": 2}, "replicas=2 must be at least pdbMinAvailable\\+1=3"),
        ({"maxReplicas": 2}, "maxReplicas=2 is below replicas=3"),
        (
            {"preStopDelaySeconds": 30},
            "preStopDelaySeconds=30 must be below terminationGracePeriodSeconds=30",
        ),
        (
            {"resources": {"requests": {"cpu": "2", "memory": "1Gi"}}},
            "requests.cpu '2' exceeds limits.cpu '1'",
        ),
        ({"resources": {"limits": {"cpu": "1", "memory": "lots"}}}, "'lots' is not a Kubernetes quantity"),
        ({"resources": {"limits": {"cpu": "0", "memory": "1Gi"}}}, "must be greater than zero"),
        ({"analysis": {"successRate": 0}}, "greater than 0"),
        ({"analysis": {"successRate": 1.5}}, "less than or equal to 1"),
        ({"analysis": {"latencyP99Seconds": 0}}, "greater than 0"),
        ({"analysis": {"latencyP99Seconds": 0.3}}, "analysis.latencyP99Seconds: 0.3 s is not a bucket bound"),
        (
            {"latencyBuckets": [0.1, 0.25], "analysis": {"latencyP99Seconds": 0.25}},
            "0.25 s is the largest bucket bound",
        ),
        ({"latencyBuckets": [0.5, 0.25, 1]}, "latencyBuckets must be strictly increasing"),
        ({"analysis": {"count": 2, "failureLimit": 2}}, "failureLimit=2 must be below count=2"),
        ({"analysis": {"interval": "1 minute"}}, "String should match pattern"),
        ({"paths": {"readiness": "readyz"}}, "String should match pattern"),
        ({"strategy": {"type": "recreate"}}, "does not match any of the expected tags"),
        ({"strategy": {"type": "rolling", "maxSurge": "0%"}}, "maxSurge"),
        (
            {"strategy": {"type": "blueGreen", "autoPromotion": False, "autoPromotionSeconds": 60}},
            "has no effect",
        ),
        ({"extraVersions": [{"pathPrefix": "v1", "image": IMAGE}]}, "pathPrefix"),
        ({"unknownKey": 1}, "Extra inputs are not permitted"),
    ],
)
def test_invalid_settings_are_refused_with_the_field_and_value(
    overrides: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValidationError, match=message):
        make_settings(**overrides)


@pytest.mark.parametrize(
    ("value", "expected"),
    [("250m", "0.25"), ("1", "1"), ("512Mi", str(512 * 2**20)), ("1.5G", "1500000000"), ("1e3", "1000")],
)
def test_quantities_parse_like_kubernetes(value: str, expected: str) -> None:
    assert parse_quantity(value) == Decimal(expected)


def test_numeric_quantities_from_yaml_are_accepted_as_strings() -> None:
    assert make_settings(resources={"limits": {"cpu": 2, "memory": "1Gi"}}).resources.limits.cpu == "2"


@pytest.mark.parametrize(
    ("strategy", "refused"),
    [
        ({"type": "rolling"}, "rolling"),
        (
            {"type": "blueGreen", "prePromotionAnalysis": False},
            "autoPromotion=true with prePromotionAnalysis=false",
        ),
        ({"type": "blueGreen"}, None),
        ({"type": "blueGreen", "autoPromotion": False, "prePromotionAnalysis": False}, None),
        ({**CANARY, "backgroundAnalysis": False}, "backgroundAnalysis=false"),
        (CANARY, None),
    ],
)
def test_stacks_that_require_analysis_refuse_ungated_automatic_releases(
    strategy: dict[str, Any], refused: str | None
) -> None:
    settings_ = make_settings(strategy)
    validate_for_environment(settings_, protected=False)
    data = settings_.model_dump(by_alias=True)
    if refused is None:
        validate_for_environment(settings_, protected=True)
        ApiSettings.model_validate(data, context={"require_analysis": True})
    else:
        with pytest.raises(ValueError, match=refused):
            validate_for_environment(settings_, protected=True)
        with pytest.raises(ValidationError, match=refused):
            ApiSettings.model_validate(data, context={"require_analysis": True})


@pytest.mark.parametrize(
    ("steps", "message"),
    [
        (
            [{"setWeight": 10}, {"setWeight": 10}],
            "steps\\[1\\].setWeight=10 must be greater than the previous",
        ),
        ([{"setWeight": 50}, {"setWeight": 25}], "steps\\[1\\].setWeight=25"),
        ([{"setWeight": 0}], "greater than or equal to 1"),
        ([{"setWeight": 101}], "less than or equal to 100"),
        ([], "at least 1 item"),
        ([{"setWeight": 10, "pauseSeconds": 5, "pauseUntilPromoted": True}], "exclude each other"),
    ],
)
def test_invalid_canary_steps_are_refused(steps: list[dict[str, Any]], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        make_settings({"type": "canary", "steps": steps})


def test_canary_weights_end_with_full_promotion() -> None:
    steps = [CanaryStep(set_weight=w) for w in (10, 25, 50)]
    assert canary_weights(steps) == [10, 25, 50, 100]
    assert canary_weights([*steps, CanaryStep(set_weight=100)]) == [10, 25, 50, 100]


# ----------------------------------------------------------------------------------------------
# Properties

_pause = st.one_of(
    st.just({}),
    st.integers(1, 3600).map(lambda s: {"pauseSeconds": s}),
    st.just({"pauseUntilPromoted": True}),
)
valid_steps = st.lists(st.integers(1, 100), min_size=1, max_size=8, unique=True).flatmap(
    lambda weights: st.tuples(*[_pause.map(lambda p, w=w: {"setWeight": w, **p}) for w in sorted(weights)])
)
invalid_steps = st.one_of(
    # a weight outside 1..100 somewhere
    st.lists(st.integers(1, 100), min_size=0, max_size=4).flatmap(
        lambda ws: st.tuples(st.integers(-100, 0) | st.integers(101, 1000), st.integers(0, len(ws))).map(
            lambda bad: [*ws[: bad[1]], bad[0], *ws[bad[1] :]]
        )
    ),
    # in range but not strictly increasing
    st.lists(st.integers(1, 100), min_size=2, max_size=8).filter(
        lambda ws: any(b <= a for a, b in pairwise(ws))
    ),
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(steps=valid_steps)
def test_any_valid_canary_yields_increasing_weights_and_a_valid_rollout(
    crd_schemas: None,
    steps: tuple[dict[str, Any], ...],
) -> None:
    settings_ = make_settings({"type": "canary", "steps": list(steps)}, extraVersions=[])
    weights = canary_weights(settings_.strategy.steps)  # type: ignore[union-attr]
    assert weights[-1] == 100
    assert all(b > a for a, b in pairwise(weights))
    manifests = render_api_manifests(settings_, make_ctx(alb_traffic_routing=True))
    rollout = one(manifests, "Rollout")
    rendered = [s["setWeight"] for s in rollout["spec"]["strategy"]["canary"]["steps"] if "setWeight" in s]
    assert rendered == weights
    assert validate_manifests([rollout, one(manifests, "AnalysisTemplate")]) == []


@settings(max_examples=40, deadline=None)
@given(weights=invalid_steps)
def test_any_invalid_canary_is_refused(weights: list[int]) -> None:
    with pytest.raises(ValidationError):
        make_settings({"type": "canary", "steps": [{"setWeight": w} for w in weights]})


def test_the_weight_property_check_fails_on_a_broken_rollout(crd_schemas: None) -> None:
    settings_ = make_settings(CANARY, extraVersions=[])
    rollout = one(render_api_manifests(settings_, make_ctx(alb_traffic_routing=True)), "Rollout")
    rollout["spec"]["strategy"]["canary"]["steps"][0]["setWeight"] = "10%"
    assert any("is not of type 'integer'" in e for e in validate_manifests([rollout]))


# ----------------------------------------------------------------------------------------------
# Waiting for a release, TLS and load balancer details, controllers


@pytest.mark.parametrize(
    ("case", "waits"),
    [("blue-green-auto", True), ("blue-green-manual", False), ("canary-alb", False)],
)
def test_pulumi_waits_only_for_rollouts_that_promote_themselves(case: str, waits: bool) -> None:
    annotations = one(render_case(case), "Rollout")["metadata"].get("annotations", {})
    assert (annotations.get(WAIT_FOR_ANNOTATION) == "jsonpath={.status.phase}=Healthy") is waits


def test_a_timed_canary_is_waited_for_as_long_as_its_pauses_take() -> None:
    timed = {"type": "canary", "steps": [{"setWeight": 10, "pauseSeconds": 300}, {"setWeight": 50}]}
    settings_ = make_settings(timed)
    rollout = one(render_api_manifests(settings_, make_ctx(alb_traffic_routing=True)), "Rollout")
    assert rollout["metadata"]["annotations"] == {
        WAIT_FOR_ANNOTATION: "jsonpath={.status.phase}=Healthy",
        "pulumi.com/timeoutSeconds": str(600 + 300),
    }
    assert rollout_timeout_seconds(settings_) == 900


def test_nginx_ingress_asks_cert_manager_for_its_certificate() -> None:
    ctx = make_ctx(**NGINX, cluster_issuer="letsencrypt")
    ingress = one(render_api_manifests(make_settings({"type": "rolling"}), ctx), "Ingress")
    assert ingress["metadata"]["annotations"]["cert-manager.io/cluster-issuer"] == "letsencrypt"


@pytest.mark.parametrize("protected", [True, False])
def test_alb_deletion_protection_follows_the_context(protected: bool) -> None:
    ingress = one(render_api_manifests(make_settings(), make_ctx(deletion_protection=protected)), "Ingress")
    attributes = ingress["metadata"]["annotations"]["alb.ingress.kubernetes.io/load-balancer-attributes"]
    assert attributes == f"deletion_protection.enabled={str(protected).lower()}"


def test_a_schema_rollback_downgrades_after_the_workload_and_runs_no_forward_migration() -> None:
    assert [m for m in render_case("rolling") if "migrate-down" in m["metadata"]["name"]] == []
    older = {**IMAGE, "tag": "1.4.3"}
    manifests = render_api_manifests(make_settings(migrations={"downImage": older}), make_ctx())
    kinds = [(m["kind"], m["metadata"]["name"]) for m in manifests]
    jobs = [name for kind, name in kinds if kind == "Job"]
    # The older image's `upgrade head` would not know the newer revision: no forward Job at all.
    assert len(jobs) == 1 and jobs[0].startswith("api-migrate-down-")
    # Expand/contract: the older release runs on the newer schema, so it comes back first.
    workload = next(
        i for i, (kind, name) in enumerate(kinds) if kind in ("Deployment", "Rollout") and name == "api"
    )
    assert kinds.index(("Job", jobs[0])) > workload
    with pytest.raises(ValidationError, match=r"downImage .* is set but downCommand is null"):
        make_settings(migrations={"downImage": older, "downCommand": None})


def test_secret_render_keeps_the_values_it_is_given() -> None:
    secret = render_secret(make_ctx(), "api-env", {"DATABASE_URL": "postgresql://x"})
    assert secret["stringData"] == {"DATABASE_URL": "postgresql://x"}
    assert secret["type"] == "Opaque"
    assert validate_manifests([secret]) == []


def test_controller_values_enable_metrics_and_own_the_ingress_class() -> None:
    assert argo_rollouts_values()["controller"]["metrics"]["enabled"] is True
    nginx = ingress_nginx_values("nginx")["controller"]
    assert nginx["ingressClassResource"]["name"] == "nginx"
    assert nginx["metrics"]["enabled"] is True
    assert nginx["allowSnippetAnnotations"] is False


@pytest.mark.parametrize(
    ("strategy", "path"),
    [
        ({"type": "rolling"}, "strategy.type"),
        ({"type": "blueGreen", "prePromotionAnalysis": False}, "strategy.prePromotionAnalysis"),
        ({**CANARY, "backgroundAnalysis": False}, "strategy.backgroundAnalysis"),
    ],
)
def test_environment_problem_names_the_key_to_change(strategy: dict[str, Any], path: str) -> None:
    problem = environment_problem(make_settings(strategy), protected=True)
    assert problem is not None and problem[0] == path
    assert environment_problem(make_settings(strategy), protected=False) is None


def empty_result_passes(metric: dict[str, Any]) -> bool:
    """Whether a measurement with no data counts as a success (no condition decides it otherwise)."""
    success = metric["successCondition"]
    return "len(result) == 0 ||" in success or "failureCondition" not in metric


@pytest.mark.parametrize(
    ("case", "passes"),
    [("blue-green-auto", False), ("canary-alb", True)],
    ids=["pre-promotion", "background"],
)
def test_no_data_is_inconclusive_before_promotion_and_a_pass_in_a_canary(case: str, passes: bool) -> None:
    template = one(render_case(case), "AnalysisTemplate", "api-analysis")
    for metric in template["spec"]["metrics"]:
        assert empty_result_passes(metric) is passes
        if not passes:
            assert metric["inconclusiveLimit"] == metric["count"] - 1
            assert metric["failureCondition"].startswith("len(result) > 0 && !isNaN(result[0]) && !(")
    assert validate_manifests([template]) == []


def test_empty_result_check_catches_a_pre_promotion_analysis_that_passes_on_no_data() -> None:
    template = one(render_case("blue-green-auto"), "AnalysisTemplate", "api-analysis")
    broken = copy.deepcopy(template["spec"]["metrics"][0])
    broken["successCondition"] = "len(result) == 0 || isNaN(result[0]) || result[0] >= 0.995"
    del broken["failureCondition"]
    assert empty_result_passes(broken) is True


@pytest.mark.parametrize("case", ["rolling", "canary-alb"])
def test_rotating_the_jwt_secrets_rolls_every_pod(case: str) -> None:
    strategy, ctx_overrides = CASES[case]
    kind = "Deployment" if case == "rolling" else "Rollout"

    def template(rotation: int) -> dict[str, Any]:
        manifests = render_api_manifests(
            make_settings(strategy, secretsRotation=rotation), make_ctx(**ctx_overrides)
        )
        return one(manifests, kind, "api")["spec"]["template"]

    # A change of the pod template is what starts a rollout; the Secret alone changing would not.
    assert template(0) != template(1)
    assert template(1)["metadata"]["annotations"]["platform/secrets-rotation"] == "1"


def test_analysis_ignores_probes_and_scrapes_in_promtool(tmp_path: Path) -> None:
    """The success-rate query, evaluated by the real promtool: a preview pod that only gets probes and
    scrapes has no result (inconclusive), and user traffic is what the ratio is made of."""
    promtool = require_tool("promtool")
    template = one(render_case("blue-green-auto"), "AnalysisTemplate", "api-analysis")
    query = next(m for m in template["spec"]["metrics"] if m["name"] == "success-rate")["provider"]
    expr = query["prometheus"]["query"].replace("{{args.pod-template-hash}}", "abc12")
    pod = 'namespace="api", pod="api-abc12-x7k2p"'

    def series(handler: str, status: str, per_minute: int) -> dict[str, str]:
        return {
            "series": f'http_requests_total{{{pod}, handler="{handler}", status="{status}"}}',
            "values": f"0+{per_minute}x10",
        }

    probes = [series("/healthz", "2xx", 6), series("/readyz", "2xx", 12), series("/metrics", "2xx", 2)]
    rules = {"groups": [{"name": "analysis", "rules": [{"record": "success_rate", "expr": expr}]}]}
    tests = {
        "rule_files": ["rules.yml"],
        "evaluation_interval": "1m",
        "tests": [
            {
                "interval": "1m",
                "input_series": probes,
                "promql_expr_test": [{"expr": "success_rate", "eval_time": "10m", "exp_samples": []}],
            },
            {
                "interval": "1m",
                "input_series": [*probes, series("/orders", "2xx", 90), series("/orders", "5xx", 10)],
                "promql_expr_test": [
                    {
                        "expr": "(success_rate > bool 0.899) * (success_rate < bool 0.901)",
                        "eval_time": "10m",
                        "exp_samples": [{"labels": "{}", "value": 1}],  # 90 of 100 user requests,
                    }
                ],
            },
        ],
    }
    (tmp_path / "rules.yml").write_text(yaml.safe_dump(rules, sort_keys=False))
    (tmp_path / "tests.yml").write_text(yaml.safe_dump(tests, sort_keys=False))
    result = subprocess.run(
        [promtool, "test", "rules", "tests.yml"], cwd=tmp_path, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_api_is_told_its_latency_buckets() -> None:
    env = {e["name"]: e.get("value") for e in pod_spec()["containers"][0]["env"]}
    assert env["METRICS_LATENCY_BUCKETS"] == "0.05,0.1,0.25,0.4,0.5,0.75,1,2.5,5,10"
