"""The in-process bus keeps Kafka's promises that the pipeline relies on."""

from __future__ import annotations

import asyncio

import pytest

from kioskpulse.bus import PublishTimeout, Record
from kioskpulse.bus.memory import MemoryBus


async def take(bus: MemoryBus, topic: str, n: int, *, from_beginning: bool = False) -> list[Record]:
    got: list[Record] = []
    async for record in bus.subscribe(topic, from_beginning=from_beginning):
        got.append(record)
        if len(got) == n:
            break
    return got


async def test_subscribers_see_every_record_in_order_with_offsets() -> None:
    bus = MemoryBus()
    reader = asyncio.create_task(take(bus, "t", 100))
    await asyncio.sleep(0)
    await bus.publish([Record("t", f"store-{i % 3}", str(i).encode()) for i in range(100)])
    got = await reader
    assert [int(r.value) for r in got] == list(range(100))
    assert [r.offset for r in got] == list(range(100))
    for store in ("store-0", "store-1", "store-2"):
        per_key = [int(r.value) for r in got if r.key == store]
        assert per_key == sorted(per_key)


async def test_topics_are_separate_and_late_readers_can_start_from_the_beginning() -> None:
    bus = MemoryBus()
    await bus.publish([Record("a", "k", b"1"), Record("b", "k", b"2"), Record("a", "k", b"3")])
    got = await take(bus, "a", 2, from_beginning=True)
    assert [r.value for r in got] == [b"1", b"3"]
    assert [r.value for r in bus.records("b")] == [b"2"]


async def test_a_stalled_subscriber_makes_publish_time_out() -> None:
    bus = MemoryBus(publish_timeout=0.1, queue_size=2)
    subscription = bus.subscribe("t")
    first = asyncio.create_task(anext(subscription))
    await asyncio.sleep(0)
    await bus.publish([Record("t", "k", b"0")])
    await first
    with pytest.raises(PublishTimeout):
        await bus.publish([Record("t", "k", str(i).encode()) for i in range(5)])
    await subscription.aclose()


async def test_retention_is_bounded() -> None:
    bus = MemoryBus(retention=10)
    await bus.publish([Record("t", None, str(i).encode()) for i in range(25)])
    kept = bus.records("t")
    assert len(kept) == 10
    assert kept[0].offset == 15


async def test_batches_fill_up_or_flush_after_the_wait() -> None:
    from kioskpulse.bus.memory import batches

    bus = MemoryBus()
    grouped = batches(bus.subscribe("t"), max_items=3, within=0.05)
    first = asyncio.create_task(anext(grouped))
    await asyncio.sleep(0)
    await bus.publish([Record("t", "k", str(i).encode()) for i in range(4)])
    assert [r.value for r in await first] == [b"0", b"1", b"2"]
    assert [r.value for r in await anext(grouped)] == [b"3"], "flushed after the wait"
    await grouped.aclose()


async def test_batches_go_on_after_a_batch_flushed_by_the_wait() -> None:
    from kioskpulse.bus.memory import batches

    bus = MemoryBus()
    grouped = batches(bus.subscribe("t"), max_items=3, within=0.05)
    first = asyncio.create_task(anext(grouped))
    await asyncio.sleep(0)
    await bus.publish([Record("t", "k", b"a")])
    assert [r.value for r in await first] == [b"a"]  # flushed by the wait, a read pending
    second = asyncio.create_task(anext(grouped))
    await asyncio.sleep(0.1)
    await bus.publish([Record("t", "k", b"b")])
    assert [r.value for r in await second] == [b"b"]
    await grouped.aclose()
