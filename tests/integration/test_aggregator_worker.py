"""The store aggregator in a real faust worker on the real broker: crash recovery, poison input."""

from __future__ import annotations

import asyncio
import json
import random
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaProducer

from kioskpulse.events import (
    EXPRESSIONS,
    DeadLetterHeaders,
    FaceObservation,
    FollowupEvent,
    Heartbeat,
    RatingEvent,
    StoreAggregate,
)
from kioskpulse.topics import DEADLETTER, FACES, FOLLOWUPS, HEARTBEATS, RATINGS
from tests.support.kafka import end_offsets, latest_aggregates, read_new
from tests.support.processes import Worker, unique_app_id

Message = tuple[str, str, bytes]  # topic, key, value

EVENTS = 5000
STORES = 10
KIOSKS_PER_STORE = 5


@pytest.fixture(params=["memory://", "rocksdb://"])
def worker(
    kafka_bootstrap: str, tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[Worker]:
    """A worker whose tables live in memory (restored from the changelog) or in RocksDB."""
    worker = Worker(tmp_path, kafka_bootstrap, unique_app_id("aggregator"), store=request.param)
    worker.start()
    try:
        yield worker
    finally:
        worker.stop()


def ratings(prefix: str, n: int) -> list[Message]:
    """``n`` presses over STORES stores, each kiosk's presses 6 s apart (none suppressed)."""
    start = datetime.now(UTC) - timedelta(minutes=30)
    messages = []
    for i in range(n):
        store = f"{prefix}-{i % STORES}"
        kiosk = f"{store}-k{(i // STORES) % KIOSKS_PER_STORE}"
        nth_press_of_kiosk = i // (STORES * KIOSKS_PER_STORE)
        event = RatingEvent(
            event_id=uuid.uuid4(),
            rating=1 + i % 4,
            pressed_at=start + timedelta(seconds=6 * nth_press_of_kiosk),
            kiosk_id=kiosk,
            store_id=store,
            received_at=datetime.now(UTC),
        )
        messages.append((RATINGS, store, event.to_bytes()))
    return messages


def in_batch_records(messages: Sequence[Message], size: int) -> list[Message]:
    """The same events, each store's in batch records of up to ``size`` (in order)."""
    runs: dict[tuple[str, str], list[bytes]] = {}
    packed: list[Message] = []
    for topic, key, value in messages:
        run = runs.setdefault((topic, key), [])
        run.append(value)
        if len(run) == size:
            packed.append((topic, key, b"[" + b",".join(run) + b"]"))
            run.clear()
    packed += [(t, k, b"[" + b",".join(run) + b"]") for (t, k), run in runs.items() if run]
    return packed


def mixed_records(messages: Sequence[Message]) -> list[Message]:
    """Runs of 500 events, alternately one per record and five per record (as the API and
    the vision stage write them since batch records, with older records still about)."""
    chunks = [messages[i : i + 500] for i in range(0, len(messages), 500)]
    return [m for n, c in enumerate(chunks) for m in (in_batch_records(c, 5) if n % 2 else c)]


def followups(presses: Sequence[Message]) -> list[Message]:
    """An answer ("queue") to each of ``presses``, two seconds after it."""
    messages = []
    for _, store, value in presses:
        press = RatingEvent.from_bytes(value)
        answer = FollowupEvent(
            event_id=uuid.uuid4(), rating_event_id=press.event_id, reason="queue",
            answered_at=press.pressed_at + timedelta(seconds=2), kiosk_id=press.kiosk_id,
            store_id=store, received_at=datetime.now(UTC),
        )  # fmt: skip
        messages.append((FOLLOWUPS, store, answer.to_bytes()))
    return messages


async def produce(bootstrap: str, messages: Sequence[Message], per_second: float = 0) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        chunk = 100
        for i in range(0, len(messages), chunk):
            sent = [
                await producer.send(topic, value, key=key.encode())
                for topic, key, value in messages[i : i + chunk]
            ]
            await asyncio.gather(*sent)
            if per_second:
                await asyncio.sleep(chunk / per_second)
    finally:
        await producer.stop()


def counted(aggregates: dict[str, StoreAggregate]) -> tuple[int, int]:
    """(counted presses, suppressed presses) over the buckets."""
    presses = sum(sum(s.presses) for a in aggregates.values() for s in a.ratings.values())
    suppressed = sum(s.suppressed for a in aggregates.values() for s in a.ratings.values())
    return presses, suppressed


def answered(aggregates: dict[str, StoreAggregate]) -> tuple[int, int]:
    """(counted follow-up answers, counted presses) over the buckets."""
    return sum(sum(a.followups.values()) for a in aggregates.values()), counted(aggregates)[0]


async def wait_for_count(
    bootstrap: str,
    prefix: str,
    want: int,
    worker: Worker,
    within: float = 90,
    count: Callable[[dict[str, StoreAggregate]], tuple[int, int]] = counted,
) -> tuple[int, int]:
    """``count`` of the buckets once its first figure reaches ``want``."""
    deadline = time.monotonic() + within
    seen = (0, 0)
    while time.monotonic() < deadline:
        seen = count(await latest_aggregates(bootstrap, prefix))
        if seen[0] >= want:
            return seen
        assert worker.alive(), f"the worker died:\n{worker.tail()}"
        await asyncio.sleep(1)
    raise AssertionError(f"counted {seen} of {want} within {within} s; log:\n{worker.tail()}")


async def test_a_worker_killed_mid_stream_counts_every_event_exactly_once(
    worker: Worker, kafka_bootstrap: str
) -> None:
    prefix = f"kill-{uuid.uuid4().hex[:6]}"
    stream = mixed_records(ratings(prefix, EVENTS))
    # 8 s of stream: on a loaded machine the first counts can take seconds to show.
    producing = asyncio.create_task(produce(kafka_bootstrap, stream, per_second=600))
    # Kill it once it has counted some, while the stream still flows: its last
    # batches are processed but not committed, so they come again after the restart.
    await wait_for_count(kafka_bootstrap, prefix, 500, worker)
    worker.kill()
    assert not producing.done(), "the stream ended before the kill: make it longer"
    await producing
    worker.start()
    presses, suppressed = await wait_for_count(kafka_bootstrap, prefix, EVENTS, worker)
    await asyncio.sleep(3)  # anything counted twice would show up by now
    assert counted(await latest_aggregates(kafka_bootstrap, prefix)) == (EVENTS, 0)
    assert (presses, suppressed) == (EVENTS, 0)


def malformed(prefix: str, n: int) -> list[Message]:
    """``n`` poison messages of several kinds, on every input topic."""
    store = f"{prefix}-0"
    now = datetime.now(UTC)
    good_rating = ratings(prefix, 1)[0][2]
    answer = followups(ratings(prefix, 1))[0][2]
    probs = [1 / len(EXPRESSIONS)] * len(EXPRESSIONS)
    face = FaceObservation(
        track_id="t", captured_at=now, probs=probs, camera_id="c", store_id=store,
        role="floor", source="edge",
    ).to_bytes()  # fmt: skip
    heartbeat = Heartbeat(
        sent_at=now, buffered=0, kiosk_id="k", store_id=store, received_at=now
    ).to_bytes()
    kinds: list[Message] = [
        (RATINGS, store, random.randbytes(40)),
        (RATINGS, store, b'{"event_id": "not-a-uuid"}'),
        (RATINGS, "another-store", good_rating),  # keyed by the wrong store
        (RATINGS, store, good_rating.replace(b'"rating":', b'"rating":9,"x":')),
        (HEARTBEATS, store, heartbeat.replace(b'"buffered":0', b'"buffered":-1')),
        (HEARTBEATS, store, b""),
        (FACES, store, face.replace(b'"role":"floor"', b'"role":"ceiling"')),
        (FACES, store, face[:-5]),
        (FOLLOWUPS, store, answer.replace(b'"reason":"queue"', b'"reason":"Queue!"')),
        (FOLLOWUPS, "another-store", answer),
    ]
    return [kinds[i % len(kinds)] for i in range(n)]


async def test_poison_messages_go_to_the_dead_letter_topic_and_the_good_ones_count(
    worker: Worker, kafka_bootstrap: str
) -> None:
    prefix = f"poison-{uuid.uuid4().hex[:6]}"
    good = ratings(prefix, 100)
    answers = followups(good[:20])
    bad = malformed(prefix, 50)
    # Eight presses of one store and a poison event in one batch record: only the
    # poison is set aside, the eight count.
    store = f"{prefix}-0"
    eight = [m for m in good if m[1] == store][:8]
    poison = {**json.loads(eight[0][2]), "event_id": str(uuid.uuid4()), "rating": "five"}
    [packed] = in_batch_records([*eight, (RATINGS, store, json.dumps(poison).encode())], 9)
    mixed = [m for m in good if m not in eight] + [packed] + answers + answers[:5] + bad
    random.Random(7).shuffle(mixed)  # five answers resent above
    start = await end_offsets(kafka_bootstrap, DEADLETTER)
    await produce(kafka_bootstrap, mixed)

    dead = await read_new(kafka_bootstrap, start, want=51, within=60)
    # Distinct sources: delivery is at least once, a dead letter may come twice.
    ours = list({source(r): r for r in dead if any(r.value == v for _, _, v in bad)}.values())
    assert len(ours) == 50, f"{len(dead)} dead letters, {len(ours)} of ours:\n{worker.tail()}"
    compact = json.dumps(poison, separators=(",", ":")).encode()  # as the worker re-encodes it
    alone = {source(r) for r in dead if r.value == compact}
    assert [index for *_, index in alone] == [8], "the poison alone, as the batch's 9th event"
    sources = sorted({DeadLetterHeaders.from_headers(r.headers).source_topic for r in ours})
    assert sources == sorted({RATINGS, HEARTBEATS, FACES, FOLLOWUPS})
    for record in ours:
        headers = DeadLetterHeaders.from_headers(record.headers)
        assert headers.source_offset >= 0
        assert headers.source_partition >= 0
        assert record.key == headers.source_topic.encode()
    assert await wait_for_count(kafka_bootstrap, prefix, 100, worker) == (100, 0)
    # The answers reach their buckets, each once, and change no press count.
    assert await wait_for_count(kafka_bootstrap, prefix, 20, worker, count=answered) == (20, 100)
    assert worker.alive()


def source(dead_letter: Any) -> tuple[str, int, int, int | None]:
    """Where a dead letter's event came from: topic, partition, offset, place in a batch."""
    h = DeadLetterHeaders.from_headers(dead_letter.headers)
    return h.source_topic, h.source_partition, h.source_offset, h.source_index


async def test_two_workers_share_the_partitions_and_count_every_event_once(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    group = unique_app_id("pair")
    workers = [
        Worker(tmp_path / name, kafka_bootstrap, group, new_group=name == "a")
        for name in ("a", "b")
    ]
    for worker in workers:
        worker.directory.mkdir()
    try:
        await asyncio.to_thread(workers[0].start)
        # The second joins the group: the partitions are split between the two.
        await asyncio.to_thread(workers[1].start)
        prefix = f"pair-{uuid.uuid4().hex[:6]}"
        await produce(kafka_bootstrap, ratings(prefix, 2000))
        assert await wait_for_count(kafka_bootstrap, prefix, 2000, workers[1]) == (2000, 0)
        handled = [await handled_events(worker) for worker in workers]
        assert all(n > 0 for n in handled), f"each worker took a share: {handled}"
        assert sum(handled) >= 2000
    finally:
        for worker in workers:
            worker.stop()


async def handled_events(worker: Worker) -> float:
    """What the worker's aggregator handled, from its own /metrics."""
    async with httpx.AsyncClient() as client:
        exposition = (await client.get(f"{worker.web_url}/metrics", timeout=10)).text
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in exposition.splitlines()
        if line.startswith("kioskpulse_aggregator_events_total{")
    )
