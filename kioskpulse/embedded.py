"""The embedded runtime: the whole pipeline in one process, on the in-process bus.

The kiosk API, the vision stage, the store aggregator and the exporter are built by
the same builders the processes use (``create_app``, ``build_exporter``, the stages'
``from_settings``); only the bus differs (docs/architecture.md). The console shows the
exporter's per-store summaries every few seconds. The servers and stages are
imported when the demo starts, so that importing this module costs nothing.

The simulated stores start with an hour of history (posted at once through the API,
as devices uploading what they held), so every figure is on screen within seconds.
Beside it run a real Prometheus and Alertmanager with the project's rules in demo
time (``monitoring.py``); ``--incident`` makes something go wrong for an alert to
fire on, and the console shows the alerts as they go pending, fire and resolve.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import socket
import sys
from collections.abc import Callable, Coroutine, Generator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import yaml

from kioskpulse.bus.memory import MemoryBus
from kioskpulse.devices import edit_registry
from kioskpulse.events import NPS_SCALE, KioskZone
from kioskpulse.monitoring import TIME_SCALE, Monitoring, MonitoringUnavailable, start_monitoring
from kioskpulse.settings import Settings
from kioskpulse.simulation import (
    ModelParameters,
    SimulatedKiosk,
    Simulation,
    SimulatorStats,
    load_fleet,
)
from kioskpulse.simulation.incidents import Incident
from kioskpulse.topics import topic_specs

if TYPE_CHECKING:
    import uvicorn
    from starlette.types import ASGIApp

__all__ = ["DemoOptions", "create_demo_registry", "run_demo"]

DEMO_DIR = Path(".kioskpulse-demo")
_REPORT_EVERY = 2.0
#: Longest the demo waits for its history to be posted before it goes on regardless.
_HISTORY_LIMIT = 60.0


@dataclass(frozen=True)
class DemoOptions:
    host: str = "127.0.0.1"
    api_port: int = 8000
    exporter_port: int = 9108
    devices_file: Path | None = None
    simulate: bool = True
    duration: float | None = None
    rate: float = 1.0
    seed: int = 1
    #: Seconds of simulated past posted at the start (0: none).
    history: float = 3600.0
    incidents: tuple[Incident, ...] = ()
    prometheus: bool = True
    prometheus_port: int = 9090
    alertmanager_port: int = 9093
    #: Where Alertmanager sends notifications (None: it only lists them).
    alert_webhook: str | None = None


#: The demo's stores: mostly happy (as real stores are), each a little differently, so
#: that an unhappy incident stands out and the alerts are quiet without one.
DEMO_VISITORS = ModelParameters(happiness=4.0, theta_concentration=20.0)
#: Where a demo floor camera sees a kiosk, in its 1920×1080 frame.
DEMO_KIOSK_ZONE = {"x": 800, "y": 400, "w": 320, "h": 320}

#: The demo display camera's first label: the simulator's first (kioskpulse.simulation.displays).
DEMO_DISPLAY_LABEL = "spring collection"


def create_demo_registry(path: Path) -> list[SimulatedKiosk]:
    """A fresh registry of three stores (kiosks and cameras), with the kiosks' tokens.

    Riverside's second kiosk is an NPS kiosk (scale 11), so the demo shows both indices.
    Every device's token is also written to ``tokens.yaml`` beside the registry
    (mode 0600), so that you can post to the demo yourself.
    """
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
    kiosks = []
    tokens: dict[str, str] = {}
    with edit_registry(path) as registry:
        for number, (name, scales) in enumerate(
            [("Riverside", (4, NPS_SCALE)), ("Old Town", (4, 5)), ("Airport T2", (4, 4))],
            start=1,
        ):
            store = f"store-{number}"
            registry.add_store(store, name)
            for index, scale in enumerate(scales, start=1):
                kiosk = f"{store}-kiosk-{index}"
                token = registry.add_kiosk(kiosk, store, scale)
                kiosks.append(SimulatedKiosk(kiosk, store, scale, token))
            # Riverside's floor camera sees its first kiosk: a kiosk zone, so that its
            # corrected figures learn C in the floor camera's own view (issue 14).
            zone = None
            if number == 1:
                zone = KioskZone(kiosk_id=f"{store}-kiosk-1", **DEMO_KIOSK_ZONE)
            tokens[f"{store}-floor-1"] = registry.add_camera(
                f"{store}-floor-1", store, "floor", kiosk_zone=zone
            )
            tokens[f"{store}-kiosk-cam-1"] = registry.add_camera(
                f"{store}-kiosk-cam-1", store, "kiosk", f"{store}-kiosk-1"
            )
            # Riverside's second kiosk asks the NPS question (0..10): a camera faces it
            # too, so that its corrected NPS has linked presses of its own.
            if number == 1:
                tokens[f"{store}-kiosk-cam-2"] = registry.add_camera(
                    f"{store}-kiosk-cam-2", store, "kiosk", f"{store}-kiosk-2"
                )
        # Riverside's shop window has a display camera (issue 16): the simulator changes
        # its label every two minutes (``Simulation``'s relabel), with a known effect.
        tokens["store-1-display-1"] = registry.add_camera(
            "store-1-display-1", "store-1", "display", display=DEMO_DISPLAY_LABEL
        )
        tokens["operator"] = registry.add_operator("demo-operator")
    tokens.update({k.kiosk_id: k.token for k in kiosks})
    tokens_file = path.with_name("tokens.yaml")
    tokens_file.write_text(yaml.safe_dump(tokens))
    tokens_file.chmod(0o600)
    return kiosks


# --------------------------------------------------------------------------- running


def _server(app: ASGIApp, options: DemoOptions, which: str) -> tuple[uvicorn.Server, socket.socket]:
    """A uvicorn server for ``app`` on its bound socket, minus uvicorn's signal handling:
    the demo handles Ctrl-C for every part."""
    import uvicorn

    class EmbeddedServer(uvicorn.Server):
        @contextlib.contextmanager
        def capture_signals(self) -> Generator[None, None, None]:
            yield

    port = options.api_port if which == "api" else options.exporter_port
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on")
    return EmbeddedServer(config), _bind(options.host, port, f"--{which}-port")


def _bind(host: str, port: int, option: str) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise SystemExit(
            f"kioskpulse demo: cannot listen on {host}:{port} ({exc.strerror}); "
            f"choose another port with {option}"
        ) from None
    return sock


def run_demo(options: DemoOptions) -> int:
    """Run until Ctrl-C, SIGTERM or ``options.duration``; returns the exit status."""
    return asyncio.run(_demo(options))


async def _demo(options: DemoOptions) -> int:
    from kiosk_api import create_app
    from stream_processors.exporter.app import create_exporter_app
    from stream_processors.exporter.console import SummaryConsole
    from stream_processors.exporter.run import build_exporter
    from stream_processors.exporter.source import feed_from_bus
    from stream_processors.on_bus import run_aggregation_stage, run_vision_stage

    if options.devices_file is None:
        devices_file = DEMO_DIR / "devices.yaml"
        create_demo_registry(devices_file)
    else:
        devices_file = options.devices_file
    # Every store's kiosks and cameras with their tokens (tokens.yaml): the simulator
    # posts as them, and the banner shows how to post as a kiosk of the demo registry.
    own_registry = options.devices_file is not None
    fleet = [] if own_registry and not options.simulate else load_fleet(devices_file)
    kiosks = [kiosk for store in fleet for kiosk in store.kiosks]

    settings = Settings(bus="memory", devices_file=devices_file)
    bus = MemoryBus(publish_timeout=settings.publish_timeout_seconds)
    await bus.ensure_topics(topic_specs(settings))
    exporter, registry = build_exporter(settings)
    servers = [
        _server(create_app(settings, bus=bus, registry=registry, manage_bus=False), options, "api"),
        _server(create_exporter_app(exporter, registry), options, "exporter"),
    ]

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)

    # The exporter and the stages subscribe before anything is posted.
    stages: list[Coroutine[Any, Any, None]] = [
        feed_from_bus(exporter, bus),
        run_vision_stage(bus, settings),
        run_aggregation_stage(bus, settings),
    ]
    tasks = [asyncio.create_task(stage) for stage in stages]
    serving = [asyncio.create_task(server.serve(sockets=[sock])) for server, sock in servers]
    while not all(s.started for s, _ in servers) and not any(t.done() for t in serving):  # noqa: ASYNC110 (uvicorn has only a flag)
        await asyncio.sleep(0.05)

    api_url = f"http://{options.host}:{options.api_port}"
    exporter_url = f"http://{options.host}:{options.exporter_port}"
    simulator: asyncio.Task[SimulatorStats] | None = None
    if options.simulate and fleet:
        simulation = Simulation(
            fleet,
            rate=options.rate,
            seed=options.seed,
            parameters=DEMO_VISITORS,
            history=options.history,
            incidents=options.incidents,
            # Never relabels cameras in a registry of the user's own.
            relabel=None if own_registry else _relabeller(devices_file),
        )
        simulator = asyncio.create_task(_simulate(simulation, api_url, stop))
        if options.history:
            print(f"kioskpulse demo: posting {options.history / 60:g} min of history…", flush=True)
            await _history_in(simulation, settings.aggregate_emit_seconds)
    # After the history: Prometheus's first scrape already holds it, so no window of its
    # rules sees an hour of presses arrive at once.
    monitoring, why_not = await asyncio.to_thread(_start_monitoring, options, devices_file)
    _banner(api_url, exporter_url, devices_file, kiosks, options, monitoring, why_not)

    console = SummaryConsole(exporter)
    deadline = None if options.duration is None else loop.time() + options.duration
    while not stop.is_set() and not any(t.done() for t in serving):
        timeout = _REPORT_EVERY
        if deadline is not None:
            timeout = max(0.0, min(timeout, deadline - loop.time()))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout)
        if deadline is not None and loop.time() >= deadline:
            stop.set()
        if not stop.is_set():
            print(console.render(), flush=True)
            if monitoring is not None:
                print(await asyncio.to_thread(_alert_lines, monitoring), flush=True)

    print("kioskpulse demo: stopping…", flush=True)
    stats = await simulator if simulator is not None else None
    await asyncio.sleep(settings.aggregate_emit_seconds + 0.5)  # the last presses' buckets
    for server, _ in servers:
        server.should_exit = True
    await asyncio.gather(*serving)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    if monitoring is not None:
        monitoring.stop()
    print(console.render())
    if stats is not None:
        print(
            f"simulator: {stats.accepted} events accepted of {stats.sent} requests; "
            f"responses {dict(sorted(stats.responses.items()))}"
            + (f"; errors {dict(stats.errors)}" if stats.errors else "")
        )
    return 0


def _relabeller(devices_file: Path) -> Callable[[str, str], None]:
    """Relabels a display camera in the demo's registry, as ``devices relabel-camera`` does."""

    def relabel(camera_id: str, label: str) -> None:
        with edit_registry(devices_file) as registry:
            registry.configure_camera(camera_id, display=label)

    return relabel


async def _simulate(simulation: Simulation, api_url: str, stop: asyncio.Event) -> SimulatorStats:
    async with httpx.AsyncClient(base_url=api_url, timeout=10.0) as client:
        return await simulation.run(client, stop)


async def _history_in(simulation: Simulation, emit_seconds: float) -> None:
    """Until the history is posted and its buckets are out (bounded: the demo goes on)."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(simulation.history_posted.wait(), _HISTORY_LIMIT)
    await asyncio.sleep(emit_seconds + 1.0)  # the aggregator's last emission, the exporter


def _start_monitoring(
    options: DemoOptions, devices_file: Path
) -> tuple[Monitoring | None, str | None]:
    """Prometheus and Alertmanager for the demo, or None and why not."""
    if not options.prometheus:
        return None, "off (--no-prometheus)"
    try:
        return start_monitoring(
            devices_file.parent / "monitoring",
            api=f"{options.host}:{options.api_port}",
            exporter=f"{options.host}:{options.exporter_port}",
            prometheus_port=options.prometheus_port,
            alertmanager_port=options.alertmanager_port,
            webhook=options.alert_webhook,
            host=options.host,
        ), None
    except MonitoringUnavailable as exc:
        return None, f"not started: {exc}"


def _alert_lines(monitoring: Monitoring) -> str:
    """The alerts Prometheus holds now, one line each (pending or firing)."""
    try:
        alerts = monitoring.alerts()
    except httpx.HTTPError as exc:
        return f"alerts: Prometheus does not answer ({exc})"
    if not alerts:
        return "alerts: none"
    lines = []
    for alert in sorted(alerts, key=lambda a: (a["state"], a["labels"]["alertname"])):
        labels = alert["labels"]
        where = labels.get("store") or labels.get("stage") or labels.get("job", "")
        lines.append(f"  {alert['state']:<8} {labels['alertname']} {where}")
    return "alerts:\n" + "\n".join(lines)


def _banner(
    api_url: str,
    exporter_url: str,
    devices_file: Path,
    kiosks: list[SimulatedKiosk],
    options: DemoOptions,
    monitoring: Monitoring | None,
    why_not: str | None,
) -> None:
    tokens = devices_file.with_name("tokens.yaml")
    lines = [
        "kioskpulse demo: the whole pipeline in one process, on the in-process bus",
        f"  API              {api_url}   (interactive docs: {api_url}/docs)",
        f"  API metrics      {api_url}/metrics   (API, vision and aggregator stages)",
        f"  store metrics    {exporter_url}/metrics   (what Prometheus scrapes)",
        f"  store figures    {exporter_url}/v1/stores   (Bearer: 'operator' in {tokens})",
        f"  devices          {devices_file}",
    ]
    if kiosks:
        example = kiosks[0]
        lines += [
            f"  try it           curl -X POST {api_url}/v1/kiosks/{example.kiosk_id}/ratings \\",
            f"                     -H 'Authorization: Bearer {example.token}' \\",
            "                     -H 'Content-Type: application/json' \\",
            '                     -d "{\\"event_id\\": \\"$(cat /proc/sys/kernel/random/uuid)\\", '
            '\\"rating\\": 4, \\"pressed_at\\": \\"$(date -u +%FT%TZ)\\"}"',
        ]
    for number, kiosk in enumerate(kiosks):
        # Paired already: the token rides in the fragment, which no request carries.
        label = "kiosk pages" if number == 0 else ""
        lines.append(f"  {label:<16} {api_url}/kiosk#id={kiosk.kiosk_id}&token={kiosk.token}")
    if kiosks:
        lines.append(
            "                   (a tablet page per kiosk: press real buttons in a browser; "
            "kioskpulse devices set-kiosk changes its question and language)"
        )
    if monitoring is not None:
        lines.append(
            f"  Prometheus       {monitoring.prometheus_url}/api/v1/alerts   (rules in demo time: "
            f"windows and for: ÷ {TIME_SCALE}; query it at /api/v1/query?query=...)"
        )
        if monitoring.alertmanager_url is not None:
            lines.append(f"  Alertmanager     {monitoring.alertmanager_url}/api/v2/alerts")
    else:
        lines.append(f"  Prometheus       {why_not}")
    if options.simulate:
        history = f", with {options.history / 60:g} min of history" if options.history else ""
        lines.append(f"  simulator        {options.rate:g} visitors/s per store{history}")
        for incident in options.incidents:
            lines.append(f"  incident         {incident}")
    stop_how = f"after {options.duration:g} s" if options.duration else "on Ctrl-C"
    lines.append(f"  stops            {stop_how}")
    print("\n".join(lines), file=sys.stdout, flush=True)
