"""The real local Kafka broker of the tests (deploy/kafka/kafka.sh), and reading what
the processes wrote to it."""

from __future__ import annotations

import os
import socket
import subprocess
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TypeVar

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.structs import ConsumerRecord

from kioskpulse.bus import Record
from kioskpulse.event_records import events_in
from kioskpulse.events import Contract, StoreAggregate
from kioskpulse.topics import AGGREGATES

__all__ = [
    "BOOTSTRAP",
    "KAFKA_SCRIPT",
    "REPO",
    "broker_accepts_connections",
    "end_offsets",
    "kafka_script",
    "latest_aggregates",
    "read_new",
    "read_until",
]

REPO = Path(__file__).resolve().parents[2]
KAFKA_SCRIPT = REPO / "deploy" / "kafka" / "kafka.sh"
BOOTSTRAP = os.environ.get("KIOSKPULSE_KAFKA_BOOTSTRAP", "127.0.0.1:9092")


def broker_port() -> int:
    return int(BOOTSTRAP.rsplit(":", 1)[1])


def broker_accepts_connections() -> bool:
    host, port = BOOTSTRAP.rsplit(":", 1)
    try:
        with socket.create_connection((host, int(port)), timeout=1):
            return True
    except OSError:
        return False


def kafka_script(action: str) -> None:
    """Run deploy/kafka/kafka.sh for the broker the tests use."""
    env = {**os.environ, "KAFKA_PORT": str(broker_port())}
    subprocess.run([str(KAFKA_SCRIPT), action], check=True, env=env, timeout=120)


E = TypeVar("E", bound=Contract)


def events_of(records: Iterable[ConsumerRecord[bytes, bytes]], contract: type[E]) -> list[E]:
    """The events in consumer records: one or several a record (kioskpulse.event_records)."""
    ours = (Record(r.topic, None if r.key is None else r.key.decode(), r.value) for r in records)
    return events_in(ours, contract)


async def end_offsets(bootstrap: str, topic: str) -> dict[TopicPartition, int]:
    """Where each partition of ``topic`` ends now: read from here to see only new records."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        [described] = await admin.describe_topics([topic])
    finally:
        await admin.close()
    partitions = [TopicPartition(topic, p["partition"]) for p in described["partitions"]]
    assert partitions, f"topic {topic} does not exist"
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        offsets: dict[TopicPartition, int] = await consumer.end_offsets(partitions)
        return offsets
    finally:
        await consumer.stop()


async def read_new(
    bootstrap: str, start: dict[TopicPartition, int], want: int, within: float = 30
) -> list[ConsumerRecord[bytes, bytes]]:
    """Read at least ``want`` records written after ``start`` (an independent consumer)."""
    return await read_until(bootstrap, start, lambda records: len(records) >= want, within)


async def read_until(
    bootstrap: str,
    start: dict[TopicPartition, int],
    done: Callable[[list[ConsumerRecord[bytes, bytes]]], bool],
    within: float = 30,
) -> list[ConsumerRecord[bytes, bytes]]:
    """The records written after ``start``, read until ``done`` says they are enough (or
    ``within`` seconds have passed)."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    records: list[ConsumerRecord[bytes, bytes]] = []
    try:
        consumer.assign(list(start))
        for partition, offset in start.items():
            consumer.seek(partition, offset)
        deadline = time.monotonic() + within
        while not done(records) and time.monotonic() < deadline:
            for batch in (await consumer.getmany(timeout_ms=500)).values():
                records.extend(batch)
        return records
    finally:
        await consumer.stop()


async def latest_aggregates(
    bootstrap: str, prefix: str, *, exact: bool = False
) -> dict[str, StoreAggregate]:
    """The latest value of every bucket of the stores named ``prefix-*`` (or, ``exact``,
    of the store ``prefix``), read to the end of the topic."""
    wanted = prefix + "/" if exact else prefix + "-"
    ends = await end_offsets(bootstrap, AGGREGATES)
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    latest: dict[str, StoreAggregate] = {}
    try:
        consumer.assign(list(ends))
        await consumer.seek_to_beginning(*ends)
        remaining = {tp for tp, end in ends.items() if end > 0}
        while remaining:
            for tp, batch in (await consumer.getmany(timeout_ms=1000)).items():
                for record in batch:
                    if record.key is not None and record.key.decode().startswith(wanted):
                        latest[record.key.decode()] = StoreAggregate.from_bytes(record.value)
                    if record.offset + 1 >= ends[tp]:
                        remaining.discard(tp)
    finally:
        await consumer.stop()
    return latest
