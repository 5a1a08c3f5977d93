"""The faust aggregator agent, driven through faust's test context with the memory store."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from kioskpulse.bus import Record
from kioskpulse.events import StoreAggregate
from kioskpulse.settings import Settings
from kioskpulse.topics import AGGREGATES, DEADLETTER, RATINGS
from stream_processors.faust_app import create_worker, in_parts
from stream_processors.faust_state import partition_of
from tests.support.events import press
from vision.pipeline import FramePipeline


async def put(agent: Any, topic: str, key: bytes, value: bytes) -> None:
    """``agent.put`` for an agent of several topics (the test context names none)."""
    message = agent.to_message(key, value, offset=agent.sent_offset)
    message.topic = topic
    channel = agent.stream().channel
    await channel.put(await channel.decode(message))
    agent.sent_offset += 1


async def test_ratings_in_bucket_upserts_and_dead_letters_out(
    pipeline: FramePipeline, tmp_path: Path
) -> None:
    sent: list[Record] = []
    done = asyncio.Event()

    async def sink(records: Sequence[Record]) -> None:
        sent.extend(records)
        if any(r.topic == DEADLETTER for r in sent) and any(r.topic == AGGREGATES for r in sent):
            done.set()

    changelog: list[tuple[str, int, bytes, bytes | None]] = []

    async def record_changelog(
        topic: str, pending: Mapping[int, list[tuple[bytes, bytes | None]]]
    ) -> list[tuple[int, int]]:
        for partition, entries in pending.items():
            changelog.extend((topic, partition, key, value) for key, value in entries)
        return [(partition, len(changelog)) for partition in pending]

    settings = Settings(
        aggregate_batch_seconds=0.05, aggregate_emit_seconds=0.0, faust_datadir=tmp_path
    )
    worker = create_worker(
        settings, pipeline=pipeline, sink=sink, changelog=record_changelog, store="memory://"
    )
    worker.app.finalize()
    worker.app.flow_control.resume()
    async with worker.aggregator.test_context() as agent:
        for seconds, rating in ((0, 4), (10, 4), (20, 1)):
            event = press(seconds, rating)
            await put(agent, RATINGS, b"s1", event.to_bytes())
        await put(agent, RATINGS, b"s1", b'{"not": "a rating"}')
        await asyncio.wait_for(done.wait(), 10)
    worker.app.consumer._thread.thread_loop.close()

    values = [StoreAggregate.from_bytes(r.value) for r in sent if r.topic == AGGREGATES]
    assert values[-1].key == "s1/2026-11-24T10:00:00Z"
    assert values[-1].ratings[4].presses == [1, 0, 0, 2]
    (dead,) = [r for r in sent if r.topic == DEADLETTER]
    assert dead.value == b'{"not": "a rating"}'
    # The state went to the table and its changelog: a press per entry, keyed by store,
    # on the store's partition.
    assert sorted(key.decode().split("|")[:2] for key in worker.table) == [["s1", "p"]] * 3
    assert {(topic, partition) for topic, partition, _, _ in changelog} == {
        ("kioskpulse-aggregator-state-changelog", partition_of("s1", settings.topic_partitions))
    }
    assert len(changelog) == 3
    assert RATINGS in {r.key for r in sent if r.topic == DEADLETTER}


def test_a_batch_is_handled_in_parts_of_bounded_size_without_cutting_a_record() -> None:
    records = [Record(RATINGS, "s1", b"x" * size) for size in (400, 300, 500, 900, 100)]

    parts = in_parts(records, max_bytes=1000)

    assert [[len(r.value) for r in part] for part in parts] == [[400, 300], [500], [900, 100]]
    assert in_parts([Record(RATINGS, "s1", b"x" * 5000)], max_bytes=1000) == [
        [Record(RATINGS, "s1", b"x" * 5000)]
    ], "a record larger than a part is a part of its own"
