"""The fault suite's production in miniature: processes, devices, load and the yardstick.

- ``Process``: a kioskpulse process (API, worker, exporter) as its own OS process,
  restarted by the suite the way a supervisor (systemd, Kubernetes) would.
- ``Pipeline``: the API, the workers and the exporter on the suite's private broker.
- ``Load``: the simulator's visitors (kiosks pressing, cameras posting what they
  saw) played in real time through the API, every device retrying until its write
  is acknowledged; it keeps every acknowledged request for the yardstick.
- ``expected_samples``: what the exporter's /metrics must show for those requests.
- ``ReadinessWatch``: polls every process's /readyz, to time recoveries.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

from kioskpulse.devices import edit_registry
from kioskpulse.simulation.driver import Simulation
from kioskpulse.simulation.fleet import SimulatedStore, add_simulated_store
from kioskpulse.simulation.model import ModelParameters
from kioskpulse.simulation.posting import DeviceRequest
from tests.faults.broker import PrivateBroker
from tests.support.processes import (
    Worker,
    free_port,
    metric_samples,
    stop_process,
    wait_until_ready,
)

#: The settings every process of the suite shares (the rest are the defaults).
SUITE_SETTINGS = {
    "KIOSKPULSE_BUS": "kafka",
    "KIOSKPULSE_RATE_LIMIT_PER_SECOND": "0",
    "KIOSKPULSE_PUBLISH_TIMEOUT_SECONDS": "3",
    "KIOSKPULSE_EXPORTER_RETRY_SECONDS": "1",
    "KIOSKPULSE_AGGREGATE_EMIT_SECONDS": "0.2",
    # A killed worker's partitions move to its successor within seconds.
    "KIOSKPULSE_FAUST_SESSION_TIMEOUT_SECONDS": "8",
    # Visitors are counted sooner after their last sighting: shorter scenarios.
    "KIOSKPULSE_TRACK_IDLE_SECONDS": "4",
    # Kiosks may take a press a second (the simulator plans them that far apart).
    "KIOSKPULSE_MISUSE_INTERVAL_SECONDS": "1",
}
#: The simulated visitors: more presses than the default 5 s misuse interval allows.
VISITORS = ModelParameters(misuse_interval=1.0)
START_LIMIT = 60.0


# --------------------------------------------------------------------------- processes


@dataclass
class Process:
    """``kioskpulse <role>`` as a process of its own, with its log and its /readyz."""

    name: str
    arguments: list[str]
    env: dict[str, str]
    directory: Path
    port: int
    popen: subprocess.Popen[bytes] | None = None
    starts: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log(self) -> Path:
        return self.directory / f"{self.name}-{self.starts}.log"

    def start(self) -> None:
        self.starts += 1
        command = [sys.executable, "-m", "kioskpulse.cli", *self.arguments]
        with self.log.open("wb") as out:
            self.popen = subprocess.Popen(
                command, env=self.env, stdout=out, stderr=subprocess.STDOUT
            )

    def kill(self) -> None:
        """SIGKILL: no flush, no goodbye, requests cut off mid-way."""
        assert self.popen is not None
        self.popen.send_signal(signal.SIGKILL)
        self.popen.wait()

    def stop(self) -> None:
        if self.popen is not None and self.popen.poll() is None:
            stop_process(self.popen)

    def tail(self, chars: int = 3000) -> str:
        return self.log.read_text(errors="replace")[-chars:] if self.log.exists() else ""


def exit_code(process: Process | Worker) -> int | None:
    """The exit status of a process that has ended, None while it runs."""
    popen = process.popen if isinstance(process, Process) else process.process
    return None if popen is None else popen.poll()


@dataclass
class Pipeline:
    """The API, the workers and the exporter of one broker and one device registry."""

    broker: PrivateBroker
    directory: Path
    devices: Path
    app_id: str = field(default_factory=lambda: f"kp-faults-{uuid.uuid4().hex[:8]}")
    api: Process = field(init=False)
    exporter: Process = field(init=False)
    workers: list[Worker] = field(default_factory=list)
    #: The stores of every scenario, by scenario name.
    stores: dict[str, list[SimulatedStore]] = field(default_factory=dict)
    #: Processes a fault is killing and restarting (the supervisor leaves them alone).
    expected_down: set[str] = field(default_factory=set)
    #: Workers stopped for good (a second worker that left).
    retired: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        env = {
            **os.environ,
            **SUITE_SETTINGS,
            "KIOSKPULSE_KAFKA_BOOTSTRAP": self.broker.bootstrap,
            "KIOSKPULSE_DEVICES_FILE": str(self.devices),
        }
        api_port, exporter_port = free_port(), free_port()
        self.api = Process("api", ["api", "--port", str(api_port)], env, self.directory, api_port)
        self.exporter = Process(
            "exporter",
            ["exporter", "--port", str(exporter_port)],
            env,
            self.directory,
            exporter_port,
        )

    def new_worker(self, *, first: bool) -> Worker:
        worker = Worker(
            self.directory / f"worker-{len(self.workers)}",
            self.broker.bootstrap,
            self.app_id,
            store="rocksdb://",
            new_group=first,
            extra_env=SUITE_SETTINGS,
        )
        worker.directory.mkdir()
        self.workers.append(worker)
        return worker

    def start(self) -> None:
        self.new_worker(first=True).start()
        self.api.start()
        self.exporter.start()
        for process in (self.api, self.exporter):
            assert process.popen is not None
            wait_until_ready(process.url, process.popen, timeout=START_LIMIT)

    def stop(self) -> None:
        for process in (self.api, self.exporter, *self.workers):
            process.stop()

    def processes(self) -> dict[str, Process | Worker]:
        named: dict[str, Process | Worker] = {"api": self.api, "exporter": self.exporter}
        named.update({f"worker-{n}": worker for n, worker in enumerate(self.workers)})
        return named

    def endpoints(self) -> dict[str, str]:
        """Name → base URL of every process that should be running."""
        named = {"api": self.api.url, "exporter": self.exporter.url}
        for n, worker in enumerate(self.workers):
            if f"worker-{n}" not in self.retired:
                named[f"worker-{n}"] = worker.web_url
        return named

    def logs(self) -> str:
        parts = [f"--- {p.name}\n{p.tail()}" for p in (self.api, self.exporter)]
        parts += [f"--- worker {n}\n{w.tail()}" for n, w in enumerate(self.workers)]
        return "\n".join(parts)


# --------------------------------------------------------------------------- devices


def register_stores(devices: Path, names: Iterable[str]) -> dict[str, list[SimulatedStore]]:
    """Per name, two stores of two kiosks, a camera facing each kiosk and a floor camera."""
    stores: dict[str, list[SimulatedStore]] = {}
    with edit_registry(devices) as registry:
        for name in names:
            slug = "".join(c if c.isalnum() else "-" for c in name)
            stores[name] = [
                add_simulated_store(registry, f"{slug}-{n}-{uuid.uuid4().hex[:6]}", kiosks=2)
                for n in range(2)
            ]
    return stores


# --------------------------------------------------------------------------- load


class Load:
    """Simulated visitors of ``stores`` through the API until stopped; devices never give up."""

    def __init__(self, api_url: str, stores: list[SimulatedStore], rate: float = 5.0) -> None:
        self.api_url = api_url
        self.simulation = Simulation(
            stores, rate=rate, parameters=VISITORS, retry_until_acknowledged=True
        )
        self._stop = asyncio.Event()
        self._task: asyncio.Task[Any] | None = None

    def start(self) -> None:
        async def run() -> None:
            async with httpx.AsyncClient(base_url=self.api_url, timeout=10.0) as client:
                await self.simulation.run(client, self._stop)

        self._task = asyncio.create_task(run(), name="load")

    async def stop(self) -> None:
        """Stop new visitors; return once every device's writes are acknowledged."""
        self._stop.set()
        assert self._task is not None
        await self._task

    @property
    def acknowledged(self) -> list[DeviceRequest]:
        return self.simulation.stats.acknowledged


# --------------------------------------------------------------------------- the yardstick


def expected_samples(acknowledged: list[DeviceRequest], stores: list[str]) -> dict[str, float]:
    """The exporter samples that the acknowledged requests must produce, per store.

    Presses are never closer than the misuse interval (the simulator plans them so)
    and the kiosk cameras see each presser around the press, so: every acknowledged
    press counts under its level; a press links when a face of the camera facing
    its kiosk was acknowledged within the linkage window; every floor track is one
    visitor.
    """
    presses: dict[str, dict[str, tuple[str, int, float]]] = {s: {} for s in stores}
    faces: dict[str, list[float]] = {}
    tracks: dict[str, set[tuple[str, str]]] = {s: set() for s in stores}
    for request in acknowledged:
        device = request.path.split("/")[3]
        if request.kind == "ratings":
            body = request.body
            at = datetime.fromisoformat(body["pressed_at"]).timestamp()
            presses[request.store_id][body["event_id"]] = (device, body["rating"], at)
        elif request.kind == "observations":
            for seen in request.body["observations"]:
                if device.endswith("-floor"):
                    tracks[request.store_id].add((device, seen["track_id"]))
                else:
                    kiosk = device.removesuffix("-cam")
                    faces.setdefault(kiosk, []).append(
                        datetime.fromisoformat(seen["captured_at"]).timestamp()
                    )
    want: dict[str, float] = {}
    for store in stores:
        levels = Counter(rating for _, rating, _ in presses[store].values())
        for level in range(1, 5):
            want[f'kioskpulse_ratings_total{{store="{store}",scale="4",rating="{level}"}}'] = float(
                levels[level]
            )
        want[f'kioskpulse_visitors_total{{store="{store}"}}'] = float(len(tracks[store]))
        linked = sum(
            any(at - 3.0 <= face <= at + 1.0 for face in faces.get(kiosk, ()))
            for kiosk, _, at in presses[store].values()
        )
        want[f'kioskpulse_linked_presses{{store="{store}",window="24h"}}'] = float(linked)
        want[f'kioskpulse_ratings_suppressed_total{{store="{store}"}}'] = 0.0
    return want


def exporter_samples(exporter_url: str, stores: list[str]) -> dict[str, float]:
    """``name{labels}`` → value for the samples of ``stores`` (empty if it does not answer)."""
    try:
        exposition = httpx.get(f"{exporter_url}/metrics", timeout=5).text
    except httpx.HTTPError:
        return {}
    return {
        name: value
        for name, value in metric_samples(exposition).items()
        if any(f'store="{store}"' in name for store in stores)
    }


async def wait_for_counts(
    exporter_url: str, want: dict[str, float], stores: list[str], within: float
) -> dict[str, float]:
    """The exporter's samples once they equal ``want``, or the last ones seen after ``within`` s."""
    deadline = time.monotonic() + within
    seen: dict[str, float] = {}
    while time.monotonic() < deadline:
        seen = await asyncio.to_thread(exporter_samples, exporter_url, stores)
        if all(seen.get(name) == value for name, value in want.items()):
            break
        await asyncio.sleep(0.5)
    return {name: seen.get(name, float("nan")) for name in want}


# --------------------------------------------------------------------------- readiness


class ReadinessWatch:
    """Polls /readyz of every running process; says when each was last not ready.

    It is also the supervisor: a process that exits by itself (not killed by the
    fault) is counted in ``exits`` and started again.
    """

    def __init__(self, pipeline: Pipeline, every: float = 0.25) -> None:
        self.pipeline = pipeline
        self.every = every
        self.last_unready: dict[str, float] = {}
        self.unready_polls: Counter[str] = Counter()
        self.exits: Counter[str] = Counter()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._poll(), name="readiness")

    async def stop(self) -> None:
        assert self._task is not None
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)

    async def _poll(self) -> None:
        async with httpx.AsyncClient(timeout=2) as client:
            while True:
                await self._supervise()
                for name, url in self.pipeline.endpoints().items():
                    try:
                        ok = (await client.get(f"{url}/readyz")).status_code == 200
                    except httpx.HTTPError:
                        ok = False
                    if not ok:
                        self.last_unready[name] = time.monotonic()
                        self.unready_polls[name] += 1
                await asyncio.sleep(self.every)

    async def _supervise(self) -> None:
        pipeline = self.pipeline
        for name, process in pipeline.processes().items():
            if name in pipeline.expected_down or name in pipeline.retired:
                continue
            if exit_code(process) is None:
                continue
            self.exits[name] += 1
            self.last_unready[name] = time.monotonic()
            await asyncio.to_thread(process.start)

    async def all_ready_since(self, moment: float, within: float) -> float:
        """Seconds from ``moment`` until every process answered ready (and stayed so)."""
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            await asyncio.sleep(1.0)
            names = self.pipeline.endpoints()
            recent = [self.last_unready.get(name, 0.0) for name in names]
            if time.monotonic() - max(recent, default=0.0) >= 2.0:
                return max(0.0, max(recent, default=moment) - moment)
        raise AssertionError(f"not every process was ready within {within} s: {self.last_unready}")
