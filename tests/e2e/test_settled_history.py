"""An hour's history posted at once (faster than real time) never bends the corrected figures.

The simulator posts its history through the in-process API onto the memory bus; the
store aggregator's logic counts it in event-time order with the wall clock standing
still, emitting every few hundred events, and an exporter reads what it emits. While
that goes on, presses run ahead of visitors (a visitor counts when its track closes),
which is what made a response propensity of 1.74 (issue 14). At every emission: no
propensity leaves [0, 1], and every bucket the corrected figures read already holds
every visitor it will ever hold.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import httpx

from kioskpulse.bus.memory import MemoryBus
from kioskpulse.event_records import events_in
from kioskpulse.events import FaceObservation, FollowupEvent, Heartbeat, RatingEvent
from kioskpulse.simulation import ModelParameters, Simulation, load_fleet
from kioskpulse.topics import FACES, FOLLOWUPS, HEARTBEATS, RATINGS
from stream_processors.aggregation.aggregator import Aggregator
from stream_processors.aggregation.config import AggregationConfig
from stream_processors.aggregation.stage import event_time
from stream_processors.exporter.state import ExporterState
from stream_processors.exporter.summary import summarise
from stream_processors.exporter.windows import WINDOWS
from tests.support.fleet import Fleet, write_tokens

# Eager visitors, so that the hour of history gives corrected figures early on.
EAGER = ModelParameters(max_press_probability=1.0, press_delay=(0.0, 0.3), misuse_interval=0.5)
HISTORY = 3600.0
EMIT_EVERY = 1000  # events
CONFIG = AggregationConfig(lateness_seconds=7200, visit_idle_seconds=10)

Event = RatingEvent | FaceObservation | Heartbeat | FollowupEvent


async def posted_history(fleet: Fleet, bus: MemoryBus, client: httpx.AsyncClient) -> list[Event]:
    """Everything the simulator's history put on the bus, in event-time order."""
    write_tokens(fleet)
    simulation = Simulation(
        load_fleet(fleet.path), rate=3.0, seed=7, parameters=EAGER, history=HISTORY
    )
    stop = asyncio.Event()
    asyncio.get_running_loop().call_later(1.0, stop.set)
    await simulation.run(client, stop)
    events: list[Event] = [
        *events_in(bus.records(RATINGS), RatingEvent),
        *events_in(bus.records(FACES), FaceObservation),
        *events_in(bus.records(HEARTBEATS), Heartbeat),
        *events_in(bus.records(FOLLOWUPS), FollowupEvent),
    ]
    return sorted(events, key=event_time)


def feed(aggregator: Aggregator, event: Event, wall: float) -> None:
    if isinstance(event, RatingEvent):
        aggregator.add_rating(event)
    elif isinstance(event, Heartbeat):
        aggregator.add_heartbeat(event)
    elif isinstance(event, FollowupEvent):
        aggregator.add_followup(event)
    else:
        aggregator.add_observation(event, wall)


async def test_history_posted_at_once_gives_corrected_figures_from_settled_buckets_only(
    fleet: Fleet, bus: MemoryBus, client: httpx.AsyncClient
) -> None:
    events = await posted_history(fleet, bus, client)
    now = datetime.now(UTC) + timedelta(seconds=5)
    wall = now.timestamp()  # stands still: the whole history is read in an instant

    # The visitors every bucket ends with, once every track is closed.
    final = Aggregator(CONFIG)
    for event in events:
        feed(final, event, wall)
    final.tick(wall + 3600)
    visitors = {
        (value.store_id, value.bucket_start): value.visitors for value in final.take_dirty(now)
    }

    aggregator = Aggregator(CONFIG)
    exporter = ExporterState(clock=lambda: now)
    checks = behind = 0
    for n, event in enumerate(events, start=1):
        feed(aggregator, event, wall)
        if n % EMIT_EVERY and n != len(events):
            continue
        aggregator.tick(wall)
        for value in aggregator.take_dirty(now):
            exporter.windows.apply(value, now)
        for store_id in exporter.windows.stores():
            settled = exporter.windows.view(store_id).settled_until
            current = {
                start: bucket.visitors
                for start, bucket in aggregator.stores[store_id].buckets.items()
            }
            for start, counted in current.items():
                at = datetime.fromtimestamp(start, UTC)
                if settled is not None and at + timedelta(seconds=60) <= settled:
                    assert counted == visitors[store_id, at], (store_id, at, settled)
                else:
                    behind += counted < visitors.get((store_id, at), 0)
            for window in WINDOWS:
                corrected = summarise(exporter.windows, store_id, window, now).corrected
                assert corrected is not None
                for rho in (corrected.get("response_propensity") or {}).values():
                    assert rho is None or 0.0 <= rho <= 1.0, (store_id, window, corrected)
                checks += corrected["available"]
    assert checks > 0, "corrected figures were computed on the way"
    assert behind > 0, "the newest buckets lacked visitors on the way (the test means something)"
