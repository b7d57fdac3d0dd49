"""`synth diff`: resource-level and property-level changes, dangers, renames and malformed input."""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path
from typing import Any

import pytest

from synth.diff import (
    ABSENT,
    EXIT_DANGER,
    EXIT_INPUT_ERROR,
    FORCES_REPLACEMENT,
    STATEFUL_TYPES,
    DiffInputError,
    PropertyChange,
    diff_resources,
    forces_replacement,
    load_resources,
    main,
    render_markdown,
)

AURORA = "aws:rds/cluster:Cluster"
BUCKET = "aws:s3/bucket:Bucket"
DEPLOYMENT = "kubernetes:apps/v1:Deployment"


def res(
    type_: str,
    name: str,
    inputs: dict[str, Any] | None = None,
    *,
    protect: bool = False,
    parents: str = "platform:index:Platform",
    stack: str = "prod",
    **extra: Any,
) -> dict[str, Any]:
    """A resource entry shaped like `python -m synth --out` writes it."""
    chain = f"{parents}${type_}" if parents else type_
    return {
        "urn": f"urn:pulumi:{stack}::platform::{chain}::{name}",
        "type": type_,
        "name": name,
        "custom": not type_.startswith("platform:"),
        "parent": None,
        "provider": None,
        "protect": protect,
        "inputs": inputs if inputs is not None else {},
        **extra,
    }


def aurora(**inputs: Any) -> dict[str, Any]:
    base = {"engine": "aurora-postgresql", "storageEncrypted": True, "tags": {"env": "prod"}}
    return res(AURORA, "db", {**base, **inputs}, protect=True)


def deployment(image: str = "api:1", **spec: Any) -> dict[str, Any]:
    containers = [{"name": "api", "image": image}]
    return res(
        DEPLOYMENT,
        "api",
        {"metadata": {"name": "api"}, "spec": {"template": {"spec": {"containers": containers}}, **spec}},
    )


def write(tmp_path: Path, name: str, data: Any) -> str:
    path = tmp_path / name
    path.write_text(data if isinstance(data, str) else json.dumps(data), encoding="utf-8")
    return str(path)


def lines_of(old: list[dict[str, Any]], new: list[dict[str, Any]]) -> list[str]:
    diff = diff_resources(old, new)
    assert len(diff.changed) == 1
    return [c.describe() for c in diff.changed[0].inputs]


# --------------------------------------------------------------------------- resources


def test_equal_stacks_render_no_changes_and_no_warning() -> None:
    stack = [aurora(), deployment()]
    diff = diff_resources(stack, list(reversed(stack)))
    markdown = render_markdown(diff, "prod")
    assert diff.is_empty and diff.unchanged == 2
    assert "No changes." in markdown
    assert "[!CAUTION]" not in markdown


def test_added_removed_and_changed_resources_are_counted_and_listed() -> None:
    old = [deployment("api:1"), res(DEPLOYMENT, "worker", {"x": 1}), res("kubernetes:core/v1:Service", "svc")]
    new = [
        deployment("api:2"),
        res("kubernetes:core/v1:Service", "svc"),
        res(BUCKET, "assets", {"bucket": "a"}),
    ]
    diff = diff_resources(old, new)
    assert [r.name for r in diff.added] == ["assets"]
    assert [r.name for r in diff.removed] == ["worker"]
    assert [c.name for c in diff.changed] == ["api"]
    assert diff.unchanged == 1
    markdown = render_markdown(diff, "prod")
    assert "**Summary:** 1 to add, 1 to change, 1 to delete, 1 unchanged" in markdown
    for heading in ("### Added (1)", "### Removed (1)", "### Changed (1)"):
        assert heading in markdown
    assert "No changes." not in markdown


@pytest.mark.parametrize(
    ("old_inputs", "new_inputs", "expected"),
    [
        (
            {"spec": {"template": {"spec": {"containers": [{"image": "a:1"}]}}}},
            {"spec": {"template": {"spec": {"containers": [{"image": "a:2"}]}}}},
            ['~ spec.template.spec.containers[0].image: "a:1" → "a:2"'],
        ),
        ({"args": ["x"]}, {"args": ["x", "y"]}, ['+ args[1]: "y"']),
        ({"args": ["x", "y"]}, {"args": ["x"]}, ['- args[1]: "y"']),
        (
            {"metadata": {"labels": {"app.kubernetes.io/name": "api"}}},
            {"metadata": {"labels": {"app.kubernetes.io/name": "web"}}},
            ['~ metadata.labels["app.kubernetes.io/name"]: "api" → "web"'],
        ),
        ({"replicas": 2}, {"replicas": "2"}, ['~ replicas: 2 → "2"']),
        ({"a": {"b": 1}}, {"a": None}, ['~ a: {"b": 1} → null']),
        (
            {"data": {"pgbouncer.ini": "[pgbouncer]\nlisten_port = 6432\n"}},
            {"data": {"pgbouncer.ini": "[pgbouncer]\nlisten_port = 6433\npool_mode = transaction\n"}},
            [
                '~ data["pgbouncer.ini"] (line 2): "listen_port = 6432" → "listen_port = 6433"',
                '+ data["pgbouncer.ini"] (line 3): "pool_mode = transaction"',
            ],
        ),
    ],
    ids=[
        "nested-list-index",
        "list-grows",
        "list-shrinks",
        "dotted-key",
        "type-change",
        "dict-to-null",
        "lines",
    ],
)
def test_property_changes_are_dotted_paths_with_list_indexes(
    old_inputs: dict[str, Any], new_inputs: dict[str, Any], expected: list[str]
) -> None:
    assert lines_of([res(DEPLOYMENT, "api", old_inputs)], [res(DEPLOYMENT, "api", new_inputs)]) == expected


def test_secrets_stay_masked() -> None:
    old = res(DEPLOYMENT, "api", {"password": "[secret]", "env": [{"name": "A", "value": "[secret]"}]})
    new = res(
        DEPLOYMENT,
        "api",
        {
            "password": "[secret]",
            "env": [{"name": "A", "value": "[secret]"}, {"name": "B", "value": "[secret]"}],
            "token": "[secret]",
        },
    )
    changes = lines_of([old], [new])
    assert changes == ['+ env[1]: {"name": "B", "value": "[secret]"}', "+ token: [secret]"]
    assert "password" not in render_markdown(diff_resources([old], [new]), "t")


def test_long_values_are_shortened_around_the_first_difference() -> None:
    prefix = "x" * 300
    change = PropertyChange("policy", prefix + "Allow" + "y" * 300, prefix + "Deny" + "y" * 300)
    line = change.describe(width=60)
    assert len(line) < 2 * 60 + 20
    assert "Allow" in line and "Deny" in line and "…" in line


def test_thousands_of_property_changes_are_capped_per_resource() -> None:
    old = res(DEPLOYMENT, "api", {f"k{i:04}": i for i in range(2000)})
    new = res(DEPLOYMENT, "api", {f"k{i:04}": i + 1 for i in range(2000)})
    markdown = render_markdown(diff_resources([old], [new]), "t", max_properties=40)
    assert "… and 1960 more" in markdown
    assert markdown.count("\n~ k") == 40
    assert len(markdown) < 10_000


def test_markdown_is_deterministic_whatever_the_input_order() -> None:
    old = [aurora(), deployment(), res(BUCKET, "b1", {"bucket": "b1"}), res(BUCKET, "b2", {"bucket": "b2"})]
    new = [aurora(engine="aurora-mysql"), deployment("api:2"), res(BUCKET, "b3", {"bucket": "b3"})]
    first = render_markdown(diff_resources(old, new), "t")
    second = render_markdown(diff_resources(old[::-1], new[::-1]), "t")
    assert first == second


def test_long_resource_lists_are_collapsed_and_capped() -> None:
    added = [res(BUCKET, f"b{i:03}", {"bucket": f"b{i:03}"}) for i in range(300)]
    markdown = render_markdown(diff_resources([], added), "t", max_resources=150)
    assert "### Added (300)" in markdown
    assert "<details><summary>300 resources</summary>" in markdown
    assert markdown.count("\n- `b") == 150
    assert "- … and 150 more resources" in markdown


def test_details_blocks_are_balanced_and_fenced() -> None:
    markdown = render_markdown(diff_resources([deployment()], [deployment("api:2")]), "t")
    assert markdown.count("<details>") == markdown.count("</details>") == 1
    assert "```diff" in markdown


def test_two_stacks_of_one_program_compare_by_type_and_name() -> None:
    old = [res(DEPLOYMENT, "api", {"replicas": 1}, stack="staging")]
    new = [res(DEPLOYMENT, "api", {"replicas": 3}, stack="prod")]
    diff = diff_resources(old, new)
    assert not diff.added and not diff.removed and len(diff.changed) == 1
    assert "Comparing stack `platform/staging` with `platform/prod`." in render_markdown(diff, "t")


def test_files_of_two_different_programs_are_refused() -> None:
    old = [res(DEPLOYMENT, "api", {"replicas": 1})]
    other = res(DEPLOYMENT, "api", {"replicas": 1})
    other["urn"] = other["urn"].replace("::platform::", "::webshop::", 1)
    with pytest.raises(DiffInputError, match="old is project 'platform', new is project 'webshop'"):
        diff_resources(old, [other])


# --------------------------------------------------------------------------- dangers


@pytest.mark.parametrize(
    ("old", "new", "kind", "wording"),
    [
        ([res(DEPLOYMENT, "api", protect=True)], [], "delete", "Deletes protected resource `api`"),
        ([res(BUCKET, "logs", {"bucket": "l"})], [], "delete", "Deletes stateful S3 bucket `logs`"),
        ([aurora()], [aurora(engine="aurora-mysql")], "replace", "`engine` cannot change in place"),
        ([aurora()], [aurora(storageEncrypted=False)], "replace", "`storageEncrypted` cannot change"),
        ([aurora()], [{**aurora(), "protect": False}], "unprotect", "Turns `protect` off"),
        (
            [res("kubernetes:core/v1:PersistentVolumeClaim", "data", {"spec": {"storageClassName": "gp2"}})],
            [res("kubernetes:core/v1:PersistentVolumeClaim", "data", {"spec": {"storageClassName": "gp3"}})],
            "replace",
            "`spec.storageClassName`",
        ),
        (
            [res("aws:eks/cluster:Cluster", "eks", {"vpcConfig": {"subnetIds": ["a", "b"]}})],
            [res("aws:eks/cluster:Cluster", "eks", {"vpcConfig": {"subnetIds": ["a", "c"]}})],
            "replace",
            "`vpcConfig.subnetIds[1]`",
        ),
        (
            [res("kubernetes:postgresql.cnpg.io/v1:Cluster", "pg", {"metadata": {"namespace": "data"}})],
            [res("kubernetes:postgresql.cnpg.io/v1:Cluster", "pg", {"metadata": {"namespace": "db"}})],
            "replace",
            "CloudNativePG cluster",
        ),
        (
            [res("kubernetes:apps/v1:StatefulSet", "redis", {"spec": {"volumeClaimTemplates": [{"a": 1}]}})],
            [res("kubernetes:apps/v1:StatefulSet", "redis", {"spec": {"volumeClaimTemplates": [{"a": 2}]}})],
            "replace",
            "`spec.volumeClaimTemplates[0].a`",
        ),
        (
            [res(DEPLOYMENT, "api", {"metadata": {"name": "a"}}, protect=True)],
            [res(DEPLOYMENT, "api", {"metadata": {"name": "b"}}, protect=True)],
            "replace",
            "Replaces protected resource `api`",
        ),
        (
            [aurora()],
            [{**aurora(), "provider": "urn:pulumi:prod::platform::pulumi:providers:aws::east::id"}],
            "replace",
            "another provider",
        ),
    ],
    ids=[
        "delete-protected",
        "delete-stateful",
        "replace-aurora-engine",
        "replace-aurora-encryption",
        "protect-off",
        "pvc-storage-class",
        "eks-subnets",
        "cnpg-namespace",
        "statefulset-claims",
        "protected-plain-replaced",
        "stateful-provider-moved",
    ],
)
def test_dangerous_changes_raise_a_loud_warning(
    old: list[dict[str, Any]], new: list[dict[str, Any]], kind: str, wording: str
) -> None:
    diff = diff_resources(old, new)
    assert [d.kind for d in diff.dangers] == [kind]
    assert wording in diff.dangers[0].message
    markdown = render_markdown(diff, "t")
    assert markdown.splitlines()[2:4] == [
        "> [!CAUTION]",
        "> **1 dangerous change: data loss or a dropped safeguard. Review before merging.**",
    ]


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ([aurora()], [aurora(tags={"env": "prod", "team": "data"})]),
        ([aurora()], [aurora(backupRetentionPeriod=35)]),
        ([res(DEPLOYMENT, "api")], []),
        ([deployment("api:1")], [deployment("api:2")]),
        ([{**aurora(), "protect": False}], [aurora()]),
        (
            [res("kubernetes:apps/v1:StatefulSet", "redis", {"spec": {"replicas": 1}})],
            [res("kubernetes:apps/v1:StatefulSet", "redis", {"spec": {"replicas": 3}})],
        ),
        ([], [aurora()]),
    ],
    ids=[
        "aurora-tag",
        "aurora-backup-retention",
        "delete-plain",
        "deployment-image",
        "protect-on",
        "statefulset-scale",
        "create-stateful",
    ],
)
def test_safe_changes_raise_no_warning(old: list[dict[str, Any]], new: list[dict[str, Any]]) -> None:
    diff = diff_resources(old, new)
    assert not diff.is_empty
    assert diff.dangers == ()
    assert "[!CAUTION]" not in render_markdown(diff, "t")


def test_replacement_of_a_plain_resource_is_marked_but_not_a_danger() -> None:
    old = [res(DEPLOYMENT, "api", {"metadata": {"name": "api"}})]
    new = [res(DEPLOYMENT, "api", {"metadata": {"name": "api-v2"}})]
    diff = diff_resources(old, new)
    assert diff.changed[0].replace_paths == ("metadata.name",)
    assert diff.dangers == ()
    assert "(1 replaced)" in render_markdown(diff, "t")


@pytest.mark.parametrize(
    ("type_", "path", "replaces"),
    [
        (AURORA, "engine", True),
        (AURORA, "engineVersion", False),
        ("aws:eks/cluster:Cluster", "vpcConfig", True),
        ("aws:eks/cluster:Cluster", "vpcConfig.endpointPublicAccess", False),
        ("kubernetes:core/v1:ConfigMap", "metadata.namespace", True),
        ("kubernetes:core/v1:ConfigMap", "metadata.names", False),
        ("kubernetes:core/v1:ConfigMap", 'metadata.labels["a"]', False),
        (BUCKET, "region", True),
    ],
)
def test_forces_replacement_matches_whole_path_segments(type_: str, path: str, replaces: bool) -> None:
    assert forces_replacement(type_, path) is replaces


# --------------------------------------------------------------------------- renames


def test_moved_resource_with_identical_inputs_is_reported_as_a_rename() -> None:
    old = [res(BUCKET, "logs", {"bucket": "logs"}), deployment()]
    new = [
        res(BUCKET, "logs", {"bucket": "logs"}, parents="platform:index:Platform$platform:edge:Edge"),
        deployment(),
    ]
    diff = diff_resources(old, new)
    assert not diff.added and not diff.removed
    assert [(r.old.urn, r.new.urn) for r in diff.renamed] == [(old[0]["urn"], new[0]["urn"])]
    assert [d.kind for d in diff.dangers] == ["delete"]
    assert "likely a rename" in diff.dangers[0].message and "`aliases`" in diff.dangers[0].message
    assert "### Renamed (1)" in render_markdown(diff, "t")


@pytest.mark.parametrize(
    "new",
    [
        [res(DEPLOYMENT, "api2", {"replicas": 2})],
        [res("kubernetes:apps/v1:StatefulSet", "api2", {"replicas": 1})],
        [res(DEPLOYMENT, "api2", {"replicas": 1}), res(DEPLOYMENT, "api3", {"replicas": 1})],
    ],
    ids=["inputs-differ", "type-differs", "ambiguous"],
)
def test_not_a_rename_unless_one_resource_matches_type_and_inputs(new: list[dict[str, Any]]) -> None:
    diff = diff_resources([res(DEPLOYMENT, "api", {"replicas": 1})], new)
    assert diff.renamed == ()
    assert len(diff.removed) == 1 and len(diff.added) == len(new)


# --------------------------------------------------------------------------- command line


def test_main_prints_markdown_and_exits_zero(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    old = write(tmp_path, "old.json", [deployment("api:1")])
    new = write(tmp_path, "new.json", [deployment("api:2")])
    assert main(["diff", old, new, "--title", "Preview of prod"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("## Preview of prod\n")
    assert '~ spec.template.spec.containers[0].image: "api:1" → "api:2"' in out


@pytest.mark.parametrize(
    ("stacks", "flag", "code"),
    [
        (([aurora()], []), True, EXIT_DANGER),
        (([aurora()], []), False, 0),
        (([aurora()], [aurora(tags={"env": "x"})]), True, 0),
    ],
    ids=["danger-with-flag", "danger-without-flag", "no-danger-with-flag"],
)
def test_fail_on_danger_sets_the_exit_code(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    stacks: tuple[list[dict[str, Any]], list[dict[str, Any]]],
    flag: bool,
    code: int,
) -> None:
    args = [write(tmp_path, "old.json", stacks[0]), write(tmp_path, "new.json", stacks[1])]
    assert main(args + (["--fail-on-danger"] if flag else [])) == code
    assert capsys.readouterr().out.startswith("## ")


VALID = res(DEPLOYMENT, "api")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "not valid JSON (line 1, column 2"),
        ({"resources": []}, "expected a JSON array of resources"),
        (["urn:pulumi:prod::platform::x::y"], "entry #0: expected a resource object, got a string"),
        ([{"urn": VALID["urn"], "type": DEPLOYMENT}], "entry #0: not a resource: missing 'inputs'"),
        ([{"name": "x"}], "missing 'urn', 'type', 'inputs'"),
        ([VALID, VALID], f"duplicate URN {VALID['urn']} (entries #0 and #1)"),
        ([{**VALID, "urn": "api"}], "'urn' is not a Pulumi URN"),
        ([{**VALID, "type": BUCKET}], "does not match the URN"),
        ([{**VALID, "inputs": []}], "'inputs' must be an object"),
        ([{**VALID, "protect": "yes"}], "'protect' must be bool"),
        ([VALID, res(BUCKET, "b", stack="dev")], "mixes resources of several stacks"),
    ],
    ids=[
        "bad-json",
        "not-a-list",
        "entry-not-object",
        "missing-inputs",
        "missing-keys",
        "duplicate-urn",
        "bad-urn",
        "type-mismatch",
        "inputs-not-object",
        "protect-not-bool",
        "mixed-stacks",
    ],
)
def test_malformed_file_exits_2_with_a_one_line_message(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: Any, message: str
) -> None:
    bad = write(tmp_path, "bad.json", content)
    good = write(tmp_path, "good.json", [VALID])
    assert main(["diff", good, bad]) == EXIT_INPUT_ERROR
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.count("\n") == 1
    assert captured.err.startswith(f"synth diff: error: {bad}: ")
    assert message in captured.err
    with pytest.raises(DiffInputError, match=re.escape(message)):
        load_resources(bad)


@pytest.mark.parametrize(
    "argv",
    [["diff", "only-one.json"], ["a.json", "b.json", "--colour"], ["diff", "missing.json", "missing.json"]],
    ids=["one-file", "unknown-flag", "missing-file"],
)
def test_bad_arguments_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == EXIT_INPUT_ERROR
    err = capsys.readouterr().err
    assert err.startswith("synth diff: error: ") and err.count("\n") == 1


def test_load_resources_returns_the_entries(tmp_path: Path) -> None:
    assert load_resources(write(tmp_path, "r.json", [VALID])) == [VALID]


def test_diff_resources_rejects_lists_that_are_not_resources() -> None:
    with pytest.raises(DiffInputError, match="new: entry #0: not a resource"):
        diff_resources([VALID], [{"urn": VALID["urn"]}])


# --------------------------------------------------------------------------- the tables


def sdk_unknown_names(table: dict[str, tuple[str, ...]], stateful: dict[str, str]) -> list[str]:
    """AWS type tokens and input paths in the tables that the installed pulumi-aws does not define."""
    spec = importlib.util.find_spec("pulumi_aws")
    assert spec is not None and spec.origin is not None
    root = Path(spec.origin).parent
    aws_types = sorted({t for t in (*table, *stateful) if t.startswith("aws:") and "*" not in t})
    unknown: list[str] = []
    for type_ in aws_types:
        module, cls = type_.split(":")[1].split("/")[0], type_.split(":")[2]
        text = _sdk_source(root, type_)
        if f'@pulumi.type_token("{type_}")' not in text:
            unknown.append(type_)
            continue
        inputs_text = (root / module / "_inputs.py").read_text(encoding="utf-8")
        for path in table.get(type_, ()):
            owner, source_text = cls, text
            for segment in path.split("."):
                if segment not in _args_getters(source_text, owner):
                    unknown.append(f"{type_} {path}")
                    break
                owner, source_text = owner + segment[0].upper() + segment[1:], inputs_text
    # A rule for every AWS type (e.g. `region`) only has to exist on some of them: global
    # resources such as Route53 zones have no region.
    for path in table.get("aws:*", ()):
        if not any(path in _args_getters(_sdk_source(root, t), t.rsplit(":", 1)[1]) for t in aws_types):
            unknown.append(f"aws:* {path}")
    return unknown


def _sdk_source(root: Path, type_: str) -> str:
    module, resource = type_.split(":")[1].split("/")
    source = root / module / (re.sub(r"(?<!^)([A-Z])", r"_\1", resource).lower() + ".py")
    return source.read_text(encoding="utf-8") if source.exists() else ""


def _args_getters(source: str, cls: str) -> set[str]:
    match = re.search(rf"^class {cls}Args:.*?(?=^@|^class |\Z)", source, re.S | re.M)
    if match is None:
        return set()
    body = match.group(0)
    return {
        named or plain
        for named, plain in re.findall(r'@pulumi\.getter(?:\(name="(\w+)"\))?\n\s+def (\w+)\(self\)', body)
    }


def test_aws_replacement_table_uses_real_pulumi_aws_input_names() -> None:
    assert sdk_unknown_names(FORCES_REPLACEMENT, STATEFUL_TYPES) == []


def test_sdk_name_check_catches_a_misspelled_input_and_token() -> None:
    table = {
        AURORA: ("engine", "storageEncrypted", "storage_encrypted"),
        "aws:eks/cluster:Cluster": ("vpcConfig.subnetIds", "vpcConfig.subnetId"),
        "aws:s3/bucketV3:BucketV3": ("bucket",),
        "aws:*": ("region", "regoin"),
    }
    assert sdk_unknown_names(table, {}) == [
        "aws:eks/cluster:Cluster vpcConfig.subnetId",
        f"{AURORA} storage_encrypted",
        "aws:s3/bucketV3:BucketV3",
        "aws:* regoin",
    ]


def test_absent_marks_added_and_removed_properties() -> None:
    assert PropertyChange("a", ABSENT, 1).describe() == "+ a: 1"
    assert PropertyChange("a", 1, ABSENT).describe() == "- a: 1"
