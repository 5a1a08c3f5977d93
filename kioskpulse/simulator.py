"""Simulated kiosks that drive the public HTTP API like real ones.

Visitors press at random (a Poisson process at ``rate`` presses/s over all kiosks),
each store with its own distribution of ratings; kiosks send heartbeats and retry
refused writes with the same event id, honouring Retry-After, as real kiosks must.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx

__all__ = ["SimulatedKiosk", "SimulatorStats", "simulate_kiosks"]

_MAX_IN_FLIGHT = 64
_MAX_ATTEMPTS = 5


@dataclass(frozen=True)
class SimulatedKiosk:
    kiosk_id: str
    store_id: str
    scale: int
    token: str


@dataclass
class SimulatorStats:
    """What the simulated devices saw of the API."""

    sent: int = 0
    accepted: int = 0
    responses: Counter[int] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)


def _store_preferences(
    stores: Sequence[str], scale_max: int, rng: random.Random
) -> dict[str, list[float]]:
    """A different mood per store, so the demo's stores do not all look alike."""
    weights = {}
    for store in stores:
        happiness = rng.uniform(0.2, 0.8)
        weights[store] = [
            (happiness**level) * ((1 - happiness) ** (scale_max - 1 - level)) + 0.05
            for level in range(scale_max)
        ]
    return weights


async def simulate_kiosks(
    api_url: str,
    kiosks: Sequence[SimulatedKiosk],
    *,
    rate: float,
    stop: asyncio.Event,
    seed: int = 1,
    heartbeat_every: float = 10.0,
) -> SimulatorStats:
    """Press buttons until ``stop`` is set; returns what happened."""
    if not kiosks:
        raise ValueError("no kiosks to simulate")
    rng = random.Random(seed)
    stats = SimulatorStats()
    preferences = _store_preferences(sorted({k.store_id for k in kiosks}), 5, rng)
    in_flight = asyncio.Semaphore(_MAX_IN_FLIGHT)
    tasks: set[asyncio.Task[None]] = set()

    async with httpx.AsyncClient(base_url=api_url, timeout=10.0) as client:

        async def post(kiosk: SimulatedKiosk, path: str, body: dict[str, Any]) -> None:
            async with in_flight:
                await _post_with_retries(client, kiosk, path, body, stats)

        def launch(kiosk: SimulatedKiosk, path: str, body: dict[str, Any]) -> None:
            task = asyncio.create_task(post(kiosk, path, body))
            tasks.add(task)
            task.add_done_callback(tasks.discard)

        next_heartbeat = 0.0
        loop = asyncio.get_running_loop()
        while not stop.is_set():
            now = loop.time()
            if now >= next_heartbeat:
                for kiosk in kiosks:
                    launch(kiosk, "heartbeat", {"sent_at": _now(), "buffered": 0})
                next_heartbeat = now + heartbeat_every
            kiosk = rng.choice(kiosks)
            weights = preferences[kiosk.store_id][: kiosk.scale]
            rating = rng.choices(range(1, kiosk.scale + 1), weights)[0]
            event_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
            launch(kiosk, "ratings", {"event_id": event_id, "rating": rating, "pressed_at": _now()})
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), rng.expovariate(rate))
        if tasks:
            await asyncio.wait(tasks, timeout=10.0)
    return stats


async def _post_with_retries(
    client: httpx.AsyncClient,
    kiosk: SimulatedKiosk,
    path: str,
    body: dict[str, Any],
    stats: SimulatorStats,
) -> None:
    headers = {"Authorization": f"Bearer {kiosk.token}"}
    url = f"/v1/kiosks/{kiosk.kiosk_id}/{path}"
    for attempt in range(_MAX_ATTEMPTS):
        stats.sent += 1
        try:
            response = await client.post(url, json=body, headers=headers)
        except httpx.HTTPError as exc:
            stats.errors[type(exc).__name__] += 1
            await asyncio.sleep(0.5 * 2**attempt)
            continue
        stats.responses[response.status_code] += 1
        if response.status_code == 202:
            stats.accepted += 1
            return
        if response.status_code not in (429, 503):
            return  # a refusal that retrying cannot fix
        await asyncio.sleep(float(response.headers.get("Retry-After", "1")))


def _now() -> str:
    return datetime.now(UTC).isoformat()
