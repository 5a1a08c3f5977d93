"""The aggregator's state in a changelogged faust table.

faust picks the changelog partition of a table write from the event being
processed. The aggregator writes after a whole batch (and from a timer), when
there is no single current event, so the partition is computed from the store id
instead, with the producers' own partitioner: the changelog partition of a
store's state is then the partition of the store's events, which is what lets
faust restore it to the worker that owns the store (co-partitioning).
"""

from __future__ import annotations

from collections.abc import Iterator, MutableMapping
from typing import Any

import faust
from aiokafka.partitioner import murmur2

from stream_processors.aggregation import entries

__all__ = ["StoreTable", "TableState", "partition_of"]


def partition_of(store_id: str, partitions: int) -> int:
    """The partition Kafka's default (murmur2) partitioner gives the key ``store_id``."""
    hashed: int = murmur2(store_id.encode())
    return (hashed & 0x7FFFFFFF) % partitions


class StoreTable(faust.Table[bytes, bytes]):
    """A faust table whose keys start with a store id; written to that store's partition."""

    def partition_for_key(self, key: Any) -> int | None:
        store_id = entries.store_of(key.decode() if isinstance(key, bytes) else key)
        return partition_of(store_id, self.partitions or self.app.conf.topic_partitions)


class TableState(MutableMapping[str, bytes]):
    """str keys over a raw-serialised table (whose keys come back from the changelog as bytes)."""

    def __init__(self, table: StoreTable) -> None:
        self.table = table

    def __getitem__(self, key: str) -> bytes:
        value: bytes = self.table[key.encode()]
        return value

    def __setitem__(self, key: str, value: bytes) -> None:
        self.table[key.encode()] = value

    def __delitem__(self, key: str) -> None:
        del self.table[key.encode()]

    def __iter__(self) -> Iterator[str]:
        return (key.decode() if isinstance(key, bytes) else key for key in self.table)

    def __len__(self) -> int:
        return len(self.table)
