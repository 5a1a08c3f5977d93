"""The embedded runtime: the API and the pipeline's stages in one process, on the memory bus.

At this stage the pipeline ends in a live console count of what arrived per store;
later stages subscribe to the same in-process bus.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import socket
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Generator
from dataclasses import dataclass, field
from pathlib import Path

import uvicorn
import yaml

from kioskpulse.bus import Record
from kioskpulse.bus.memory import MemoryBus, batches
from kioskpulse.devices import edit_registry
from kioskpulse.events import FaceObservation, Heartbeat, RatingEvent
from kioskpulse.settings import Settings
from kioskpulse.simulation import SimulatedKiosk, Simulation, load_fleet, simulate
from kioskpulse.topics import FACES, FRAMES, HEARTBEATS, RATINGS, topic_specs

__all__ = ["DemoOptions", "create_demo_registry", "run_demo"]

DEMO_DIR = Path(".kioskpulse-demo")
_REPORT_EVERY = 2.0


@dataclass(frozen=True)
class DemoOptions:
    host: str = "127.0.0.1"
    api_port: int = 8000
    devices_file: Path | None = None
    simulate: bool = True
    duration: float | None = None
    rate: float = 20.0
    seed: int = 1


def create_demo_registry(path: Path) -> list[SimulatedKiosk]:
    """A fresh registry of three stores (kiosks and cameras), with the kiosks' tokens.

    Every device's token is also written to ``tokens.yaml`` beside the registry
    (mode 0600), so that you can post to the demo yourself.
    """
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
    kiosks = []
    tokens: dict[str, str] = {}
    with edit_registry(path) as registry:
        for number, (name, scales) in enumerate(
            [("Riverside", (4, 4)), ("Old Town", (4, 5)), ("Airport T2", (4, 4))], start=1
        ):
            store = f"store-{number}"
            registry.add_store(store, name)
            for index, scale in enumerate(scales, start=1):
                kiosk = f"{store}-kiosk-{index}"
                token = registry.add_kiosk(kiosk, store, scale)
                kiosks.append(SimulatedKiosk(kiosk, store, scale, token))
            tokens[f"{store}-floor-1"] = registry.add_camera(f"{store}-floor-1", store, "floor")
            tokens[f"{store}-kiosk-cam-1"] = registry.add_camera(
                f"{store}-kiosk-cam-1", store, "kiosk", f"{store}-kiosk-1"
            )
    tokens.update({k.kiosk_id: k.token for k in kiosks})
    tokens_file = path.with_name("tokens.yaml")
    tokens_file.write_text(yaml.safe_dump(tokens))
    tokens_file.chmod(0o600)
    return kiosks


# --------------------------------------------------------------------------- the console


@dataclass
class _StoreCounts:
    ratings: Counter[int] = field(default_factory=Counter)
    heartbeats: int = 0
    faces: int = 0
    kiosks_seen: set[str] = field(default_factory=set)


class ArrivalConsole:
    """Counts what reached the bus, per store, and prints it."""

    def __init__(self) -> None:
        self.stores: defaultdict[str, _StoreCounts] = defaultdict(_StoreCounts)
        self.started = time.monotonic()

    def count(self, record: Record) -> None:
        if record.topic == RATINGS:
            rating = RatingEvent.from_bytes(record.value)
            self.stores[rating.store_id].ratings[rating.rating] += 1
        elif record.topic == HEARTBEATS:
            heartbeat = Heartbeat.from_bytes(record.value)
            counts = self.stores[heartbeat.store_id]
            counts.heartbeats += 1
            counts.kiosks_seen.add(heartbeat.kiosk_id)
        elif record.topic == FACES:
            self.stores[FaceObservation.from_bytes(record.value).store_id].faces += 1

    async def follow(self, bus: MemoryBus, topic: str) -> None:
        async for record in bus.subscribe(topic):
            self.count(record)

    def render(self) -> str:
        elapsed = time.monotonic() - self.started
        lines = [
            f"-- what arrived, per store ({elapsed:.0f} s) " + "-" * 30,
            f"{'store':<12} {'ratings':>8}  {'by level (1 = worst)':<28} {'heartbeats':>10}"
            f" {'faces':>7}",
        ]
        if not self.stores:
            lines.append("(nothing yet)")
        for store_id, counts in sorted(self.stores.items()):
            total = sum(counts.ratings.values())
            levels = " ".join(f"{level}:{n}" for level, n in sorted(counts.ratings.items()))
            lines.append(
                f"{store_id:<12} {total:>8}  {levels:<28} {counts.heartbeats:>10} {counts.faces:>7}"
            )
        return "\n".join(lines)


# --------------------------------------------------------------------------- running


class _EmbeddedServer(uvicorn.Server):
    """uvicorn, minus its signal handling: the demo handles Ctrl-C for every part."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


def _bind(host: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise SystemExit(
            f"kioskpulse demo: cannot listen on {host}:{port} ({exc.strerror}); "
            "choose another port with --api-port"
        ) from None
    return sock


async def _run_vision_stage(bus: MemoryBus, settings: Settings) -> None:
    """The vision stage on the in-process bus: the same stage the faust agent runs."""
    from concurrent.futures import ThreadPoolExecutor

    from vision.pipeline import FramePipeline
    from vision.stage import VisionStage

    with ThreadPoolExecutor(settings.vision_threads, "vision") as executor:
        stage = VisionStage(FramePipeline.from_settings(settings), executor)
        frames = batches(
            bus.subscribe(FRAMES), settings.vision_batch_size, settings.vision_batch_seconds
        )
        async for batch in frames:
            output = await stage.handle(batch)
            await bus.publish(output.records)


def run_demo(options: DemoOptions) -> int:
    """Run until Ctrl-C, SIGTERM or ``options.duration``; returns the exit status."""
    return asyncio.run(_demo(options))


async def _demo(options: DemoOptions) -> int:
    from kiosk_api import create_app

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
    app = create_app(settings, bus=bus, manage_bus=False)
    sock = _bind(options.host, options.api_port)
    server = _EmbeddedServer(
        uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on")
    )

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)

    console = ArrivalConsole()
    followers = [asyncio.create_task(console.follow(bus, t)) for t in (RATINGS, HEARTBEATS, FACES)]
    followers.append(asyncio.create_task(_run_vision_stage(bus, settings)))
    serving = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started and not serving.done():  # noqa: ASYNC110 (uvicorn has only a flag)
        await asyncio.sleep(0.05)

    api_url = f"http://{options.host}:{options.api_port}"
    _banner(api_url, devices_file, kiosks, options)
    simulator: asyncio.Task[Simulation] | None = None
    if options.simulate and fleet:
        simulator = asyncio.create_task(
            simulate(api_url, fleet, rate=options.rate, stop=stop, seed=options.seed)
        )

    deadline = None if options.duration is None else loop.time() + options.duration
    while not stop.is_set() and not serving.done():
        timeout = _REPORT_EVERY
        if deadline is not None:
            timeout = max(0.0, min(timeout, deadline - loop.time()))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout)
        if deadline is not None and loop.time() >= deadline:
            stop.set()
        if not stop.is_set():
            print(console.render(), flush=True)

    print("kioskpulse demo: stopping…", flush=True)
    stats = (await simulator).stats if simulator is not None else None
    server.should_exit = True
    await serving
    for follower in followers:
        follower.cancel()
    await asyncio.gather(*followers, return_exceptions=True)
    print(console.render())
    if stats is not None:
        print(
            f"simulator: {stats.accepted} events accepted of {stats.sent} requests; "
            f"responses {dict(sorted(stats.responses.items()))}"
            + (f"; errors {dict(stats.errors)}" if stats.errors else "")
        )
    return 0


def _banner(
    api_url: str, devices_file: Path, kiosks: list[SimulatedKiosk], options: DemoOptions
) -> None:
    lines = [
        "kioskpulse demo: the whole pipeline in one process, on the in-process bus",
        f"  API              {api_url}   (interactive docs: {api_url}/docs)",
        f"  API metrics      {api_url}/metrics",
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
    if options.simulate:
        lines.append(f"  simulator        {options.rate:g} visitors/s per store")
    stop_how = f"after {options.duration:g} s" if options.duration else "on Ctrl-C"
    lines.append(f"  stops            {stop_how}")
    print("\n".join(lines), file=sys.stdout, flush=True)
