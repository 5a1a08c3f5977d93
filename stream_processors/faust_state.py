"""The aggregator's state in a changelogged faust table.

faust picks the changelog partition of a table write from the event being
processed. The aggregator writes after a whole batch (and from a timer), when
there is no single current event, so the partition is computed from the store id
instead, with the producers' own partitioner: the changelog partition of a
store's state is then the partition of the store's events, which is what lets
faust restore it to the worker that owns the store (co-partitioning).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import weakref
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from typing import Any

import faust
from aiokafka.partitioner import murmur2
from faust.streams import _current_event
from faust.types import TP

from kioskpulse.bus import Headers, Record
from stream_processors.aggregation import entries

__all__ = [
    "ChangelogSender",
    "Entry",
    "EntryTable",
    "TableEntries",
    "partition_of",
    "send_changelog",
    "send_records",
]


@functools.lru_cache(maxsize=65536)
def partition_of(store_id: str, partitions: int) -> int:
    """The partition Kafka's default (murmur2) partitioner gives the key ``store_id``."""
    hashed: int = murmur2(store_id.encode())
    return (hashed & 0x7FFFFFFF) % partitions


class EntryTable(faust.Table[bytes, bytes]):
    """A faust table whose keys start with a store id; written to that store's partition."""

    def partition_for_key(self, key: Any) -> int:
        store_id = entries.store_of(key.decode() if isinstance(key, bytes) else key)
        return partition_of(store_id, self.partitions or self.app.conf.topic_partitions)


#: One changelog record: key, value (None deletes).
Entry = tuple[bytes, bytes | None]

#: Writes records to partitions of a changelog topic; returns (partition, last offset)s.
ChangelogSender = Callable[[str, Mapping[int, list[Entry]]], Awaitable[list[tuple[int, int]]]]


class _PartitionOnly:
    """Stands in for faust's current event where a store asks only for its partition."""

    def __init__(self, partition: int) -> None:
        self.message = self
        self.partition = partition


@contextlib.contextmanager
def _as_if_from(partition: int) -> Iterator[None]:
    # faust's RocksDB store files a write under the partition of the event being
    # processed (faust.streams.current_event). The aggregator writes after a batch
    # (and from a timer), for stores of several partitions, so it names the store's.
    stand_in = _PartitionOnly(partition)
    token = _current_event.set(weakref.ref(stand_in))  # type: ignore[arg-type]
    try:
        yield
    finally:
        _current_event.reset(token)


class TableEntries:
    """The aggregator's entries in a faust table; the changelog written in record batches.

    A batch's changed entries go to the table's changelog topic as one record batch
    per partition and then to its local store (``apply`` queues them, ``sent`` writes):
    writing them one by one through faust's table cost about 70 µs an entry,
    batches a few. Same topic, keys and values as faust's own writes, so faust
    restores the table from it as usual.
    """

    def __init__(
        self,
        table: EntryTable,
        app: faust.App,
        send: ChangelogSender | None = None,
        owned: Callable[[], set[int]] | None = None,
    ) -> None:
        """``owned``: the partitions whose stores this worker owns now (None: all)."""
        self.table = table
        self.app = app
        self.send = send or functools.partial(send_changelog, app)
        self.owned = owned
        self._pending: dict[int, list[Entry]] = {}

    def items(self) -> Iterator[tuple[str, bytes]]:
        """The entries of the stores this worker owns now.

        The table's local data also holds standby copies of other workers'
        partitions (faust keeps replicas for a fast fail-over), a little behind
        theirs: a worker that loaded them would publish stale buckets over the
        owner's fresh ones.
        """
        owned = None if self.owned is None else self.owned()
        for key, value in self.table.data.items():
            text = key.decode() if isinstance(key, bytes) else key
            if owned is None or self.table.partition_for_key(text) in owned:
                yield text, value

    def apply(self, changes: Mapping[str, bytes | None]) -> None:
        """Queue the changed entries; ``sent`` writes them (changelog first)."""
        for key, value in changes.items():
            partition = self.table.partition_for_key(key)
            self._pending.setdefault(partition, []).append((key.encode(), value))

    async def sent(self) -> None:
        """Return once the changes applied so far are in the changelog and the local store.

        The changelog first: a worker killed in between then restarts with a local
        store that lags the changelog (which recovery replays from the persisted
        offset), never with one ahead of it.
        """
        pending, self._pending = self._pending, {}
        if not pending:
            return
        topic = self.table.changelog_topic.get_topic_name()
        acknowledged = await self.send(topic, pending)
        data = self.table.data
        for partition, changed in pending.items():
            with _as_if_from(partition):
                for key_bytes, value in changed:
                    if value is None:
                        with contextlib.suppress(KeyError):
                            del data[key_bytes]
                    else:
                        data[key_bytes] = value
        for partition, offset in acknowledged:
            # What faust's own changelog callback records: how far the local store is.
            data.set_persisted_offset(TP(topic, partition), offset)


async def send_changelog(
    app: faust.App, topic: str, pending: Mapping[int, list[Entry]]
) -> list[tuple[int, int]]:
    """Write changelog entries as record batches; returns (partition, last offset)s."""
    sends = [
        await _send_batches(app, topic, partition, [(key, value, ()) for key, value in records])
        for partition, records in pending.items()
    ]
    # A batch's metadata gives the offset of its first record; the store has its last.
    acked = await asyncio.gather(*(send for batches in sends for send, _ in batches))
    sizes = [size for batches in sends for _, size in batches]
    return [(m.partition, m.offset + n - 1) for m, n in zip(acked, sizes, strict=True)]


async def send_records(app: faust.App, records: Sequence[Record]) -> None:
    """Write records as record batches, each to its key's partition; return once acked.

    Kafka's default partitioner (murmur2 of the key), as faust's ``Topic.send`` would
    pick, at a fraction of its cost per record: its channels and callbacks cost more
    than the aggregator's whole work on an event (docs/benchmarks.md).
    """
    producer = app.producer._ensure_producer()  # type: ignore[attr-defined]
    grouped: dict[tuple[str, int], list[tuple[bytes | None, bytes | None, Headers]]] = {}
    counts: dict[str, int] = {}
    for record in records:
        if record.topic not in counts:
            counts[record.topic] = len(await producer.partitions_for(record.topic))
        key = None if record.key is None else record.key.encode()
        partition = 0 if key is None else (murmur2(key) & 0x7FFFFFFF) % counts[record.topic]
        grouped.setdefault((record.topic, partition), []).append(
            (key, record.value, record.headers)
        )
    sends = [await _send_batches(app, *where, items) for where, items in grouped.items()]
    await asyncio.gather(*(send for batches in sends for send, _ in batches))


async def _send_batches(
    app: faust.App,
    topic: str,
    partition: int,
    records: Sequence[tuple[bytes | None, bytes | None, Headers]],
) -> list[tuple[asyncio.Future[Any], int]]:
    """Queue ``records`` on one partition in as few batches as fit; (ack, records) each."""
    # The aiokafka producer under faust's: it batches and acks like faust's own sends.
    producer = app.producer._ensure_producer()  # type: ignore[attr-defined]
    sends: list[tuple[asyncio.Future[Any], int]] = []
    batch, size = producer.create_batch(), 0
    for key, value, headers in records:
        listed = list(headers)  # aiokafka's builder takes a list only
        if batch.append(key=key, value=value, timestamp=None, headers=listed) is None:
            sends.append((await producer.send_batch(batch, topic, partition=partition), size))
            batch, size = producer.create_batch(), 0
            batch.append(key=key, value=value, timestamp=None, headers=listed)
        size += 1
    sends.append((await producer.send_batch(batch, topic, partition=partition), size))
    return sends
