"""The Kafka bus: durable writes with aiokafka (acks=all, idempotent producer).

A down broker never stops the process: ``start`` keeps connecting in the
background, and until it succeeds every publish fails fast with BusUnavailable.
Once connected, aiokafka reconnects by itself; an idempotent producer retries a
failed batch forever, so every publish is bounded by the publish timeout and a
caller that sees PublishTimeout must not acknowledge (the device retries with the
same event id, and consumers de-duplicate).

A producer that cannot recover (``kioskpulse.bus.recovery``: the sequence-number
wedge after a broker restart, a fenced or stopped producer, timeouts while the
broker answers) is replaced: publishes fail fast with BusUnavailable and
``ready()`` is False until a new producer is connected.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from collections.abc import Callable, Coroutine, Sequence
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError, ProducerClosed
from aiokafka.partitioner import DefaultPartitioner
from aiokafka.producer.message_accumulator import BatchBuilder

from kioskpulse.bus import BusUnavailable, PublishError, PublishTimeout, Record
from kioskpulse.bus.recovery import (
    PRODUCER_REPLACEMENTS,
    ProducerHealth,
    Verdict,
    broker_answers,
)
from kioskpulse.settings import Settings
from kioskpulse.topics import STORE_KEYED, TopicSpec

__all__ = ["KafkaBus", "create_topics", "create_topics_when_reachable"]

log = logging.getLogger(__name__)

_TOPIC_ALREADY_EXISTS = 36
_RECONNECT_BACKOFF = (0.5, 1.0, 2.0, 5.0)
#: From this many records with one key in one publish, write them as one record batch.
_BATCH_THRESHOLD = 32


class KafkaBus:
    """Publish to Kafka; see the module docstring for the failure behaviour."""

    def __init__(
        self, settings: Settings, *, producer_factory: Callable[..., Any] = AIOKafkaProducer
    ) -> None:
        """``producer_factory`` makes the aiokafka producers (a stand-in in unit tests)."""
        self._settings = settings
        self._new_producer = producer_factory
        self._producer: AIOKafkaProducer | None = None
        self._connector: asyncio.Task[None] | None = None
        self._topics: Sequence[TopicSpec] = ()
        self._partitioner = DefaultPartitioner()
        self._health = ProducerHealth()
        # Retiring producers and broker checks: referenced so they are not collected.
        self._chores: set[asyncio.Task[None]] = set()
        self._check: asyncio.Task[None] | None = None  # is the broker back? (one at a time)

    # ----------------------------------------------------------------- lifecycle

    async def start(self) -> None:
        """Try to connect once now; if the broker is down, keep trying in the background."""
        if await self._try_connect():
            return
        self._connector = asyncio.create_task(self._connect_forever(), name="kafka-connect")

    async def stop(self) -> None:
        for task in (self._connector, *self._chores):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        if self._producer is not None:
            await self._close(self._producer)
            self._producer = None

    async def _close(self, producer: AIOKafkaProducer) -> None:
        # Bounded: with the broker gone (or the producer wedged), flushing would wait forever.
        with contextlib.suppress(TimeoutError, KafkaError, OSError):
            async with asyncio.timeout(self._settings.publish_timeout_seconds):
                await producer.stop()

    def _chore(self, coroutine: Coroutine[Any, Any, None], name: str) -> asyncio.Task[None]:
        task = asyncio.create_task(coroutine, name=f"kafka-{name}")
        self._chores.add(task)
        task.add_done_callback(self._chores.discard)
        return task

    async def _connect_forever(self) -> None:
        attempt = 0
        while not await self._try_connect():
            await asyncio.sleep(_backoff(attempt))
            attempt += 1
        log.info("connected to Kafka at %s", self._settings.kafka_bootstrap)

    async def _try_connect(self) -> bool:
        producer = self._new_producer(
            bootstrap_servers=self._settings.kafka_bootstrap,
            client_id=self._settings.kafka_client_id,
            acks="all",
            enable_idempotence=True,
            # A few ms of lingering lets concurrent requests share a produce request.
            linger_ms=5,
            max_batch_size=512 * 1024,
            request_timeout_ms=int(self._settings.publish_timeout_seconds * 1000) + 1000,
        )
        try:
            await producer.start()
            if self._topics:
                await self._create_missing(self._topics)
        except (KafkaError, OSError) as exc:
            log.warning("Kafka at %s unavailable: %s", self._settings.kafka_bootstrap, exc)
            with contextlib.suppress(Exception):
                await producer.stop()
            return False
        self._producer = producer
        return True

    # ----------------------------------------------------------------- publishing

    async def publish(self, records: Sequence[Record]) -> None:
        producer = self._producer
        if producer is None:
            raise BusUnavailable(f"not connected to Kafka at {self._settings.kafka_bootstrap}")
        timeout = self._settings.publish_timeout_seconds
        try:
            async with asyncio.timeout(timeout):
                acks = await self._enqueue(producer, records)
                # Every ack retrieved: a wedged producer fails them all, and unretrieved
                # failures would each be logged again when collected.
                outcomes = await asyncio.gather(*acks, return_exceptions=True)
                _raise_first_failure(outcomes)
        except TimeoutError as exc:
            self._failed(producer, exc)
            raise PublishTimeout(f"Kafka did not acknowledge within {timeout:g} s") from None
        except KafkaError as exc:
            self._failed(producer, exc)
            raise PublishError(f"Kafka refused the write: {exc}") from exc
        self._health.succeeded()

    # ----------------------------------------------------------------- recovery

    def _failed(self, producer: AIOKafkaProducer, error: BaseException) -> None:
        """Replace the producer if the failure says it cannot recover by itself."""
        if producer is not self._producer:
            return  # already being replaced
        verdict, reason = self._health.failed(error, producer)
        if verdict is Verdict.REPLACE:
            self._replace(producer, reason)
        elif verdict is Verdict.CHECK_BROKER and (self._check is None or self._check.done()):
            self._check = self._chore(self._replace_if_broker_answers(producer, reason), "check")

    async def _replace_if_broker_answers(self, producer: AIOKafkaProducer, reason: str) -> None:
        # Timeouts while the broker is down are an outage: the producer resumes when
        # it is back. Timeouts while it answers mean the producer itself is stuck.
        answers = await broker_answers(producer, self._settings.readiness_timeout_seconds)
        if answers and producer is self._producer:
            self._replace(producer, reason)

    def _replace(self, producer: AIOKafkaProducer, reason: str) -> None:
        log.warning(
            "the Kafka producer cannot recover (%s); replacing it with a new one "
            "(requests in flight get 503 and are retried by their devices)",
            reason,
        )
        PRODUCER_REPLACEMENTS.labels(reason).inc()
        self._producer = None
        self._health.replaced()
        self._chore(self._close(producer), "retire")
        if self._connector is None or self._connector.done():
            self._connector = asyncio.create_task(self._connect_forever(), name="kafka-connect")

    async def _enqueue(
        self, producer: AIOKafkaProducer, records: Sequence[Record]
    ) -> list[asyncio.Future[object]]:
        """Hand the records to the producer; the returned futures resolve on the broker's ack.

        Many records with one key (a kiosk's batch) go to one partition, so they are
        written as one record batch: per-record ``send()`` costs about eight times
        as much CPU (11.5 against 1.4 µs per record, docs/benchmarks.md). Small
        groups keep ``send()``, whose lingering lets concurrent requests share a
        produce request.
        """
        groups: dict[tuple[str, str | None], list[Record]] = {}
        for record in records:
            groups.setdefault((record.topic, record.key), []).append(record)
        acks: list[asyncio.Future[object]] = []
        for (topic, key), group in groups.items():
            key_bytes = None if key is None else key.encode()
            if key_bytes is None or len(group) < _BATCH_THRESHOLD:
                for record in group:
                    acks.append(
                        await producer.send(
                            topic, value=record.value, key=key_bytes, headers=list(record.headers)
                        )
                    )
            else:
                acks.extend(await self._send_batches(producer, topic, key_bytes, group))
        return acks

    async def _send_batches(
        self, producer: AIOKafkaProducer, topic: str, key: bytes, group: Sequence[Record]
    ) -> list[asyncio.Future[object]]:
        # The partition send() would choose: Kafka's murmur2 of the key.
        partitions = sorted(await producer.partitions_for(topic))
        partition = self._partitioner(key, partitions, partitions)
        futures = []
        batch = producer.create_batch()
        for record in group:
            if not _append(batch, key, record):  # full: ship it and start the next one
                futures.append(await producer.send_batch(batch, topic, partition=partition))
                batch = producer.create_batch()
                if not _append(batch, key, record):
                    raise PublishError(
                        f"a record of {len(record.value)} bytes exceeds the batch size"
                    )
        futures.append(await producer.send_batch(batch, topic, partition=partition))
        return futures

    async def ready(self) -> bool:
        producer = self._producer
        timeout = self._settings.readiness_timeout_seconds
        return producer is not None and await broker_answers(producer, timeout)

    # ----------------------------------------------------------------- topics

    async def ensure_topics(self, specs: Sequence[TopicSpec]) -> None:
        """Create missing topics now if connected, else as soon as the connection is made."""
        self._topics = tuple(specs)
        if self._producer is not None:
            await self._create_missing(self._topics)

    async def _create_missing(self, specs: Sequence[TopicSpec]) -> None:
        await create_topics(self._settings, specs)


def _backoff(attempt: int) -> float:
    """Seconds to wait before the next attempt to reach the broker."""
    return _RECONNECT_BACKOFF[min(attempt, len(_RECONNECT_BACKOFF) - 1)]


def _raise_first_failure(outcomes: Sequence[object]) -> None:
    for outcome in outcomes:
        if isinstance(outcome, asyncio.CancelledError):
            raise ProducerClosed()  # an ack cancelled: the producer was stopped under us
        if isinstance(outcome, BaseException):
            raise outcome


def _append(batch: BatchBuilder, key: bytes, record: Record) -> bool:
    """Add a record to a batch; False when the batch is full."""
    added = batch.append(timestamp=None, key=key, value=record.value, headers=list(record.headers))
    return added is not None


async def create_topics_when_reachable(settings: Settings, specs: Sequence[TopicSpec]) -> None:
    """``create_topics``, retried until a broker answers (a process starting during an outage)."""
    for attempt in itertools.count():
        try:
            await create_topics(settings, specs)
            return
        except (KafkaError, OSError) as exc:
            delay = _backoff(attempt)
            log.warning(
                "Kafka at %s unavailable (%s); retrying in %g s",
                settings.kafka_bootstrap,
                exc,
                delay,
            )
            await asyncio.sleep(delay)


async def create_topics(settings: Settings, specs: Sequence[TopicSpec]) -> None:
    """Create the topics of ``specs`` that are missing; warn about partition mismatches."""
    admin = AIOKafkaAdminClient(
        bootstrap_servers=settings.kafka_bootstrap,
        client_id=f"{settings.kafka_client_id}-admin",
    )
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [spec for spec in specs if spec.name not in existing]
        if missing:
            response = await admin.create_topics(
                [
                    NewTopic(
                        name=spec.name,
                        num_partitions=spec.partitions,
                        replication_factor=spec.replication,
                        topic_configs=spec.config,
                    )
                    for spec in missing
                ]
            )
            for name, code, *_ in response.topic_errors:
                if code not in (0, _TOPIC_ALREADY_EXISTS):
                    raise KafkaError(f"cannot create topic {name}: error code {code}")
            log.info("created topics %s", ", ".join(spec.name for spec in missing))
        await _check_partitions(admin, [s for s in specs if s.name in existing])
    finally:
        await admin.close()


async def _check_partitions(admin: AIOKafkaAdminClient, specs: Sequence[TopicSpec]) -> None:
    """Warn when an existing store-keyed topic breaks co-partitioning."""
    keyed = [spec for spec in specs if spec.name in STORE_KEYED]
    if not keyed:
        return
    for described in await admin.describe_topics([spec.name for spec in keyed]):
        count = len(described.get("partitions", []))
        want = next(s.partitions for s in keyed if s.name == described.get("topic"))
        if count and count != want:
            log.error(
                "topic %s has %d partitions, settings say %d: store-keyed topics must "
                "share one count for co-partitioning",
                described.get("topic"),
                count,
                want,
            )
