"""``kioskpulse simulate``: run a simulation against an API, with progress on the terminal."""

from __future__ import annotations

import asyncio
import json
import signal
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from kioskpulse.simulation.driver import Simulation
from kioskpulse.simulation.fleet import load_fleet
from kioskpulse.simulation.model import ModelParameters
from kioskpulse.simulation.truth import StoreTruth

__all__ = [
    "SimulateOptions",
    "render_progress",
    "render_summary",
    "run_simulate",
    "truth_document",
]


@dataclass(frozen=True)
class SimulateOptions:
    api: str
    devices_file: Path
    stores: int | None = None
    duration: float | None = None
    rate: float = 0.5
    seed: int = 1
    propensity_ratio: float = 3.0
    truth_out: Path | None = None
    progress_every: float = 5.0


def run_simulate(options: SimulateOptions) -> int:
    """Simulate until Ctrl-C, SIGTERM or ``options.duration``; returns the exit status.

    Raises FleetError (a RegistryError) before anything is sent when the devices file
    or its tokens are unusable.
    """
    fleet = load_fleet(options.devices_file, stores=options.stores)
    simulation = Simulation(
        fleet,
        rate=options.rate,
        seed=options.seed,
        parameters=ModelParameters(propensity_ratio=options.propensity_ratio),
    )
    print(_banner(simulation, options), flush=True)
    asyncio.run(_run(simulation, options))
    print(render_summary(simulation), flush=True)
    if options.truth_out is not None:
        options.truth_out.write_text(json.dumps(truth_document(simulation), indent=2) + "\n")
        print(f"ground truth written to {options.truth_out}")
    return 0


async def _run(simulation: Simulation, options: SimulateOptions) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    if options.duration is not None:
        loop.call_later(options.duration, stop.set)
    started = time.monotonic()
    try:
        async with httpx.AsyncClient(base_url=options.api, timeout=10.0) as client:
            running = asyncio.create_task(simulation.run(client, stop))
            while not running.done():
                await asyncio.wait({running}, timeout=options.progress_every)
                if not running.done() and not stop.is_set():
                    print(render_progress(simulation, time.monotonic() - started), flush=True)
            await running
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)


def _banner(simulation: Simulation, options: SimulateOptions) -> str:
    stores = f"{len(simulation.models)} stores ({', '.join(simulation.models)})"
    stop_how = f"after {options.duration:g} s" if options.duration else "on Ctrl-C"
    return (
        f"kioskpulse simulate: {stores} posting to {options.api}\n"
        f"  {options.rate:g} visitors/s per store, propensity ratio (unhappiest/happiest) "
        f"{options.propensity_ratio:g}, seed {options.seed}, run id {simulation.run_id}; "
        f"stops {stop_how}"
    )


def render_progress(simulation: Simulation, elapsed: float) -> str:
    """One line: what happened so far and what the API accepted."""
    stats, truths = simulation.stats, simulation.truth.values()
    visitors = sum(t.visitors for t in truths)
    presses = sum(t.presses for t in truths)
    gave_up = sum(t.gave_up_pressing for t in truths)
    parts = [
        f"[{elapsed:5.0f} s] visitors {visitors}",
        f"presses {presses}" + (f" (+{gave_up} gave up: kiosk busy)" if gave_up else ""),
        *(
            f"{kind} {stats.accepted_events(kind)}/{stats.sent_events(kind)} accepted"
            for kind in ("ratings", "followups", "observations", "heartbeats")
        ),
        f"errors {sum(stats.errors.values())}",
    ]
    return ", ".join(parts)


def _nps(truth: StoreTruth) -> str:
    """A store with NPS kiosks: its true NPS beside that of the presses (θ is then on 0..10)."""
    if truth.nps is None:
        return ""
    raw = "-" if truth.raw_nps is None else f"{truth.raw_nps:.1f}"
    return f"  (scores 0..10; true NPS {truth.nps:.1f}, raw NPS {raw})"


def render_summary(simulation: Simulation) -> str:
    """Per store: the truth (θ, HI) beside what the presses alone say; then the requests."""
    lines = [
        "-- ground truth per store " + "-" * 50,
        f"{'store':<16} {'true HI':>7} {'raw HI':>7} {'visitors':>8} {'presses':>7}"
        f" {'gave up':>7}  θ (level 1 = worst)",
    ]
    for store_id, truth in simulation.truth.items():
        raw = "-" if truth.raw_happy_index is None else f"{truth.raw_happy_index:.1f}"
        theta = " ".join(f"{p:.2f}" for p in truth.theta)
        lines.append(
            f"{store_id:<16} {truth.happy_index:>7.1f} {raw:>7} {truth.visitors:>8}"
            f" {truth.presses:>7} {truth.gave_up_pressing:>7}  {theta}{_nps(truth)}"
        )
    stats = simulation.stats
    lines.append(
        f"requests: {stats.accepted} accepted of {stats.sent} sent; "
        f"responses {dict(sorted(stats.responses.items()))}"
        + (f"; errors {dict(stats.errors)}" if stats.errors else "")
    )
    return "\n".join(lines)


def truth_document(simulation: Simulation) -> dict[str, Any]:
    """The ground truth of a run as JSON, for measuring the bias correction against."""
    started = simulation.started_at
    return {
        "run_id": simulation.run_id,
        "seed": simulation.seed,
        "visitors_per_second_per_store": simulation.rate,
        "started_at": None if started is None else started.isoformat(),
        "stores": {store_id: truth.to_json() for store_id, truth in simulation.truth.items()},
    }
