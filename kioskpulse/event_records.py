"""Store events as Kafka records: one event per record, or several of one store in one.

faust's cost is per Kafka record, not per byte (docs/benchmarks.md, Stream
throughput): a worker handles a record of 50 events in little more time than a
record of one. So a producer that holds several events of one store at once (a
kiosk's backlog after an outage, a camera's upload, the faces of a vision batch)
writes them as one record whose value is a JSON array of the events, each exactly
as it would be on its own. A record of one event stays a JSON object.

Readers take both forms, so old records (and old producers) are read as ever during
a rolling upgrade; upgrade the workers before the producers, or set
``KIOSKPULSE_BATCH_RECORDS=false`` on the producers until they are (docs/operations.md).
Each event of a batch is still de-duplicated by its own ``event_id``, and a bad
event is dead-lettered on its own: the good ones beside it count.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import replace
from functools import cache
from typing import Any, NamedTuple, Protocol, TypeVar

from pydantic import TypeAdapter, ValidationError

from kioskpulse.bus import Record
from kioskpulse.events import MAX_BATCH, Contract

__all__ = [
    "MAX_RECORD_BYTES",
    "BadEvent",
    "StoreEvent",
    "count_events",
    "events_in",
    "is_batch",
    "read_store_events",
    "store_records",
]

#: A batch record is cut before it grows past this: a whole record set aside as a
#: dead letter then keeps every byte (kioskpulse.deadletter keeps 256 KiB), and it
#: stays far below the broker's 1 MiB record limit.
MAX_RECORD_BYTES = 256 * 1024


class StoreEvent(Protocol):
    """An event keyed by its store, as every kiosk and camera event is."""

    @property
    def store_id(self) -> str: ...

    def to_bytes(self) -> bytes: ...


def store_records(topic: str, events: Iterable[StoreEvent], *, batch: bool = True) -> list[Record]:
    """The records that carry ``events``, keyed by store id, each store's in order.

    ``batch``: several events of one store share a record (at most ``MAX_BATCH``
    events and ``MAX_RECORD_BYTES``); False writes one record per event (the form
    versions before batch records read).
    """
    if not batch:
        return [Record(topic, event.store_id, event.to_bytes()) for event in events]
    by_store: dict[str, list[bytes]] = {}
    for event in events:
        by_store.setdefault(event.store_id, []).append(event.to_bytes())
    records = []
    for store_id, values in by_store.items():
        records += [Record(topic, store_id, value) for value in _pack(values)]
    return records


def _pack(values: Sequence[bytes]) -> list[bytes]:
    """One value per run of events: the event itself if alone, else a JSON array."""
    runs: list[list[bytes]] = [[]]
    size = 0
    for value in values:
        run = runs[-1]
        if run and (len(run) == MAX_BATCH or size + len(value) + 1 > MAX_RECORD_BYTES - 2):
            runs.append(run := [])
            size = 0
        run.append(value)
        size += len(value) + 1
    return [run[0] if len(run) == 1 else b"[" + b",".join(run) + b"]" for run in runs]


def is_batch(value: bytes) -> bool:
    """Whether a record's value is a batch (a JSON array) rather than one event."""
    return value.lstrip()[:1] == b"["


def count_events(value: bytes) -> int:
    """How many events a well-formed record value holds (tests and benchmarks)."""
    if not is_batch(value):
        return 1
    decoded: list[Any] = json.loads(value)
    return len(decoded)


class BadEvent(NamedTuple):
    """An event that cannot be taken, and the record to set aside for it."""

    #: The whole record, or within a batch the event's own JSON (the others still count).
    record: Record
    error: Exception
    #: The event's place in its batch record (0-based); None for a whole record.
    position: int | None = None


E = TypeVar("E", bound=Contract)


def read_store_events(record: Record, contract: type[E]) -> list[E | BadEvent]:
    """The events of a record of either form, each validated and checked against the key.

    Never raises on bad input: what cannot be taken comes back as a ``BadEvent``.
    """
    if not is_batch(record.value):
        try:
            event = contract.from_bytes(record.value)
            _check_key(record, event)
        except (ValidationError, ValueError) as exc:
            return [BadEvent(record, exc)]
        return [event]
    try:  # the common case: one validation of the whole array
        events = _list_of(contract).validate_json(record.value)
        for event in events:
            _check_key(record, event)
    except (ValidationError, ValueError):
        return _one_by_one(record, contract)
    if not events:
        return [BadEvent(record, ValueError("a batch record holds no event"))]
    return list(events)


def events_in(records: Iterable[Record], contract: type[E]) -> list[E]:
    """Every event of well-formed records, in order (tests and tools; raises on a bad one)."""
    events: list[E] = []
    for record in records:
        for event in read_store_events(record, contract):
            if isinstance(event, BadEvent):
                raise ValueError(f"{record.topic}@{record.offset}: {event.error}")
            events.append(event)
    return events


def _one_by_one(record: Record, contract: type[E]) -> list[E | BadEvent]:
    """A batch with a bad event in it: each event on its own, so the good ones count."""
    try:
        items = json.loads(record.value)
    except (ValueError, RecursionError) as exc:  # not JSON, or nested deeper than it reads
        return [BadEvent(record, ValueError(f"not a JSON array of events: {exc}"))]
    if not items:
        return [BadEvent(record, ValueError("a batch record holds no event"))]
    if not isinstance(items, list) or not all(isinstance(item, dict) for item in items):
        # Not our batch form at all: one bad record, not several bad events.
        return [BadEvent(record, ValueError("not a JSON array of event objects"))]
    results: list[E | BadEvent] = []
    for index, item in enumerate(items):
        # The event's own bytes, so that the dead letter can be read (and replayed) alone.
        own = replace(record, value=json.dumps(item, separators=(",", ":")).encode())
        try:
            event = contract.from_bytes(own.value)
            _check_key(own, event)
        except (ValidationError, ValueError) as exc:
            results.append(BadEvent(own, exc, index))
            continue
        results.append(event)
    return results


@cache
def _list_of(contract: type[E]) -> TypeAdapter[list[E]]:
    return TypeAdapter(list[contract])  # type: ignore[valid-type]


def _check_key(record: Record, event: Any) -> None:
    # A store's state lives on the partition its key hashes to: an event keyed
    # otherwise would be counted by a worker that does not own the store.
    if record.key != event.store_id:
        raise ValueError(f"record key {record.key!r} is not the event's store {event.store_id!r}")
