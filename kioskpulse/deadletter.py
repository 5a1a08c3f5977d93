"""Poison messages: set aside with where they came from and why, never crash a worker."""

from __future__ import annotations

import logging

from prometheus_client import Counter

from kioskpulse.bus import Record
from kioskpulse.events import DeadLetterHeaders
from kioskpulse.topics import DEADLETTER

__all__ = ["DEAD_LETTERS", "MAX_DEAD_LETTER_VALUE_BYTES", "dead_letter"]

log = logging.getLogger(__name__)

DEAD_LETTERS = Counter(
    "kioskpulse_pipeline_dead_letters",
    "Messages set aside on the dead-letter topic, by source topic and reason.",
    ["source_topic", "reason"],
)

_MAX_MESSAGE = 1000

#: The dead letter keeps the raw value up to this size, its first bytes beyond. A
#: record near the broker's limit (1 MiB) would not fit again with the headers
#: added, and faust's producer refuses records over 1,000,000 bytes: the agent
#: sending it would crash on every retry. Real events are far smaller; only a
#: hostile record or an oversized frame is ever cut.
MAX_DEAD_LETTER_VALUE_BYTES = 256 * 1024


def dead_letter(record: Record, reason: str, error: Exception, index: int | None = None) -> Record:
    """The dead-letter record for ``record`` (the raw bytes, keyed by source topic); counted.

    ``reason`` is a short label (metrics and the ``reason`` header), ``error`` says why
    in words (``error_class`` and ``error_message``); ``index``: the event's place in a
    record of several events, whose own bytes ``record`` then holds.
    """
    message = str(error)[:_MAX_MESSAGE] or type(error).__name__
    headers = DeadLetterHeaders(
        source_topic=record.topic,
        source_partition=-1 if record.partition is None else record.partition,
        source_offset=-1 if record.offset is None else record.offset,
        error_class=type(error).__name__,
        error_message=message,
        reason=reason,
        original_size=len(record.value),
        source_index=index,
    )
    DEAD_LETTERS.labels(record.topic, reason).inc()
    log.warning(
        "dead-lettered %s[%s]@%s%s (%s): %s",
        record.topic,
        headers.source_partition,
        headers.source_offset,
        "" if index is None else f" event {index}",
        reason,
        message,
    )
    value = record.value[:MAX_DEAD_LETTER_VALUE_BYTES]
    return Record(DEADLETTER, record.topic, value, tuple(headers.to_headers()))
