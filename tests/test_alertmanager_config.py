"""The Alertmanager configuration: the settings model, secrets handling, and the real amtool."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from components.alertmanager_config import (
    AlertingSecretError,
    AlertingSettings,
    render_alertmanager_config,
)
from tests.tools import require_tool

SLACK = {"type": "slack", "name": "slack-alerts", "channel": "#platform-alerts"}
PAGER = {"type": "pagerduty", "name": "pager"}
EMAIL = {
    "type": "email",
    "name": "ops-mail",
    "to": ["ops@example.com", "dba@example.com"],
    "from": "alertmanager@example.com",
    "smarthost": "email-smtp.eu-west-1.amazonaws.com:587",
    "authUsername": "AKIAEXAMPLE",
}
SLACK_URL = "https://hooks.slack.com/services/T000/B000/XXXXXXXX"
PAGER_KEY = "0123456789abcdef0123456789abcdef"

# Shaped like the stacks' `platform:alerting` blocks (camelCase keys) and their secrets.
STACKS: dict[str, tuple[dict[str, Any], dict[str, str]]] = {
    "dev": ({}, {}),
    "staging": (
        {
            "receivers": [SLACK],
            "routes": [{"severity": "critical", "receiver": "slack-alerts"}],
            "defaultReceiver": "slack-alerts",
            "repeatInterval": "12h",
        },
        {"slack-alerts": SLACK_URL},
    ),
    "prod": (
        {
            "receivers": [SLACK, PAGER, EMAIL],
            "routes": [
                {"severity": "critical", "receiver": "slack-alerts", "continue": True},
                {"severity": "critical", "receiver": "ops-mail"},
                {"severity": "warning", "receiver": "slack-alerts"},
            ],
            "defaultReceiver": "slack-alerts",
            "groupBy": ["alertname", "namespace", "service", "severity"],
            "pageOnCritical": True,
            "requirePaging": True,
        },
        {"slack-alerts": SLACK_URL, "pager": PAGER_KEY, "ops-mail": "smtp-password"},
    ),
}


def _render(stack: str) -> str:
    config, secrets = STACKS[stack]
    return render_alertmanager_config(AlertingSettings.model_validate(config), secrets)


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "alertmanager.yaml"
    path.write_text(text)
    return path


def _amtool(*args: str) -> subprocess.CompletedProcess[str]:
    amtool = require_tool("amtool")
    return subprocess.run([amtool, *args], capture_output=True, text=True, timeout=60, check=False)


# ---------------------------------------------------------------------------------------------
# The model
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("config", "message"),
    [
        (
            {"receivers": [SLACK], "routes": [{"severity": "critical", "receiver": "slack-alrets"}]},
            "routes[0] (severity critical) sends to receiver 'slack-alrets', which is not defined "
            "(defined: null, slack-alerts)",
        ),
        ({"defaultReceiver": "team"}, "defaultReceiver 'team' is not a defined receiver (defined: null)"),
        (
            {
                "receivers": [SLACK],
                "routes": [{"severity": "critical", "receiver": "slack-alerts"}],
                "requirePaging": True,
            },
            "requirePaging is true (this stack must page a human): define a receiver of type pagerduty",
        ),
        # A PagerDuty receiver that nothing critical reaches does not page anyone either.
        ({"receivers": [PAGER], "requirePaging": True}, "requirePaging is true"),
        (
            {"receivers": [SLACK], "pageOnCritical": True},
            "pageOnCritical is true but no receiver has type pagerduty",
        ),
        ({"receivers": [SLACK, SLACK]}, "name(s) slack-alerts defined more than once"),
        ({"receivers": [{**PAGER, "name": "null"}]}, "the name 'null' is reserved"),
        ({"receivers": [{**SLACK, "channel": "platform alerts"}]}, "should match pattern"),
        ({"receivers": [{**SLACK, "webhookUrl": SLACK_URL}]}, "Extra inputs are not permitted"),
        ({"receivers": [{k: v for k, v in EMAIL.items() if k != "from"}]}, "from\n  Field required"),
        ({"receivers": [{**EMAIL, "smarthost": "smtp.example.com"}]}, "should match pattern"),
        ({"receivers": [{"type": "opsgenie", "name": "genie"}]}, "does not match any of the expected tags"),
        ({"groupWait": "30 seconds"}, "should match pattern"),
        (
            {"routes": [{"severity": "page", "receiver": "null"}]},
            "Input should be 'critical', 'warning' or 'info'",
        ),
    ],
)
def test_broken_settings_are_refused_with_a_clear_message(config: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=re.escape(message)):
        AlertingSettings.model_validate(config)


def test_prod_settings_page_on_critical() -> None:
    settings = AlertingSettings.model_validate(STACKS["prod"][0])
    assert settings.pagers == ("pager",)
    assert settings.require_paging and settings.page_on_critical


def test_routing_critical_to_pagerduty_satisfies_require_paging_without_page_on_critical() -> None:
    config = {
        "receivers": [PAGER],
        "routes": [{"severity": "critical", "receiver": "pager"}],
        "requirePaging": True,
    }
    assert AlertingSettings.model_validate(config).require_paging


# ---------------------------------------------------------------------------------------------
# Secrets
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("drop", "message"),
    [
        ("pager", "missing_secret: receiver 'pager' needs its PagerDuty routing key"),
        ("slack-alerts", "missing_secret: receiver 'slack-alerts' needs its Slack webhook URL"),
        ("ops-mail", "missing_secret: receiver 'ops-mail' needs its SMTP password"),
    ],
)
def test_missing_secret_is_refused_naming_the_receiver(drop: str, message: str) -> None:
    config, secrets = STACKS["prod"]
    with pytest.raises(AlertingSecretError, match=re.escape(message)):
        render_alertmanager_config(
            AlertingSettings.model_validate(config), {k: v for k, v in secrets.items() if k != drop}
        )


@pytest.mark.parametrize(
    ("secrets", "message"),
    [
        (
            {"slack-alerts": SLACK_URL, "slack-alert": SLACK_URL},
            "secrets given for unknown receiver(s): slack-alert",
        ),
        ({"slack-alerts": "http://hooks.example.com/x"}, "is not an https URL"),
        ({"slack-alerts": "   "}, "missing_secret"),
        ({"slack-alerts": SLACK_URL + "\n"}, "surrounding whitespace or a newline"),
    ],
)
def test_bad_secrets_are_refused(secrets: dict[str, str], message: str) -> None:
    settings = AlertingSettings.model_validate(STACKS["staging"][0])
    with pytest.raises(AlertingSecretError, match=re.escape(message)):
        render_alertmanager_config(settings, secrets)


def test_email_without_smtp_auth_needs_no_secret() -> None:
    email = {k: v for k, v in EMAIL.items() if k != "authUsername"}
    rendered = yaml.safe_load(
        render_alertmanager_config(AlertingSettings.model_validate({"receivers": [email]}), {})
    )
    assert "auth_password" not in rendered["receivers"][1]["email_configs"][0]


def test_secrets_reach_only_their_receiver_and_render_is_deterministic() -> None:
    rendered = yaml.safe_load(_render("prod"))
    by_name = {r["name"]: r for r in rendered["receivers"]}
    assert by_name["slack-alerts"]["slack_configs"][0]["api_url"] == SLACK_URL
    assert by_name["pager"]["pagerduty_configs"][0]["routing_key"] == PAGER_KEY
    assert by_name["ops-mail"]["email_configs"][0]["auth_password"] == "smtp-password"
    assert _render("prod") == _render("prod")
    assert PAGER_KEY not in AlertingSettings.model_validate(STACKS["prod"][0]).model_dump_json()


def test_critical_inhibits_the_matching_warning() -> None:
    rules = yaml.safe_load(_render("staging"))["inhibit_rules"]
    assert {
        "source_matchers": ['severity="critical"'],
        "target_matchers": ['severity=~"warning|info"'],
        "equal": ["alertname", "namespace", "service"],
    } in rules


# ---------------------------------------------------------------------------------------------
# amtool
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("stack", sorted(STACKS))
def test_amtool_accepts_the_config(tmp_path: Path, stack: str) -> None:
    result = _amtool("check-config", str(_write(tmp_path, _render(stack))))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


@pytest.mark.parametrize(
    ("corrupt", "error"),
    [
        (lambda text: text.replace("- receiver: pager\n", "- receiver: pagr\n"), 'undefined receiver "pagr"'),
        (lambda text: re.sub(r"\n *smarthost: .*", "", text), "no global SMTP smarthost set"),
        (lambda text: text.replace("group_wait: 30s", "group_wait: soon"), "not a valid duration"),
    ],
)
def test_amtool_rejects_a_corrupted_render(tmp_path: Path, corrupt, error: str) -> None:
    text = _render("prod")
    corrupted = corrupt(text)
    assert corrupted != text
    result = _amtool("check-config", str(_write(tmp_path, corrupted)))
    assert result.returncode != 0
    assert error in result.stdout + result.stderr


ROUTING = [
    ("prod", ["severity=critical", "alertname=ApiDown"], "pager,slack-alerts,ops-mail"),
    ("prod", ["severity=warning", "alertname=RedisEvictingKeys"], "slack-alerts"),
    ("prod", ["severity=none", "alertname=Watchdog"], "null"),
    ("prod", ["severity=info", "alertname=InfoInhibitor"], "null"),
    ("staging", ["severity=critical", "alertname=ApiDown"], "slack-alerts"),
    ("staging", ["severity=warning", "alertname=RedisEvictingKeys"], "slack-alerts"),
    ("dev", ["severity=critical", "alertname=ApiDown"], "null"),
]


@pytest.mark.parametrize(("stack", "labels", "receivers"), ROUTING)
def test_alerts_route_to_the_expected_receivers(
    tmp_path: Path, stack: str, labels: list[str], receivers: str
) -> None:
    path = _write(tmp_path, _render(stack))
    result = _amtool(
        "config", "routes", "test", f"--config.file={path}", f"--verify.receivers={receivers}", *labels
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == receivers


def test_route_verification_fails_on_a_wrong_receiver(tmp_path: Path) -> None:
    path = _write(tmp_path, _render("prod"))
    result = _amtool(
        "config", "routes", "test", f"--config.file={path}", "--verify.receivers=pager", "severity=warning"
    )
    assert result.returncode != 0


def test_secret_files_mode_puts_no_secret_in_the_config() -> None:
    settings, secrets = AlertingSettings.model_validate(STACKS["prod"][0]), STACKS["prod"][1]
    text = render_alertmanager_config(settings, {}, secret_dir="/etc/alertmanager/secrets/receivers/")
    assert not any(value in text for value in secrets.values())
    for receiver in ("slack-alerts", "pager", "ops-mail"):
        assert f"_file: /etc/alertmanager/secrets/receivers/{receiver}\n" in text


def test_secrets_inline_and_as_files_at_once_are_refused() -> None:
    settings, secrets = AlertingSettings.model_validate(STACKS["prod"][0]), STACKS["prod"][1]
    with pytest.raises(AlertingSecretError, match="either inline or as files, not both"):
        render_alertmanager_config(settings, secrets, secret_dir="/etc/alertmanager/secrets/x")
