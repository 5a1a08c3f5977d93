"""deploy/alertmanager: amtool checks the configuration, the routes and the template."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support.tools import REPO, run_tool

CONFIG = str(REPO / "deploy" / "alertmanager" / "alertmanager.yml")
TEMPLATES = str(REPO / "deploy" / "alertmanager" / "templates" / "*.tmpl")


def test_the_configuration_is_valid() -> None:
    result = run_tool("amtool", "check-config", CONFIG)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    ("labels", "receiver"),
    [
        (["severity=critical", "category=pipeline", "stage=exporter"], "on-call"),
        (["severity=warning", "category=satisfaction", "store=s1"], "store-managers"),
        (["severity=warning", "category=fleet", "store=s1", "kiosk=k1"], "store-managers"),
        (
            ["severity=warning", "category=satisfaction", "store=s9", "store_group=north"],
            "store-managers-north",
        ),
        (["severity=warning", "category=pipeline", "stage=aggregator"], "operations"),
        (["severity=info", "category=pipeline", "reason=timeouts"], "operations"),
    ],
)
def test_alerts_go_to_the_right_receiver(labels: list[str], receiver: str) -> None:
    result = run_tool("amtool", "config", "routes", "test", f"--config.file={CONFIG}", *labels)
    assert result.stdout.strip() == receiver, result.stdout + result.stderr


def test_the_notification_names_the_store_the_figures_and_the_runbook(tmp_path: Path) -> None:
    data = {
        "receiver": "store-managers",
        "status": "firing",
        "alerts": [
            {
                "status": "firing",
                "labels": {
                    "alertname": "KioskPulseUnhappyShareHigh",
                    "store": "store-2",
                    "severity": "warning",
                },
                "annotations": {
                    "summary": "store-2: 75% of the answers negative in 15 min",
                    "description": "More than half of the presses…",
                    "runbook_url": "docs/operations.md#kioskpulseunhappysharehigh",
                },
                "startsAt": "2026-11-30T10:00:00Z",
                "endsAt": "0001-01-01T00:00:00Z",
            }
        ],
        "groupLabels": {"alertname": "KioskPulseUnhappyShareHigh", "store": "store-2"},
        "commonLabels": {"alertname": "KioskPulseUnhappyShareHigh", "store": "store-2"},
        "commonAnnotations": {},
        "externalURL": "http://alertmanager:9093",
    }
    (tmp_path / "alert.json").write_text(json.dumps(data))
    text = '{{ template "kioskpulse.subject" . }}\n{{ template "kioskpulse.text" . }}'
    result = run_tool(
        "amtool",
        "template",
        "render",
        f"--template.glob={TEMPLATES}",
        f"--template.data={tmp_path / 'alert.json'}",
        f"--template.text={text}",
    )
    assert result.returncode == 0, result.stderr
    subject, *body = result.stdout.splitlines()
    assert subject == "[FIRING:1] KioskPulseUnhappyShareHigh · store-2"
    assert "store store-2" in body[0]
    assert "75% of the answers negative" in result.stdout
    assert "Runbook: docs/operations.md#kioskpulseunhappysharehigh" in result.stdout
