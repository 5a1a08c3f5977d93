"""Feeding the exporter: ``store.aggregates.v1`` from Kafka, or from the in-process bus.

Both read the topic from its beginning (the topic is compacted: it holds the latest
value of every bucket, so reading it all rebuilds every window and total) and hand
each message to ``ExporterState.ingest``. Neither needs a consumer group or commits
offsets: every replica reads everything and keeps nothing on disk.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError, UnknownTopicOrPartitionError

from kioskpulse.bus.memory import MemoryBus
from kioskpulse.settings import Settings
from kioskpulse.topics import AGGREGATES
from stream_processors.exporter.state import ExporterState

__all__ = [
    "feed_from_bus",
    "feed_from_kafka",
    "open_aggregates_consumer",
    "read_aggregates",
]

log = logging.getLogger(__name__)

#: Longest wait for new messages before the readiness check runs again.
_POLL_MS = 1000


# --------------------------------------------------------------------------- in-process bus


async def feed_from_bus(state: ExporterState, bus: MemoryBus) -> None:
    """Apply every aggregate the bus holds and then every new one (runs until cancelled)."""
    held = bus.records(AGGREGATES)
    # Ready once the last record held at start is applied (at once on an empty topic).
    last_offset = held[-1].offset if held else None
    if last_offset is None:
        state.mark_ready()
    async for record in bus.subscribe(AGGREGATES, from_beginning=True):
        state.ingest(record.value, f"{record.topic} offset {record.offset}")
        if last_offset is not None and record.offset is not None and record.offset >= last_offset:
            state.mark_ready()
            last_offset = None


# --------------------------------------------------------------------------- Kafka


async def open_aggregates_consumer(
    settings: Settings,
) -> tuple[AIOKafkaConsumer, dict[TopicPartition, int]]:
    """A started consumer on every partition of the topic, at its beginning, and the end
    offsets seen now (the initial read is done when every partition reached its own).

    Raises ``KafkaError``/``OSError`` when no broker answers, LookupError without the topic.
    """
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap,
        client_id=f"{settings.kafka_client_id}-exporter",
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    try:
        await consumer.start()
        partitions = await _partitions(settings)
        if not partitions:
            raise LookupError(f"topic {AGGREGATES} does not exist (yet)")
        assigned = [TopicPartition(AGGREGATES, p) for p in sorted(partitions)]
        consumer.assign(assigned)
        await consumer.seek_to_beginning(*assigned)
        ends: dict[TopicPartition, int] = await consumer.end_offsets(assigned)
    except BaseException:
        # Also after a failed start(), or aiokafka reports an unclosed consumer.
        with contextlib.suppress(KafkaError, OSError):
            await consumer.stop()
        raise
    return consumer, ends


async def _partitions(settings: Settings) -> list[int]:
    """The topic's partition numbers, as the broker describes them now (none if it is missing)."""
    admin = AIOKafkaAdminClient(
        bootstrap_servers=settings.kafka_bootstrap,
        client_id=f"{settings.kafka_client_id}-exporter",
    )
    await admin.start()
    try:
        described = await admin.describe_topics([AGGREGATES])
    except UnknownTopicOrPartitionError:
        return []
    finally:
        await admin.close()
    return sorted(p["partition"] for topic in described for p in topic.get("partitions", []))


async def read_aggregates(
    consumer: AIOKafkaConsumer, ends: dict[TopicPartition, int], state: ExporterState
) -> None:
    """Apply every message, marking the state ready once every partition reached ``ends``.

    Runs until cancelled; the consumer reconnects by itself if the broker goes away.
    """
    behind = dict(ends)
    while True:
        batches = await consumer.getmany(timeout_ms=_POLL_MS)
        for partition, messages in batches.items():
            for message in messages:
                origin = (
                    f"{partition.topic} partition {partition.partition} offset {message.offset}"
                )
                state.ingest(message.value, origin)
        if behind:
            # position(), not the last offset read: compaction leaves gaps before the end.
            for partition, end in list(behind.items()):
                if await consumer.position(partition) >= end:
                    del behind[partition]
            if not behind:
                state.mark_ready()


async def feed_from_kafka(state: ExporterState, settings: Settings) -> None:
    """Connect (retrying while the broker or the topic is missing), then read forever;
    a consumer that fails for good is replaced by a new one."""
    while True:
        try:
            consumer, ends = await open_aggregates_consumer(settings)
        except (KafkaError, OSError, LookupError) as exc:
            log.warning(
                "cannot read %s from Kafka at %s: %s; retrying in %g s",
                AGGREGATES,
                settings.kafka_bootstrap,
                exc,
                settings.exporter_retry_seconds,
            )
            await asyncio.sleep(settings.exporter_retry_seconds)
            continue
        log.info(
            "reading %s from the beginning: %d partitions, %d messages to catch up",
            AGGREGATES,
            len(ends),
            sum(ends.values()),
        )
        try:
            await read_aggregates(consumer, ends, state)
        except (KafkaError, OSError) as exc:
            # aiokafka reconnects by itself after lost connections; what reaches here it
            # could not get over. A new consumer reads the topic again: upserts of the
            # same bucket values change nothing, and the figures stay whole meanwhile.
            state.consumer_restarts.inc()
            log.warning("reading %s failed (%r); starting a new consumer", AGGREGATES, exc)
            await asyncio.sleep(settings.exporter_retry_seconds)
        finally:
            with contextlib.suppress(KafkaError, OSError):
                await consumer.stop()
