"""`kioskpulse demo` with a real Prometheus and Alertmanager: the recording rules
evaluate, every dashboard panel's query returns data, and an incident's alert fires in
Prometheus, reaches a webhook through Alertmanager and resolves when the incident ends.

The rules run in demo time (kioskpulse/monitoring.py: windows and ``for:`` ÷ 5);
tests/deploy checks the rules themselves with promtool.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.demo import running_demo

REPO = Path(__file__).resolve().parents[2]
DASHBOARDS = sorted((REPO / "deploy" / "grafana" / "dashboards").glob("*.json"))
INCIDENT_STORE = "store-2"
#: Seconds after the demo's live start. The unhappy presses come faster than the
#: happy ones (the unhappy press more, and the kiosks are busy), so the share passes
#: 50 % within seconds and falls below it only 2-3 minutes after the incident.
INCIDENT_START, INCIDENT_LENGTH = 30, 60
#: Grafana's variables, as a person would pick them.
VARIABLES = {
    "$__rate_interval": "1m",
    "$__interval": "15s",
    "$__range": "5m",
    "$window": "15m",
    "${window}": "15m",
    "$store": "store-1",
    "${store}": "store-1",
}


class Webhook:
    """An HTTP server that keeps what Alertmanager posts to it."""

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        received = self.received

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                received.append(json.loads(self.rfile.read(length)))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/alerts"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def notified(self, status: str, alertname: str, store: str) -> bool:
        return any(
            alert["status"] == status
            and alert["labels"].get("alertname") == alertname
            and alert["labels"].get("store") == store
            for message in self.received
            for alert in message["alerts"]
        )


@pytest.fixture(scope="module")
def webhook() -> Iterator[Webhook]:
    hook = Webhook()
    yield hook
    hook.server.shutdown()
    hook.server.server_close()


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory, webhook: Webhook) -> Iterator[dict[str, str]]:
    """The demo with Prometheus and Alertmanager, an unhappy incident in store-2."""
    incident = f"unhappy:{INCIDENT_STORE}@{INCIDENT_START}s+{INCIDENT_LENGTH}s"
    with running_demo(
        tmp_path_factory.mktemp("demo"),
        "--alert-webhook", webhook.url, "--incident", incident,
        prometheus=True, duration=600,
    ) as running:  # fmt: skip
        assert running.prometheus_url is not None
        yield {"prometheus": running.prometheus_url, "log": str(running.log)}


def _until(
    done: Callable[[], bool],
    within: float,
    what: str,
    urls: dict[str, str],
) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if done():
            return
        time.sleep(2)
    pytest.fail(f"not within {within:g} s: {what}\n{Path(urls['log']).read_text()[-3000:]}")


def query(prometheus: str, expr: str) -> list[dict[str, Any]]:
    reply = httpx.get(f"{prometheus}/api/v1/query", params={"query": expr}, timeout=10)
    assert reply.status_code == 200, f"{expr}: {reply.text}"
    result: list[dict[str, Any]] = reply.json()["data"]["result"]
    return result


def _fill(expr: str) -> str:
    for name in sorted(VARIABLES, key=len, reverse=True):
        expr = expr.replace(name, VARIABLES[name])
    return expr


def _panel_queries() -> list[tuple[str, str, str]]:
    """(dashboard, panel title, PromQL) of every target of every panel."""
    found = []
    for path in DASHBOARDS:
        dashboard = json.loads(path.read_text())
        panels = list(dashboard.get("panels", []))
        while panels:
            panel = panels.pop()
            panels.extend(panel.get("panels", []))
            for target in panel.get("targets", []):
                if target.get("expr"):
                    found.append((path.stem, panel.get("title", ""), target["expr"]))
    return found


def _alert_state(prometheus: str, alertname: str, store: str) -> str | None:
    alerts = httpx.get(f"{prometheus}/api/v1/alerts", timeout=5).json()["data"]["alerts"]
    for alert in alerts:
        if alert["labels"]["alertname"] == alertname and alert["labels"].get("store") == store:
            return str(alert["state"])
    return None


def test_the_recording_rules_evaluate(demo: dict[str, str]) -> None:
    prometheus = demo["prometheus"]
    for expr in (
        "store:kioskpulse_ratings:increase15m",
        "store:kioskpulse_negative_share:ratio15m",
        'kioskpulse:freshness_seconds{stage="aggregator"}',
        'kioskpulse:delay_seconds{stage="exporter"}',
        "job:kioskpulse_api_requests:rate5m",
    ):
        _until(lambda expr=expr: bool(query(prometheus, expr)), 90, f"{expr} has data", demo)
    stores = {
        sample["metric"]["store"]
        for sample in query(prometheus, "store:kioskpulse_ratings:increase15m")
    }
    assert stores == {"store-1", "store-2", "store-3"}


def test_every_dashboard_query_returns_data(demo: dict[str, str]) -> None:
    queries = _panel_queries()
    assert len(queries) >= 20, "the dashboards were not found or have hardly any query"
    prometheus = demo["prometheus"]
    # Wait until the corrected figures are there: the last to come.
    _until(
        lambda: bool(query(prometheus, 'kioskpulse_happy_index{method="corrected"}')),
        90, "the corrected index", demo,
    )  # fmt: skip
    time.sleep(30)  # rates need two scrapes of every series
    empty = [
        f"{dashboard} / {title}: {_fill(expr)}"
        for dashboard, title, expr in queries
        if not query(prometheus, _fill(expr))
    ]
    assert empty == [], "panels without data:\n" + "\n".join(empty)


@pytest.mark.timeout(700)  # the incident, its alert, and the demo-time window to recover
def test_an_incident_fires_an_alert_that_reaches_the_webhook_and_resolves(
    demo: dict[str, str], webhook: Webhook
) -> None:
    prometheus, alert = demo["prometheus"], "KioskPulseUnhappyShareHigh"
    _until(
        lambda: _alert_state(prometheus, alert, INCIDENT_STORE) == "firing",
        INCIDENT_START + INCIDENT_LENGTH + 60, f"{alert} firing for {INCIDENT_STORE}", demo,
    )  # fmt: skip
    _until(
        lambda: webhook.notified("firing", alert, INCIDENT_STORE),
        60, "the firing notification at the webhook", demo,
    )  # fmt: skip
    _until(
        lambda: webhook.notified("resolved", alert, INCIDENT_STORE),
        420, "the resolved notification after the incident", demo,
    )  # fmt: skip
    assert _alert_state(prometheus, alert, INCIDENT_STORE) is None
    log = Path(demo["log"]).read_text()
    assert re.search(rf"firing\s+{alert} {INCIDENT_STORE}", log), "the console showed it firing"
