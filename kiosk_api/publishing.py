"""Publish a request's events and answer only once the broker acknowledged them."""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from fastapi import Response

from kiosk_api.errors import ApiError
from kiosk_api.metrics import EVENTS_ACCEPTED, NEWEST_ACCEPTED, PUBLISH_SECONDS
from kiosk_api.responses import accepted
from kiosk_api.state import ApiState
from kioskpulse.bus import Bus, PublishError, Record
from kioskpulse.event_records import StoreEvent, store_records
from kioskpulse.events import Contract

__all__ = ["RETRY_AFTER_SECONDS", "accept_store_events", "batch_items", "publish_or_503"]

#: What a device is told to wait before retrying a write the broker did not take.
RETRY_AFTER_SECONDS = 2


async def publish_or_503(
    bus: Bus,
    topic: str,
    records: Sequence[Record],
    event_times: Iterable[datetime],
    *,
    events: int | None = None,
) -> None:
    """Publish durably, or raise a 503 telling the device to retry the same events.

    ``event_times``: when the events happened (device time), for the freshness gauge;
    ``events``: how many the records hold, if several share one."""
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
    EVENTS_ACCEPTED.labels(topic).inc(len(records) if events is None else events)
    NEWEST_ACCEPTED.see_all(topic, (when.timestamp() for when in event_times))


def batch_items(body: Contract, batch_type: type[Contract], field: str) -> tuple[Any, Any]:
    """A body of one event or ``{field: [...]}``: its items, and where they sit in the
    body as pydantic spells it for the tagged union (for the error locations)."""
    if isinstance(body, batch_type):
        return getattr(body, field), ("body", "batch", field)
    return [body], ("body", "single")


async def accept_store_events(
    state: ApiState, topic: str, events: Sequence[StoreEvent], event_times: Iterable[datetime]
) -> Response:
    """Publish events keyed by store id; the 202 once the broker has every one."""
    records = store_records(topic, events, batch=state.settings.batch_records)
    await publish_or_503(state.bus, topic, records, event_times, events=len(events))
    return accepted(len(events))
