"""deploy/prometheus: the configuration and the rules, checked and unit-tested by the
real promtool; every alert has a test in which it fires."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tests.support.tools import REPO, run_tool

PROMETHEUS = REPO / "deploy" / "prometheus"
RULE_FILES = sorted((PROMETHEUS / "rules").glob("*.yml"))
RULE_TESTS = sorted((PROMETHEUS / "tests").glob("*.test.yml"))


def _alerts() -> dict[str, dict[str, object]]:
    return {
        rule["alert"]: rule
        for path in RULE_FILES
        for group in yaml.safe_load(path.read_text())["groups"]
        for rule in group["rules"]
        if "alert" in rule
    }


def test_the_configuration_is_valid() -> None:
    result = run_tool("promtool", "check", "config", str(PROMETHEUS / "prometheus.yml"))
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_rules_are_valid() -> None:
    result = run_tool("promtool", "check", "rules", *map(str, RULE_FILES))
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("rule_test", RULE_TESTS, ids=lambda path: path.name)
def test_the_rule_tests_pass(rule_test: Path) -> None:
    result = run_tool("promtool", "test", "rules", str(rule_test))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_every_alert_fires_in_a_test() -> None:
    fired = {
        check["alertname"]
        for path in RULE_TESTS
        for case in yaml.safe_load(path.read_text())["tests"]
        for check in case.get("alert_rule_test", [])
        if check.get("exp_alerts")
    }
    assert sorted(set(_alerts()) - fired) == []


@pytest.mark.parametrize("name", sorted(_alerts()))
def test_every_alert_follows_the_conventions(name: str) -> None:
    rule = _alerts()[name]
    labels, annotations = rule["labels"], rule["annotations"]
    assert isinstance(labels, dict)
    assert isinstance(annotations, dict)
    assert name.startswith("KioskPulse")
    assert name.isidentifier()
    assert labels["severity"] in {"critical", "warning", "info"}
    assert labels["category"] in {"satisfaction", "fleet", "pipeline"}
    assert {"summary", "description", "runbook_url"} <= set(annotations)
    anchor = str(annotations["runbook_url"]).split("#", 1)[1]
    assert anchor == name.lower()
    runbook = (REPO / "docs" / "operations.md").read_text()
    assert f"### {name}" in runbook, f"docs/operations.md has no runbook section for {name}"
