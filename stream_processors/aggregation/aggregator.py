"""All the stores of one worker (or of the embedded runtime), over a backend of entries.

``backend`` is a key-value store of str → bytes: ``DictEntries`` in the embedded
runtime and the tests, a changelogged faust table (``TableEntries``) in a worker. Changes go to it
once per batch (``flush``); after a restart the aggregator rebuilds its stores from
it on first use and re-emits every bucket it holds, so an emission lost in a crash
is made good (emissions are full values: re-sending one is harmless).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Protocol

from kioskpulse.events import (
    FaceObservation,
    FollowupEvent,
    Heartbeat,
    RatingEvent,
    StoreAggregate,
)
from stream_processors.aggregation import entries
from stream_processors.aggregation.config import AggregationConfig
from stream_processors.aggregation.store import Outcome, StoreState

__all__ = ["Aggregator", "DictEntries", "EntryBackend"]


class EntryBackend(Protocol):
    """Where the aggregator keeps its entries."""

    def items(self) -> Iterable[tuple[str, bytes]]:
        """Every entry (read once after a start or a rebalance)."""
        ...

    def apply(self, changes: Mapping[str, bytes | None]) -> None:
        """Store the changed entries; None deletes one."""
        ...


class DictEntries(dict[str, bytes]):
    """The entries in memory (embedded runtime, tests)."""

    def apply(self, changes: Mapping[str, bytes | None]) -> None:
        for key, value in changes.items():
            if value is None:
                self.pop(key, None)
            else:
                self[key] = value


class Aggregator:
    def __init__(self, config: AggregationConfig, backend: EntryBackend | None = None) -> None:
        self.config = config
        self.backend: EntryBackend = DictEntries() if backend is None else backend
        self.stores: dict[str, StoreState] = {}
        self._loaded = False

    # ------------------------------------------------------------------ events

    def add_rating(self, event: RatingEvent) -> Outcome:
        return self.store(event.store_id).add_rating(event)

    def add_heartbeat(self, heartbeat: Heartbeat) -> Outcome:
        return self.store(heartbeat.store_id).add_heartbeat(heartbeat)

    def add_observation(self, observation: FaceObservation, wall: float) -> Outcome:
        return self.store(observation.store_id).add_observation(observation, wall)

    def add_followup(self, event: FollowupEvent) -> Outcome:
        return self.store(event.store_id).add_followup(event)

    def hear(self, store_id: str, wall: float) -> None:
        """An event of the store was accepted at ``wall`` (for its settled time)."""
        self.store(store_id).hear(wall)

    # ------------------------------------------------------------------ time and output

    def tick(self, wall: float) -> None:
        """Close idle visits and drop expired buckets, in every store."""
        self._load()
        for store in self.stores.values():
            store.close_idle_visits(wall)
            store.expire()

    def flush(self) -> int:
        """Write the changed entries to the backend; returns how many."""
        changes: dict[str, bytes | None] = {}
        for store in self.stores.values():
            changes.update(store.take_writes())
        if changes:
            self.backend.apply(changes)
        return len(changes)

    def take_dirty(self, updated_at: datetime) -> list[StoreAggregate]:
        """The full value of every bucket that changed since the last call."""
        return [value for store in self.stores.values() for value in store.take_dirty(updated_at)]

    # ------------------------------------------------------------------ state

    def store(self, store_id: str) -> StoreState:
        self._load()
        store = self.stores.get(store_id)
        if store is None:
            store = self.stores[store_id] = StoreState(store_id, self.config)
        return store

    def forget(self) -> None:
        """Drop what is in memory (the worker's partitions changed); reloaded on next use."""
        self.stores.clear()
        self._loaded = False

    def _load(self) -> None:
        if self._loaded:
            return
        self._loaded = True
        for key, value in list(self.backend.items()):
            store_id = entries.store_of(key)
            store = self.stores.get(store_id)
            if store is None:
                store = self.stores[store_id] = StoreState(store_id, self.config)
            store.restore(key, value)
        for store in self.stores.values():
            store.dirty.update(store.buckets)
