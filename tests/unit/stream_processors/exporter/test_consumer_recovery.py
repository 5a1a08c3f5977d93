"""The exporter replaces a consumer that failed for good, and reads the topic again."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from aiokafka.errors import KafkaError

from kioskpulse.settings import Settings
from stream_processors.exporter import source
from stream_processors.exporter.state import ExporterState


class StandInConsumer:
    stopped = False

    async def stop(self) -> None:
        self.stopped = True


async def test_a_failed_consumer_is_stopped_and_a_new_one_reads_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    consumers: list[StandInConsumer] = []
    reads: list[StandInConsumer] = []
    second_read = asyncio.Event()

    async def open_consumer(settings: Settings) -> tuple[StandInConsumer, dict[Any, int]]:
        consumers.append(StandInConsumer())
        return consumers[-1], {}

    async def read(consumer: StandInConsumer, ends: Any, state: ExporterState) -> None:
        reads.append(consumer)
        if len(reads) == 1:
            raise KafkaError("the fetch failed for good")
        second_read.set()
        await asyncio.Event().wait()  # reads on until cancelled

    monkeypatch.setattr(source, "open_aggregates_consumer", open_consumer)
    monkeypatch.setattr(source, "read_aggregates", read)
    state = ExporterState()
    feed = asyncio.create_task(source.feed_from_kafka(state, Settings(exporter_retry_seconds=0.01)))
    async with asyncio.timeout(5):
        await second_read.wait()
    feed.cancel()
    await asyncio.gather(feed, return_exceptions=True)
    assert reads == consumers
    assert len(consumers) == 2
    assert all(consumer.stopped for consumer in consumers)
    assert state.consumer_restarts._value.get() == 1
