"""The GitHub workflows: valid against the GitHub workflow JSON schema (the one check-jsonschema
vendors; actionlint's PyPI wrapper downloads its binary at install time, which CI cannot), and
held to the delivery rules: pinned actions, least privilege, OIDC only, gated promotion, drift."""

from __future__ import annotations

import copy
import json
import re
from functools import cache
from importlib import resources
from typing import Any

import jsonschema
import pytest
import yaml

from synth.engine import ROOT

WORKFLOWS = ROOT / ".github" / "workflows"
FILES = sorted(p.name for p in WORKFLOWS.glob("*.yml"))
PINNED = re.compile(
    r"^\s*(-\s+)?uses:\s*(?P<action>[\w.-]+/[\w./-]+)@(?P<ref>\S+)(?P<comment>\s+#\s*v\d[\w.]*)?\s*$"
)
FULL_SHA = re.compile(r"^[0-9a-f]{40}$")


def load(name: str) -> dict[str, Any]:
    """A workflow as GitHub reads it (YAML 1.1 would turn the `on:` key into True)."""
    data = yaml.safe_load((WORKFLOWS / name).read_text())
    if True in data:
        data["on"] = data.pop(True)
    return data


@cache
def _schema() -> dict[str, Any]:
    path = resources.files("check_jsonschema") / "builtin_schemas" / "vendor" / "github-workflows.json"
    return json.loads(path.read_text())


def schema_problems(workflow: dict[str, Any]) -> list[str]:
    validator = jsonschema.Draft7Validator(_schema())
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(workflow)]


def unpinned_actions(text: str) -> list[str]:
    """`uses:` lines of third-party actions not pinned by full commit SHA with a version comment."""
    problems = []
    for number, line in enumerate(text.splitlines(), 1):
        if "uses:" not in line or line.strip().startswith("#"):
            continue
        match = PINNED.match(line)
        if match is None:
            if "uses: ./" not in line:
                problems.append(f"line {number}: not an owner/repo@ref reference: {line.strip()}")
            continue
        if not FULL_SHA.match(match["ref"]) or not match["comment"]:
            problems.append(
                f"line {number}: {match['action']} must be pinned by full SHA with a `# vX` comment"
            )
    return problems


def _steps(job: dict[str, Any]) -> list[dict[str, Any]]:
    return job.get("steps") or []


def _uses(job: dict[str, Any], action: str) -> bool:
    return any(str(s.get("uses", "")).startswith(action + "@") for s in _steps(job))


def permission_problems(workflow: dict[str, Any]) -> list[str]:
    """Least privilege: read-only (or no) default token, explicit permissions per job, write scopes
    only where used (OIDC for AWS steps, pull-request writes for commenting, issues for drift)."""
    problems = []
    top = workflow.get("permissions")
    if top is None:
        problems.append("no top-level permissions (the default token may be read-write)")
    elif isinstance(top, dict) and any(v == "write" for v in top.values()):
        problems.append(f"top-level permissions grant write: {top}")
    elif isinstance(top, str) and top != "read-all" and top:
        problems.append(f"top-level permissions {top!r}")
    for name, job in workflow.get("jobs", {}).items():
        permissions = job.get("permissions")
        if not isinstance(permissions, dict):
            problems.append(f"{name}: no explicit permissions")
            continue
        writes = {k for k, v in permissions.items() if v == "write"}
        if "id-token" in writes and not _uses(job, "aws-actions/configure-aws-credentials"):
            problems.append(f"{name}: id-token: write without an OIDC credentials step")
        if "pull-requests" in writes and not (
            _uses(job, "actions/github-script") or _uses(job, "pulumi/actions")
        ):
            problems.append(f"{name}: pull-requests: write but posts no comment")
        for scope in writes - {"id-token", "pull-requests", "issues"}:
            problems.append(f"{name}: {scope}: write is not needed")
    return problems


def long_lived_keys(text: str) -> list[str]:
    """AWS access keys instead of OIDC roles."""
    return [k for k in ("aws-access-key-id", "aws-secret-access-key", "AWS_SECRET_ACCESS_KEY") if k in text]


def promotion_problems(workflow: dict[str, Any]) -> list[str]:
    """main → dev/staging automatically; smoke and load tests gate uat; uat and prod behind
    environments; prod only after uat."""
    jobs = workflow["jobs"]
    problems = []

    def needs(name: str) -> set[str]:
        value = jobs.get(name, {}).get("needs", [])
        return {value} if isinstance(value, str) else set(value)

    if "push" not in workflow["on"] or workflow["on"]["push"].get("branches") != ["main"]:
        problems.append("deploys must run on pushes to main")
    for stack in ("staging", "uat", "prod"):
        job = jobs.get(f"deploy-{stack}", {})
        if job.get("environment") != stack:
            problems.append(f"deploy-{stack} must run in the {stack!r} environment")
        if not _uses(job, "aws-actions/configure-aws-credentials"):
            problems.append(f"deploy-{stack} must get AWS access through OIDC")
        if not any(s.get("with", {}).get("policyPacks") == "policy" for s in _steps(job)):
            problems.append(f"deploy-{stack} must run the policy pack")
    if not {"smoke-staging", "load-staging"} <= needs("deploy-uat"):
        problems.append("deploy-uat must wait for the staging smoke and load tests")
    if "deploy-staging" not in needs("smoke-staging"):
        problems.append("the smoke test must run against the staging deployment")
    if needs("deploy-prod") != {"deploy-uat"}:
        problems.append("deploy-prod must follow deploy-uat")
    return problems


def _pulumi_inputs(workflow: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        s.get("with", {})
        for job in workflow["jobs"].values()
        for s in _steps(job)
        if str(s.get("uses", "")).startswith("pulumi/actions@")
    ]


def drift_problems(workflow: dict[str, Any]) -> list[str]:
    problems = []
    if "schedule" not in workflow["on"]:
        problems.append("drift detection must run on a schedule")
    for inputs in _pulumi_inputs(workflow):
        if inputs.get("command") != "preview" or inputs.get("refresh") is not True:
            problems.append("drift detection must run `pulumi preview --refresh`")
        if inputs.get("expect-no-changes") is not True:
            problems.append("drift detection must use --expect-no-changes")
    (job,) = workflow["jobs"].values()
    if not any(
        "failure()" in str(s.get("if", "")) and "github-script" in str(s.get("uses", "")) for s in _steps(job)
    ):
        problems.append("drift must notify (an issue) on failure")
    return problems


def pull_request_problems(workflow: dict[str, Any], comment: dict[str, Any]) -> list[str]:
    problems = []
    if set(workflow["on"]) != {"pull_request"}:
        problems.append("pull requests run on `pull_request` only (never pull_request_target)")
    jobs = workflow["jobs"]
    for required in ("lint", "typecheck", "test", "synth", "preview", "dependency-audit", "secret-scan"):
        if required not in jobs:
            problems.append(f"missing job {required!r}")
    test_run = " ".join(str(s.get("run", "")) for s in _steps(jobs.get("test", {})))
    if "--cov" not in test_run:
        problems.append("tests must run with the coverage gate")
    synth_run = " ".join(str(s.get("run", "")) for s in _steps(jobs.get("synth", {})))
    if "--fail-on-danger" not in synth_run or "synth diff" not in synth_run.replace(
        "-m synth diff", "synth diff"
    ):
        problems.append("the synth diff must fail on dangerous changes")
    if not any(
        i.get("comment-on-pr") is True and i.get("policyPacks") == "policy" for i in _pulumi_inputs(workflow)
    ):
        problems.append("the preview must comment on the PR and run the policy pack")
    if "workflow_run" not in comment["on"]:
        problems.append("the diff comment must be posted by a workflow_run workflow")
    for name, job in comment["jobs"].items():
        if _uses(job, "actions/checkout"):
            problems.append(f"{name}: the workflow_run job must not check out pull request code")
    return problems


# ---------------------------------------------------------------------------- the real files


def test_the_four_workflows_exist() -> None:
    assert FILES == ["deploy.yml", "drift.yml", "pull-request.yml", "synth-diff-comment.yml"]


@pytest.mark.parametrize("name", FILES)
def test_workflow_is_valid_against_the_github_schema(name: str) -> None:
    assert schema_problems(load(name)) == []


@pytest.mark.parametrize("name", FILES)
def test_every_action_is_pinned_by_commit_sha(name: str) -> None:
    assert unpinned_actions((WORKFLOWS / name).read_text()) == []


@pytest.mark.parametrize("name", FILES)
def test_every_job_has_least_privilege_permissions(name: str) -> None:
    assert permission_problems(load(name)) == []


@pytest.mark.parametrize("name", FILES)
def test_aws_access_is_through_oidc_only(name: str) -> None:
    assert long_lived_keys((WORKFLOWS / name).read_text()) == []


def test_deploys_are_promoted_through_gates() -> None:
    assert promotion_problems(load("deploy.yml")) == []


def test_drift_detection_refreshes_expects_no_changes_and_notifies() -> None:
    assert drift_problems(load("drift.yml")) == []


def test_pull_requests_are_gated_and_fork_safe() -> None:
    assert pull_request_problems(load("pull-request.yml"), load("synth-diff-comment.yml")) == []


def test_workflows_preview_every_aws_stack_with_its_policy_config() -> None:
    (preview,) = [j for n, j in load("pull-request.yml")["jobs"].items() if n == "preview"]
    assert preview["strategy"]["matrix"]["stack"] == ["staging", "uat", "prod"]
    for stack in preview["strategy"]["matrix"]["stack"]:
        assert (ROOT / "policy" / "config" / f"{stack}.json").exists()


def test_smoke_script_is_valid_bash() -> None:
    import subprocess

    subprocess.run(["bash", "-n", str(ROOT / ".github" / "scripts" / "smoke.sh")], check=True)


# ---------------------------------------------------------------------------- each check can fail


def _broken(name: str, change: Any) -> dict[str, Any]:
    workflow = copy.deepcopy(load(name))
    change(workflow)
    return workflow


def test_schema_check_catches_a_malformed_workflow() -> None:
    assert schema_problems(_broken("drift.yml", lambda w: w["jobs"]["drift"].pop("runs-on"))) != []
    assert schema_problems(_broken("drift.yml", lambda w: w["jobs"]["drift"].update({"step": []}))) != []


@pytest.mark.parametrize(
    "line",
    [
        "      - uses: actions/checkout@v5",
        "      - uses: actions/checkout@08c6903cd8c0fde910a37f88322edcfb5dd907a8",
        "      - uses: actions/checkout@08c6903 # v5.0.0",
    ],
)
def test_pin_check_catches_tags_and_short_or_uncommented_shas(line: str) -> None:
    assert unpinned_actions(line) != []


@pytest.mark.parametrize(
    "change",
    [
        lambda w: w.pop("permissions"),
        lambda w: w.update({"permissions": {"contents": "write"}}),
        lambda w: w["jobs"]["lint"].pop("permissions"),
        lambda w: w["jobs"]["lint"]["permissions"].update({"id-token": "write"}),
        lambda w: w["jobs"]["test"]["permissions"].update({"contents": "write"}),
    ],
)
def test_permission_check_catches_broad_tokens(change: Any) -> None:
    assert permission_problems(_broken("pull-request.yml", change)) != []


def test_key_check_catches_a_long_lived_key() -> None:
    assert long_lived_keys("aws-access-key-id: ${{ secrets.AWS_ACCESS_KEY_ID }}") != []


@pytest.mark.parametrize(
    "change",
    [
        lambda w: w["jobs"]["deploy-prod"].update({"needs": ["deploy-staging"]}),
        lambda w: w["jobs"]["deploy-prod"].pop("environment"),
        lambda w: w["jobs"]["deploy-uat"].update({"needs": ["deploy-staging"]}),
        lambda w: w["jobs"]["deploy-staging"]["steps"][-1]["with"].pop("policyPacks"),
        lambda w: w["on"]["push"].update({"branches": ["*"]}),
    ],
)
def test_promotion_check_catches_a_skipped_gate(change: Any) -> None:
    assert promotion_problems(_broken("deploy.yml", change)) != []


@pytest.mark.parametrize(
    "change",
    [
        lambda w: w["on"].pop("schedule"),
        lambda w: w["jobs"]["drift"]["steps"][4]["with"].pop("expect-no-changes"),
        lambda w: w["jobs"]["drift"]["steps"][4]["with"].update({"refresh": False}),
        lambda w: w["jobs"]["drift"]["steps"].pop(),
    ],
)
def test_drift_check_catches_a_blind_detector(change: Any) -> None:
    assert drift_problems(_broken("drift.yml", change)) != []


@pytest.mark.parametrize(
    ("name", "change"),
    [
        ("pull-request.yml", lambda w: w.update({"on": {"pull_request_target": {}}})),
        ("pull-request.yml", lambda w: w["jobs"].pop("secret-scan")),
        (
            "pull-request.yml",
            lambda w: w["jobs"]["synth"]["steps"][-2].update({"run": "python -m synth diff a b"}),
        ),
        (
            "synth-diff-comment.yml",
            lambda w: w["jobs"]["comment"]["steps"].insert(0, {"uses": "actions/checkout@x"}),
        ),
    ],
)
def test_pull_request_check_catches_an_unsafe_change(name: str, change: Any) -> None:
    pr, comment = load("pull-request.yml"), load("synth-diff-comment.yml")
    if name == "pull-request.yml":
        pr = _broken(name, change)
    else:
        comment = _broken(name, change)
    assert pull_request_problems(pr, comment) != []
