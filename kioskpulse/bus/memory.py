"""The in-process bus of the embedded runtime: Kafka's contract, in one process.

Each topic is a single ordered log (so per-key order holds trivially), kept to a
bounded length. Subscribers read from the end or from the start of what is kept;
each has a bounded queue, and a full queue makes ``publish`` wait — the same
back-pressure a slow broker gives — up to the publish timeout.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import AsyncIterator, Sequence
from dataclasses import replace

from kioskpulse.bus import PublishTimeout, Record
from kioskpulse.topics import TopicSpec

__all__ = ["MemoryBus", "batches"]


class _Topic:
    def __init__(self, retention: int) -> None:
        self.log: deque[Record] = deque(maxlen=retention)
        self.next_offset = 0
        self.subscribers: list[asyncio.Queue[Record]] = []


class MemoryBus:
    """Publish/subscribe by topic, in memory."""

    def __init__(
        self, publish_timeout: float = 5.0, retention: int = 100_000, queue_size: int = 10_000
    ) -> None:
        self._publish_timeout = publish_timeout
        self._retention = retention
        self._queue_size = queue_size
        self._topics: dict[str, _Topic] = {}

    async def start(self) -> None:
        """Nothing to connect to."""

    async def stop(self) -> None:
        """Nothing to flush: every published record is already delivered to the queues."""

    async def ready(self) -> bool:
        return True

    async def ensure_topics(self, specs: Sequence[TopicSpec]) -> None:
        for spec in specs:
            self._topic(spec.name)

    async def publish(self, records: Sequence[Record]) -> None:
        try:
            async with asyncio.timeout(self._publish_timeout):
                for record in records:
                    await self._append(record)
        except TimeoutError:
            raise PublishTimeout("a subscriber of the in-process bus is not keeping up") from None

    async def subscribe(
        self, topic: str, *more_topics: str, from_beginning: bool = False
    ) -> AsyncIterator[Record]:
        """Every record published to the topic(s) from now (or from the oldest kept) on.

        Records of several topics come interleaved in publication order.
        """
        states = [self._topic(name) for name in (topic, *more_topics)]
        queue: asyncio.Queue[Record] = asyncio.Queue(self._queue_size)
        backlog = [r for state in states for r in state.log] if from_beginning else []
        backlog.sort(key=lambda record: record.timestamp_ms or 0)
        for state in states:
            state.subscribers.append(queue)
        try:
            for record in backlog:
                yield record
            while True:
                yield await queue.get()
        finally:
            for state in states:
                state.subscribers.remove(queue)

    def records(self, topic: str) -> list[Record]:
        """What the topic still holds, oldest first."""
        return list(self._topic(topic).log)

    def _topic(self, name: str) -> _Topic:
        if name not in self._topics:
            self._topics[name] = _Topic(self._retention)
        return self._topics[name]

    async def _append(self, record: Record) -> None:
        state = self._topic(record.topic)
        stored = replace(
            record, partition=0, offset=state.next_offset, timestamp_ms=time.time_ns() // 1_000_000
        )
        state.next_offset += 1
        state.log.append(stored)
        for queue in state.subscribers:
            await queue.put(stored)


async def batches(
    records: AsyncIterator[Record], max_items: int, within: float
) -> AsyncIterator[list[Record]]:
    """Group a record stream into lists of up to ``max_items``, waiting at most ``within`` s.

    The embedded runtime's counterpart of faust's ``take_events``.
    """
    pending: asyncio.Task[Record] | None = None
    try:
        while True:
            if pending is None:
                batch = [await anext(records)]
            else:  # the read left pending by the last batch's wait brings the next record
                first, pending = pending, None
                batch = [await first]
            loop = asyncio.get_running_loop()
            deadline = loop.time() + within
            while len(batch) < max_items:
                pending = pending or asyncio.ensure_future(anext(records))
                done, _ = await asyncio.wait({pending}, timeout=max(0.0, deadline - loop.time()))
                if not done:
                    break
                batch.append(pending.result())
                pending = None
            yield batch
    finally:
        if pending is not None:
            pending.cancel()
