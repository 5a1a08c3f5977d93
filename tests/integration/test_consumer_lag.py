"""The exporter's consumer-lag measurement against the real broker."""

from __future__ import annotations

import uuid

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.structs import OffsetAndMetadata

from kioskpulse.bus.kafka import create_topics
from kioskpulse.settings import Settings
from kioskpulse.topics import TopicSpec
from stream_processors.exporter.lag import measure_lag


async def test_the_lag_is_what_the_group_has_not_committed(kafka_bootstrap: str) -> None:
    settings = Settings(kafka_bootstrap=kafka_bootstrap)
    topic, group = f"test-lag-{uuid.uuid4().hex[:8]}", f"test-lag-{uuid.uuid4().hex[:8]}"
    await create_topics(settings, [TopicSpec(topic, 2, 1, {})])
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap)
    await producer.start()
    try:
        for n in range(30):
            await producer.send_and_wait(topic, b"x", partition=n % 2)
    finally:
        await producer.stop()

    assert await measure_lag(settings, group, [topic]) == {topic: 30}, "never committed"

    consumer = AIOKafkaConsumer(
        bootstrap_servers=kafka_bootstrap, group_id=group, enable_auto_commit=False
    )
    await consumer.start()
    try:
        consumer.assign([TopicPartition(topic, 0)])  # aiokafka commits for assigned ones
        await consumer.commit({TopicPartition(topic, 0): OffsetAndMetadata(10, "")})
    finally:
        await consumer.stop()
    assert await measure_lag(settings, group, [topic]) == {topic: 5 + 15}
