"""Publish a request's events and answer only once the broker acknowledged them."""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any, Protocol

from fastapi import Response

from kiosk_api.errors import ApiError
from kiosk_api.metrics import EVENTS_ACCEPTED, NEWEST_ACCEPTED, PUBLISH_SECONDS
from kiosk_api.responses import accepted
from kioskpulse.bus import Bus, PublishError, Record
from kioskpulse.events import Contract

__all__ = ["RETRY_AFTER_SECONDS", "accept_store_events", "batch_items", "publish_or_503"]

#: What a device is told to wait before retrying a write the broker did not take.
RETRY_AFTER_SECONDS = 2


async def publish_or_503(
    bus: Bus, topic: str, records: Sequence[Record], event_times: Iterable[datetime]
) -> None:
    """Publish durably, or raise a 503 telling the device to retry the same events.

    ``event_times``: when the events happened (device time), for the freshness gauge."""
    started = time.perf_counter()
    try:
        await bus.publish(records)
    except PublishError as exc:
        raise ApiError(
            503,
            "broker_unavailable",
            f"events not stored ({exc}); retry later with the same event ids",
            {"Retry-After": str(RETRY_AFTER_SECONDS)},
        ) from exc
    PUBLISH_SECONDS.labels(topic).observe(time.perf_counter() - started)
    EVENTS_ACCEPTED.labels(topic).inc(len(records))
    NEWEST_ACCEPTED.see_all(topic, (when.timestamp() for when in event_times))


class StoreEvent(Protocol):
    """An event keyed by its store, as every kiosk event is."""

    @property
    def store_id(self) -> str: ...

    def to_bytes(self) -> bytes: ...


def batch_items(body: Contract, batch_type: type[Contract], field: str) -> tuple[Any, Any]:
    """A body of one event or ``{field: [...]}``: its items, and where they sit in the
    body as pydantic spells it for the tagged union (for the error locations)."""
    if isinstance(body, batch_type):
        return getattr(body, field), ("body", "batch", field)
    return [body], ("body", "single")


async def accept_store_events(
    bus: Bus, topic: str, events: Sequence[StoreEvent], event_times: Iterable[datetime]
) -> Response:
    """Publish events keyed by store id; the 202 once the broker has every one."""
    records = [Record(topic, event.store_id, event.to_bytes()) for event in events]
    await publish_or_503(bus, topic, records, event_times)
    return accepted(len(records))
