"""The faust application: agents are a few lines of wiring around transport-free stages.

Processing is at-least-once: an agent acknowledges a batch of input events only
after the broker has acknowledged every output of that batch, and faust flushes
the table changelog before it commits offsets (faust's exactly-once mode is
unreliable: docs/stream-processing.md). Stages are idempotent, so a batch processed
twice after a crash counts once.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import faust
from faust.types import TP, Message
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest

from kioskpulse.bus import Record
from kioskpulse.bus.recovery import broker_answers
from kioskpulse.settings import Settings
from kioskpulse.topics import FRAMES
from stream_processors.aggregation.config import TICK_SECONDS
from stream_processors.aggregation.stage import INPUT_TOPICS, AggregationStage
from stream_processors.durable_output import DurableWrites, FaustProducerSlot, StallWatch
from stream_processors.faust_state import (
    ChangelogSender,
    Entry,
    EntryTable,
    TableEntries,
    send_changelog,
    send_records,
)
from stream_processors.faust_tuning import faust_tuning
from stream_processors.gap_repair import faust_message, keep_gaps_unacknowledged, read_gap
from stream_processors.input_gaps import Gap, InputGaps, count_repair
from vision.pipeline import FramePipeline
from vision.stage import VisionStage

__all__ = ["KioskpulseWorker", "Sink", "create_worker", "in_parts", "record_of"]

#: Where an agent's output records go; awaits until they are durably written.
Sink = Callable[[Sequence[Record]], Awaitable[None]]

log = logging.getLogger(__name__)

#: How often the worker looks at whether it consumes.
STALL_CHECK_SECONDS = 5.0
#: How often, and after how long without a batch from the stream, the worker looks for
#: records at the end of a partition that were fetched but never handed over.
UNDELIVERED_CHECK_SECONDS = 2.0
STREAM_IDLE_SECONDS = 3.0
#: The most records such a check reads beside the stream at once (a skip is one fetch).
MAX_UNDELIVERED = 10_000
#: The exit status of a worker that stopped consuming and could not recover (EX_SOFTWARE).
EXIT_STALLED = 70
#: Input bytes the aggregator handles in one go (``in_parts``): about 0.5 s of work.
PART_BYTES = 2 * 1024 * 1024


@dataclass
class KioskpulseWorker:
    app: faust.App
    vision: Any  # the faust agents
    aggregator: Any
    stage: VisionStage
    aggregation: AggregationStage
    table: EntryTable
    tick: Callable[[], Awaitable[None]]


def record_of(event: Any) -> Record:
    """Our transport-free record of a faust event (topic, partition and offset kept)."""
    return record_of_message(event.message)


def record_of_message(message: Message) -> Record:
    """Our record of a faust Message: a stream's own, or one read beside it (gap_repair)."""
    key = message.key
    headers = message.headers or ()
    pairs = headers.items() if isinstance(headers, Mapping) else headers
    return Record(
        topic=message.topic,
        key=key.decode(errors="replace") if isinstance(key, bytes) else key,
        value=message.value if isinstance(message.value, bytes) else bytes(message.value or b""),
        headers=tuple((name, bytes(value)) for name, value in pairs),
        partition=message.partition,
        offset=message.offset,
        # faust keeps Kafka's milliseconds as float seconds: round, not truncate, back.
        timestamp_ms=round(message.timestamp * 1000) if message.timestamp else None,
    )


def in_parts(records: Sequence[Record], max_bytes: int = PART_BYTES) -> list[list[Record]]:
    """A batch cut into parts of at most ``max_bytes`` of values (a record is never cut).

    faust batches records, not events: 5,000 records of 500 events each would hold
    the event loop for minutes, and the consumer's heartbeats with it.
    """
    parts: list[list[Record]] = [[]]
    size = 0
    for record in records:
        if parts[-1] and size + len(record.value) > max_bytes:
            parts.append([])
            size = 0
        parts[-1].append(record)
        size += len(record.value)
    return parts


def create_worker(
    settings: Settings,
    *,
    pipeline: FramePipeline | None = None,
    sink: Sink | None = None,
    changelog: ChangelogSender | None = None,
    store: str | None = None,
) -> KioskpulseWorker:
    """The faust app with its agents; ``sink`` and ``changelog`` replace Kafka (tests)."""
    app = faust.App(
        settings.faust_app_id,
        broker=f"kafka://{settings.kafka_bootstrap}",
        store=store or settings.faust_store,
        key_serializer="raw",
        value_serializer="raw",
        topic_partitions=settings.topic_partitions,
        # faust's own topics (the table's changelog, the leader topic) like ours.
        topic_replication_factor=settings.topic_replication,
        producer_acks=-1,
        broker_session_timeout=settings.faust_session_timeout_seconds,
        broker_heartbeat_interval=min(3.0, settings.faust_session_timeout_seconds / 3),
        web_port=settings.faust_web_port,
        datadir=str(settings.faust_datadir),
        **faust_tuning(settings),
    )
    # Writes are retried until the broker has them; the producer replaced if it is stuck.
    writes = DurableWrites(
        FaustProducerSlot(app, close_timeout=settings.publish_timeout_seconds),
        timeout=settings.worker_write_timeout_seconds,
        readiness_timeout=settings.readiness_timeout_seconds,
    )

    async def send_durably(records: Sequence[Record]) -> None:
        await writes.run(lambda: send_records(app, records), "outputs")

    async def changelog_durably(
        topic: str, pending: Mapping[int, list[Entry]]
    ) -> list[tuple[int, int]]:
        return await writes.run(lambda: send_changelog(app, topic, pending), "the changelog")

    output = sink or send_durably
    stage = VisionStage(
        pipeline or FramePipeline.from_settings(settings),
        ThreadPoolExecutor(settings.vision_threads, "vision"),
        parallel=settings.vision_threads,
        batch_records=settings.batch_records,
    )

    # Keyed by camera, so one camera's frames arrive in order on one partition.
    @app.agent(app.topic(FRAMES), name="vision")
    async def vision(stream: Any) -> None:
        async for events in stream.take_events(
            settings.vision_batch_size, within=settings.vision_batch_seconds
        ):
            result = await stage.handle([record_of(event) for event in events])
            await output(result.records)

    table = EntryTable(
        app,
        name="aggregator-state",
        beacon=app.tables.beacon,
        partitions=settings.topic_partitions,
        # bytes in, bytes out: the stage encodes its entries itself ("raw" serialisers).
        key_type=bytes,
        value_type=bytes,
        help="the store aggregator's entries (presses, faces, tracks), keyed by store",
    )
    app.tables.add(table)

    def owned_partitions() -> set[int]:
        actives = app.assignor.assigned_actives()
        return {tp.partition for tp in actives if tp.topic in INPUT_TOPICS}

    table_entries = TableEntries(
        table, app, changelog or changelog_durably, owned=None if sink else owned_partitions
    )
    aggregation = AggregationStage.from_settings(settings, table_entries)
    # The agent and the timer take turns on the aggregator.
    turn = asyncio.Lock()
    # The first record of a partition after an assignment is at its committed offset.
    gaps = InputGaps(
        lambda topic, partition: app.consumer._committed_offset.get(  # type: ignore[attr-defined]
            TP(topic, partition)
        )
    )

    def may_tick() -> bool:
        # Not while partitions move or tables recover: the state is incomplete then.
        # (faust lowers in_recovery before the last restored entries are in the
        # table; on_rebalance_complete comes after them.)
        return settled.is_set() and not app.in_recovery and app.flow_control.is_active()

    async def run_tick(*, only_if_owner: bool = False) -> None:
        async with turn:
            # Asked again once it is our turn: a rebalance may have begun while the
            # agent held the turn, and a tick then would write stores it no longer owns.
            if only_if_owner and not may_tick():
                return
            result = aggregation.tick()
            await table_entries.sent()
            await output(result.records)

    # Since when the agent has waited for the stream; None while it handles a batch.
    idle_since: float | None = time.monotonic()

    # Store-keyed and co-partitioned: partition N of every input topic (and of the
    # state's changelog) belongs to the same worker.
    @app.agent(app.topic(*INPUT_TOPICS), name="aggregator")
    async def aggregator(stream: Any) -> None:
        nonlocal idle_since
        async for events in stream.take_events(
            settings.aggregate_batch_size, within=settings.aggregate_batch_seconds
        ):
            idle_since = None
            records = [record_of(event) for event in events]
            found = gaps.observe((r.topic, r.partition or 0, r.offset or 0) for r in records)
            await aggregate(await read_skipped(found, "skipped"), records)
            idle_since = time.monotonic()

    async def aggregate(skipped: Sequence[Message], records: Sequence[Record]) -> None:
        """Handle records read beside the stream, then the stream's; acknowledge the former."""
        for part in in_parts([*map(record_of_message, skipped), *records]):
            async with turn:
                result = aggregation.handle(part)
                await table_entries.sent()  # the state before the outputs that reflect it
                await output(result.records)
        for message in skipped:  # handled and output: faust may commit past them now
            app.consumer.ack(message)

    async def read_skipped(found: list[Gap], how: str) -> list[Message]:
        skipped: list[Message] = []
        for gap in found:
            log.warning(
                "the consumer %s offsets %d..%d of %s partition %d; reading them again",
                how, gap.start, gap.end - 1, gap.topic, gap.partition,
            )  # fmt: skip
            records = await read_gap(settings.kafka_bootstrap, gap)
            count_repair(gap, len(records))
            gaps.repaired(gap)
            skipped.extend(map(faust_message, records))
        return skipped

    def input_highwaters() -> dict[tuple[str, int], int | None]:
        consumer = app.consumer
        owned = [tp for tp in consumer.assignment() if tp.topic in INPUT_TOPICS]
        try:
            return {(tp.topic, tp.partition): consumer.highwater(tp) for tp in owned}
        except AssertionError:  # aiokafka's "not assigned": a rebalance began meanwhile
            return {}

    @app.timer(UNDELIVERED_CHECK_SECONDS, name="undelivered-input")  # type: ignore[untyped-decorator]
    async def undelivered_input() -> None:
        """Skips that no later record reveals (input_gaps.py): before a partition's first
        record, found once its committed offset is known; at its end, while idle."""
        if not may_tick():
            return
        found = gaps.missed_starts()
        # Only while the agent waits for the stream: records that it has not taken yet
        # because it is busy are on their way, not lost.
        if idle_since is not None and time.monotonic() - idle_since >= STREAM_IDLE_SECONDS:
            found += gaps.behind(input_highwaters())
        # A skip is at most a fetch; far more is a stream that has stopped, for the stall
        # watch and the consumer-lag alert, not for a read beside the stream.
        for gap in found:
            if gap.size > MAX_UNDELIVERED:
                log.warning(
                    "%s partition %d has %d records from offset %d that the stream has not "
                    "handed over; not read beside it (more than %d)",
                    gap.topic, gap.partition, gap.size, gap.start, MAX_UNDELIVERED,
                )  # fmt: skip
        repairable = [gap for gap in found if gap.size <= MAX_UNDELIVERED]
        if repairable:
            await aggregate(await read_skipped(repairable, "never delivered"), [])

    @app.timer(TICK_SECONDS, name="aggregator-tick")  # type: ignore[untyped-decorator]
    async def tick() -> None:
        if may_tick():
            await run_tick(only_if_owner=True)

    settled = asyncio.Event()  # set once a rebalance and its table recovery are complete

    async def forget_state(*_: Any, **__: Any) -> None:
        settled.clear()
        aggregation.aggregator.forget()
        gaps.forget()
        # Before the assignment's first records are drained (the consumer exists now).
        keep_gaps_unacknowledged(app.consumer, INPUT_TOPICS)

    async def state_settled(*_: Any, **__: Any) -> None:
        nonlocal idle_since
        settled.set()
        idle_since = time.monotonic()  # the stream starts now: give it its time

    app.on_partitions_revoked.connect(forget_state)
    app.on_partitions_assigned.connect(forget_state)
    app.on_rebalance_complete.connect(state_settled)

    async def consuming() -> tuple[bool, bool, str]:
        """Whether the worker consumes now, whether a broker answers, and why not."""
        producer = getattr(app.producer, "_producer", None)
        answers = producer is not None and await broker_answers(
            producer, settings.readiness_timeout_seconds
        )
        if not settled.is_set() or app.in_recovery:
            return False, answers, "partitions are being assigned or tables recovered"
        if not app.flow_control.is_active():
            return False, answers, "consumption is paused"
        if writes.failing_since is not None:
            return False, answers, "its writes to Kafka are failing (retried)"
        if not answers:
            return False, answers, f"no broker answers at {settings.kafka_bootstrap}"
        return True, answers, "consuming"

    @app.page("/readyz")
    async def readyz(web: Any, request: Any) -> Any:
        """200 while the worker consumes; 503 with the reason otherwise."""
        ok, _, detail = await consuming()
        body = {"status": "ready" if ok else "unavailable", "detail": detail}
        return web.json(body, status=200 if ok else 503)

    stall = StallWatch(settings.worker_stall_exit_seconds)

    @app.timer(STALL_CHECK_SECONDS, name="stall-watch")  # type: ignore[untyped-decorator]
    async def watch_for_stall() -> None:
        ok, answers, detail = await consuming()
        if stall.observe(ok, answers, time.monotonic()):
            log.critical(
                "the worker has not consumed for %.0f s although the broker answers (%s); "
                "exiting with status %d so that its supervisor restarts it",
                settings.worker_stall_exit_seconds,
                detail,
                EXIT_STALLED,
            )
            logging.shutdown()
            os._exit(EXIT_STALLED)  # no clean shutdown: it is what hangs

    @app.page("/metrics")
    async def metrics(web: Any, request: Any) -> Any:
        """kioskpulse's own metrics (stages, dead letters) for Prometheus."""
        # aiohttp refuses a charset inside content_type; the exposition is ASCII anyway.
        content_type = CONTENT_TYPE_LATEST.split("; charset")[0]
        return web.bytes(generate_latest(REGISTRY), content_type=content_type)

    return KioskpulseWorker(app, vision, aggregator, stage, aggregation, table, run_tick)
