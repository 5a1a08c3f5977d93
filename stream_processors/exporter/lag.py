"""The worker's consumer lag, measured from outside: end offsets minus committed offsets.

The exporter polls it with the admin client, per consumer group and input topic, so
that the lag is known while the worker is down or stuck, which is when it matters.
``kioskpulse_pipeline_consumer_lag_records`` is what the lag alerts and the pipeline
dashboard read; frames waiting for the vision stage are its ``camera.frames.v1`` row.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError

from kioskpulse.settings import Settings
from kioskpulse.topics import FACES, FOLLOWUPS, FRAMES, HEARTBEATS, RATINGS
from stream_processors.exporter.state import ExporterState

__all__ = ["LAG_SECONDS", "WORKER_INPUTS", "lag_by_topic", "measure_lag", "watch_consumer_lag"]

log = logging.getLogger(__name__)

#: How often the lag is measured.
LAG_SECONDS = 15.0
#: The topics the worker's group consumes.
#: (Not built from aggregation.stage's INPUT_TOPICS: importing the stage would put the
#: aggregator's own metrics on the exporter's /metrics.)
WORKER_INPUTS: tuple[str, ...] = (FRAMES, RATINGS, HEARTBEATS, FOLLOWUPS, FACES)


def lag_by_topic(
    committed: Mapping[TopicPartition, int | None],
    beginnings: Mapping[TopicPartition, int],
    ends: Mapping[TopicPartition, int],
) -> dict[str, int]:
    """Records not yet consumed, summed per topic. A partition the group never
    committed counts from its beginning (a new group reads from the earliest record)."""
    lag: dict[str, int] = {}
    for partition, end in ends.items():
        start = committed.get(partition)
        if start is None or start < 0:
            start = beginnings.get(partition, 0)
        lag[partition.topic] = lag.get(partition.topic, 0) + max(0, end - start)
    return lag


async def measure_lag(settings: Settings, group: str, topics: Sequence[str]) -> dict[str, int]:
    """The lag of ``group`` on each of ``topics`` now (KafkaError/OSError without a broker)."""
    client_id = f"{settings.kafka_client_id}-exporter-lag"
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap, client_id=client_id)
    await admin.start()
    try:
        described = await admin.describe_topics(list(topics))
        offsets = await admin.list_consumer_group_offsets(group)
    finally:
        await admin.close()
    partitions = [
        TopicPartition(topic["topic"], p["partition"])
        for topic in described
        for p in topic.get("partitions", [])
    ]
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka_bootstrap, client_id=client_id)
    await consumer.start()
    try:
        beginnings = await consumer.beginning_offsets(partitions)
        ends = await consumer.end_offsets(partitions)
    finally:
        await consumer.stop()
    committed = {tp: meta.offset for tp, meta in offsets.items()}
    return lag_by_topic(committed, beginnings, ends)


async def watch_consumer_lag(state: ExporterState, settings: Settings) -> None:
    """Measure the worker group's lag every ``LAG_SECONDS`` (runs until cancelled)."""
    group = settings.faust_app_id
    while True:
        try:
            lag = await measure_lag(settings, group, WORKER_INPUTS)
        except (KafkaError, OSError) as exc:
            # The figures stay as they were: a target-down or broker alert says why.
            log.warning("cannot measure the consumer lag of %s: %s", group, exc)
        else:
            for topic, records in lag.items():
                state.consumer_lag.labels(group, topic).set(records)
        await asyncio.sleep(LAG_SECONDS)
