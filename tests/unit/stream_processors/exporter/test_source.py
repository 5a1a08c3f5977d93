"""The in-process bus feeding the exporter: backlog first, then live, readiness on the way."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from kioskpulse.bus import Record
from kioskpulse.bus.memory import MemoryBus
from kioskpulse.events import StoreAggregate
from kioskpulse.topics import AGGREGATES
from stream_processors.exporter.source import feed_from_bus
from stream_processors.exporter.state import ExporterState
from tests.support.aggregates import NOW, aggregate


def record(value: StoreAggregate | bytes) -> Record:
    if isinstance(value, StoreAggregate):
        return Record(AGGREGATES, value.key, value.to_bytes())
    return Record(AGGREGATES, "junk", value)


async def until(condition: Callable[[], bool]) -> None:
    """Let the feed task run until ``condition`` holds (at most about 2 s)."""
    for _ in range(2000):
        if condition():
            return
        await asyncio.sleep(0.001)
    raise AssertionError("the condition never held")


async def test_the_backlog_then_live_aggregates_reach_the_store() -> None:
    bus = MemoryBus()
    state = ExporterState(clock=lambda: NOW)
    await bus.publish(
        [
            record(aggregate("s1", 1, presses={4: [1, 0, 0, 0]})),
            record(b"not an aggregate"),
            record(aggregate("s1", 1, presses={4: [1, 0, 0, 1]})),  # upsert of the same bucket
        ]
    )
    feed = asyncio.create_task(feed_from_bus(state, bus))
    try:
        await until(lambda: state.ready)
        assert state.windows.window("s1", "1h", NOW).presses == 2
        invalid = "kioskpulse_exporter_aggregates_invalid_total"
        assert state.registry.get_sample_value(invalid) == 1

        await bus.publish([record(aggregate("s2", 3, presses={5: [0, 0, 0, 0, 1]}))])
        await until(lambda: "s2" in state.windows)
        assert state.windows.view("s1").totals.presses == {4: [1, 0, 0, 1]}
        assert state.registry.get_sample_value("kioskpulse_exporter_aggregates_consumed_total") == 3
    finally:
        feed.cancel()
        await asyncio.gather(feed, return_exceptions=True)


async def test_an_empty_topic_is_ready_at_once() -> None:
    state = ExporterState(clock=lambda: NOW)
    feed = asyncio.create_task(feed_from_bus(state, MemoryBus()))
    try:
        await until(lambda: state.ready)
        assert state.registry.get_sample_value("kioskpulse_exporter_ready") == 1
    finally:
        feed.cancel()
        await asyncio.gather(feed, return_exceptions=True)
