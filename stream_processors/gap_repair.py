"""Reading the records the stream skipped (``input_gaps.py``) beside it, not by seeking it.

A consumer of its own, in no group, reads the missing offsets of one partition; the
agent processes them like any record and then acknowledges them to faust, so its
commits move on past them. faust's gap bookkeeping, which would count a skipped range
as acknowledged, is switched off for the input topics: nothing is committed unread.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Collection
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from faust.types import TP, Message

from stream_processors.input_gaps import Gap

__all__ = ["faust_message", "keep_gaps_unacknowledged", "read_gap"]

log = logging.getLogger(__name__)

#: The longest a repair waits for the broker before the worker goes on without it (the
#: records stay unacknowledged, so the next worker of the partition reads them).
READ_GAP_SECONDS = 30.0


async def read_gap(bootstrap: str, gap: Gap, within: float = READ_GAP_SECONDS) -> list[Any]:
    """The records of ``gap`` (aiokafka ConsumerRecords), fewer if some are gone."""
    partition = TopicPartition(gap.topic, gap.partition)
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        enable_auto_commit=False,
        auto_offset_reset="earliest",  # deleted by retention: start at what is left
        client_id="kioskpulse-gap-repair",
    )
    await consumer.start()
    records: list[Any] = []
    try:
        consumer.assign([partition])
        consumer.seek(partition, gap.start)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while loop.time() < deadline:
            fetched = await consumer.getmany(partition, timeout_ms=500, max_records=10_000)
            for record in fetched.get(partition, []):
                if record.offset >= gap.end:
                    return records
                records.append(record)
            if await consumer.position(partition) >= gap.end:
                return records
        log.warning(
            "read %d of the %d skipped records of %s partition %d within %.0f s",
            len(records), gap.size, gap.topic, gap.partition, within,
        )  # fmt: skip
        return records
    finally:
        await consumer.stop()


def faust_message(record: Any) -> Message:
    """A faust Message for a record read beside the stream: what faust acknowledges and
    what ``faust_app.record_of_message`` turns into our record, like the stream's own."""
    return Message(
        record.topic,
        record.partition,
        record.offset,
        record.timestamp / 1000,
        record.timestamp_type,
        list(record.headers or ()),
        record.key,
        record.value,
        None,
        tp=TP(record.topic, record.partition),
    )


def keep_gaps_unacknowledged(consumer: Any, topics: Collection[str]) -> None:
    """faust's drain loop records a jump in offsets as a gap and commits past it; for
    plain topics a jump is a skip, repaired and acknowledged by the agent instead."""
    if getattr(consumer, "_kioskpulse_gaps_kept", False):
        return
    add_gap = consumer._add_gap

    async def add_gap_of_other_topics(tp: TP, offset_from: int, offset_to: int) -> None:
        if tp.topic not in topics:
            await add_gap(tp, offset_from, offset_to)

    consumer._add_gap = add_gap_of_other_topics
    consumer._kioskpulse_gaps_kept = True
