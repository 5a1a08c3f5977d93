"""A real Prometheus and Alertmanager beside the demo, with the project's rules.

``kioskpulse demo`` (and the end-to-end test) run the binaries that ``make tools``
puts in ``.tools/bin`` (Debian's packages) on loopback: Prometheus scrapes the demo's
API and exporter with the rules of ``deploy/prometheus/rules``, Alertmanager routes
its alerts with the inhibitions of ``deploy/alertmanager/alertmanager.yml``.

Demo time runs ``TIME_SCALE`` times faster for the rules: every range (``[15m]``)
and every ``for:`` is divided by it, so that an incident's alert goes pending, fires
and resolves within minutes rather than hours. Thresholds stay as they are, and the
stores are always open. ``tests/deploy`` runs the unscaled rules with promtool.
"""

from __future__ import annotations

import contextlib
import re
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import yaml

__all__ = [
    "TIME_SCALE",
    "Monitoring",
    "MonitoringUnavailable",
    "find_tool",
    "scaled_rules",
    "start_monitoring",
]

REPO = Path(__file__).resolve().parents[1]
RULES = REPO / "deploy" / "prometheus" / "rules"
ALERTMANAGER_CONFIG = REPO / "deploy" / "alertmanager" / "alertmanager.yml"
#: 5: a 15-minute window is 3 minutes, long enough that a demo store's presses (a dozen
#: a minute) do not make a negative share above 50 % by chance.
TIME_SCALE = 5

_DURATION = re.compile(r"(\d+)(ms|s|m|h|d|w|y)")
_UNIT_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "y": 31536000}


class MonitoringUnavailable(RuntimeError):
    """Prometheus or Alertmanager cannot be started here; the message says why."""


def find_tool(name: str) -> Path:
    """``name`` from ``.tools/bin`` (``make tools``), else from PATH."""
    local = REPO / ".tools" / "bin" / name
    if local.is_file():
        return local
    found = shutil.which(name)
    if found is None:
        raise MonitoringUnavailable(f"{name} not found: run `make tools` (puts it in .tools/bin)")
    return Path(found)


def _scale_duration(text: str, factor: int) -> str:
    seconds = sum(int(number) * _UNIT_SECONDS[unit] for number, unit in _DURATION.findall(text))
    return f"{max(1, round(seconds / factor))}s"


def _scale_expr(expr: str, factor: int) -> str:
    return re.sub(
        r"\[((?:\d+(?:ms|s|m|h|d|w|y))+)\]",
        lambda m: f"[{_scale_duration(m.group(1), factor)}]",
        expr,
    )


def scaled_rules(source: Path, factor: int) -> dict[str, Any]:
    """The rule file ``source`` in demo time: ranges and ``for:`` divided by ``factor``,
    and the opening hours always on."""
    document: dict[str, Any] = yaml.safe_load(source.read_text())
    for group in document["groups"]:
        for rule in group["rules"]:
            if rule.get("record") == "kioskpulse:opening_hours":
                rule["expr"] = "vector(1)"
                continue
            rule["expr"] = _scale_expr(rule["expr"], factor)
            if "for" in rule:
                rule["for"] = _scale_duration(rule["for"], factor)
    return document


@dataclass
class Monitoring:
    """Prometheus (and Alertmanager) running for the demo."""

    prometheus_url: str
    alertmanager_url: str | None
    directory: Path
    processes: list[subprocess.Popen[bytes]]

    def alerts(self) -> list[dict[str, Any]]:
        """Prometheus's alerts now (pending and firing), as its API gives them."""
        reply = httpx.get(f"{self.prometheus_url}/api/v1/alerts", timeout=5)
        reply.raise_for_status()
        alerts: list[dict[str, Any]] = reply.json()["data"]["alerts"]
        return alerts

    def stop(self) -> None:
        for process in self.processes:
            process.terminate()
        for process in self.processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _write_prometheus(
    directory: Path, targets: dict[str, str], alertmanager: str | None, interval: str
) -> Path:
    rules = directory / "rules"
    rules.mkdir(parents=True, exist_ok=True)
    for source in sorted(RULES.glob("*.yml")):
        (rules / source.name).write_text(yaml.safe_dump(scaled_rules(source, TIME_SCALE)))
    config: dict[str, Any] = {
        "global": {"scrape_interval": interval, "evaluation_interval": interval},
        "rule_files": [str(rules / "*.yml")],
        "scrape_configs": [
            {"job_name": job, "static_configs": [{"targets": [target]}]}
            for job, target in targets.items()
        ],
    }
    if alertmanager is not None:
        config["alerting"] = {"alertmanagers": [{"static_configs": [{"targets": [alertmanager]}]}]}
    path = directory / "prometheus.yml"
    path.write_text(yaml.safe_dump(config))
    return path


def _write_alertmanager(directory: Path, webhook: str | None) -> Path:
    """The project's routes and inhibitions, every receiver replaced by ``webhook`` (or
    by none: alerts are then only listed), and groups sent without the usual waits."""
    config: dict[str, Any] = yaml.safe_load(ALERTMANAGER_CONFIG.read_text())
    config.pop("templates", None)
    receiver: dict[str, Any] = {"name": "demo"}
    if webhook is not None:
        receiver["webhook_configs"] = [{"url": webhook, "send_resolved": True}]
    config["receivers"] = [receiver]

    def retarget(route: dict[str, Any]) -> None:
        route["receiver"] = "demo"
        for child in route.get("routes", []):
            retarget(child)

    retarget(config["route"])
    config["route"].update(group_wait="1s", group_interval="5s", repeat_interval="1h")
    path = directory / "alertmanager.yml"
    path.write_text(yaml.safe_dump(config))
    return path


def _wait_ready(url: str, process: subprocess.Popen[bytes], log: Path, what: str) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise MonitoringUnavailable(f"{what} exited: {log.read_text()[-2000:]}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{url}/-/ready", timeout=2).status_code == 200:
                return
        time.sleep(0.2)
    raise MonitoringUnavailable(f"{what} was not ready at {url} within 30 s")


def start_monitoring(
    directory: Path,
    *,
    api: str,
    exporter: str,
    prometheus_port: int = 9090,
    alertmanager_port: int | None = 9093,
    webhook: str | None = None,
    host: str = "127.0.0.1",
    interval: str = "5s",
) -> Monitoring:
    """Start Prometheus scraping ``api`` and ``exporter`` (host:port), and Alertmanager
    unless ``alertmanager_port`` is None; MonitoringUnavailable says why not."""
    prometheus = find_tool("prometheus")
    alertmanager = find_tool("alertmanager") if alertmanager_port is not None else None
    if not RULES.is_dir():
        raise MonitoringUnavailable(f"no rules at {RULES} (run the demo from a checkout)")
    # Absolute: Prometheus reads the paths in its configuration relative to that file.
    directory = directory.resolve()
    directory.mkdir(parents=True, exist_ok=True)
    processes: list[subprocess.Popen[bytes]] = []
    alertmanager_url = None
    try:
        if alertmanager is not None and alertmanager_port is not None:
            alertmanager_url = f"http://{host}:{alertmanager_port}"
            log = directory / "alertmanager.log"
            command = [
                str(alertmanager),
                f"--config.file={_write_alertmanager(directory, webhook)}",
                f"--storage.path={directory / 'alertmanager-data'}",
                f"--web.listen-address={host}:{alertmanager_port}",
                "--cluster.listen-address=",  # one instance: no gossip port
            ]
            processes.append(_spawn(command, log))
            _wait_ready(alertmanager_url, processes[-1], log, "alertmanager")
        config = _write_prometheus(
            directory,
            {"kioskpulse-api": api, "kioskpulse-exporter": exporter},
            None if alertmanager_port is None else f"{host}:{alertmanager_port}",
            interval,
        )
        log = directory / "prometheus.log"
        command = [
            str(prometheus),
            f"--config.file={config}",
            f"--storage.tsdb.path={directory / 'prometheus-data'}",
            f"--web.listen-address={host}:{prometheus_port}",
            "--storage.tsdb.retention.time=2d",
        ]
        processes.append(_spawn(command, log))
        prometheus_url = f"http://{host}:{prometheus_port}"
        _wait_ready(prometheus_url, processes[-1], log, "prometheus")
    except BaseException:
        Monitoring("", None, directory, processes).stop()
        raise
    return Monitoring(prometheus_url, alertmanager_url, directory, processes)


def _spawn(command: list[str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        # The binaries of find_tool, with arguments made here.
        return subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)  # noqa: S603
