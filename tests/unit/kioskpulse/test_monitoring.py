"""The demo's Prometheus and Alertmanager configuration (the processes themselves run in
tests/e2e/test_monitoring.py)."""

from __future__ import annotations

from pathlib import Path

import yaml

from kioskpulse.monitoring import RULES, _write_alertmanager, _write_prometheus, scaled_rules


def _rules(name: str) -> dict[str, dict[str, object]]:
    document = scaled_rules(RULES / name, 5)
    return {
        rule.get("alert") or rule["record"]: rule
        for group in document["groups"]
        for rule in group["rules"]
    }


def test_demo_time_divides_every_range_and_for_and_keeps_thresholds() -> None:
    satisfaction = _rules("satisfaction.yml")
    unhappy = satisfaction["KioskPulseUnhappyShareHigh"]
    assert unhappy["for"] == "12s"
    assert "> 0.5" in str(unhappy["expr"])
    recording = _rules("recording.yml")
    assert "[180s]" in str(recording["store:kioskpulse_ratings:increase15m"]["expr"])
    assert "[120960s]" in str(recording["store:kioskpulse_happy_index_corrected:avg7d"]["expr"])


def test_in_demo_time_the_stores_never_close() -> None:
    assert _rules("opening-hours.yml")["kioskpulse:opening_hours"]["expr"] == "vector(1)"


def test_prometheus_scrapes_the_demo_and_alerts_its_alertmanager(tmp_path: Path) -> None:
    path = _write_prometheus(tmp_path, {"kioskpulse-api": "127.0.0.1:8000"}, "127.0.0.1:9093", "5s")
    config = yaml.safe_load(path.read_text())
    assert config["scrape_configs"] == [
        {"job_name": "kioskpulse-api", "static_configs": [{"targets": ["127.0.0.1:8000"]}]}
    ]
    assert config["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"] == [
        "127.0.0.1:9093"
    ]
    assert sorted(p.name for p in (tmp_path / "rules").iterdir()) == sorted(
        p.name for p in RULES.glob("*.yml")
    )


def test_alertmanager_keeps_the_inhibitions_and_sends_everything_to_the_webhook(
    tmp_path: Path,
) -> None:
    config = yaml.safe_load(_write_alertmanager(tmp_path, "http://hook/").read_text())
    assert config["receivers"] == [
        {"name": "demo", "webhook_configs": [{"url": "http://hook/", "send_resolved": True}]}
    ]
    assert config["route"]["receiver"] == "demo"
    assert all(route["receiver"] == "demo" for route in config["route"]["routes"])
    assert len(config["inhibit_rules"]) == 3
