"""The GitHub workflows: valid against the GitHub workflow JSON schema (the one check-jsonschema
vendors; actionlint's PyPI wrapper downloads its binary at install time, which CI cannot), and
held to the delivery rules: pinned actions, least privilege, OIDC only, gated promotion, drift."""

from __future__ import annotations

import copy
import json
import os
import re
import subprocess
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from synth.engine import ROOT
from tests.tools import require_tool

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
    for stack in ("staging", "uat", "prod"):
        steps = _steps(jobs.get(f"deploy-{stack}", {}))
        runs = [str(step.get("run", "")) for step in steps]
        up = next(
            (i for i, step in enumerate(steps) if str(step.get("uses", "")).startswith("pulumi/actions@")),
            None,
        )
        wait = next(
            (i for i, run in enumerate(runs) if "wait-rollout.sh" in run and f"/{stack}" in run), None
        )
        if up is None or wait is None or wait < up:
            problems.append(f"deploy-{stack} must wait for the API release after `pulumi up`")
        down = next(
            (i for i, run in enumerate(runs) if "down-migration.sh" in run and f"/{stack}" in run), None
        )
        if down is None or wait is None or down < wait:
            problems.append(f"deploy-{stack} must run a held down migration after the release is stable")
        # A release promoted by hand can wait hours: the AWS session must last the whole job.
        credentials = next(
            (s for s in steps if str(s.get("uses", "")).startswith("aws-actions/configure-aws-credentials")),
            {},
        )
        duration = int(credentials.get("with", {}).get("role-duration-seconds", 3600))
        minutes = int(jobs.get(f"deploy-{stack}", {}).get("timeout-minutes", 360))
        if duration < minutes * 60:
            problems.append(
                f"deploy-{stack}: role-duration-seconds {duration} is shorter than the job ({minutes} min)"
            )
    if not {"smoke-staging", "load-staging"} <= needs("deploy-uat"):
        problems.append("deploy-uat must wait for the staging smoke and load tests")
    if "deploy-staging" not in needs("smoke-staging"):
        problems.append("the smoke test must run against the staging deployment")
    if needs("deploy-prod") != {"deploy-uat"}:
        problems.append("deploy-prod must follow deploy-uat")
    if str(jobs.get("gates", {}).get("if", "")).strip() != "github.ref == 'refs/heads/main'":
        problems.append("gates must run only on main (workflow_dispatch can pick any branch)")
    for name in jobs:
        seen, todo = set(), [name]
        while todo:
            current = todo.pop()
            seen.add(current)
            todo.extend(needs(current) - seen)
        if name != "gates" and "gates" not in seen:
            problems.append(f"{name} must (transitively) need gates")
    for name, job in jobs.items():
        for step in _steps(job):
            inputs = step.get("with", {})
            up = str(step.get("uses", "")).startswith("pulumi/actions@") and inputs.get("command") == "up"
            if up and inputs.get("refresh") is not True:
                problems.append(f"{name}: `pulumi up` must refresh, or a hand change survives a re-deploy")
    return problems


def _pulumi_inputs(workflow: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        s.get("with", {})
        for job in workflow["jobs"].values()
        for s in _steps(job)
        if str(s.get("uses", "")).startswith("pulumi/actions@")
    ]


def _step(job: dict[str, Any], step_id: str) -> dict[str, Any]:
    return next((s for s in _steps(job) if s.get("id") == step_id), {})


def drift_problems(workflow: dict[str, Any]) -> list[str]:
    """A scheduled `pulumi preview --refresh --expect-no-changes` whose drift verdict (not any
    failure) opens the issue and fails the job."""
    problems = []
    if "schedule" not in workflow["on"]:
        problems.append("drift detection must run on a schedule")
    (job,) = workflow["jobs"].values()
    run = " ".join(str(_step(job, "preview").get("run", "")).split())
    if "pulumi preview" not in run or "--refresh" not in run:
        problems.append("drift detection must run `pulumi preview --refresh` in the step `preview`")
    if "--expect-no-changes" not in run:
        problems.append("drift detection must use --expect-no-changes")
    verdict = "steps.preview.outputs.drift == 'true'"
    notify = [s for s in _steps(job) if str(s.get("uses", "")).startswith("actions/github-script@")]
    if not notify:
        problems.append("drift must notify (an issue)")
    for step in notify:
        condition = str(step.get("if", ""))
        if verdict not in condition or "failure()" in condition:
            problems.append(f"the issue must be opened on the drift verdict only, not on `if: {condition}`")
    if not any(str(s.get("if", "")) == verdict and "exit 1" in str(s.get("run", "")) for s in _steps(job)):
        problems.append("drift must also fail the job")
    return problems


# What the preview step must conclude: (preview exit status, preview output) -> drift output, or
# None for "the step fails and reports no drift".
DRIFT_CASES = [
    (0, "Resources:\n    42 unchanged\n", "false"),
    (
        255,
        "  ~ aws:s3:Bucket frontend update\nerror: no changes were expected but changes were proposed\n",
        "true",
    ),
    (255, "error: no changes were expected for preview but changes were proposed\n", "true"),
    (255, "error: getting credentials: failed to refresh cached credentials, no EC2 IMDS role found\n", None),
    (255, "error: could not fetch stack: dial tcp: lookup api.pulumi.com: no such host\n", None),
    (
        1,
        "kubernetes:apps/v1:Deployment api error: the server has asked for the client to provide credentials",
        None,
    ),
]


def drift_verdict_problems(script: str, tmp: Path) -> list[str]:
    """Runs the preview step's script (bash -e, as GitHub does) against a stand-in `pulumi`."""
    bin_dir = tmp / "bin"
    bin_dir.mkdir(exist_ok=True)
    fake = bin_dir / "pulumi"
    fake.write_text('#!/bin/sh\nprintf "%b" "$FAKE_OUTPUT"\nexit "$FAKE_STATUS"\n')
    fake.chmod(0o755)
    problems = []
    for number, (status, output, expected) in enumerate(DRIFT_CASES):
        github_output = tmp / f"output-{number}"
        github_output.write_text("")
        env = {
            "PATH": f"{bin_dir}:{os.environ['PATH']}",
            "GITHUB_OUTPUT": str(github_output),
            "STACK": "acme/prod",
            "FAKE_STATUS": str(status),
            "FAKE_OUTPUT": output,
        }
        result = subprocess.run(
            ["bash", "-e", "-c", script],
            check=False,
            env=env,
            cwd=tmp,
            capture_output=True,
            text=True,
            timeout=20,
        )
        outputs = dict(line.split("=", 1) for line in github_output.read_text().splitlines() if "=" in line)
        drift = outputs.get("drift")
        if expected is None and (result.returncode == 0 or drift == "true"):
            problems.append(f"a failed preview ({output.strip()!r}) was not a failed step without drift")
        if expected is not None and (result.returncode != 0 or drift != expected):
            problems.append(
                f"preview exit {status} ({output.strip()!r}): drift={drift}, step exit {result.returncode}"
            )
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


# The comment script runs as github-script does (an async function of require, github, context and
# core) against stand-ins for the GitHub API; it prints what it failed with and what it posted.
_COMMENT_HARNESS = r"""
const fs = require('fs');
const script = fs.readFileSync(process.argv[2], 'utf8');
const scenarios = JSON.parse(fs.readFileSync(process.argv[3], 'utf8'));
const AsyncFunction = Object.getPrototypeOf(async function () {}).constructor;
(async () => {
  const results = [];
  for (const scenario of scenarios) {
    fs.writeFileSync('synth-diff/pr-number', scenario.artifact);
    const posted = [];
    let failed = null;
    const github = {
      paginate: async () => [],
      rest: {
        repos: { listPullRequestsAssociatedWithCommit: async () => ({ data: scenario.associated }) },
        issues: {
          listComments: null,
          createComment: async (a) => posted.push(a.issue_number),
          updateComment: async (a) => posted.push(a.comment_id),
        },
      },
    };
    const core = { setFailed: (m) => { failed = String(m); } };
    const context = { repo: { owner: 'acme', repo: 'platform' }, payload: { workflow_run: scenario.run } };
    await new AsyncFunction('require', 'github', 'context', 'core', script)(require, github, context, core);
    results.push({ failed, posted });
  }
  console.log(JSON.stringify(results));
})();
"""

_HEAD = "0123456789abcdef0123456789abcdef01234567"


def _fork_pr(number: int, base: str = "acme/platform", state: str = "open") -> dict[str, Any]:
    return {"number": number, "state": state, "head": {"sha": _HEAD}, "base": {"repo": {"full_name": base}}}


def _run(*numbers: int) -> dict[str, Any]:
    return {"id": 99, "head_sha": _HEAD, "pull_requests": [{"number": n} for n in numbers]}


# (what happens, artifact's pr-number, workflow_run, PRs associated with the head commit) -> the
# pull request commented on, or None for "nothing posted and the job fails".
COMMENT_CASES = [
    ("same-repository pull request", "7\n", _run(7), [], 7),
    ("artifact names another issue", "1\n", _run(7), [], None),
    ("fork pull request", "9\n", _run(), [_fork_pr(9)], 9),
    ("fork artifact names another issue", "3\n", _run(), [_fork_pr(9)], None),
    ("fork, no open pull request of this repository", "9\n", _run(), [_fork_pr(9, base="evil/fork")], None),
    ("fork, pull request closed", "9\n", _run(), [_fork_pr(9, state="closed")], None),
    ("artifact carries no number", "7; rm -rf /\n", _run(7), [], None),
]


def comment_target_problems(script: str, tmp: Path) -> list[str]:
    node = require_tool("node")
    (tmp / "synth-diff").mkdir(exist_ok=True)
    (tmp / "synth-diff" / "dev.md").write_text("### dev\n")
    (tmp / "script.js").write_text(script)
    (tmp / "harness.js").write_text(_COMMENT_HARNESS)
    scenarios = [{"artifact": a, "run": r, "associated": prs} for _, a, r, prs, _ in COMMENT_CASES]
    (tmp / "scenarios.json").write_text(json.dumps(scenarios))
    result = subprocess.run(
        [node, "harness.js", "script.js", "scenarios.json"],
        check=False,
        cwd=tmp,
        capture_output=True,
        text=True,
        timeout=30,
    )
    if result.returncode != 0:
        return [f"the comment script crashed: {result.stderr.strip()[-500:]}"]
    problems = []
    for (case, *_, expected), outcome in zip(COMMENT_CASES, json.loads(result.stdout), strict=True):
        if expected is None and not (outcome["failed"] and outcome["posted"] == []):
            problems.append(f"{case}: expected nothing posted and a failed job, got {outcome}")
        if expected is not None and outcome != {"failed": None, "posted": [expected]}:
            problems.append(f"{case}: expected a comment on #{expected}, got {outcome}")
    return problems


def _comment_script() -> str:
    (step,) = [
        s for s in load("synth-diff-comment.yml")["jobs"]["comment"]["steps"] if "script" in s.get("with", {})
    ]
    return step["with"]["script"]


RUNBOOKS = ROOT / "docs" / "runbooks"
_CITED = re.compile(r"\*(Platform /[^*]+)\*((?:\s*→\s*|,\s*)\*[^*]+\*)*")
_PANELS = re.compile(r"\*([^*]+)\*")


def cited_dashboards(text: str) -> list[tuple[str, list[str]]]:
    """Every `*Platform / <dashboard>*` a runbook cites, with the panels it names after `→`."""
    cited = []
    for match in _CITED.finditer(text):
        title = " ".join(match[1].split())
        rest = match[0][match.end(1) - match.start(0) + 1 :]
        panels = [" ".join(p.split()) for p in _PANELS.findall(rest)] if "→" in rest else []
        cited.append((title, panels))
    return cited


def dashboard_citation_problems(text: str, dashboards: dict[str, list[str]]) -> list[str]:
    """A cited dashboard must exist under that title; a cited panel must start one of its panel titles."""
    problems = []
    for title, panels in cited_dashboards(text):
        if title not in dashboards:
            problems.append(f"no dashboard titled {title!r} (titles: {sorted(dashboards)})")
            continue
        for panel in panels:
            if not any(p.startswith(panel) for p in dashboards[title]):
                problems.append(f"{title!r} has no panel {panel!r}")
    return problems


@cache
def _dashboards() -> dict[str, list[str]]:
    from components.dashboards import render_dashboards

    return {d["title"]: [p["title"] for p in d["panels"]] for d in render_dashboards().values()}


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


def test_drift_preview_step_tells_drift_from_a_failed_preview(tmp_path: Path) -> None:
    (job,) = load("drift.yml")["jobs"].values()
    assert drift_verdict_problems(_step(job, "preview")["run"], tmp_path) == []


def test_synth_diff_comment_goes_only_to_the_pull_request_github_names(tmp_path: Path) -> None:
    assert comment_target_problems(_comment_script(), tmp_path) == []


@pytest.mark.parametrize("runbook", sorted(p.name for p in RUNBOOKS.glob("*.md")))
def test_runbooks_cite_only_dashboards_and_panels_that_exist(runbook: str) -> None:
    assert dashboard_citation_problems((RUNBOOKS / runbook).read_text(), _dashboards()) == []


def test_runbooks_cite_every_dashboard_they_rely_on() -> None:
    text = "\n".join(p.read_text() for p in RUNBOOKS.glob("*.md"))
    assert {t for t, _ in cited_dashboards(text)} >= {
        "Platform / API golden signals",
        "Platform / Edge (CloudFront, WAF and real users)",
        "Platform / PostgreSQL and PgBouncer",
        "Platform / Deployments",
    }


def test_pull_requests_are_gated_and_fork_safe() -> None:
    assert pull_request_problems(load("pull-request.yml"), load("synth-diff-comment.yml")) == []


def test_workflows_preview_every_aws_stack_with_its_policy_config() -> None:
    (preview,) = [j for n, j in load("pull-request.yml")["jobs"].items() if n == "preview"]
    assert preview["strategy"]["matrix"]["stack"] == ["staging", "uat", "prod"]
    for stack in preview["strategy"]["matrix"]["stack"]:
        assert (ROOT / "policy" / "config" / f"{stack}.json").exists()


def _run_script(
    tmp_path: Path,
    script: str,
    kubectl: str,
    states: list[str],
    *,
    timeout: int,
    env: dict[str, str],
) -> subprocess.CompletedProcess[str]:
    """A deploy script against stub pulumi/aws/kubectl/sleep (`sleep` returns at once). The stub
    kubectl's ``kubectl`` body reads successive ``states`` with `next_state`; a state `ERR` makes
    that read fail as an unreachable API server would. Every read that succeeds also logs to stderr,
    as kubectl does when an aggregated API (metrics-server) is down: only stdout is the answer."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (tmp_path / "states").write_text("\n".join(states) + "\n")
    next_state = (
        'next_state() { line=$(head -n1 "$STATES"); tail -n +2 "$STATES" > "$STATES.next"; '
        '[ -s "$STATES.next" ] && mv "$STATES.next" "$STATES"; '
        'if [ "$line" = ERR ]; then echo "Unable to connect to the server" >&2; exit 1; fi; '
        'discovery_noise; printf %s "$line"; }'
    )
    noise = (
        "discovery_noise() { echo \"E1127 03:10:15.914728 memcache.go:287] couldn't get resource list "
        'for metrics.k8s.io/v1beta1: the server is currently unable to handle the request" >&2; }'
    )
    stubs = {
        "pulumi": "echo platform-uat",
        "aws": "exit 0",
        "sleep": "exit 0",
        "kubectl": f'{noise}\n{next_state}\necho "$*" >> "$STATES.calls"\n{kubectl}',
    }
    for name, body in stubs.items():
        (bin_dir / name).write_text(f"#!/usr/bin/env bash\n{body}\n")
        (bin_dir / name).chmod(0o755)
    environment = {"PATH": f"{bin_dir}:/usr/bin:/bin", "STATES": str(tmp_path / "states"), **env}
    path = ROOT / ".github" / "scripts" / script
    return subprocess.run(
        ["bash", str(path), "org/uat", str(timeout)],
        capture_output=True,
        text=True,
        env=environment,
        check=False,
    )


# The stub Rollout: `get … -o name` answers per $FOUND; each status read is the next state
# (`generation|observed|phase|stableRS|currentPodHash|abort`).
_ROLLOUT_KUBECTL = """case "$*" in
  *jsonpath=*message*) echo "analysis failed";;
  *jsonpath=*) next_state;;
  *"-o name"*)
    case "${FOUND:-yes}" in
      yes) echo rollout.argoproj.io/api;;
      notfound) echo 'Error from server (NotFound): rollouts.argoproj.io "api" not found' >&2; exit 1;;
      nokind) echo "error: the server doesn't have a resource type \\"rollouts\\"" >&2; exit 1;;
      *) echo "$FOUND" >&2; exit 1;;
    esac;;
esac"""


def _run_wait_rollout(
    tmp_path: Path, states: list[str], timeout: int = 60, found: str = "yes"
) -> subprocess.CompletedProcess[str]:
    return _run_script(
        tmp_path, "wait-rollout.sh", _ROLLOUT_KUBECTL, states, timeout=timeout, env={"FOUND": found}
    )


def test_rollout_wait_passes_only_once_the_new_revision_is_stable(tmp_path: Path) -> None:
    result = _run_wait_rollout(
        tmp_path,
        [
            "7|6|Healthy|aaa|aaa|",  # right after `pulumi up`: the previous revision's Healthy
            "ERR",  # one failed read is tolerated
            "7|7|Paused|aaa|bbb|",  # the new revision waits for promotion
            "7|7|Healthy|bbb|bbb|",
        ],
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("generation 7") == 3 and "released: bbb" in result.stdout


@pytest.mark.parametrize(
    ("states", "message"),
    [
        (["7|7|Paused|aaa|bbb|", "7|7|Degraded|aaa|bbb|true"], "aborted"),
        (["7|6|Healthy|aaa|aaa|"], "did not complete"),  # never observed: times out
        (["7||Progressing|||"], "did not complete"),  # empty fields do not shift the others
        (["7|7|Paused|aaa|bbb|", "ERR", "ERR", "ERR"], "could not be read 3 times"),
    ],
)
def test_rollout_wait_fails_on_an_abort_or_a_release_that_never_completes(
    tmp_path: Path, states: list[str], message: str
) -> None:
    result = _run_wait_rollout(tmp_path, states, timeout=0 if message == "did not complete" else 60)
    assert result.returncode == 1
    assert message in result.stdout


@pytest.mark.parametrize(("found", "code"), [("notfound", 0), ("nokind", 0), ("yes", 0), ("forbidden", 1)])
def test_rollout_wait_skips_only_a_missing_rollout(tmp_path: Path, found: str, code: int) -> None:
    """No Rollout (a rolling stack) is nothing to wait for; a refused read is not."""
    message = (
        'Error from server (Forbidden): rollouts.argoproj.io "api" is forbidden: User "deploy" cannot get'
    )
    result = _run_wait_rollout(
        tmp_path, ["3|3|Healthy|aaa|aaa|"], found=message if found == "forbidden" else found
    )
    assert result.returncode == code, result.stdout + result.stderr
    if found == "forbidden":
        assert "cannot read the Rollout" in result.stdout and "Forbidden" in result.stdout


# The stub cluster for down-migration.sh: $HELD lists the held CronJobs; `create job` answers per
# $CREATE; each Job read is the next state (`Complete|Failed` condition statuses).
_DOWN_KUBECTL = """case "$*" in
  "get cronjobs"*) discovery_noise; printf %s "${HELD:-}";;
  "create job"*)
    case "${CREATE:-ok}" in
      ok) echo "job.batch/$3 created";;
      exists) echo "error: failed to create job: jobs.batch \"$3\" already exists" >&2; exit 1;;
      *) echo "$CREATE" >&2; exit 1;;
    esac;;
  "get job/"*) next_state;;
  "logs"*) echo "alembic: downgrade failed";;
esac"""


def _run_down_migration(
    tmp_path: Path, held: str, states: list[str], create: str = "ok", timeout: int = 60
) -> tuple[subprocess.CompletedProcess[str], str]:
    result = _run_script(
        tmp_path,
        "down-migration.sh",
        _DOWN_KUBECTL,
        states,
        timeout=timeout,
        env={"HELD": held, "CREATE": create},
    )
    return result, (tmp_path / "states.calls").read_text()


def test_down_migration_runs_each_held_job_once_and_waits_for_it(tmp_path: Path) -> None:
    result, calls = _run_down_migration(tmp_path, "api-migrate-down-abc", ["|", "ERR", "|", "True|"])
    assert result.returncode == 0, result.stdout + result.stderr
    assert "create job api-migrate-down-abc --from=cronjob/api-migrate-down-abc" in calls
    assert "the down migration api-migrate-down-abc completed" in result.stdout


def test_down_migration_never_starts_a_job_twice(tmp_path: Path) -> None:
    result, calls = _run_down_migration(tmp_path, "api-migrate-down-abc", ["True|"], create="exists")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "was started before: not starting it again" in result.stdout
    assert calls.count("create job") == 1


def test_down_migration_without_a_held_job_does_nothing(tmp_path: Path) -> None:
    result, calls = _run_down_migration(tmp_path, "", [])
    assert result.returncode == 0 and "no held down migration" in result.stdout
    assert "create job" not in calls


@pytest.mark.parametrize(
    ("states", "create", "message"),
    [
        (["|", "|True"], "ok", "the down migration api-migrate-down-abc failed"),
        (["|"], "ok", "did not finish"),
        (["ERR", "ERR", "ERR"], "ok", "could not be read 3 times"),
        ([], "Error from server (Forbidden): jobs.batch is forbidden", "cannot start"),
    ],
)
def test_down_migration_fails_loudly(tmp_path: Path, states: list[str], create: str, message: str) -> None:
    result, _ = _run_down_migration(
        tmp_path,
        "api-migrate-down-abc",
        states,
        create=create,
        timeout=0 if message == "did not finish" else 60,
    )
    assert result.returncode == 1
    assert message in result.stdout
    if "failed" in message:
        assert "alembic: downgrade failed" in result.stdout


SCRIPTS = sorted((ROOT / ".github" / "scripts").glob("*.sh"))
# GitHub substitutes `${{ … }}` before bash runs; shellcheck sees a plain word in its place.
_EXPRESSION = re.compile(r"\$\{\{.*?\}\}")


def _shellcheck(paths: list[Path]) -> subprocess.CompletedProcess[str]:
    tool = require_tool("shellcheck")
    return subprocess.run(
        [tool, "--severity=style", "--format=gcc", "--external-sources", *map(str, paths)],
        capture_output=True,
        text=True,
        check=False,
    )


def _run_blocks(tmp_path: Path) -> list[Path]:
    """Every `run:` step of every workflow as a bash file (GitHub runs them with `bash -e -o pipefail`)."""
    blocks = []
    for name in FILES:
        for job_name, job in load(name)["jobs"].items():
            for index, step in enumerate(_steps(job)):
                if "run" in step:
                    path = tmp_path / f"{Path(name).stem}.{job_name}.{index}.sh"
                    body = _EXPRESSION.sub("GITHUB_EXPRESSION", str(step["run"]))
                    path.write_text(f"#!/usr/bin/env bash\nset -eo pipefail\n{body}")
                    blocks.append(path)
    return blocks


def test_every_script_and_run_step_passes_shellcheck(tmp_path: Path) -> None:
    blocks = _run_blocks(tmp_path)
    assert len(SCRIPTS) >= 4 and len(blocks) > 20
    result = _shellcheck([*SCRIPTS, *blocks])
    assert result.returncode == 0, result.stdout + result.stderr


def _ci_packages() -> set[str]:
    match = re.search(r"^DEBIAN_PACKAGES=\((?P<names>[^)]*)\)", (ROOT / ".ci" / "run").read_text(), re.M)
    assert match, ".ci/run lists its Debian packages in DEBIAN_PACKAGES=(...)"
    return set(match["names"].split())


def _workflow_packages(workflow: dict[str, Any]) -> set[str]:
    runs = [str(s.get("run", "")) for s in _steps(workflow["jobs"]["test"])]
    installs = [line for run in runs for line in run.splitlines() if "apt-get install" in line]
    return {word for line in installs for word in line.split() if not word.startswith("-")} - {
        "sudo",
        "apt-get",
        "install",
    }


def test_the_pull_request_tests_get_the_same_real_tools_as_ci() -> None:
    assert _ci_packages() == _workflow_packages(load("pull-request.yml"))
    broken = _broken(
        "pull-request.yml",
        lambda w: w["jobs"]["test"]["steps"].remove(_named(w, "test", "Real tools the tests drive")),
    )
    assert _ci_packages() != _workflow_packages(broken)


def test_shellcheck_catches_a_guard_that_swallows_the_next_line(tmp_path: Path) -> None:
    """An apostrophe inside `${VAR:?…}` opens a quote, and the next line's guard is never checked."""
    broken = tmp_path / "broken.sh"
    broken.write_text(
        '#!/usr/bin/env bash\n: "${API_URL:?set API_URL (the environment\'s URL)}"\n'
        ': "${FRONTEND_URL:?set FRONTEND_URL (the environment\'s URL)}"\n'
    )
    result = _shellcheck([broken])
    assert result.returncode != 0 and "SC1011" in result.stdout


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


def _named(workflow: dict[str, Any], job: str, name: str) -> dict[str, Any]:
    return next(s for s in _steps(workflow["jobs"][job]) if s.get("name") == name)


def _up(workflow: dict[str, Any], job: str) -> dict[str, Any]:
    return next(
        s for s in _steps(workflow["jobs"][job]) if str(s.get("uses", "")).startswith("pulumi/actions@")
    )


def _uses_step(workflow: dict[str, Any], job: str, action: str) -> dict[str, Any]:
    return next(s for s in _steps(workflow["jobs"][job]) if str(s.get("uses", "")).startswith(action))


def _step_running(workflow: dict[str, Any], job: str, script: str) -> dict[str, Any]:
    return next(s for s in _steps(workflow["jobs"][job]) if script in str(s.get("run", "")))


@pytest.mark.parametrize(
    "change",
    [
        lambda w: w["jobs"]["deploy-prod"].update({"needs": ["deploy-staging"]}),
        lambda w: w["jobs"]["deploy-prod"].pop("environment"),
        lambda w: w["jobs"]["deploy-uat"].update({"needs": ["deploy-staging"]}),
        lambda w: _up(w, "deploy-staging")["with"].pop("policyPacks"),
        lambda w: w["on"]["push"].update({"branches": ["*"]}),
        lambda w: w["jobs"]["gates"].pop("if"),
        lambda w: w["jobs"]["gates"].update({"if": "github.ref != ''"}),
        lambda w: w["jobs"]["deploy-dev"].pop("needs"),
        lambda w: w["jobs"]["deploy-staging"].update({"needs": []}),
        lambda w: _up(w, "deploy-prod")["with"].pop("refresh"),
        lambda w: _up(w, "deploy-dev")["with"].update({"refresh": False}),
        lambda w: w["jobs"]["deploy-uat"]["steps"].remove(_step_running(w, "deploy-uat", "wait-rollout.sh")),
        lambda w: w["jobs"]["deploy-uat"]["steps"].remove(
            _step_running(w, "deploy-uat", "down-migration.sh")
        ),
        lambda w: w["jobs"]["deploy-staging"]["steps"].insert(
            0,
            w["jobs"]["deploy-staging"]["steps"].pop(
                w["jobs"]["deploy-staging"]["steps"].index(
                    _step_running(w, "deploy-staging", "down-migration.sh")
                )
            ),
        ),
        lambda w: _uses_step(w, "deploy-uat", "aws-actions/configure-aws-credentials")["with"].pop(
            "role-duration-seconds"
        ),
        lambda w: w["jobs"]["deploy-prod"].update({"timeout-minutes": 600}),
        lambda w: w["jobs"]["deploy-prod"]["steps"].insert(
            0,
            w["jobs"]["deploy-prod"]["steps"].pop(
                w["jobs"]["deploy-prod"]["steps"].index(_step_running(w, "deploy-prod", "wait-rollout.sh"))
            ),
        ),
    ],
)
def test_promotion_check_catches_a_skipped_gate(change: Any) -> None:
    assert promotion_problems(_broken("deploy.yml", change)) != []


@pytest.mark.parametrize(
    "change",
    [
        lambda w: w["on"].pop("schedule"),
        lambda w: _step(w["jobs"]["drift"], "preview").update(
            {"run": _step(w["jobs"]["drift"], "preview")["run"].replace("--expect-no-changes", "")}
        ),
        lambda w: _step(w["jobs"]["drift"], "preview").update(
            {"run": _step(w["jobs"]["drift"], "preview")["run"].replace("--refresh", "")}
        ),
        lambda w: w["jobs"]["drift"]["steps"].pop(),
        lambda w: _named(w, "drift", "Notify on drift").update(
            {"if": "failure() && steps.preview.outcome == 'failure'"}
        ),
        lambda w: _named(w, "drift", "Notify on drift").update(
            {"if": "failure() || steps.preview.outputs.drift == 'true'"}
        ),
        lambda w: w["jobs"]["drift"]["steps"].remove(_named(w, "drift", "Notify on drift")),
    ],
)
def test_drift_check_catches_a_blind_detector(change: Any) -> None:
    assert drift_problems(_broken("drift.yml", change)) != []


@pytest.mark.parametrize(
    "broken",
    [
        # the old detector: any failure of the preview is drift
        'pulumi preview --refresh --expect-no-changes || { echo "drift=true" >> "$GITHUB_OUTPUT"; exit 0; }\n'
        'echo "drift=false" >> "$GITHUB_OUTPUT"\n',
        # a failed preview that does not fail the step
        'pulumi preview --refresh --expect-no-changes; echo "drift=false" >> "$GITHUB_OUTPUT"\n',
    ],
)
def test_drift_verdict_check_catches_a_detector_that_mistakes_failures(broken: str, tmp_path: Path) -> None:
    assert drift_verdict_problems(broken, tmp_path) != []


@pytest.mark.parametrize(
    ("old", "new"),
    [
        # trusts the artifact written by the pull request's code
        ("let number = run.pull_requests[0]?.number;", "let number = claimed;"),
        # no cross-check with the artifact
        ("if (number !== claimed) {", "if (false) {"),
        # takes any associated pull request, closed or of another repository
        ("p.state === 'open' &&", "true ||"),
    ],
)
def test_comment_target_check_catches_a_spoofable_pull_request_number(
    old: str, new: str, tmp_path: Path
) -> None:
    script = _comment_script()
    assert old in script
    assert comment_target_problems(script.replace(old, new), tmp_path) != []


@pytest.mark.parametrize(
    "text",
    [
        "on *Platform / Edge (CloudFront and WAF)* the 4xx / 5xx rates return to baseline",
        "| x | *Platform / API golden signals* → *Availability over 1 week*, *Errors* |",
        "compare *Platform / API\ngolden signal* and",
    ],
)
def test_dashboard_citation_check_catches_a_renamed_dashboard_or_panel(text: str) -> None:
    assert dashboard_citation_problems(text, _dashboards()) != []


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
