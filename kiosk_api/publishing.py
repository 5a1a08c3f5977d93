"""Publish a request's events and answer only once the broker acknowledged them."""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from datetime import datetime

from kiosk_api.errors import ApiError
from kiosk_api.metrics import EVENTS_ACCEPTED, NEWEST_ACCEPTED, PUBLISH_SECONDS
from kioskpulse.bus import Bus, PublishError, Record

__all__ = ["RETRY_AFTER_SECONDS", "publish_or_503"]

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
